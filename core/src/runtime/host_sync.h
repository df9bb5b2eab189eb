// Reads of tensor values on the host, the points where a CUDA stream must be waited for:
// the one helper that copies a tensor to the host (to_host), uploads that do not wait
// (to_device), and a counter that tests and the benchmark use to show that a training
// step reads nothing between log points.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace ctlab {

// Copies `t` to the host as `dtype` (contiguous, detached). Every copy of a device
// tensor's values to the host goes through here (or through .item()), so that it is
// counted; on a CUDA device it waits for the tensor's stream.
torch::Tensor to_host(const torch::Tensor& t, torch::ScalarType dtype);

// Copies host tensor `t` to `device` without making the host wait for the device: on
// CUDA through pinned memory with non_blocking (a blocking upload from pageable memory
// synchronises the stream, i.e. waits for every kernel queued before it, which would be a
// host sync in every training step); elsewhere t.to(device).
torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device);

// Counts host reads in this process while it lives: each .item() (LibTorch's
// aten::_local_scalar_dense, which `.item<T>()` and a tensor's truth value go through,
// observed with a RecordFunction callback) and each to_host() call. Counted whatever the
// device, so that a CPU run shows the syncs a CUDA run would make. One at a time.
class HostReadCounter {
 public:
  HostReadCounter();
  ~HostReadCounter();
  HostReadCounter(const HostReadCounter&) = delete;
  HostReadCounter& operator=(const HostReadCounter&) = delete;
  int64_t items() const;   // .item() calls since construction
  int64_t copies() const;  // to_host() calls since construction
  int64_t total() const { return items() + copies(); }

 private:
  uint64_t handle_ = 0;
  int64_t items0_ = 0, copies0_ = 0;
};

}  // namespace ctlab
