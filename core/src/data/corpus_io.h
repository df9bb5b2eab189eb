// Building blocks for dataset implementations (data/datasets/*.cpp): reading files with
// clear errors, byte corpora split by fractions, word corpora with a vocabulary built from
// the training split, and the caches that spare re-reading or re-tokenising.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/corpus.h"

namespace ctlab {

// The whole file; `what` names it in errors ("text file", "Brown corpus file").
std::string read_file(const std::string& path, const std::string& what);

// Bytes [0, n_train), [n_train, +n_valid), [.., +n_test) as uint8 splits.
Corpus byte_corpus(const std::string& dataset, const std::string& source, const std::string& bytes,
                   size_t n_train, size_t n_valid, size_t n_test);
// Splits `bytes` by the fractions train, valid, test; throws when a split would be empty.
Corpus fractional(const std::string& dataset, const std::string& source, const std::string& bytes,
                  const std::vector<double>& split);

// The concatenation of `files`, from the byte cache in cache_dir() when it is current.
std::string concatenated(const std::string& dataset, const std::vector<std::string>& files);

// Word-level corpora: vocabulary from train, id 0 = <eos>, 1 = <unk>, then by frequency.
struct WordSplits {
  std::vector<std::vector<std::string>> lines[3];  // train, valid, test: tokenised lines
};
Corpus word_corpus(const std::string& dataset, const std::string& source, const WordSplits& w);
// Whitespace-separated words of a line.
std::vector<std::string> words_of(const std::string& line);
// A word-level corpus from the binary cache keyed by the source files' names, sizes and
// times, else from build() (then cached).
Corpus cached_words(const std::string& dataset, const std::vector<std::string>& sources,
                    const std::string& source, const std::function<Corpus()>& build);

}  // namespace ctlab
