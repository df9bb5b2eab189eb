// Contiguous streams and segments.
#include "data/stream.h"

#include "util/error.h"

namespace ctlab {

SegmentStream::SegmentStream(const torch::Tensor& tokens, int64_t batch, int64_t seq_len)
    : batch_(batch), seq_len_(seq_len) {
  rows_ = tokens.numel() / batch;
  if (rows_ < 2)
    throw Error("a split of " + std::to_string(tokens.numel()) + " tokens is too short for batch size " +
                std::to_string(batch) + ": each stream needs at least 2 tokens");
  data_ = tokens.narrow(0, 0, rows_ * batch).view({batch, rows_}).t();  // [rows, B], strided view
  width_ = batch;
}

SegmentStream SegmentStream::shard(int64_t first, int64_t count) const {
  TORCH_CHECK(first >= 0 && count > 0 && first + count <= width_, "streams [", first, ", ", first + count,
              ") are not within the ", width_, " streams held");
  SegmentStream s = *this;
  s.data_ = data_.narrow(1, first, count);
  s.first_ = first_ + first;
  s.width_ = count;
  return s;
}

std::pair<torch::Tensor, torch::Tensor> SegmentStream::segment(int64_t t, const torch::Device& device) const {
  const int64_t start = t * seq_len_;
  TORCH_CHECK(t >= 0 && start < rows_ - 1, "segment ", t, " is past the end (", segments(), " segments)");
  const int64_t len = std::min(seq_len_, rows_ - 1 - start);
  auto x = data_.narrow(0, start, len).to(torch::kLong).contiguous();
  auto y = data_.narrow(0, start + 1, len).to(torch::kLong).contiguous();
  return {x.to(device), y.to(device)};
}

torch::Tensor SegmentStream::targets_of(const torch::Tensor& aligned, int64_t t) const {
  TORCH_CHECK(aligned.numel() / batch_ == rows_, "a tensor of ", aligned.numel(),
              " values is not laid out like ", rows_ * batch_, " tokens");
  const int64_t start = t * seq_len_;
  TORCH_CHECK(t >= 0 && start < rows_ - 1, "segment ", t, " is past the end (", segments(), " segments)");
  const int64_t len = std::min(seq_len_, rows_ - 1 - start);
  return aligned.narrow(0, 0, rows_ * batch_)
      .view({batch_, rows_})
      .t()
      .narrow(0, start + 1, len)
      .narrow(1, first_, width_)
      .contiguous();
}

}  // namespace ctlab
