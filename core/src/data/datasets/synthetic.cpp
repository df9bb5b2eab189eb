// dataset = synthetic: a generated long-range copy task with a known best loss.
#include <cmath>

#include "data/dataset.h"
#include "data/task.h"
#include "util/error.h"

namespace ctlab {
namespace {

// Blocks of `period` random tokens, each followed by an exact copy. The copy is
// predictable only by looking `period` tokens back: the best loss is ln(vocab) on first
// copies and 0 on second copies (ln(vocab)/2 nats per token on average); blind to tokens
// `period` back, ln(vocab) everywhere.
Corpus synthetic(const DataOptions& o) {
  if (o.synthetic_vocab > 256)
    throw Error("synthetic_vocab = " + std::to_string(o.synthetic_vocab) + ": expected at most 256");
  const int64_t v = o.synthetic_vocab, period = o.synthetic_period;
  const double ln_v = std::log(static_cast<double>(v));
  auto block = [=](TaskStream& s, int64_t, std::mt19937_64& gen) {
    std::uniform_int_distribution<int64_t> dist(0, v - 1);
    std::vector<int64_t> b(static_cast<size_t>(period));
    for (auto& t : b) t = dist(gen);
    for (auto t : b) s.push(t, ln_v, ln_v);
    for (auto t : b) s.push(t, 0.0, ln_v, period);
  };
  return make_task_corpus("synthetic",
                          "copy task: vocab " + std::to_string(v) + ", period " + std::to_string(period), v,
                          o.synthetic_tokens, 4 * period, block);
}

}  // namespace

DatasetDef synthetic_dataset() {
  return {"synthetic",
          "a generated copy task: blocks of synthetic_period random tokens, each followed by its copy", false,
          synthetic};
}

}  // namespace ctlab
