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

  // This process's share of the streams (distributed training and evaluation): streams
  // [first, first + count) of the batch; segments then hold only those columns.
  SegmentStream shard(int64_t first, int64_t count) const;

  int64_t batch() const { return batch_; }
  int64_t width() const { return width_; }  // streams held (batch() unless sharded)
  int64_t seq_len() const { return seq_len_; }
  // Segments of exactly seq_len positions.
  int64_t full_segments() const { return (rows_ - 1) / seq_len_; }
  // All segments including a shorter last one.
  int64_t segments() const { return (rows_ - 1 + seq_len_ - 1) / seq_len_; }
  // Positions that have a target (every token of every held stream but the last).
  int64_t positions() const { return (rows_ - 1) * width_; }
  // Segment t: inputs [L, W] and targets [L, W] (W = width()), int64, on `device`.
  std::pair<torch::Tensor, torch::Tensor> segment(int64_t t, const torch::Device& device) const;
  // The targets' positions of segment t in any tensor laid out like the tokens (e.g. the
  // per-token ideal losses of a task): [L, W], its own dtype, on the CPU.
  torch::Tensor targets_of(const torch::Tensor& aligned, int64_t t) const;

 private:
  torch::Tensor data_;  // [rows, W]
  int64_t batch_, seq_len_, rows_, first_ = 0, width_;
};

}  // namespace ctlab
