// Cost, reach and the bptt reach check.
#include "config/run_shape.h"

namespace ctlab {

CostReach cost_and_reach(const ModelOptions& m) {
  CostReach c;
  c.key_slots = m.mem_len + m.cmem_len + m.seq_len;
  c.layer_reach = m.mem_len + m.cmem_rate * m.cmem_len;
  c.stack_reach = m.n_layer * c.layer_reach;
  return c;
}

std::string CostReach::describe(const ModelOptions& m) const {
  const auto s = [](int64_t v) { return std::to_string(v); };
  return "attention cost " + s(key_slots) + " key slots per query (mem_len " + s(m.mem_len) + " + cmem_len " +
         s(m.cmem_len) + " + seq_len " + s(m.seq_len) + "); reach " + s(layer_reach) +
         " tokens before the segment per layer (mem_len " + s(m.mem_len) + " + cmem_rate " + s(m.cmem_rate) +
         " x cmem_len " + s(m.cmem_len) + "), at most " + s(stack_reach) + " through " + s(m.n_layer) +
         " layer(s)";
}

std::string bptt_reach_warning(const RunConfig& cfg, bool bptt) {
  const auto& m = cfg.model;
  if (!bptt || m.cmem_len == 0) return "";
  // Each segment evicts seq_len slots from memory and compresses them: the compressed
  // memory a segment reads was made by the last `events` segments' compressions, and an
  // unrolled graph of k segments carries the loss back through the last k - 1 of them.
  const int64_t evicted = m.cmem_len * m.cmem_rate;
  const int64_t events = (evicted + m.seq_len - 1) / m.seq_len;
  const int64_t reached = cfg.train.bptt_segments - 1;
  if (reached >= events) return "";
  const auto s = [](int64_t v) { return std::to_string(v); };
  const int64_t trained = std::min(m.cmem_len, reached * m.seq_len / m.cmem_rate);
  return "bptt_segments = " + s(cfg.train.bptt_segments) + " unrolls " + s(reached) +
         " compression event(s), but a segment's loss reads compressed slots made by the last " + s(events) +
         " (cmem_len " + s(m.cmem_len) + " x cmem_rate " + s(m.cmem_rate) + " / seq_len " + s(m.seq_len) +
         "): only the newest " + s(trained) + " of " + s(m.cmem_len) +
         " compressed slots carry the loss to the compression function, so information older than " +
         s(m.mem_len + reached * m.seq_len) +
         " tokens trains it on nothing; bptt_segments >= " + s(events + 1) + " reaches them all";
}

}  // namespace ctlab
