// Transformer-XL batching: a split's token stream is cut into `batch` contiguous streams;
// segment t holds positions [t*L, (t+1)*L) of every stream, and targets are the next
// tokens, across segment boundaries. Memories therefore carry real context.
#pragma once

#include <torch/types.h>

#include <utility>

namespace ctlab {

class SegmentStream {
 public:
  // tokens: 1-D (any integer dtype). Drops the N % batch tail tokens.
  SegmentStream(const torch::Tensor& tokens, int64_t batch, int64_t seq_len);

  int64_t batch() const { return batch_; }
  int64_t seq_len() const { return seq_len_; }
  // Segments of exactly seq_len positions.
  int64_t full_segments() const { return (rows_ - 1) / seq_len_; }
  // All segments including a shorter last one.
  int64_t segments() const { return (rows_ - 1 + seq_len_ - 1) / seq_len_; }
  // Positions that have a target (every token of every stream but the last).
  int64_t positions() const { return (rows_ - 1) * batch_; }
  // Segment t: inputs [L, B] and targets [L, B], int64, on `device`.
  std::pair<torch::Tensor, torch::Tensor> segment(int64_t t, const torch::Device& device) const;
  // The targets' positions of segment t in any tensor laid out like the tokens (e.g. the
  // per-token ideal losses of a task): [L, B], its own dtype, on the CPU.
  torch::Tensor targets_of(const torch::Tensor& aligned, int64_t t) const;

 private:
  torch::Tensor data_;  // [rows, B]
  int64_t batch_, seq_len_, rows_;
};

}  // namespace ctlab
