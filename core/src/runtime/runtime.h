// The process's compute environment: device choice, intra-op threads, the BLAS library
// and OpenBLAS core in use, mixed precision (behind a compat layer for LibTorch 1.13 and
// 2.x), and build metadata recorded with every run.
#pragma once

#include <torch/types.h>

#include <string>

namespace ctlab {

// "auto" -> cuda if available, else cpu. Throws ctlab::Error for a CUDA device that does
// not exist here.
torch::Device resolve_device(const std::string& device);

// The CPUs this process may use: SLURM_CPUS_PER_TASK when set, else the CPUs in its
// affinity mask (taskset, cgroup cpusets), else the machine's hardware threads.
int64_t available_cpus();
// Bytes this process may still allocate on the CPU: MemAvailable from /proc/meminfo, or
// less under a cgroup memory limit (memory.max - memory.current). -1 when unknown.
int64_t available_memory_bytes();

// The cores a `threads` setting means here: itself, or available_cpus() for 0.
int threads_for(int64_t threads);
// Gives this worker threads_for(threads) cores and returns that number. With OpenBLAS the
// matrix products get them and LibTorch's intra-op pool stays at one thread (the two pools
// oversubscribe the cores otherwise); with another BLAS, LibTorch's intra-op pool gets them.
int set_threads(int64_t threads);
// Tunes glibc's allocator to keep freed blocks for reuse (no mmap per large tensor, no
// trimming of the heap top), which saves re-faulting activations every step. Idempotent;
// every process that trains or evaluates calls it before its first step.
void keep_freed_memory();
// "1 intra-op thread(s), 2 OpenBLAS thread(s)".
std::string thread_summary();

struct BlasInfo {
  std::string library;  // e.g. "OpenBLAS 0.3.21 ..." or "unknown"
  std::string core;     // OpenBLAS core name, "" when not OpenBLAS
  // Non-empty when OpenBLAS runs generic kernels on a CPU with AVX2/AVX-512 (cpu.h): says
  // the matmul rate measured just now (about 0.1 s) and the command that fixes it.
  std::string warning;
  std::string summary() const;
};
BlasInfo blas_info();

// Enables or disables bf16 autocast for the current thread, on the CPU and CUDA alike
// (autocast applies to a device's own tensors only, so a run on one never touches the other).
// Check first that the device can (runtime/cpu.h, check_bf16).
void set_bf16_autocast(bool enabled);
void clear_autocast_cache();

// TF32 for fp32 matrix products (cuBLAS) and cuDNN convolutions: off unless `allow`
// (the `allow_tf32` key). LibTorch's own defaults differ between the two (cuDNN allows it),
// so ctlab sets both for every run.
void set_tf32(bool allow);
bool tf32_matmul_allowed();
bool tf32_cudnn_allowed();

// The random state of `device`'s default CUDA generator; undefined for a CPU device.
torch::Tensor cuda_rng_state(const torch::Device& device);
// Restores a state from cuda_rng_state on `device` (nothing for a CPU device or an
// undefined state).
void set_cuda_rng_state(const torch::Device& device, const torch::Tensor& state);

std::string host_name();
std::string git_commit();  // HEAD of the ctlab source tree when this binary was built, or "unknown"
std::string ctlab_version();
std::string torch_version();
// "CUDA 13.0, 1 device(s) visible" for a LibTorch built with CUDA; "" without.
std::string cuda_summary();

}  // namespace ctlab
