// Training end to end through the real binary: overfitting, memory on a long-range task,
// kill and resume, signals, accumulation, divergence, configuration errors before
// anything is written, evaluation with other memory settings.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <thread>

#include "store/results_layout.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/trainer.h"

using namespace ctlab;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {

bool contains(const std::string& h, const std::string& n) { return h.find(n) != std::string::npos; }

const char* kTinyIni = R"(experiment = tiny
[model]
n_layer = 2
d_model = 32
n_head = 2
d_ff = 64
seq_len = 16
mem_len = 16
cmem_len = 8
cmem_rate = 2
dropout = 0.1
[data]
dataset = text
[train]
batch_size = 4
max_steps = 40
warmup_steps = 5
lr = 0.003
log_every = 5
checkpoint_every = 5
threads = 1
[eval]
eval_segments = 10
)";

struct Fixture {
  TempDir dir;
  std::string ini, text;
  Fixture() {
    std::string s;
    for (int i = 0; i < 300; ++i) s += "the quick brown fox jumps over the lazy dog. ";
    text = dir.file("fox.txt", s);
    ini = dir.file("run.ini", std::string(kTinyIni) + "data_path = " + text + "\n");
  }
  std::string results(const std::string& name) const { return dir.path() + "/" + name; }
};

// The only run in a results root.
RunRecord only_run(const std::string& root) {
  RunStore s(root + "/ctlab.sqlite");
  auto runs = s.runs();
  EXPECT_EQ(runs.size(), 1u);
  return runs.empty() ? RunRecord{} : runs[0];
}

std::vector<MetricRow> metrics(const std::string& root, const std::string& run_id,
                               const std::string& prefix) {
  RunStore s(root + "/ctlab.sqlite");
  return s.metrics(run_id, prefix);
}

double last(const std::vector<MetricRow>& rows, const std::string& key) {
  double v = NAN;
  for (const auto& r : rows)
    if (r.key == key) v = r.value;
  return v;
}

}  // namespace

TEST(Train, TinyModelOverfitsAShortText) {
  Fixture f;
  auto r = run_ctlab(
      "train " + f.ini + " --results " + f.results("r") +
      " --set max_steps=400 --set lr=0.005 --set dropout=0 --set log_every=50 --set checkpoint_every=1000");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto run = only_run(f.results("r"));
  EXPECT_EQ(run.status, RunStatus::Completed);
  EXPECT_EQ(run.step, 400);
  auto m = metrics(f.results("r"), run.run_id, "");
  EXPECT_GT(m.front().value, 3.0);  // the first logged loss: about ln(256) before learning
  EXPECT_LT(last(m, "train/loss"), 0.4) << r.output;
  EXPECT_LT(last(m, "valid/bpc"), 0.6) << r.output;
  EXPECT_TRUE(contains(r.output, "completed at step 400: valid bpc")) << r.output;
}

TEST(Train, MemoryWinsOnALongRangeCopyTask) {
  TempDir dir;
  auto ini = dir.file("syn.ini", R"(experiment = syn
[model]
n_layer = 1
d_model = 64
n_head = 4
d_ff = 128
seq_len = 16
mem_len = 32
cmem_len = 0
dropout = 0
[data]
dataset = synthetic
synthetic_vocab = 8
synthetic_period = 24
synthetic_tokens = 100000
[train]
batch_size = 8
max_steps = 800
warmup_steps = 20
lr = 0.005
log_every = 100
checkpoint_every = 1000
[eval]
eval_segments = 40
)");
  // The copy lies 24 tokens back, beyond one 16-token segment: only memory can reach it.
  auto with = run_ctlab("train " + ini + " --results " + dir.path() + "/r");
  auto without = run_ctlab("train " + ini + " --results " + dir.path() + "/r --set mem_len=0");
  ASSERT_EQ(with.exit_code, 0) << with.output;
  ASSERT_EQ(without.exit_code, 0) << without.output;
  RunStore s(dir.path() + "/r/ctlab.sqlite");
  double loss_with = NAN, loss_without = NAN;
  for (const auto& run : s.runs("syn")) {
    double v = last(s.metrics(run.run_id, "valid/loss"), "valid/loss");
    (contains(run.config, "mem_len = 32") ? loss_with : loss_without) = v;
  }
  const double chance = std::log(8.0), best = std::log(8.0) / 2;
  EXPECT_GT(loss_without, 0.97 * chance) << "without memory the copies are unpredictable";
  EXPECT_LT(loss_with, loss_without - 0.3) << "memory should reach the copy: best possible " << best;
}

