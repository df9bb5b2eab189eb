// Token corpora: a dataset's train/valid/test splits, and loading one by its registered
// name (data/dataset.h lists the datasets).
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "data/data_options.h"

namespace ctlab {

struct Corpus {
  std::string dataset;  // the `dataset` key
  std::string source;   // where it was read from, for logs and the run store
  bool word_level = false;
  int64_t vocab_size = 256;
  std::vector<std::string> vocab;    // word level: id -> word (id 0 = "<eos>", 1 = "<unk>")
  torch::Tensor train, valid, test;  // 1-D: uint8 for bytes, int32 for words

  const torch::Tensor& split(const std::string& name) const;  // throws for unknown names
  // Count of every token id in the training split, [vocab_size] int64.
  torch::Tensor train_counts() const;
};

// Loads (or reads from the cache) the corpus of the registered dataset opts.dataset.
// Throws ctlab::Error naming the file or folder and the problem: missing, empty, too
// short, malformed, or an unknown dataset.
Corpus load_corpus(const DataOptions& opts);

// Where cached binary forms of corpora live: $CTLAB_CACHE_DIR, else ~/.cache/ctlab.
std::string cache_dir();
// Where bundled data are looked for: $CTLAB_DATA_DIR, then /usr/local/share/ctlab/data.
std::vector<std::string> data_dirs();

}  // namespace ctlab
