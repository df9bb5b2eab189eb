// Grids end to end through the real binary: parallel workers on one database, SIGKILL and
// resume, shards and merge, a failing plugin in one cell, status and exit codes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include "session/job.h"
#include "store/run_store.h"
#include "test_util.h"

using namespace ctlab;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {

bool contains(const std::string& h, const std::string& n) { return h.find(n) != std::string::npos; }

// Small cells on the synthetic task; by default 6: 3 compression settings x 2 seeds.
std::string grid_file(
    const TempDir& dir, int64_t steps,
    const std::string& axes = "compression = mean_pool, max_pool, most_used\nseeds = 1, 2\n") {
  return dir.file("grid.ini", R"(experiment = gridtest
threads = 1
)" + test::kTinyModel + R"([data]
dataset = synthetic
synthetic_tokens = 20000
[train]
batch_size = 4
max_steps = )" + std::to_string(steps) +
                                  R"(
log_every = 5
checkpoint_every = 5
[eval]
eval_segments = 4
[grid]
)" + axes);
}

std::map<std::string, RunRecord> runs(const std::string& root) {
  RunStore s(root + "/ctlab.sqlite");
  std::map<std::string, RunRecord> m;
  for (auto& r : s.runs()) m[r.run_id] = r;
  return m;
}

