// Devices, threads, BLAS detection, autocast compat and build metadata.
#include "runtime/runtime.h"

#include <dlfcn.h>
#include <sched.h>

#include <cstdlib>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <unistd.h>
#ifdef CTLAB_CUDA_VERSION
#include <c10/cuda/CUDACachingAllocator.h>
#endif
#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#endif

#include <fstream>
#include <thread>

#include "runtime/cpu.h"
#include "runtime/torch_compat.h"
#include "util/error.h"
#include "util/process.h"

namespace ctlab {

torch::Device resolve_device(const std::string& device) {
  if (device == "auto")
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (device == "cpu") return torch::kCPU;
  int index = 0;
  if (device.size() > 5) index = std::stoi(device.substr(5));
  if (!torch::cuda::is_available())
    throw Error("device = " + device +
                " but CUDA is not available in this build or on this machine (use cpu or auto)");
  if (index >= static_cast<int>(torch::cuda::device_count()))
    throw Error("device = " + device + " but only " + std::to_string(torch::cuda::device_count()) +
                " CUDA device(s) exist");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void set_tf32(bool allow) {
  at::globalContext().setAllowTF32CuBLAS(allow);
  at::globalContext().setAllowTF32CuDNN(allow);
}
bool tf32_matmul_allowed() { return at::globalContext().allowTF32CuBLAS(); }
bool tf32_cudnn_allowed() { return at::globalContext().allowTF32CuDNN(); }

torch::Tensor cuda_rng_state(const torch::Device& device) {
  if (!device.is_cuda()) return {};
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_cuda_rng_state(const torch::Device& device, const torch::Tensor& state) {
  if (!device.is_cuda() || !state.defined()) return;
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state.cpu());
}

void keep_freed_memory() {
#ifdef __GLIBC__
  // glibc serves blocks above a (dynamic) threshold with fresh mmaps and returns the top of
  // the heap to the system when it is free; a training step allocates and frees the same
  // multi-MiB activations every step, so each step page-faulted them in again (about
  // 340,000 minor faults in a 4 s benchmark). Keeping them in the heap instead: 110,000
  // faults and about 8% faster steps (bench/RESULTS.md). The process's footprint stays at
  // its peak rather than shrinking between steps.
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
    return true;
  }();
  (void)done;
#endif
}

int64_t available_cpus() {
  if (const char* slurm = std::getenv("SLURM_CPUS_PER_TASK")) {
    char* end = nullptr;
    const long long n = std::strtoll(slurm, &end, 10);
    if (end != slurm && *end == '\0' && n > 0) return n;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return std::max(1u, std::thread::hardware_concurrency());
}

namespace {
int64_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(text);
}
}  // namespace

int64_t available_memory_bytes() {
  int64_t available = -1;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") available = kib * 1024;
  const int64_t limit = read_number("/sys/fs/cgroup/memory.max");  // "max" (no limit) reads as -1
  const int64_t used = read_number("/sys/fs/cgroup/memory.current");
  if (limit > 0 && used >= 0) {
    const int64_t left = std::max<int64_t>(0, limit - used);
    available = available < 0 ? left : std::min(available, left);
  }
  return available;
}

int threads_for(int64_t threads) { return static_cast<int>(threads > 0 ? threads : available_cpus()); }

int set_threads(int64_t threads) {
  const int n = threads_for(threads);
  // With OpenBLAS, the matrix products get the threads and LibTorch's own (OpenMP) pool is
  // kept to one thread: OpenBLAS's pthread pool and an OpenMP pool of the same size spin
  // against each other between products. Measured on 2 cores (bench/RESULTS.md): 3,580
  // training tokens/s this way against 1,257 with both pools at 2 threads.
  using set_fn = void (*)(int);
  if (auto openblas_set = reinterpret_cast<set_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    openblas_set(n);
    at::set_num_threads(1);
  } else {
    at::set_num_threads(n);
  }
  return n;
}

std::string thread_summary() {
  using get_fn = int (*)();
  auto openblas_get = reinterpret_cast<get_fn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return std::to_string(at::get_num_threads()) + " intra-op thread(s), " +
         (openblas_get ? std::to_string(openblas_get()) + " OpenBLAS thread(s)"
                       : std::string("BLAS threads not set"));
}

std::string BlasInfo::summary() const { return core.empty() ? library : library + " (core " + core + ")"; }

// The BLAS that LibTorch's build configuration names (a PyPI wheel links MKL statically,
// so no MKL symbol is visible): its "Math Kernel Library Version" line, else BLAS_INFO.
static std::string blas_from_build_config() {
  const std::string config = at::show_config();
  auto line_with = [&](const std::string& what) -> std::string {
    const auto at = config.find(what);
    if (at == std::string::npos) return "";
    const auto begin = config.rfind('\n', at) + 1, end = config.find('\n', at);
    std::string line = config.substr(begin, end - begin);
    line.erase(0, line.find_first_not_of(" -"));
    return line;
  };
  if (auto mkl = line_with("Math Kernel Library Version"); !mkl.empty()) return mkl;
  if (auto info = line_with("BLAS_INFO="); !info.empty()) {
    const auto v = info.find("BLAS_INFO=") + 10;
    const std::string name = info.substr(v, info.find(',', v) - v);
    if (name != "generic" && !name.empty()) return name + " (LibTorch's build configuration)";
  }
  return "not OpenBLAS or MKL (the reference BLAS is about 10x slower: see README, Performance)";
}

BlasInfo blas_info() {
  BlasInfo b;
  using corename_fn = char* (*)();
  auto corename = reinterpret_cast<corename_fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  auto config = reinterpret_cast<corename_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (!corename) {
    using version_fn = void (*)(char*, int);
    if (auto mkl = reinterpret_cast<version_fn>(dlsym(RTLD_DEFAULT, "mkl_get_version_string"))) {
      char buf[256] = {0};
      mkl(buf, sizeof buf - 1);
      b.library = buf;
    } else {
      b.library = blas_from_build_config();
    }
    return b;
  }
  b.library = config ? std::string(config()) : "OpenBLAS";
  b.core = corename();
  if (blas_core_is_generic(b.core, cpu_features()))
    b.warning = generic_blas_warning(b.core, matmul_gflops(torch::kCPU, torch::kFloat32, 512));
  return b;
}

void set_bf16_autocast(bool enabled) {
  compat::set_autocast(at::kCUDA, enabled, at::kBFloat16);
  compat::set_autocast(at::kCPU, enabled, at::kBFloat16);
}

void clear_autocast_cache() { at::autocast::clear_cache(); }

std::string host_name() { return this_host(); }

std::string ctlab_version() { return CTLAB_VERSION; }
std::string torch_version() { return TORCH_VERSION; }

namespace compat {
int64_t cuda_peak_allocated_bytes(int device) {
#ifdef CTLAB_CUDA_VERSION
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  return stats.allocated_bytes[0].peak;  // StatType::AGGREGATE
#else
  (void)device;
  return -1;
#endif
}

void record_profile(const std::string& path, const std::function<void()>& body) {
#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
  torch::autograd::profiler::RecordProfile guard(path);
  body();
#else
  throw Error("profiling to '" + path +
              "' needs LibTorch's legacy profiler, which LibTorch " TORCH_VERSION " does not have");
#endif
}
}  // namespace compat

std::string cuda_summary() {
#ifdef CTLAB_CUDA_VERSION
  return std::string("CUDA ") + CTLAB_CUDA_VERSION + ", " + std::to_string(torch::cuda::device_count()) +
         " device(s) visible";
#else
  return "";
#endif
}

}  // namespace ctlab
