// Every difference between the LibTorch versions ctlab builds against, in one place:
// Debian's 1.13 (CPU) and 2.x from a PyTorch wheel (CUDA, NCCL). Code elsewhere calls
// these names and never tests TORCH_VERSION itself (scripts/check_structure.py checks it).
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <cstdint>
#include <functional>
#include <string>

#define CTLAB_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace ctlab::compat {

// Autocast to `dtype` on `device` for the current thread. 2.4 made the device type an
// argument; 1.13 has one function pair per device (CPU and "gpu").
inline void set_autocast(at::DeviceType device, bool enabled, at::ScalarType dtype) {
#if CTLAB_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == at::kCPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
#endif
}

// Whether bf16 on the CPU is offered: 2.x's CPU autocast sends bf16 products to oneDNN.
// Debian's 1.13 is refused (its CPU autocast is older and not measured here).
constexpr bool kCpuBf16Autocast = CTLAB_TORCH_AT_LEAST(2, 0);

// Whether autocast is on for `device` in the current thread.
inline bool autocast_enabled(at::DeviceType device) {
#if CTLAB_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(device);
#else
  return device == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

// Peak bytes the CUDA caching allocator handed out on `device` since the process began
// (what torch.cuda.max_memory_allocated reports); -1 without CUDA. The statistics moved
// from c10::cuda::CUDACachingAllocator to c10::CachingDeviceAllocator in 2.x.
int64_t cuda_peak_allocated_bytes(int device);

// Runs `body` under LibTorch's legacy autograd profiler and writes its Chrome trace to
// `path`. Throws ctlab::Error where this LibTorch has no such profiler.
void record_profile(const std::string& path, const std::function<void()>& body);

}  // namespace ctlab::compat

// c10d (only runtime/distributed.cpp includes its headers, before this file): 2.x splits a
// process group into a front (ProcessGroup) and per-device backends (Backend: Gloo, NCCL);
// in 1.13 the Gloo and NCCL groups are ProcessGroups themselves. Both offer the
// collectives ctlab uses with the same signatures.
#if defined(CTLAB_HAVE_GLOO)
namespace ctlab::compat {
#if CTLAB_TORCH_AT_LEAST(2, 0)
using C10dGroup = c10d::Backend;
#else
using C10dGroup = c10d::ProcessGroup;
#endif
// Ends a process group: 2.x backends have shutdown() (NCCL destroys its communicators and
// joins its watchdog); 1.13's Gloo group has none and ends in its destructor.
inline void shutdown_group(C10dGroup& group) {
#if CTLAB_TORCH_AT_LEAST(2, 2)
  group.shutdown();
#else
  (void)group;
#endif
}
}  // namespace ctlab::compat
#endif
