// The dataset registry: every token source (`dataset = NAME`) is one DatasetDef, defined
// in its own file under data/datasets/ and listed once in data/builtin_datasets.def. The
// `dataset` key's accepted values and help, word-level checks and the grid's data cache
// all come from here.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "data/data_options.h"
#include "util/registry.h"

namespace ctlab {

struct DatasetDef {
  std::string name;         // the value of the `dataset` key
  std::string help;         // one line for `ctlab config --help` and the README's table
  bool word_level = false;  // tokens are words: the vocabulary comes from the data, scores are perplexities
  // Reads or generates the corpus. Throws ctlab::Error naming the file or folder and the
  // problem (missing, empty, too short, malformed).
  std::function<Corpus(const DataOptions&)> load;
};

// The registry, with the built-in datasets registered at first use.
Registry<DatasetDef>& datasets();

}  // namespace ctlab
