// What a configuration costs and how far back it sees, so that a study can match cells
// on cost or on reach deliberately, and a warning for bptt losses that cannot reach the
// compression events a segment's loss depends on.
#pragma once

#include <string>

#include "config/options.h"

namespace ctlab {

struct CostReach {
  int64_t key_slots = 0;    // attention cost: key slots per query, mem_len + cmem_len + seq_len
  int64_t layer_reach = 0;  // tokens before the segment one layer can see: mem_len + cmem_rate x cmem_len
  int64_t stack_reach = 0;  // bound through the stack: n_layer x layer_reach
  // "attention cost 96 key slots per query (...); reach 96 tokens per layer (...), 192 through 2 layers"
  std::string describe(const ModelOptions& m) const;
};
CostReach cost_and_reach(const ModelOptions& m);

// What a training run needs in memory, estimated from the keys that set its size, before
// anything is allocated. float32; parameters with their gradients and Adam's two moments,
// and the activations one training chunk keeps for its backward pass (attention scores
// and probabilities over every key slot, per-token hidden states, the output logits).
struct MemoryEstimate {
  int64_t parameters = 0;        // count (the compression function's own are not included)
  int64_t parameter_bytes = 0;   // weights, gradients, Adam moments
  int64_t activation_bytes = 0;  // one chunk of batch_size / accumulate streams
  int64_t total() const { return parameter_bytes + activation_bytes; }
  // "1.2 GiB (parameters 3.4M x 16 bytes = ...; activations ... for ...)" naming the keys.
  std::string describe(const RunConfig& cfg) const;
};
// `bptt`: the compression loss unrolls train.bptt_segments segments in one graph.
// `world`: data-parallel ranks; the estimate is one rank's (batch_size / world streams).
MemoryEstimate estimate_memory(const RunConfig& cfg, bool bptt, int64_t world = 1);

// Data parallelism: `world` ranks each train batch_size / world streams, split into
// `accumulate` chunks. Throws ctlab::Error naming batch_size when it does not divide.
void check_rank_division(const RunConfig& cfg, int64_t world);
std::string format_bytes(int64_t bytes);

// For a bptt compression loss (bptt = true): "" when the unrolled segments reach every
// compression event whose slots a segment's loss reads, else a warning with the numbers.
std::string bptt_reach_warning(const RunConfig& cfg, bool bptt);

}  // namespace ctlab
