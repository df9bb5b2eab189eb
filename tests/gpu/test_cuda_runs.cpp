// GPU: the real binary on CUDA with tiny runs. bf16 training against fp32, deferred
// checks against per-step checks, a grid on one device with its attention analysis, a
// checkpoint written on one device resumed on the other, and `ctlab eval` with longer
// memory on CUDA against the CPU.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <map>

#include "cuda_test_util.h"
#include "store/analysis_file.h"

using namespace ctlab;
using ctlab::test::contains;
using ctlab::test::gpu_name;
using ctlab::test::metric_at;
using ctlab::test::metric_rows;
using ctlab::test::near;
using ctlab::test::only_run_id;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {

const std::string kConv = "compression = conv1d\ncompression_loss = attention_reconstruction\n";

// A run of the two-layer model on the synthetic copy task; `model_keys` go to [model],
// `train_keys` to [train].
std::string synthetic_run(const std::string& experiment, const std::string& model_keys,
                          const std::string& train_keys, int64_t buckets_sequences = 0) {
  return "experiment = " + experiment + "\nthreads = 1\n" + test::kGpuModel + model_keys +
         "[data]\ndataset = synthetic\nsynthetic_tokens = 8000\n[train]\nbatch_size = 4\n" + train_keys +
         "[eval]\neval_segments = 4\nbuckets_sequences = " + std::to_string(buckets_sequences) + "\n";
}

std::string device_flag(const std::string& device) { return " --set device=" + device; }

// Per (layer, head) and for the mean over them, the attention masses of a record sum to 1
// over the buckets. Tolerance 1e-4: float32 probabilities, each query's summing to 1 within
// about 1e-6, averaged in float64.
void expect_masses_sum_to_one(const AttentionRecord& rec, const std::string& where) {
  const size_t nb = rec.edges.size() - 1;
  ASSERT_GT(nb, 0u) << where;
  ASSERT_EQ(rec.mass.size(), static_cast<size_t>(rec.n_layer * rec.n_head) * nb) << where;
  for (int64_t lh = 0; lh < rec.n_layer * rec.n_head; ++lh) {
    double sum = 0;
    for (size_t b = 0; b < nb; ++b) {
      const double m = rec.mass[lh * nb + b];
      EXPECT_GE(m, -1e-9) << where << " layer " << lh / rec.n_head << " head " << lh % rec.n_head;
      sum += m;
    }
    EXPECT_NEAR(sum, 1.0, 1e-4) << where << " layer " << lh / rec.n_head << " head " << lh % rec.n_head;
  }
  double all = 0;
  for (double m : rec.all) all += m;
  EXPECT_NEAR(all, 1.0, 1e-4) << where << " (mean over layers and heads)";
}

}  // namespace

// --- bf16 ------------------------------------------------------------------------------