pid_t spawn_grid(const std::string& grid, const std::string& root,
                 const std::vector<std::string>& extra = {}) {
  pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stdout);
    std::vector<std::string> args = {CTLAB_TEST_BIN, "grid", "run", grid, "--results", root};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(CTLAB_TEST_BIN, argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

TEST(GridRun, TwoSchedulersOnOneDatabaseRunEveryCellOnce) {
  TempDir dir;
  auto grid = grid_file(dir, 30);
  const std::string root = dir.path() + "/r";
  pid_t a = spawn_grid(grid, root), b = spawn_grid(grid, root);
  int sa = 0, sb = 0;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  auto all = runs(root);
  ASSERT_EQ(all.size(), 6u);
  RunStore s(root + "/ctlab.sqlite");
  for (const auto& [id, r] : all) {
    EXPECT_EQ(r.status, RunStatus::Completed) << id;
    EXPECT_EQ(r.attempt, 1) << id << " ran more than once";
    EXPECT_EQ(s.metrics(id, "train/loss").size(), 6u) << id;  // every 5 of 30 steps
  }
  // Both schedulers agree the grid is done.
  auto again = run_ctlab("grid run " + grid + " --results " + root);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(runs(root).begin()->second.attempt, 1);
}

TEST(GridRun, KilledGridResumesWithEveryCellCompletedOnce) {
  TempDir dir;
  auto grid = grid_file(dir, 300);
  const std::string root = dir.path() + "/r";
  pid_t pid = spawn_grid(grid, root, {"--jobs", "2"});
  // Kill the scheduler once the first cell is completed and others are under way.
  bool killed = false;
  for (int i = 0; i < 6000 && !killed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!boost::filesystem::exists(root + "/ctlab.sqlite")) continue;
    int done = 0, running = 0;
    for (const auto& [id, r] : runs(root)) {
      done += r.status == RunStatus::Completed;
      running += r.status == RunStatus::Running && r.step >= 5;
    }
    if (done >= 1 && running >= 1) {
      kill(pid, SIGKILL);
      killed = true;
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(killed) << "the grid finished before it could be killed";
  // The workers get SIGTERM, checkpoint and record "interrupted": wait for that (10 s at most).
  for (int i = 0; i < 200; ++i) {
    bool busy = false;
    for (const auto& [id, r] : runs(root)) busy = busy || r.status == RunStatus::Running;
    if (!busy) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto before = runs(root);
  std::map<std::string, int64_t> completed_attempts;
  for (const auto& [id, r] : before)
    if (r.status == RunStatus::Completed) completed_attempts[id] = r.attempt;
  ASSERT_LT(completed_attempts.size(), 6u);

  auto again = run_ctlab("grid run " + grid + " --results " + root + " --jobs 2");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  auto after = runs(root);
  ASSERT_EQ(after.size(), 6u);
  RunStore s(root + "/ctlab.sqlite");
  for (const auto& [id, r] : after) {
    EXPECT_EQ(r.status, RunStatus::Completed) << id;
    if (completed_attempts.count(id)) {
      EXPECT_EQ(r.attempt, completed_attempts[id]) << id << " was trained again";
    }
    auto rows = s.metrics(id, "train/loss");
    ASSERT_EQ(rows.size(), 60u) << id;  // every 5 of 300 steps, once each
    for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].step, static_cast<int64_t>(5 * (i + 1)));
  }
}

TEST(GridRun, TwoShardsMergedEqualOneUnshardedRun) {
  TempDir dir;
  auto grid = grid_file(dir, 20);
  ASSERT_EQ(run_ctlab("grid run " + grid + " --results " + dir.path() + "/whole").exit_code, 0);
  // Without --results a shard writes to results/shard-i-of-N.
  auto s0 =
      test::run_command("cd " + dir.path() + " && env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN "' grid run " +
                        grid + " --shard 0/2");
  auto s1 = run_ctlab("grid run " + grid + " --results " + dir.path() + "/other-shard --shard 1/2");
  ASSERT_EQ(s0.exit_code, 0) << s0.output;
  ASSERT_EQ(s1.exit_code, 0) << s1.output;
  EXPECT_TRUE(boost::filesystem::exists(dir.path() + "/results/shard-0-of-2/ctlab.sqlite"));
  EXPECT_TRUE(contains(s0.output, "3 cells in shard 0/2")) << s0.output;
  const std::string merged = dir.path() + "/merged";
  for (int pass = 0; pass < 2; ++pass) {  // merging twice changes nothing
    auto m = run_ctlab("merge " + dir.path() + "/results/shard-0-of-2 " + dir.path() +
                       "/other-shard --into " + merged);
    ASSERT_EQ(m.exit_code, 0) << m.output;
  }
  auto whole = runs(dir.path() + "/whole"), both = runs(merged);
  ASSERT_EQ(whole.size(), 6u);
  ASSERT_EQ(both.size(), 6u);
  RunStore w(dir.path() + "/whole/ctlab.sqlite"), m(merged + "/ctlab.sqlite");
  for (const auto& [id, r] : whole) {
    ASSERT_TRUE(both.count(id)) << id;
    EXPECT_EQ(both[id].status, RunStatus::Completed);
    auto a = w.metrics(id, "valid/"), b = m.metrics(id, "valid/");
    ASSERT_EQ(a.size(), b.size()) << id;
    for (size_t i = 0; i < a.size(); ++i) EXPECT_DOUBLE_EQ(a[i].value, b[i].value) << id << " " << a[i].key;
    EXPECT_EQ(w.metrics(id).size(), m.metrics(id).size()) << id;
    EXPECT_TRUE(boost::filesystem::exists(merged + "/runs/" + id + "/checkpoint.pt")) << id;
  }
  auto status = run_ctlab("grid status " + grid + " --results " + merged);
  EXPECT_TRUE(contains(status.output, "6 of 6 cells completed")) << status.output;
}

TEST(GridRun, ACellWhosePluginThrowsFailsAndTheOthersComplete) {
  TempDir dir;
  // One cell's compression function (from the test fixtures) throws in forward.
  auto path = grid_file(dir, 20, "compression = mean_pool, throwing, max_pool\n");
  auto r = run_ctlab("grid run " + path + " --results " + dir.path() +
                     "/r --jobs 2 --max-attempts 1 --plugin-dir " + CTLAB_TEST_FIXTURE_DIR "/misc");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "2 completed, 1 failed")) << r.output;
  int failed = 0;
  for (const auto& [id, rec] : runs(dir.path() + "/r")) {
    if (rec.status == RunStatus::Failed) {
      ++failed;
      EXPECT_TRUE(contains(rec.error, "plugin throwing@1")) << rec.error;
      EXPECT_TRUE(contains(rec.error, "throwing fixture refuses layer 0")) << rec.error;
    } else {
      EXPECT_EQ(rec.status, RunStatus::Completed);
    }
  }
  EXPECT_EQ(failed, 1);
  // Re-running leaves the failed cell alone once its attempts are used up.
  auto again = run_ctlab("grid run " + path + " --results " + dir.path() +
                         "/r --max-attempts 1 --plugin-dir " + CTLAB_TEST_FIXTURE_DIR "/misc");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(contains(again.output, "failed (failed attempts used up")) << again.output;
}

