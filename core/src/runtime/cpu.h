// What this CPU and this LibTorch can do fast: the x86 features that decide which OpenBLAS
// kernels and which bf16 paths apply, the matrix-product rate of this process, and the
// pure decisions built on them (a generic-BLAS warning, whether bf16 may run on the CPU),
// kept apart from the probing so that tests can exercise them on any machine.
#pragma once

#include <torch/types.h>

#include <string>

namespace ctlab {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512 = false;       // AVX-512F
  bool avx512_bf16 = false;  // AVX512_BF16 (Cooper Lake, Sapphire Rapids, Zen 4 and later)
  bool amx_bf16 = false;     // AMX-BF16 (Sapphire Rapids and later)
};
// This CPU's features (cpuid; AVX and AVX-512 only where the OS saves their registers).
CpuFeatures cpu_features();

// fp32 (or `dtype`) n x n x n matrix-product rate of this process with its current threads,
// in GFLOP/s (a few products after warm-up; synchronised on CUDA).
double matmul_gflops(const torch::Device& device, torch::Dtype dtype, int64_t n);

// Whether OpenBLAS core `core` (openblas_get_corename()) lacks the vector kernels `cpu`
// supports: a core without AVX2 kernels (Prescott, Core2, Nehalem, Sandybridge, ...) on a
// CPU with AVX2 or AVX-512. False for a core that has them (Haswell, Zen, SkylakeX,
// Cooperlake, SapphireRapids), for any core on a CPU without AVX2, and without OpenBLAS
// (core ""). Pure.
bool blas_core_is_generic(const std::string& core, const CpuFeatures& cpu);
// The warning for such a core: the core, the measured rate `gflops` and the one command
// that fixes it (a build against the PyPI wheel's LibTorch, which brings MKL). Pure.
std::string generic_blas_warning(const std::string& core, double gflops);

// Why precision = bf16 cannot run on the CPU, "" when it can: it needs a LibTorch whose
// CPU autocast reaches oneDNN's bf16 kernels (`torch_can`, the 2.x builds) and a CPU with
// AVX512_BF16 or AMX-BF16 (elsewhere bf16 products are emulated, slower than fp32). Pure.
std::string cpu_bf16_refusal(const CpuFeatures& cpu, bool torch_can, const std::string& torch_version);

// Throws ctlab::Error when precision = bf16 cannot run on `device` in this build and on
// this machine (CUDA always can; the CPU as cpu_bf16_refusal says). `where` names the
// setting for the message, e.g. "precision = bf16".
void check_bf16(const torch::Device& device, const std::string& where);
// Whether check_bf16 would pass: evaluating a bf16 run where bf16 cannot run does it in fp32.
bool bf16_available(const torch::Device& device);

}  // namespace ctlab