namespace {

// 300 steps of a two-layer model (d_model 32, segments and memory of 16, 8 compressed slots
// at rate 2) on a repeated sentence, fp32 and bf16 from the same seed. Measured in fp32 on
// the CPU (seeds 1-6 with mean_pool, 1-4 with conv1d): the mean training loss of steps
// 1-100 is 1.84-1.99 nats, of steps 201-300 0.004-0.009, the final validation loss
// 0.09-0.19 (its first segment has no memory); changing lr by 1-3% moves them by up to
// 0.05, 0.001 and 0.015. Margins: bf16 must learn it too (steps 201-300 below 0.1, the
// validation below 0.5) and stay within 0.05 nats of fp32 on steps 201-300 and within 0.15
// (the spread between seeds) on steps 1-100 and on the validation: a bf16 run that follows
// fp32 passes, one that does not learn or evaluates wrongly fails.
void expect_bf16_close_to_fp32(const std::string& compression_keys) {
  CTLAB_SKIP_WITHOUT_CUDA();
  CTLAB_SKIP_WITHOUT_HDF5();
  if (test::gpu_tests_on_cpu()) GTEST_SKIP() << "precision = bf16 needs a CUDA device";
  TempDir dir;
  std::string text;
  for (int i = 0; i < 300; ++i) text += "the quick brown fox jumps over the lazy dog. ";
  const auto data = dir.file("fox.txt", text);
  const auto ini = dir.file("run.ini",
                            "experiment = bf16\nthreads = 1\n[model]\nn_layer = 2\nd_model = 32\n"
                            "n_head = 2\nd_ff = 64\nseq_len = 16\nmem_len = 16\ncmem_len = 8\n"
                            "cmem_rate = 2\ndropout = 0\n" +
                                compression_keys + "[data]\ndataset = text\ndata_path = " + data +
                                "\n[train]\nbatch_size = 8\nmax_steps = 300\nwarmup_steps = 20\n"
                                "lr = 0.005\nlog_every = 100\ncheckpoint_every = 1000\n"
                                "[eval]\neval_segments = 20\nbuckets_sequences = 0\n");
  const std::string a = dir.path() + "/fp32", b = dir.path() + "/bf16";
  auto fp32 = run_ctlab("train " + ini + " --results " + a + device_flag(gpu_name()));
  ASSERT_EQ(fp32.exit_code, 0) << fp32.output;
  auto bf16 =
      run_ctlab("train " + ini + " --results " + b + device_flag(gpu_name()) + " --set precision=bf16");
  ASSERT_EQ(bf16.exit_code, 0) << bf16.output;
  const auto ia = only_run_id(a), ib = only_run_id(b);
  ASSERT_FALSE(ia.empty());
  ASSERT_FALSE(ib.empty());
  EXPECT_EQ(RunStore(b + "/ctlab.sqlite").params(ib)["precision"], "bf16");
  const double end32 = metric_at(a, ia, "train/loss", 300), end16 = metric_at(b, ib, "train/loss", 300);
  EXPECT_LT(end32, 0.1) << fp32.output;
  EXPECT_LT(end16, 0.1) << bf16.output;
  EXPECT_NEAR(end16, end32, 0.05) << "mean training loss of steps 201-300";
  EXPECT_NEAR(metric_at(b, ib, "train/loss", 100), metric_at(a, ia, "train/loss", 100), 0.15)
      << "mean training loss of steps 1-100";
  const double v32 = metric_at(a, ia, "valid/loss", 300), v16 = metric_at(b, ib, "valid/loss", 300);
  EXPECT_LT(v16, 0.5) << bf16.output;
  EXPECT_NEAR(v16, v32, 0.15) << "final validation loss";
  for (const auto& row : metric_rows(b, ib, "train/compression_loss"))
    EXPECT_TRUE(std::isfinite(row.value)) << "compression loss at step " << row.step;
}

}  // namespace

TEST(RunsOnCuda, Bf16TrainingStaysCloseToFp32) { expect_bf16_close_to_fp32("compression = mean_pool\n"); }

// The same with a learned compression function trained by an auxiliary loss: its matrix
// products run under autocast too.
TEST(RunsOnCuda, Bf16TrainingWithALearnedCompressionStaysCloseToFp32) { expect_bf16_close_to_fp32(kConv); }

// --- deferred checks -------------------------------------------------------------------

// `checks = deferred` (the CUDA default) against `checks = step` on the same device: the same
// rows with the same values. Tolerance rtol 1e-4, atol 1e-5: the sums are the same in
// float64, but two CUDA runs may differ in the last bits where kernels sum with atomics,
// which 20 Adam steps can grow to about 1e-6; an accumulation error (a step missed or counted
// twice, a wrong divisor) is off by 5% or more.
TEST(RunsOnCuda, DeferredChecksLogTheSameMetricsAsPerStepChecks) {
  CTLAB_SKIP_WITHOUT_CUDA();
  CTLAB_SKIP_WITHOUT_HDF5();
  TempDir dir;
  const auto ini = dir.file("run.ini", synthetic_run("deferred", kConv,
                                                     "max_steps = 20\nwarmup_steps = 0\nlr = 0.003\n"
                                                     "log_every = 5\ncheckpoint_every = 10\n"));
  const std::string a = dir.path() + "/step", b = dir.path() + "/deferred";
  auto step = run_ctlab("train " + ini + " --results " + a + device_flag(gpu_name()) + " --set checks=step");
  ASSERT_EQ(step.exit_code, 0) << step.output;
  auto deferred =
      run_ctlab("train " + ini + " --results " + b + device_flag(gpu_name()) + " --set checks=deferred");
  ASSERT_EQ(deferred.exit_code, 0) << deferred.output;
  const auto id = only_run_id(a);
  ASSERT_EQ(only_run_id(b), id) << "checks is an operational key: the same run";
  for (const std::string key :
       {"train/loss", "train/grad_norm", "train/compression_loss", "train/compression_loss/layer0",
        "train/compression_loss/layer1", "valid/loss", "valid/loss_se"}) {
    const auto x = metric_rows(a, id, key), y = metric_rows(b, id, key);
    ASSERT_FALSE(x.empty()) << key;
    ASSERT_EQ(x.size(), y.size()) << key;
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(x[i].step, y[i].step) << key;
      EXPECT_TRUE(near(y[i].value, x[i].value, 1e-5, 1e-4))
          << key << " at step " << x[i].step << ": deferred " << y[i].value << ", per step " << x[i].value;
    }
  }
}

