// The dataset registry and load_corpus.
#include "data/dataset.h"

namespace ctlab {

#define CTLAB_DATASET(f) DatasetDef f();
#include "data/builtin_datasets.def"
#undef CTLAB_DATASET

Registry<DatasetDef>& datasets() {
  static Registry<DatasetDef> registry = [] {
    Registry<DatasetDef> r("dataset");
#define CTLAB_DATASET(f) r.add(f());
#include "data/builtin_datasets.def"
#undef CTLAB_DATASET
    return r;
  }();
  return registry;
}

Corpus load_corpus(const DataOptions& o) {
  const DatasetDef& d = datasets().get(o.dataset);
  Corpus c = d.load(o);
  c.word_level = d.word_level;
  return c;
}

}  // namespace ctlab
