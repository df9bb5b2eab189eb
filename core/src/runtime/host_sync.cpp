// Counted host reads.
#include "runtime/host_sync.h"

#include <ATen/record_function.h>

#include <atomic>
#include <cstring>

#include "util/error.h"

namespace ctlab {

namespace {

std::atomic<int64_t> g_items{0}, g_copies{0};
std::atomic<bool> g_counting{false};

std::unique_ptr<at::ObserverContext> on_op(const at::RecordFunction& fn) {
  if (std::strcmp(fn.name(), "aten::_local_scalar_dense") == 0) g_items.fetch_add(1);
  return nullptr;
}

}  // namespace

torch::Tensor to_host(const torch::Tensor& t, torch::ScalarType dtype) {
  g_copies.fetch_add(1);
  return t.detach().to(torch::kCPU, dtype).contiguous();
}

torch::Tensor to_device(const torch::Tensor& t, const torch::Device& device) {
  if (!device.is_cuda() || t.is_cuda()) return t.to(device);
  // The pinned block is kept by LibTorch's host allocator until the copy has run.
  return t.pin_memory().to(device, /*non_blocking=*/true);
}

HostReadCounter::HostReadCounter() {
  if (g_counting.exchange(true)) throw Error("a HostReadCounter is already counting in this process");
  items0_ = g_items.load();
  copies0_ = g_copies.load();
  handle_ = at::addGlobalCallback(at::RecordFunctionCallback(&on_op).scopes({at::RecordScope::FUNCTION}));
}

HostReadCounter::~HostReadCounter() {
  at::removeCallback(handle_);
  g_counting = false;
}

int64_t HostReadCounter::items() const { return g_items.load() - items0_; }
int64_t HostReadCounter::copies() const { return g_copies.load() - copies0_; }

}  // namespace ctlab