// --- a grid on one device --------------------------------------------------------------

// `ctlab grid run --devices cuda:0` over two cells (mean_pool, max_pool; 10 steps each): both
// complete on the device and write analysis.h5, whose attention masses (4 segments with full
// memories) sum to 1 per layer and head within 1e-4 (see expect_masses_sum_to_one).
TEST(RunsOnCuda, TwoCellGridOnOneDeviceWritesAttentionMassesThatSumToOne) {
  CTLAB_SKIP_WITHOUT_CUDA();
  CTLAB_SKIP_WITHOUT_HDF5();
  TempDir dir;
  const auto grid = dir.file(
      "grid.ini", synthetic_run("gpugrid", "", "max_steps = 10\nlog_every = 5\ncheckpoint_every = 5\n",
                                /*buckets_sequences=*/4) +
                      "[grid]\ncompression = mean_pool, max_pool\n");
  const std::string root = dir.path() + "/r";
  auto r = run_ctlab("grid run " + grid + " --results " + root + " --devices " + gpu_name());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  RunStore store(root + "/ctlab.sqlite");
  const auto runs = store.runs();
  ASSERT_EQ(runs.size(), 2u) << r.output;
  for (const auto& run : runs) {
    EXPECT_EQ(run.status, RunStatus::Completed) << run.run_id << ": " << run.error;
    EXPECT_EQ(run.step, 10);
    EXPECT_EQ(run.device, gpu_name()) << run.run_id;
    const std::string path = root + "/runs/" + run.run_id + "/analysis.h5";
    ASSERT_TRUE(boost::filesystem::exists(path)) << path;
    AttentionRecord rec;
    ASSERT_TRUE(read_attention(path, "", rec)) << path;
    EXPECT_EQ(rec.n_layer, 2);
    EXPECT_EQ(rec.n_head, 2);
    EXPECT_EQ(rec.sequences, 4) << "segments with full memories counted";
    EXPECT_EQ(rec.regions.size(), 3u) << "compressed memory, memory and sequence";
    expect_masses_sum_to_one(rec, run.run_id);
  }
}

// --- checkpoints across devices --------------------------------------------------------

namespace {

// Trains 12 steps on `from` (Adam at lr 3e-3 without warmup, so the optimizer state
// matters; conv1d trained by attention reconstruction, so memories, compressed memories and
// the compression function's weights are in the checkpoint) with the second checkpoint
// write (step 8) failing as on a full disk: the run ends failed, having logged steps 1-8,
// with its step-4 checkpoint. Then resumes it on `to`, which rewrites steps 5-12.
// Tolerances against the steps `from` logged: step 5 (the checkpoint's weights and memories
// on the other device: forward rounding only) and step 6 (after one update from the restored
// Adam moments; lost or misplaced moments change it by 1e-3 or more) rtol 1e-4, atol 1e-5;
// steps 7-8 rtol 1e-3 (rounding compounds over updates).
void expect_resume_across(const std::string& from, const std::string& to) {
  TempDir dir;
  const auto ini = dir.file("run.ini", synthetic_run("resume", kConv,
                                                     "max_steps = 12\nwarmup_steps = 0\nlr = 0.003\n"
                                                     "log_every = 1\ncheckpoint_every = 4\n"));
  const std::string root = dir.path() + "/r";
  auto first = test::run_ctlab_with("CTLAB_FAIL_WRITE=checkpoint.pt@2",
                                    "train " + ini + " --results " + root + device_flag(from));
  ASSERT_EQ(first.exit_code, 1) << first.output;
  const auto id = only_run_id(root);
  ASSERT_FALSE(id.empty());
  std::map<int64_t, double> loss, closs;
  for (int64_t s = 5; s <= 8; ++s) {
    loss[s] = metric_at(root, id, "train/loss", s);
    closs[s] = metric_at(root, id, "train/compression_loss", s);
    ASSERT_TRUE(std::isfinite(loss[s])) << "step " << s << " was not logged on " << from << "\n"
                                        << first.output;
  }
  auto second = run_ctlab("train " + ini + " --results " + root + device_flag(to));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_TRUE(contains(second.output, "checkpoint.pt at step 4")) << second.output;
  const auto rec = RunStore(root + "/ctlab.sqlite").find_run(id);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, RunStatus::Completed);
  EXPECT_EQ(rec->step, 12);
  EXPECT_EQ(rec->device, to);
  for (int64_t s = 5; s <= 8; ++s) {
    const double rtol = s <= 6 ? 1e-4 : 1e-3;
    const double l = metric_at(root, id, "train/loss", s),
                 c = metric_at(root, id, "train/compression_loss", s);
    EXPECT_TRUE(near(l, loss[s], 1e-5, rtol)) << "loss at step " << s << ": resumed on " << to << " " << l
                                              << ", uninterrupted on " << from << " " << loss[s];
    EXPECT_TRUE(near(c, closs[s], 1e-5, rtol))
        << "compression loss at step " << s << ": resumed on " << to << " " << c << ", uninterrupted on "
        << from << " " << closs[s];
  }
  EXPECT_TRUE(std::isfinite(metric_at(root, id, "valid/loss", 12)));
}

}  // namespace

