// precision = bf16 on the CPU through the real binary: where it can run (LibTorch 2.x and a
// CPU with AVX512_BF16 or AMX), 300 steps track the fp32 run of the same seed; where it
// cannot, it is refused before anything is written. A bf16 run is another run than the fp32
// one (precision is part of a run's identity), so no checkpoint resumes across precisions.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <cmath>

#include "runtime/cpu.h"
#include "store/run_store.h"
#include "test_util.h"

using namespace ctlab;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {

double metric_at(RunStore& store, const std::string& run_id, const std::string& key, int64_t step) {
  for (const auto& r : store.metrics(run_id, key))
    if (r.key == key && r.step == step) return r.value;
  return NAN;
}

// The two-layer model of the CUDA bf16 test (tests/gpu/test_cuda_runs.cpp) on a repeated
// sentence, 300 steps, with `compression_keys`.
std::string fox_run(const TempDir& dir, const std::string& compression_keys) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "the quick brown fox jumps over the lazy dog. ";
  const auto data = dir.file("fox.txt", text);
  return dir.file("run.ini",
                  "experiment = bf16cpu\nthreads = 1\ndevice = cpu\n[model]\nn_layer = 2\nd_model = 32\n"
                  "n_head = 2\nd_ff = 64\nseq_len = 16\nmem_len = 16\ncmem_len = 8\ncmem_rate = 2\n"
                  "dropout = 0\n" +
                      compression_keys + "[data]\ndataset = text\ndata_path = " + data +
                      "\n[train]\nbatch_size = 8\nmax_steps = 300\nwarmup_steps = 20\nlr = 0.005\n"
                      "log_every = 100\ncheckpoint_every = 1000\n[eval]\neval_segments = 20\n"
                      "buckets_sequences = 0\n");
}

// Margins as in the CUDA test, whose fp32 runs (seeds 1-6) give a mean training loss of
// 1.84-1.99 nats on steps 1-100, 0.004-0.009 on steps 201-300 and a validation loss of
// 0.09-0.19: bf16 must learn the sentence too (steps 201-300 below 0.1, validation below
// 0.5) and stay within 0.05 nats of fp32 on steps 201-300 and within 0.15 (the spread between
// seeds) on steps 1-100 and on the validation.
void expect_bf16_tracks_fp32(const std::string& compression_keys) {
  if (!bf16_available(torch::kCPU)) GTEST_SKIP() << "bf16 cannot run on this CPU or LibTorch (see Refused)";
  TempDir dir;
  const auto ini = fox_run(dir, compression_keys);
  const std::string root = dir.path() + "/results";
  auto fp32 = run_ctlab("train " + ini + " --results " + root);
  ASSERT_EQ(fp32.exit_code, 0) << fp32.output;
  auto bf16 = run_ctlab("train " + ini + " --results " + root + " --set precision=bf16");
  ASSERT_EQ(bf16.exit_code, 0) << bf16.output;
  RunStore store(root + "/ctlab.sqlite");
  const auto runs = store.runs();
  ASSERT_EQ(runs.size(), 2u) << "the bf16 run is a run of its own, not a resumed fp32 run";
  const auto& a = store.params(runs[0].run_id)["precision"] == "fp32" ? runs[0] : runs[1];
  const auto& b = &a == &runs[0] ? runs[1] : runs[0];
  ASSERT_EQ(store.params(b.run_id)["precision"], "bf16");
  const double end32 = metric_at(store, a.run_id, "train/loss", 300);
  const double end16 = metric_at(store, b.run_id, "train/loss", 300);
  EXPECT_LT(end32, 0.1) << fp32.output;
  EXPECT_LT(end16, 0.1) << bf16.output;
  EXPECT_NEAR(end16, end32, 0.05) << "mean training loss of steps 201-300";
  EXPECT_NEAR(metric_at(store, b.run_id, "train/loss", 100), metric_at(store, a.run_id, "train/loss", 100),
              0.15)
      << "mean training loss of steps 1-100";
  const double v32 = metric_at(store, a.run_id, "valid/loss", 300);
  const double v16 = metric_at(store, b.run_id, "valid/loss", 300);
  EXPECT_LT(v16, 0.5) << bf16.output;
  EXPECT_NEAR(v16, v32, 0.15) << "final validation loss";
  for (const auto& row : store.metrics(b.run_id, "train/compression_loss"))
    EXPECT_TRUE(std::isfinite(row.value)) << "compression loss at step " << row.step;
}

}  // namespace

TEST(CpuBf16, TrainingTracksFp32) { expect_bf16_tracks_fp32("compression = mean_pool\n"); }

TEST(CpuBf16, TrainingWithALearnedCompressionTracksFp32) {
  expect_bf16_tracks_fp32("compression = conv1d\ncompression_loss = attention_reconstruction\n");
}

// Where bf16 cannot run on the CPU, `ctlab train` and `ctlab grid run` say why and write
// nothing (no results folder).
TEST(CpuBf16, RefusedBeforeAnythingIsWrittenWhereItCannotRun) {
  if (bf16_available(torch::kCPU))
    GTEST_SKIP() << "bf16 runs on this CPU and LibTorch (see TrainingTracksFp32)";
  TempDir dir;
  const auto ini = dir.file("run.ini", test::tiny_run("refused"));
  const std::string root = dir.path() + "/results";
  auto r = run_ctlab("train " + ini + " --results " + root + " --set precision=bf16 --set device=cpu");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(test::contains(r.output, "precision = bf16")) << r.output;
  EXPECT_TRUE(test::contains(r.output, "bf16 on the CPU needs")) << r.output;
  EXPECT_FALSE(boost::filesystem::exists(root)) << r.output;
  const auto grid = dir.file("grid.ini", test::tiny_run("refusedgrid") + "[grid]\nseeds = 1, 2\n");
  auto g = run_ctlab("grid run " + grid + " --results " + root + " --set precision=bf16 --set device=cpu");
  EXPECT_NE(g.exit_code, 0) << g.output;
  EXPECT_TRUE(test::contains(g.output, "bf16 on the CPU needs")) << g.output;
  EXPECT_FALSE(boost::filesystem::exists(root)) << g.output;
}