TEST(Train, KilledRunResumesWithIdenticalMetrics) {
  Fixture f;
  auto straight =
      run_ctlab("train " + f.ini + " --results " + f.results("straight") + " --set max_steps=200");
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  auto reference = only_run(f.results("straight"));

  // Start the same run, SIGKILL it once a checkpoint past step 10 exists, then re-run.
  const std::string root = f.results("killed");
  const auto ckpt = ResultsLayout(root).run(reference.run_id).checkpoint;
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    execl(CTLAB_TEST_BIN, CTLAB_TEST_BIN, "train", f.ini.c_str(), "--results", root.c_str(), "--set",
          "max_steps=200", static_cast<char*>(nullptr));
    _exit(127);
  }
  bool killed = false;
  for (int i = 0; i < 3000 && !killed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (boost::filesystem::exists(ckpt) && boost::filesystem::exists(root + "/ctlab.sqlite")) {
      RunStore s(root + "/ctlab.sqlite");
      auto run = s.find_run(reference.run_id);
      if (run && run->step >= 10) {
        kill(pid, SIGKILL);
        killed = true;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(killed) << "no checkpoint appeared";
  ASSERT_TRUE(WIFSIGNALED(status));
  auto mid = only_run(root);
  EXPECT_EQ(mid.status, RunStatus::Running);  // killed without a chance to say otherwise
  EXPECT_LT(mid.step, 200);

  auto resumed = run_ctlab("train " + f.ini + " --results " + root + " --set max_steps=200");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "resumed from")) << resumed.output;
  auto run = only_run(root);
  EXPECT_EQ(run.run_id, reference.run_id);
  EXPECT_EQ(run.status, RunStatus::Completed);
  EXPECT_EQ(run.attempt, 2);
  auto a = metrics(f.results("straight"), run.run_id, ""), b = metrics(root, run.run_id, "");
  std::vector<MetricRow> a_det, b_det;  // everything but the timing
  for (auto* v : {&a, &b})
    for (const auto& r : *v)
      if (r.key != "train/tokens_per_s") (v == &a ? a_det : b_det).push_back(r);
  ASSERT_EQ(a_det.size(), b_det.size());
  for (size_t i = 0; i < a_det.size(); ++i) {
    EXPECT_EQ(a_det[i].key, b_det[i].key);
    EXPECT_EQ(a_det[i].step, b_det[i].step);
    EXPECT_DOUBLE_EQ(a_det[i].value, b_det[i].value) << a_det[i].key << " at step " << a_det[i].step;
  }
}

TEST(Train, SigtermCheckpointsAndReportsInterrupted) {
  Fixture f;
  const std::string root = f.results("r");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    execl(CTLAB_TEST_BIN, CTLAB_TEST_BIN, "train", f.ini.c_str(), "--results", root.c_str(), "--set",
          "max_steps=100000", "--set", "checkpoint_every=100000", static_cast<char*>(nullptr));
    _exit(127);
  }
  bool sent = false;
  for (int i = 0; i < 3000 && !sent; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // Wait until the run has logged progress (log_every = 5), so it is mid-training.
    boost::system::error_code ec;
    for (boost::filesystem::recursive_directory_iterator it(root + "/runs", ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path().filename() != "log.txt") continue;
      std::ifstream log(it->path().string());
      std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      if (text.find("step 5/") != std::string::npos) {
        kill(pid, SIGTERM);
        sent = true;
        break;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  auto run = only_run(root);
  EXPECT_EQ(run.status, RunStatus::Interrupted);
  EXPECT_GT(run.step, 0);
  EXPECT_TRUE(boost::filesystem::exists(ResultsLayout(root).run(run.run_id).checkpoint));
}

TEST(Train, AccumulationMatchesTheFullBatch) {
  Fixture f;
  auto one =
      run_ctlab("train " + f.ini + " --results " + f.results("r") + " --set dropout=0 --set max_steps=20");
  auto two = run_ctlab("train " + f.ini + " --results " + f.results("r") +
                       " --set dropout=0 --set max_steps=20 --set accumulate=2");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  ASSERT_EQ(two.exit_code, 0) << two.output;
  RunStore s(f.results("r") + "/ctlab.sqlite");
  auto runs = s.runs("tiny");
  ASSERT_EQ(runs.size(), 2u);
  auto a = s.metrics(runs[0].run_id, "train/loss"), b = s.metrics(runs[1].run_id, "train/loss");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i].value, b[i].value, 2e-4) << "step " << a[i].step;
}

