// dataset = synthetic: a generated long-range copy task with a known best loss.
#include <torch/torch.h>

#include <random>

#include "data/dataset.h"
#include "util/error.h"

namespace ctlab {
namespace {

// A long-range copy task with a known answer: blocks of `period` random tokens, each
// followed by an exact copy. The second copy is predictable only by looking `period`
// tokens back; the best achievable loss is ln(vocab) on first copies and 0 on second
// copies, i.e. ln(vocab)/2 nats per token on average.
torch::Tensor copy_task(int64_t tokens, int64_t vocab, int64_t period, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int64_t> dist(0, vocab - 1);
  std::vector<uint8_t> out;
  out.reserve(tokens + 2 * period);
  std::vector<uint8_t> block(period);
  while (static_cast<int64_t>(out.size()) < tokens) {
    for (auto& b : block) b = static_cast<uint8_t>(dist(gen));
    out.insert(out.end(), block.begin(), block.end());
    out.insert(out.end(), block.begin(), block.end());
  }
  out.resize(tokens);
  return torch::from_blob(out.data(), {tokens}, torch::kUInt8).clone();
}

Corpus synthetic(const DataOptions& o) {
  if (o.synthetic_vocab > 256)
    throw Error("synthetic_vocab = " + std::to_string(o.synthetic_vocab) + ": expected at most 256");
  Corpus c;
  c.dataset = "synthetic";
  c.source = "copy task: vocab " + std::to_string(o.synthetic_vocab) + ", period " +
             std::to_string(o.synthetic_period);
  c.vocab_size = o.synthetic_vocab;
  const int64_t small = std::max<int64_t>(o.synthetic_tokens / 10, 4 * o.synthetic_period);
  c.train = copy_task(o.synthetic_tokens, o.synthetic_vocab, o.synthetic_period, 1);
  c.valid = copy_task(small, o.synthetic_vocab, o.synthetic_period, 2);
  c.test = copy_task(small, o.synthetic_vocab, o.synthetic_period, 3);
  return c;
}

}  // namespace

DatasetDef synthetic_dataset() {
  return {"synthetic",
          "a generated copy task: blocks of synthetic_period random tokens, each followed by its copy", false,
          synthetic};
}

}  // namespace ctlab
