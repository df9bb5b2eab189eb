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

// For a bptt compression loss (bptt = true): "" when the unrolled segments reach every
// compression event whose slots a segment's loss reads, else a warning with the numbers.
std::string bptt_reach_warning(const RunConfig& cfg, bool bptt);

}  // namespace ctlab
