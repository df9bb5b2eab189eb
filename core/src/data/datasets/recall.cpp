// dataset = recall: associative recall across a gap. Each episode stores recall_pairs
// key/value pairs, then recall_gap filler tokens, then queries every stored key again (in
// a random order), each followed by its value.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "data/dataset.h"
#include "data/task.h"
#include "util/error.h"

namespace ctlab {
namespace {

// Token ids: keys [0, K), values [K, 2K), filler [2K, 3K) with K = synthetic_vocab.
// Ideal losses (nats), with sight of the store / blind to it:
//   store key j (distinct keys):      ln(K - j)   / ln(K - j)
//   store value, filler:              ln K        / ln K
//   query key j (a stored key not yet queried): ln(P - j) / ln(K - j)
//   query value (the stored one):     0           / ln K
Corpus recall(const DataOptions& o) {
  const int64_t k = o.synthetic_vocab, p = o.recall_pairs, gap = o.recall_gap;
  if (3 * k > 256)
    throw Error("dataset = recall: synthetic_vocab = " + std::to_string(k) + " needs 3 x " +
                std::to_string(k) + " token ids; expected at most 85");
  if (p > k)
    throw Error("dataset = recall: recall_pairs = " + std::to_string(p) + " exceeds the " +
                std::to_string(k) + " keys (synthetic_vocab)");
  auto ln = [](int64_t x) { return std::log(static_cast<double>(x)); };
  auto episode = [=](TaskStream& s, int64_t, std::mt19937_64& gen) {
    std::uniform_int_distribution<int64_t> symbol(0, k - 1);
    std::vector<int64_t> keys(static_cast<size_t>(k));
    std::iota(keys.begin(), keys.end(), 0);
    std::shuffle(keys.begin(), keys.end(), gen);
    keys.resize(static_cast<size_t>(p));
    std::vector<int64_t> values(static_cast<size_t>(p));
    for (int64_t j = 0; j < p; ++j) {
      values[j] = symbol(gen);
      s.push(keys[j], ln(k - j), ln(k - j));
      s.push(k + values[j], ln(k), ln(k));
    }
    for (int64_t i = 0; i < gap; ++i) s.push(2 * k + symbol(gen), ln(k), ln(k));
    std::vector<int64_t> order(static_cast<size_t>(p));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), gen);
    for (int64_t j = 0; j < p; ++j) {
      s.push(keys[order[j]], ln(p - j), ln(k - j));
      // The stored value sits at 2 order[j] + 1 of the episode, this one at 2p + gap + 2j + 1.
      s.push(k + values[order[j]], 0.0, ln(k), 2 * p + gap + 2 * j - 2 * order[j]);
    }
  };
  return make_task_corpus("recall",
                          "associative recall: " + std::to_string(p) + " pairs over " + std::to_string(k) +
                              " keys, gap " + std::to_string(gap),
                          3 * k, o.synthetic_tokens, 4 * (4 * p + gap), episode);
}

}  // namespace

DatasetDef recall_dataset() {
  return {
      "recall",
      "associative recall: recall_pairs key/value pairs, recall_gap filler tokens, then every key queried",
      false, recall};
}

}  // namespace ctlab
