// TensorBoard event files through the real binary, read back by the real `tensorboard`
// package (tests/python/check_tensorboard.py): every scalar of the run store once, the
// hyperparameters (`--set` keys; a grid cell's axes, grouped over seeds), a run that failed
// and was resumed without a repeated step, and `tensorboard = false`.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

#include "store/run_store.h"
#include "test_util.h"

using namespace ctlab;
using test::run_command;
using test::run_ctlab;
using test::TempDir;

namespace {

// A Python that imports tensorboard: $CTLAB_TEST_TENSORBOARD_PYTHON, or the test-only
// environment scripts/test.sh installs (~/.cache/ctlab/tensorboard); "" when neither has it.
std::string python_with_tensorboard() {
  std::vector<std::string> candidates;
  if (const char* v = std::getenv("CTLAB_TEST_TENSORBOARD_PYTHON")) candidates.push_back(v);
  if (const char* h = std::getenv("HOME"))
    candidates.push_back(std::string(h) + "/.cache/ctlab/tensorboard/bin/python");
  for (const auto& py : candidates)
    if (run_command("'" + py + "' -c 'import tensorboard' 2>/dev/null").exit_code == 0) return py;
  return "";
}

std::string tiny(const std::string& extra_train = "") {
  return "experiment = tb\nthreads = 1\n" + test::kTinyModel + R"([data]
dataset = synthetic
synthetic_tokens = 4000
[train]
batch_size = 4
max_steps = 20
log_every = 2
eval_every = 10
checkpoint_every = 5
)" + extra_train +
         R"([eval]
eval_segments = 2
buckets_sequences = 0
)";
}

std::vector<RunRecord> runs(const std::string& root) { return RunStore(root + "/ctlab.sqlite").runs(); }

class TensorBoardFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    python_ = python_with_tensorboard();
    if (python_.empty())
      GTEST_SKIP() << "no Python with the tensorboard package (scripts/test.sh installs one into "
                      "~/.cache/ctlab/tensorboard; or set CTLAB_TEST_TENSORBOARD_PYTHON)";
  }
  // Runs the checker; returns its output, failing the test when it finds a difference.
  std::string check(const std::string& root, const std::string& id, const std::string& expected_json) {
    auto r = run_command("'" + python_ + "' '" CTLAB_TEST_SOURCE_DIR "/tests/python/check_tensorboard.py' '" +
                         root + "' " + id + " '" + expected_json + "'");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output;
  }
  std::string python_;
};

}  // namespace

TEST_F(TensorBoardFiles, AFailedAndResumedRunMatchesTheRunStoreWithoutRepeatedSteps) {
  TempDir dir;
  const auto ini = dir.file("tiny.ini", tiny());
  const std::string root = dir.path() + "/r";
  // The third checkpoint (step 15) fails: rows up to 15 are written, the run resumes from 10.
  auto first = test::run_ctlab_with("CTLAB_FAIL_WRITE=checkpoint.pt@3",
                                    "train " + ini + " --results " + root + " --set lr=0.001");
  ASSERT_NE(first.exit_code, 0) << first.output;
  ASSERT_EQ(runs(root).front().status, RunStatus::Failed);
  auto second = run_ctlab("train " + ini + " --results " + root + " --set lr=0.001");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  const auto id = runs(root).front().run_id;
  const auto out =
      check(root, id, R"({"hparams": {"lr": "0.001"}, "group": "lr=0.001", "status": "success"})");
  EXPECT_NE(out.find("train/grad_norm"), std::string::npos) << out;
  EXPECT_NE(out.find("valid/loss_se"), std::string::npos) << out;
  EXPECT_NE(out.find("valid/recovered"), std::string::npos) << out;
}

TEST_F(TensorBoardFiles, AGridCellsAxesAreItsHparamsGroupedOverSeeds) {
  TempDir dir;
  const auto grid = dir.file("grid.ini", tiny() + "[grid]\ncmem_rate = 2, 4\nseeds = 1, 2\n");
  const std::string root = dir.path() + "/r";
  auto r = run_ctlab("grid run " + grid + " --jobs 2 --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  RunStore store(root + "/ctlab.sqlite");
  const auto all = store.runs();
  ASSERT_EQ(all.size(), 4u);
  for (const auto& run : all) {
    std::map<std::string, std::string> params;
    for (const auto& [k, v] : store.params(run.run_id)) params[k] = v;
    const std::string rate = params.at("cmem_rate"), seed = params.at("seed");
    check(root, run.run_id,
          R"({"hparams": {"cmem_rate": ")" + rate + R"(", "seed": ")" + seed + R"("}, "group": "cmem_rate=)" +
              rate + R"(", "status": "success"})");
  }
}

TEST(TensorBoardOff, TheKeyTurnsTheFilesOff) {
  TempDir dir;
  const auto ini = dir.file("tiny.ini", tiny("tensorboard = false\n"));
  const std::string root = dir.path() + "/r";
  auto r = run_ctlab("train " + ini + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto id = runs(root).front().run_id;
  EXPECT_TRUE(boost::filesystem::exists(root + "/runs/" + id + "/checkpoint.pt"));
  EXPECT_FALSE(boost::filesystem::exists(root + "/runs/" + id + "/tensorboard"));
}

// The event files are a view: when they cannot be written (here the folder's path is a
// file), the run warns and completes, with every row in the run store.
TEST(TensorBoardOff, AnUnwritableFolderIsAWarningNotAFailedRun) {
  TempDir dir;
  const auto ini = dir.file("tiny.ini", tiny());
  const std::string root = dir.path() + "/r";
  auto config = run_ctlab("config " + ini);
  const auto at = config.output.find("# run_id = ");
  ASSERT_NE(at, std::string::npos) << config.output;
  const std::string id = config.output.substr(at + 11, 12);
  boost::filesystem::create_directories(root + "/runs/" + id);
  dir.file("r/runs/" + id + "/tensorboard", "not a folder");
  auto r = run_ctlab("train " + ini + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(
      r.output.find("warning: TensorBoard: TensorBoard folder '" + root + "/runs/" + id + "/tensorboard'"),
      std::string::npos)
      << r.output;
  const auto run = RunStore(root + "/ctlab.sqlite").find_run(id);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->status, RunStatus::Completed);
  EXPECT_FALSE(RunStore(root + "/ctlab.sqlite").metrics_exact(id, {"train/loss"}).empty());
}
