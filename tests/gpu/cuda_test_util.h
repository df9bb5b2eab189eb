// What the GPU suite shares: the device its CUDA side runs on and the skip without one,
// strict fp32 for comparisons with the CPU, and reading a results root the binary wrote.
//
// CTLAB_GPU_TESTS_ON_CPU=1 runs the CUDA side on the CPU instead (every comparison is then
// CPU against CPU, NCCL and bf16 tests skip): it checks the suite's own logic on a machine
// without a GPU. Without it, every test skips itself when CUDA is not available.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "store/analysis_file.h"
#include "store/run_store.h"
#include "test_util.h"

namespace ctlab::test {

inline bool gpu_tests_on_cpu() {
  const char* v = std::getenv("CTLAB_GPU_TESTS_ON_CPU");
  return v && std::string(v) == "1";
}
inline bool gpu_ready() { return gpu_tests_on_cpu() || torch::cuda::is_available(); }
// The device the CUDA side of a comparison runs on, as a torch::Device and as a config value.
inline torch::Device gpu() {
  return gpu_tests_on_cpu() ? torch::Device(torch::kCPU) : torch::Device(torch::kCUDA, 0);
}
inline std::string gpu_name() { return gpu_tests_on_cpu() ? "cpu" : "cuda:0"; }

#define CTLAB_SKIP_WITHOUT_CUDA()                                              \
  if (!::ctlab::test::gpu_ready())                                             \
  GTEST_SKIP() << "CUDA not available (torch::cuda::is_available() is false; " \
                  "CTLAB_GPU_TESTS_ON_CPU=1 runs the suite's logic on the CPU)"

// A run completes only once it has written its analysis.h5, so the tests that run the binary
// need a build with HDF5 (CTLAB_WITH_HDF5=ON).
#define CTLAB_SKIP_WITHOUT_HDF5()      \
  if (::ctlab::hdf5_version().empty()) \
  GTEST_SKIP() << "built without HDF5 (CTLAB_WITH_HDF5=OFF): a run cannot write analysis.h5 and complete"

// fp32 comparisons against the CPU need fp32 on the GPU: LibTorch lets cuDNN convolutions use
// TF32 by default (10-bit mantissa, relative error about 1e-3), and ctlab does not turn it
// off, so the suite does for its own process. (Matmuls default to strict fp32 already.)
inline void strict_fp32() {
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
}

// |a - b| <= atol + rtol * |b|.
inline bool near(double a, double b, double atol, double rtol) {
  return std::isfinite(a) && std::isfinite(b) && std::fabs(a - b) <= atol + rtol * std::fabs(b);
}

// The rows of one metric of a run in a results root, in step order.
inline std::vector<MetricRow> metric_rows(const std::string& root, const std::string& run_id,
                                          const std::string& key) {
  RunStore store(root + "/ctlab.sqlite");
  return store.metrics_exact(run_id, {key});
}

// The value of a metric at a step (NaN when not logged).
inline double metric_at(const std::string& root, const std::string& run_id, const std::string& key,
                        int64_t step) {
  for (const auto& r : metric_rows(root, run_id, key))
    if (r.step == step) return r.value;
  return NAN;
}

// The only run of a results root ("" when there is not exactly one).
inline std::string only_run_id(const std::string& root) {
  RunStore store(root + "/ctlab.sqlite");
  auto runs = store.runs();
  return runs.size() == 1 ? runs[0].run_id : std::string();
}

// The two-layer tiny model the binary tests train (rate 2, no dropout: runs repeat exactly).
inline const std::string kGpuModel = tiny_model(2);

}  // namespace ctlab::test