TEST(RunsOnCuda, CheckpointWrittenOnCudaResumesOnCpuWithTheSameNextLoss) {
  CTLAB_SKIP_WITHOUT_CUDA();
  CTLAB_SKIP_WITHOUT_HDF5();
  expect_resume_across(gpu_name(), "cpu");
}

TEST(RunsOnCuda, CheckpointWrittenOnCpuResumesOnCudaWithTheSameNextLoss) {
  CTLAB_SKIP_WITHOUT_CUDA();
  CTLAB_SKIP_WITHOUT_HDF5();
  expect_resume_across("cpu", gpu_name());
}

// --- evaluation with longer memory -----------------------------------------------------

// A run trained on the CPU, evaluated on the whole test split with twice its memory and
// compressed memory (16 and 8), on the CPU and then on CUDA. Tolerances: the loss rtol 1e-5,
// atol 1e-5 (a forward pass only; per-token rounding about 1e-6, averaged); its standard
// error rtol 1e-3, atol 1e-6 (a spread of per-segment means, which rounding moves more in
// relative terms); attention masses atol 1e-5 (float32 probabilities averaged in float64).
TEST(RunsOnCuda, EvalWithLongerMemoryOnCudaMatchesCpu) {
  CTLAB_SKIP_WITHOUT_CUDA();
  CTLAB_SKIP_WITHOUT_HDF5();
  TempDir dir;
  const auto ini = dir.file("run.ini", synthetic_run("evalmem", kConv,
                                                     "max_steps = 10\nwarmup_steps = 0\nlr = 0.003\n"
                                                     "log_every = 5\ncheckpoint_every = 5\n",
                                                     /*buckets_sequences=*/4));
  const std::string root = dir.path() + "/r";
  auto train = run_ctlab("train " + ini + " --results " + root + device_flag("cpu"));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const auto id = only_run_id(root);
  const std::string args =
      "eval " + id + " --results " + root + " --split test --mem-len 16 --cmem-len 8 --segments 0 --device ";
  const std::string tag = "seq8-mem16-cmem8-clamp-1-same0-batch8-all";
  struct Result {
    double loss = NAN, loss_se = NAN;
    AttentionRecord attention;
  };
  auto evaluate = [&](const std::string& device) {
    Result r;
    auto ev = run_ctlab(args + device);
    EXPECT_EQ(ev.exit_code, 0) << ev.output;
    EXPECT_TRUE(contains(ev.output, tag)) << ev.output;
    r.loss = metric_at(root, id, "eval/test/" + tag + "/loss", 10);
    r.loss_se = metric_at(root, id, "eval/test/" + tag + "/loss_se", 10);
    EXPECT_TRUE(read_attention(root + "/runs/" + id + "/analysis.h5", "/eval/test/" + tag, r.attention));
    return r;
  };
  const Result cpu = evaluate("cpu"), cuda = evaluate(gpu_name());
  ASSERT_TRUE(std::isfinite(cpu.loss));
  EXPECT_TRUE(near(cuda.loss, cpu.loss, 1e-5, 1e-5)) << cuda.loss << " vs " << cpu.loss;
  EXPECT_TRUE(near(cuda.loss_se, cpu.loss_se, 1e-6, 1e-3)) << cuda.loss_se << " vs " << cpu.loss_se;
  ASSERT_FALSE(cpu.attention.edges.empty());
  EXPECT_EQ(cpu.attention.edges.back(), 8 + 16 + 8) << "keys: compressed memory 8, memory 16, segment 8";
  ASSERT_EQ(cuda.attention.mass.size(), cpu.attention.mass.size());
  for (size_t i = 0; i < cpu.attention.mass.size(); ++i)
    EXPECT_NEAR(cuda.attention.mass[i], cpu.attention.mass[i], 1e-5) << "mass " << i;
  expect_masses_sum_to_one(cuda.attention, "eval on " + gpu_name());
}
