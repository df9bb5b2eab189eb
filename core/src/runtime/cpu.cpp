// CPU features, the matrix-product rate, and the decisions built on them (see cpu.h).
#include "runtime/cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "runtime/torch_compat.h"
#include "util/error.h"

namespace ctlab {

CpuFeatures cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.avx512 = __builtin_cpu_supports("avx512f");
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) f.amx_bf16 = f.avx512 && (edx >> 22 & 1u);
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) f.avx512_bf16 = f.avx512 && (eax >> 5 & 1u);
#endif
  return f;
}

double matmul_gflops(const torch::Device& device, torch::Dtype dtype, int64_t n) {
  torch::NoGradGuard no_grad;
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  auto a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts);
  const auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  for (int i = 0; i < 3; ++i) a.mm(b);
  sync();
  const int iters = device.is_cuda() ? 50 : 20;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) a.mm(b);
  sync();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return 2.0 * static_cast<double>(n * n * n) * iters / secs / 1e9;
}

bool blas_core_is_generic(const std::string& core, const CpuFeatures& cpu) {
  if (core.empty() || !(cpu.avx2 || cpu.avx512)) return false;
  std::string lower(core);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* fast : {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"})
    if (lower.find(fast) != std::string::npos) return false;
  return true;
}

std::string generic_blas_warning(const std::string& core, double gflops) {
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.0f", gflops);
  return "OpenBLAS runs its generic " + core +
         " kernels on this CPU with AVX2/AVX-512: fp32 matrix products at " + rate +
         " GFLOP/s, several times below what it can do (training ran 3.5x faster with MKL on such a "
         "CPU, bench/RESULTS.md). Fix: scripts/build.sh --torch wheel, then use build-wheel/bin/ctlab "
         "(LibTorch 2.11 with MKL; README, Build)";
}

std::string cpu_bf16_refusal(const CpuFeatures& cpu, bool torch_can, const std::string& torch_version) {
  if (!torch_can)
    return "bf16 on the CPU needs LibTorch 2.x (this build has LibTorch " + torch_version +
           "): build with scripts/build.sh --torch wheel, or use precision = fp32";
  if (!cpu.avx512_bf16 && !cpu.amx_bf16)
    return "bf16 on the CPU needs AVX512_BF16 or AMX-BF16, which this CPU lacks (bf16 products "
           "would be emulated, slower than fp32): use precision = fp32, or a CUDA device";
  return "";
}

namespace {
std::string bf16_refusal(const torch::Device& device) {
  return device.is_cuda() ? "" : cpu_bf16_refusal(cpu_features(), compat::kCpuBf16Autocast, TORCH_VERSION);
}
}  // namespace

void check_bf16(const torch::Device& device, const std::string& where) {
  const auto why = bf16_refusal(device);
  if (!why.empty()) throw Error(where + " (device " + device.str() + "): " + why);
}

bool bf16_available(const torch::Device& device) { return bf16_refusal(device).empty(); }

}  // namespace ctlab
