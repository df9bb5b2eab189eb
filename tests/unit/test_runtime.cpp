// The CPU decisions of runtime/cpu.h as pure functions, on CPUs and OpenBLAS cores this
// machine may not have: which cores are generic, the warning's content, and when bf16 on the
// CPU is refused; the grid's tail threads and the threads file a worker polls.
#include <gtest/gtest.h>

#include "grid/scheduler.h"
#include "runtime/cpu.h"
#include "runtime/runtime.h"
#include "runtime/thread_request.h"
#include "test_util.h"
#include "util/error.h"

using namespace ctlab;

namespace {

CpuFeatures cpu(bool avx2, bool avx512, bool avx512_bf16 = false, bool amx_bf16 = false) {
  CpuFeatures f;
  f.avx2 = avx2;
  f.avx512 = avx512;
  f.avx512_bf16 = avx512_bf16;
  f.amx_bf16 = amx_bf16;
  return f;
}

TEST(BlasCore, GenericCoresOnAvx2OrAvx512CpusAreFlagged) {
  for (const char* core : {"Prescott", "Core2", "Nehalem", "Sandybridge", "Atom"}) {
    EXPECT_TRUE(blas_core_is_generic(core, cpu(true, true))) << core;
    EXPECT_TRUE(blas_core_is_generic(core, cpu(true, false))) << core;
  }
}

TEST(BlasCore, CoresWithAvx2KernelsAreNot) {
  for (const char* core : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "skylakex"})
    EXPECT_FALSE(blas_core_is_generic(core, cpu(true, true))) << core;
}

TEST(BlasCore, NoWarningWithoutAvx2OrWithoutOpenBlas) {
  EXPECT_FALSE(blas_core_is_generic("Prescott", cpu(false, false)));  // an old CPU: nothing better exists
  EXPECT_FALSE(blas_core_is_generic("", cpu(true, true)));            // MKL or another BLAS
}

TEST(BlasCore, WarningNamesCoreRateAndTheFix) {
  const auto w = generic_blas_warning("Prescott", 61.4);
  EXPECT_NE(w.find("Prescott"), std::string::npos) << w;
  EXPECT_NE(w.find("61 GFLOP/s"), std::string::npos) << w;
  EXPECT_NE(w.find("scripts/build.sh --torch wheel"), std::string::npos) << w;
  EXPECT_EQ(w.find("OPENBLAS_CORETYPE"), std::string::npos)
      << "the fix is a build, not an environment variable";
}

TEST(CpuBf16, RefusedOnOldLibTorchAndOnCpusWithoutBf16) {
  const auto old_torch = cpu_bf16_refusal(cpu(true, true, true, true), false, "1.13.1");
  EXPECT_NE(old_torch.find("1.13.1"), std::string::npos) << old_torch;
  EXPECT_NE(old_torch.find("--torch wheel"), std::string::npos) << old_torch;
  const auto no_bf16 = cpu_bf16_refusal(cpu(true, true), true, "2.11.0");
  EXPECT_NE(no_bf16.find("AVX512_BF16"), std::string::npos) << no_bf16;
  EXPECT_FALSE(cpu_bf16_refusal(cpu(true, false), true, "2.11.0").empty());
}

TEST(CpuBf16, AllowedWithAvx512Bf16OrAmx) {
  EXPECT_EQ(cpu_bf16_refusal(cpu(true, true, true, false), true, "2.11.0"), "");
  EXPECT_EQ(cpu_bf16_refusal(cpu(true, true, false, true), true, "2.11.0"), "");
}

TEST(CpuBf16, CudaIsNeverRefused) { EXPECT_TRUE(bf16_available(torch::Device(torch::kCUDA, 0))); }

TEST(GridTail, IdleCoresGoToTheCellsStillRunning) {
  EXPECT_EQ(tail_threads(2, 1, 1), 2);  // the quickstart grid's last cell on 2 cores
  EXPECT_EQ(tail_threads(2, 2, 1), 1);
  EXPECT_EQ(tail_threads(8, 3, 1), 2);
  EXPECT_EQ(tail_threads(16, 1, 2), 8);  // per rank of a 2-rank cell
  EXPECT_EQ(tail_threads(1, 2, 1), 1);   // never below one
  EXPECT_EQ(tail_threads(4, 0, 1), 4);
}

TEST(ThreadRequestFile, ParsesACountAndRejectsAnythingElse) {
  EXPECT_EQ(parse_thread_request("2\n", "t"), 2);
  EXPECT_EQ(parse_thread_request("16", "t"), 16);
  for (const char* bad : {"", "0", "-1", "two", "2.5", "99999999"}) {
    try {
      parse_thread_request(bad, "runs/x/threads");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("runs/x/threads"), std::string::npos) << e.what();
    }
  }
}

TEST(ThreadRequestFile, AppliesEachNewCountOnceAndNothingWithoutAFile) {
  test::TempDir dir;
  ThreadRequest request(dir.path() + "/threads");
  EXPECT_EQ(request.poll(), 0);  // no file: a run outside a grid
  dir.file("threads", "2\n");
  EXPECT_EQ(request.poll(), 2);
  EXPECT_EQ(request.poll(), 0);  // unchanged
  set_threads(1);
}

}  // namespace
