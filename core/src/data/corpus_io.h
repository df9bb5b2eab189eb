// Building blocks for dataset implementations (data/datasets/*.cpp): reading files with
// clear errors, byte corpora split by fractions, word corpora with a vocabulary built from
// the training split, and the caches that spare re-reading or re-tokenising.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "data/corpus.h"
#include "util/file_io.h"  // read_file: the whole file, `what` naming it in errors

namespace ctlab {

// Bytes [0, n_train), [n_train, +n_valid), [.., +n_test) as uint8 splits.
Corpus byte_corpus(const std::string& dataset, const std::string& source, const std::string& bytes,
                   size_t n_train, size_t n_valid, size_t n_test);
// Sizes of the train, valid and test parts of n bytes split by the fractions `split`:
// floor(n * split[0]), floor(n * split[1]), the rest. Throws, naming the dataset and the
// source, when a part would hold fewer than 2 bytes (a part with fraction 0 may be empty).
std::array<size_t, 3> split_sizes(const std::string& dataset, const std::string& source, size_t n,
                                  const std::vector<double>& split);
// Splits `bytes` by the fractions train, valid, test (split_sizes).
Corpus fractional(const std::string& dataset, const std::string& source, const std::string& bytes,
                  const std::vector<double>& split);

// The concatenation of `files`, from the byte cache in cache_dir() when it is current.
std::string concatenated(const std::string& dataset, const std::vector<std::string>& files);

// Word-level corpora: vocabulary from train, id 0 = <eos>, 1 = <unk>, then the training
// words seen at least min_count times, most frequent first (ties by byte-wise order).
// Every other word, in any split, becomes <unk>; each line ends with <eos>.
struct WordSplits {
  std::vector<std::vector<std::string>> lines[3];  // train, valid, test: tokenised lines
};
Corpus word_corpus(const std::string& dataset, const std::string& source, const WordSplits& w,
                   int64_t min_count = 1);
// Whitespace-separated words of a line.
std::vector<std::string> words_of(const std::string& line);
// A word-level corpus from the binary cache keyed by the source files' names, sizes and
// times, else from build() (then cached).
Corpus cached_words(const std::string& dataset, const std::vector<std::string>& sources,
                    const std::string& source, const std::function<Corpus()>& build);

}  // namespace ctlab
