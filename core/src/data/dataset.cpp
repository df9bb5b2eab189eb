// The dataset registry and load_corpus.
#include "data/dataset.h"

namespace ctlab {

#define CTLAB_DATASET(f) CTLAB_REGISTRY_ENTRY(DatasetDef, f)
CTLAB_REGISTRY_BEGIN(DatasetDef, datasets, "dataset")
#include "data/builtin_datasets.def"
CTLAB_REGISTRY_END
#undef CTLAB_DATASET

Corpus load_corpus(const DataOptions& o) {
  const DatasetDef& d = datasets().get(o.dataset);
  Corpus c = d.load(o);
  c.word_level = d.word_level;
  return c;
}

}  // namespace ctlab
