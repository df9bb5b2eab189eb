// Token corpora: a dataset's train/valid/test splits, and loading one by its registered
// name (data/dataset.h lists the datasets).
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "data/data_options.h"

namespace ctlab {

// Generated tasks know the best loss achievable at every position: `best` with sight of
// every earlier token, `blind` without the long-range tokens the task plants (everything
// else about the task known). Position i holds the loss (nats) of predicting token i from
// tokens < i; float64, laid out like the split's tokens.
struct IdealLoss {
  torch::Tensor best, blind;
  // int32, laid out alike: how many tokens back the planted token that makes position i
  // predictable lies (0 where none does; undefined when the task does not say).
  torch::Tensor distance;
};

struct Corpus {
  std::string dataset;  // the `dataset` key
  std::string source;   // where it was read from, for logs and the run store
  bool word_level = false;
  int64_t vocab_size = 256;
  std::vector<std::string> vocab;    // word level: id -> word (id 0 = "<eos>", 1 = "<unk>")
  torch::Tensor train, valid, test;  // 1-D: uint8 for bytes, int32 for words

  std::map<std::string, IdealLoss> ideal;  // by split name; empty for natural data

  const torch::Tensor& split(const std::string& name) const;  // throws for unknown names
  // The split's ideal losses, or null when the data have none.
  const IdealLoss* ideal_loss(const std::string& name) const;
  // Count of every token id in the training split, [vocab_size] int64.
  torch::Tensor train_counts() const;
};

// Loads (or reads from the cache) the corpus of the registered dataset opts.dataset.
// Throws ctlab::Error naming the file or folder and the problem: missing, empty, too
// short, malformed, or an unknown dataset.
Corpus load_corpus(const DataOptions& opts);

// Where cached binary forms of corpora live: $CTLAB_CACHE_DIR, else ~/.cache/ctlab.
std::string cache_dir();
// Folders searched for data you install (e.g. the Brown corpus): $CTLAB_DATA_DIR, then
// /usr/local/share/ctlab/data.
std::vector<std::string> data_dirs();

}  // namespace ctlab
