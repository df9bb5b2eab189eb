// Cost, reach and the bptt reach check.
#include "config/run_shape.h"

#include <algorithm>
#include <cstdio>

#include "util/error.h"

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

void check_rank_division(const RunConfig& cfg, int64_t world) {
  const auto& t = cfg.train;
  if (t.batch_size % (world * t.accumulate) == 0) return;
  throw Error("key 'batch_size' = " + std::to_string(t.batch_size) + ": " + std::to_string(world) +
              " rank(s) x accumulate " + std::to_string(t.accumulate) +
              " must divide it (each rank trains batch_size / world size streams); choose a multiple of " +
              std::to_string(world * t.accumulate));
}

MemoryEstimate estimate_memory(const RunConfig& cfg, bool bptt, int64_t world) {
  const auto& m = cfg.model;
  const int64_t d = m.d_model, f = m.d_ff, v = m.vocab_size, layers = m.n_layer;
  MemoryEstimate e;
  const int64_t per_layer = 5 * d * d + 2 * d * f + f + 9 * d;  // q, k, v, o, r; feed-forward; biases, norms
  e.parameters = v * d + (m.tie_weight ? 0 : v * d) + v + layers * per_layer;
  e.parameter_bytes = e.parameters * 4 * 4;
  const int64_t b = std::max<int64_t>(
      1, cfg.train.batch_size / std::max<int64_t>(1, world) / std::max<int64_t>(1, cfg.train.accumulate));
  const int64_t keys = m.mem_len + m.cmem_len + m.seq_len;
  const int64_t per_layer_floats =
      5 * m.n_head * m.seq_len * keys + m.seq_len * (16 * d + 2 * f) + keys * 4 * d;
  const int64_t floats = layers * b * per_layer_floats + 3 * b * m.seq_len * v;
  const int64_t unrolled = bptt && m.cmem_len > 0 ? cfg.train.bptt_segments : 1;
  e.activation_bytes = floats * 4 * unrolled;
  return e;
}

std::string format_bytes(int64_t bytes) {
  char buf[64];
  const double x = static_cast<double>(bytes);
  if (x >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f GiB", x / (1024.0 * 1024 * 1024));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", x / (1024.0 * 1024));
  return buf;
}

std::string MemoryEstimate::describe(const RunConfig& cfg) const {
  const auto& m = cfg.model;
  const auto s = [](int64_t x) { return std::to_string(x); };
  return format_bytes(total()) + " (parameters and Adam state " + format_bytes(parameter_bytes) + " for " +
         s(parameters) + " parameters: vocab_size " + s(m.vocab_size) + ", d_model " + s(m.d_model) +
         ", d_ff " + s(m.d_ff) + ", n_layer " + s(m.n_layer) + "; activations " +
         format_bytes(activation_bytes) + " for batch_size " + s(cfg.train.batch_size) + " / accumulate " +
         s(cfg.train.accumulate) + " x seq_len " + s(m.seq_len) + " x (mem_len " + s(m.mem_len) +
         " + cmem_len " + s(m.cmem_len) + " + seq_len " + s(m.seq_len) + ") keys x n_head " + s(m.n_head) +
         " x n_layer " + s(m.n_layer) + ")";
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
