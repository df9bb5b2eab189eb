// Where a run's tokens come from: the options every dataset reads (see README "Data").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ctlab {

struct DataOptions {
  std::string dataset = "default";  // a registered dataset (data/dataset.h)
  std::string data_path;            // file (enwik8, text8, text) or folder (wikitext103, brown, ...)
  std::vector<double> split = {0.9, 0.05, 0.05};  // train/valid/test fractions (default, pydoc_words, text)
  int64_t synthetic_vocab = 16;                   // synthetic: alphabet size
  int64_t synthetic_period = 24;      // synthetic: each block of this many tokens is repeated once
  int64_t synthetic_tokens = 200000;  // generated tasks: tokens in the training split (valid/test: 1/10)
  int64_t recall_pairs = 8;           // recall: key/value pairs stored per episode
  int64_t recall_gap = 64;            // recall: filler tokens between the pairs and the queries
  int64_t ref_distance = 96;          // distant_ref: tokens from a payload to its repeat
  int64_t lookup_keys = 2;            // lookup: keys per table (a query asks one of them)
  int64_t lookup_values = 6;          // lookup: values a key can be bound to
  int64_t lookup_distance = 98;       // lookup: the shortest distance from an entry to its answer
};

}  // namespace ctlab