TEST(Train, NonFiniteLossEndsTheRunAsDiverged) {
  Fixture f;
  // A fixture compression loss that turns NaN on its 11th call. Each layer has its own
  // instance, called once per step from step 1 on (the memory fills in step 0), so the
  // loss turns NaN during step 11 (0-based, as recorded).
  auto r = run_ctlab("train " + f.ini + " --results " + f.results("r") +
                     " --plugin-dir " CTLAB_TEST_FIXTURE_DIR
                     "/misc --set compression=learnable --set compression_loss=nan_late");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  auto run = only_run(f.results("r"));
  EXPECT_EQ(run.status, RunStatus::Diverged);
  ASSERT_TRUE(run.diverged_step.has_value());
  EXPECT_EQ(*run.diverged_step, 11);
  EXPECT_TRUE(contains(r.output, "non-finite compression loss at step 11")) << r.output;
}

TEST(Train, ConfigErrorsFailBeforeAnythingIsWritten) {
  Fixture f;
  auto bad = f.dir.file("bad.ini", "[model]\nmem_len = 16\nseq_len = 15\ncmem_rate = 2\ncmem_len = 4\n");
  struct Case {
    std::string args, message;
  };
  for (const auto& c : std::vector<Case>{
           {f.ini + " --set mem_lenn=3", "unknown key 'mem_lenn' (did you mean 'mem_len'?)"},
           {f.ini + " --set lr=fast", "bad value for 'lr' = 'fast': expected a positive number"},
           {bad, "seq_len = 15 is not a multiple of cmem_rate = 2"},
           {f.ini + " --set data_path=" + f.dir.path() + "/missing.txt",
            "text file '" + f.dir.path() + "/missing.txt' does not exist"},
           {f.ini + " --set device=cuda:7", "device = cuda:7 but"},
           {f.ini + " --set batch_size=6 --set accumulate=4",
            "batch_size = 6 is not a multiple of accumulate = 4"},
       }) {
    auto r = run_ctlab("train " + c.args + " --results " + f.results("r"));
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, c.message)) << c.args << "\n" << r.output;
    EXPECT_FALSE(boost::filesystem::exists(f.results("r") + "/runs"))
        << "something was written for " << c.args;
  }
}

TEST(Train, CompletedRunIsNotRetrainedAndEvalUsesOtherMemory) {
  Fixture f;
  ASSERT_EQ(run_ctlab("train " + f.ini + " --results " + f.results("r") + " --set max_steps=10").exit_code,
            0);
  auto again = run_ctlab("train " + f.ini + " --results " + f.results("r") + " --set max_steps=10");
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_TRUE(contains(again.output, "already completed at step 10")) << again.output;
  auto run = only_run(f.results("r"));
  EXPECT_EQ(run.attempt, 1);
  auto ev = run_ctlab("eval " + run.run_id + " --results " + f.results("r") +
                      " --split test --mem-len 64 --cmem-len 32 --clamp-len 24 --same-length true");
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  EXPECT_TRUE(contains(ev.output, "test split, seq16-mem64-cmem32-clamp24-same1-batch8-first10: bpc"))
      << ev.output;
  auto m = metrics(f.results("r"), run.run_id, "eval/test/seq16-mem64-cmem32-clamp24-same1-batch8-first10/");
  ASSERT_EQ(m.size(), 4u);  // the score and the loss, each with its standard error over segments
  const std::string prefix = "eval/test/seq16-mem64-cmem32-clamp24-same1-batch8-first10/";
  EXPECT_EQ(m[0].key, prefix + "bpc");
  EXPECT_EQ(m[1].key, prefix + "bpc_se");
  EXPECT_EQ(m[2].key, prefix + "loss");
  EXPECT_EQ(m[3].key, prefix + "loss_se");
  for (const auto& row : m) EXPECT_TRUE(std::isfinite(row.value)) << row.key;
  EXPECT_GT(m[3].value, 0);
  EXPECT_NEAR(m[1].value, m[3].value / std::log(2.0), 1e-12);
  // Other segments or batch sizes are other evaluations: stored beside, never over, it.
  ASSERT_EQ(
      run_ctlab("eval " + run.run_id + " --results " + f.results("r") +
                " --split test --mem-len 64 --cmem-len 32 --clamp-len 24 --same-length true --segments 3 "
                "--batch-size 2")
          .exit_code,
      0);
  EXPECT_EQ(metrics(f.results("r"), run.run_id, prefix).size(), 4u);
  EXPECT_EQ(metrics(f.results("r"), run.run_id, prefix)[0].value, m[0].value);
  EXPECT_EQ(
      metrics(f.results("r"), run.run_id, "eval/test/seq16-mem64-cmem32-clamp24-same1-batch2-first3/").size(),
      4u);
  auto bad = run_ctlab("eval " + run.run_id + " --results " + f.results("r") + " --mem-len 15");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.output, "must be positive multiples of cmem_rate = 2")) << bad.output;
  EXPECT_EQ(run_ctlab("eval nosuchrun --results " + f.results("r")).exit_code, 2);
}