TEST(GridRun, ExpandDryRunAndStatusTables) {
  TempDir dir;
  auto grid = grid_file(dir, 10);
  auto e = run_ctlab("grid expand " + grid + " --shard 1/2");
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(contains(e.output, "axes compression, seed: 6 cells")) << e.output;
  EXPECT_TRUE(contains(e.output, "compression=most_used seed=2")) << e.output;
  auto d = run_ctlab("grid run " + grid + " --results " + dir.path() + "/r --dry-run");
  EXPECT_EQ(d.exit_code, 0);
  EXPECT_TRUE(contains(d.output, "start")) << d.output;
  EXPECT_FALSE(boost::filesystem::exists(dir.path() + "/r/runs"));
  auto s = run_ctlab("grid status " + grid + " --results " + dir.path() + "/r");
  EXPECT_EQ(s.exit_code, 0);
  auto bad = run_ctlab("grid run " + grid + " --jobs 0");
  EXPECT_EQ(bad.exit_code, 2);
  auto bad_dev = run_ctlab("grid run " + grid + " --devices gpu0");
  EXPECT_EQ(bad_dev.exit_code, 2);
  EXPECT_TRUE(contains(bad_dev.output, "bad value for 'device' = 'gpu0'")) << bad_dev.output;
}

TEST(GridRun, TheShippedStudiesExpandAndValidate) {
  // The enwik8 studies need the user's enwik8; validate everything else on synthetic data.
  const std::pair<const char*, const char*> studies[] = {{"quickstart", "5 cells"},
                                                         {"ct-table5", "21 cells"},
                                                         {"ct-cmem-size", "4 cells"},
                                                         {"txl-baselines", "6 cells"},
                                                         {"long-range", "27 cells"}};
  for (const auto& [study, cells] : studies) {
    auto r = run_ctlab(std::string("grid expand ") + CTLAB_TEST_SOURCE_DIR + "/experiments/" + study +
                       "/grid.ini --set dataset=synthetic");
    EXPECT_EQ(r.exit_code, 0) << study << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, cells)) << study << "\n" << r.output;
  }
  auto needs_data =
      run_ctlab(std::string("grid expand ") + CTLAB_TEST_SOURCE_DIR + "/experiments/ct-table5/grid.ini");
  EXPECT_EQ(needs_data.exit_code, 2);
  EXPECT_TRUE(contains(needs_data.output, "dataset = enwik8 needs data_path")) << needs_data.output;
}

TEST(GridRun, EachWorkerReceivesItsRunAsAVersionedJobFile) {
  TempDir dir;
  auto path = grid_file(dir, 5, "seeds = 1\n");
  const std::string root = dir.path() + "/r";
  auto r = run_ctlab("grid run " + path + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto all = runs(root);
  ASSERT_EQ(all.size(), 1u);
  const std::string id = all.begin()->first;
  // The job: the cell's resolved configuration and the scheduler's operational settings.
  const std::string job_file = root + "/runs/" + id + "/job.json";
  const TrainJob job = read_job(job_file);
  EXPECT_EQ(job.expect_run_id, id);
  EXPECT_TRUE(contains(job.config_text, "dataset = synthetic")) << job.config_text;
  EXPECT_TRUE(job.overrides.empty());
  EXPECT_EQ(job.threads, std::optional<int64_t>(1));  // typed operational settings
  EXPECT_FALSE(job.device);
  EXPECT_EQ(job.results_root, root);
  EXPECT_FALSE(job.check_memory);
  const std::vector<std::pair<std::string, std::string>> axes = {{"seed", "1"}};
  EXPECT_EQ(job.hparams, axes);  // TensorBoard's hyperparameters: the cell's axes
  // config.ini is written once, by the worker's session, as `ctlab train` writes it.
  std::ifstream config(root + "/runs/" + id + "/config.ini");
  std::string first_line;
  std::getline(config, first_line);
  EXPECT_EQ(first_line, "# run_id = " + id);
  // A job file of another version is refused with its name, and the hidden command is hidden.
  std::ifstream in(job_file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("\"ctlab_job\": 3"), 14, "\"ctlab_job\": 7");
  const auto bad = dir.file("bad.json", text);
  auto refused = run_ctlab(std::string(kJobCommand) + " " + bad);
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_TRUE(contains(refused.output, "job file '" + bad + "': version 7, this ctlab reads 3"))
      << refused.output;
  EXPECT_FALSE(contains(run_ctlab("--help").output, kJobCommand));
}
