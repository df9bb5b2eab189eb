// The benchmark tools run end to end (one short step each; speed itself is never asserted
// in tests): the FLOP counts they print for the named configurations, both kernel
// settings, and their errors for bad options.
#include <gtest/gtest.h>

#include "test_util.h"

using namespace ctlab;

namespace {
test::CommandResult bench(const std::string& args) {
  return test::run_command("env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BENCH "' " + args);
}
bool has(const std::string& h, const std::string& n) { return h.find(n) != std::string::npos; }
}  // namespace

TEST(Bench, SuiteConfigsPrintTheirFlopCountsAndRatios) {
  // One timed step after one warm-up, at the real cpu-small shapes.
  auto r = bench("--config cpu-small,cpu-small-conv --steps 1 --warmup 1 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // 4 x (2D^2 + 4D^2 k + 2D^2 k/B + 2D^2 + 4 D d_ff + 6 D klen) + 2 D V with D 256, k 3,
  // B 8, d_ff 1024, klen 384, V 256 = 11,075,584.
  EXPECT_TRUE(has(r.output, "FLOPs/token 11.08 M forward")) << r.output;
  EXPECT_TRUE(has(r.output, "0.00 M compression per training step: not counted (mean_pool@1 + none@1)"))
      << r.output;
  // conv1d 4D^2 + attention_reconstruction with n = 128, n_c = 32, per layer, 4 layers.
  EXPECT_TRUE(has(r.output, "4.33 M compression per training step: conv1d 4 D^2 + attention_reconstruction"))
      << r.output;
  EXPECT_TRUE(has(r.output, "% of the matmul rate (forward, backward, compression, clip, Adam)")) << r.output;
  EXPECT_TRUE(has(r.output, "training tokens/s")) << r.output;
}

TEST(Bench, ReferenceKernelsRunAndBadOptionsAreNamed) {
  auto ok = bench("--config cpu-small-txl --steps 1 --warmup 1 --threads 1 --batch 1 --kernels reference");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(has(ok.output, "none (no compressed memory)")) << ok.output;
  auto bad = bench("--config cpu-small --kernels fastest");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(has(bad.output, "--kernels: expected fused or reference, got 'fastest'")) << bad.output;
  auto steps = bench("--config cpu-small --steps 0");
  EXPECT_EQ(steps.exit_code, 2);
  EXPECT_TRUE(has(steps.output, "--steps 0: expected an integer >= 1")) << steps.output;
  auto unknown = bench("--config cpu-tiny");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(has(unknown.output, "unknown config 'cpu-tiny'")) << unknown.output;
}

TEST(KernelBench, TimesProductsAndBothKernelSettings) {
  auto r = test::run_command(
      "'" CTLAB_TEST_KERNEL_BENCH
      "' --batch 1 --heads 2 --seq 8 --klen 24 --d-model 16 --d-ff 32 --reps 1 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* line : {"q k^T per (b, h)", "backward of p v", "reference  attention probs, dropatt 0",
                           "fused      attention probs, dropatt p", "fused      relu + dropout"})
    EXPECT_TRUE(has(r.output, line)) << line << "\n" << r.output;
  auto heads = test::run_command("'" CTLAB_TEST_KERNEL_BENCH "' --d-model 16 --heads 3");
  EXPECT_EQ(heads.exit_code, 2);
  EXPECT_TRUE(has(heads.output, "--d-model 16 is not a multiple of --heads 3")) << heads.output;
  auto klen = test::run_command("'" CTLAB_TEST_KERNEL_BENCH "' --seq 64 --klen 32");
  EXPECT_EQ(klen.exit_code, 2);
  EXPECT_TRUE(has(klen.output, "--klen 32 is shorter than --seq 64")) << klen.output;
}