TEST(Train, LearningRateSchedule) {
  TrainOptions t;
  t.lr = 1e-3;
  t.lr_start = 1e-6;
  t.lr_min = 1e-5;
  t.warmup_steps = 10;
  t.max_steps = 110;
  EXPECT_DOUBLE_EQ(learning_rate(t, 0), 1e-6);
  EXPECT_NEAR(learning_rate(t, 5), 1e-6 + 0.5 * (1e-3 - 1e-6), 1e-15);
  EXPECT_DOUBLE_EQ(learning_rate(t, 10), 1e-3);
  EXPECT_NEAR(learning_rate(t, 60), 1e-5 + 0.5 * (1e-3 - 1e-5), 1e-12);  // half-way down the cosine
  EXPECT_NEAR(learning_rate(t, 110), 1e-5, 1e-15);
}

// Deferred checks (the CUDA default; `checks = deferred` on any device): no host sync
// inside a step, and the same numbers as reading every step.
TEST(Train, DeferredChecksLogTheSameLossesGradNormsAndValidation) {
  Fixture f;
  const std::string flags =
      " --set compression=conv1d --set compression_loss=attention_reconstruction --set max_steps=20";
  auto a = run_ctlab("train " + f.ini + " --results " + f.results("step") + flags + " --set checks=step");
  auto b =
      run_ctlab("train " + f.ini + " --results " + f.results("deferred") + flags + " --set checks=deferred");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  ASSERT_EQ(b.exit_code, 0) << b.output;
  const auto id = only_run(f.results("step")).run_id;
  EXPECT_EQ(only_run(f.results("deferred")).run_id, id);  // an operational key: the same run
  RunStore sa(f.results("step") + "/ctlab.sqlite"), sb(f.results("deferred") + "/ctlab.sqlite");
  for (const char* prefix : {"train/loss", "train/compression_loss", "train/grad_norm", "valid/"}) {
    auto x = sa.metrics(id, prefix), y = sb.metrics(id, prefix);
    ASSERT_EQ(x.size(), y.size()) << prefix;
    ASSERT_FALSE(x.empty()) << prefix;
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(x[i].key, y[i].key);
      EXPECT_NEAR(x[i].value, y[i].value, 1e-12 * std::max(1.0, std::fabs(x[i].value)))
          << x[i].key << " " << x[i].step;
    }
  }
}

TEST(Train, DeferredChecksFindDivergenceAndBadPluginOutputAtTheNextRead) {
  Fixture f;
  // The compression loss turns NaN during step 11; steps are read every 5 (log_every).
  auto r =
      run_ctlab("train " + f.ini + " --results " + f.results("r") +
                " --plugin-dir " CTLAB_TEST_FIXTURE_DIR
                "/misc --set compression=learnable --set compression_loss=nan_late --set checks=deferred");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  auto run = only_run(f.results("r"));
  EXPECT_EQ(run.status, RunStatus::Diverged);
  ASSERT_TRUE(run.diverged_step.has_value());
  EXPECT_EQ(*run.diverged_step, 11);
  EXPECT_TRUE(
      contains(r.output, "non-finite compression loss at step 11 (found by the deferred check at step 15)"))
      << r.output;
  // A compression function whose output is not finite is named at the next read.
  auto nan = run_ctlab("train " + f.ini + " --results " + f.results("n") +
                       " --plugin-dir " CTLAB_TEST_FIXTURE_DIR
                       "/misc --set compression=nan_out --set checks=deferred");
  EXPECT_EQ(nan.exit_code, 1) << nan.output;
  EXPECT_TRUE(contains(nan.output,
                       "compression function nan_out@1 at layer 0 returned non-finite values (found by "
                       "the deferred check"))
      << nan.output;
  EXPECT_EQ(only_run(f.results("n")).status, RunStatus::Failed);
}

// A run records the commit its binary was built from: the one `ctlab --version` reports,
// which cmake/GitCommit.cmake takes when the build runs (build.commit_stamp checks that two
// builds at two commits each stamp their own).
TEST(Train, RecordsTheCommitItsBinaryWasBuiltFrom) {
  TempDir dir;
  auto r =
      run_ctlab("train " + dir.file("run.ini", test::tiny_run("commit")) + " --results " + dir.path() + "/r");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto run = only_run(dir.path() + "/r");
  ASSERT_FALSE(run.git_commit.empty());
  const auto version = run_ctlab("--version");
  EXPECT_TRUE(contains(version.output, "(commit " + run.git_commit + ")"))
      << version.output << " recorded " << run.git_commit;
}
