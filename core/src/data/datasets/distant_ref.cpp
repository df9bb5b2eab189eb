// dataset = distant_ref: a marker and a payload token, and ref_distance tokens later a
// second marker followed by the same payload, in random filler.
#include <cmath>

#include "data/dataset.h"
#include "data/task.h"
#include "util/error.h"

namespace ctlab {
namespace {

// Episodes of 2D tokens (D = ref_distance): position 0 marker A (id 0), 1 payload x (ids
// [2, 2+K)), 2..D-1 filler (ids [2+K, 2+2K)), D marker B (id 1), D+1 the payload x again,
// D+2..2D-1 filler; K = synthetic_vocab. Ideal losses (nats), seeing D back / blind to it:
// markers 0 / 0 (the layout is known), first payload and filler ln K / ln K, the repeated
// payload 0 / ln K.
Corpus distant_ref(const DataOptions& o) {
  const int64_t k = o.synthetic_vocab, d = o.ref_distance;
  if (2 + 2 * k > 256)
    throw Error("dataset = distant_ref: synthetic_vocab = " + std::to_string(k) + " needs 2 + 2 x " +
                std::to_string(k) + " token ids; expected at most 127");
  if (d < 2) throw Error("dataset = distant_ref: ref_distance = " + std::to_string(d) + ": expected >= 2");
  const double ln_k = std::log(static_cast<double>(k));
  auto episode = [=](TaskStream& s, int64_t, std::mt19937_64& gen) {
    std::uniform_int_distribution<int64_t> symbol(0, k - 1);
    const int64_t x = 2 + symbol(gen);
    for (int half = 0; half < 2; ++half) {
      s.push(half, 0.0, 0.0);
      s.push(x, half ? 0.0 : ln_k, ln_k, half ? d : 0);
      for (int64_t i = 2; i < d; ++i) s.push(2 + k + symbol(gen), ln_k, ln_k);
    }
  };
  return make_task_corpus("distant_ref",
                          "distant reference: payload over " + std::to_string(k) + " symbols repeated " +
                              std::to_string(d) + " tokens later",
                          2 + 2 * k, o.synthetic_tokens, 8 * d, episode);
}

}  // namespace

DatasetDef distant_ref_dataset() {
  return {
      "distant_ref",
      "distant reference: a marker and payload, and ref_distance tokens later a marker and the same payload",
      false, distant_ref};
}

}  // namespace ctlab
