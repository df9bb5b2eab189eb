// A results database whose disk fills up: when the database fills it itself, and when
// something else takes the last byte while the run trains (then only the reserve file
// beside the database, freed for the last write, leaves room), the run still ends
// `failed`, the database stays intact, and no re-run lowers the step recorded; without room
// for the reserve at the start, a run (or a grid's first cell) is refused before it is
// claimed, so no exited process leaves it `running`; a grid worker that dies without a
// status on a full disk is still recorded `failed` by its scheduler, which holds a reserve
// of its own. Also the store's rule on its own: finish_run and record_progress never lower
// a run's step.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "store/run_store.h"
#include "test_util.h"

using namespace ctlab;
using ctlab::test::contains;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;
namespace fs = boost::filesystem;

namespace {

// A tmpfs of `size` at `path`, unmounted on scope exit; mounted() is false without root.
struct SmallDisk {
  std::string path;
  bool ok;
  SmallDisk(const std::string& p, const char* size) : path(p) {
    fs::create_directories(path);
    ok = ::mount("tmpfs", path.c_str(), "tmpfs", 0, size) == 0;
  }
  ~SmallDisk() {
    if (ok) ::umount2(path.c_str(), MNT_DETACH);
  }
};

// A results root on a small tmpfs (`size`) with its run folders outside it (a symlink), so
// that only the database and what a test writes beside it fill the disk. `disk.ok` is
// false without root.
struct SmallRoot {
  TempDir dir;
  SmallDisk disk;
  std::string root;
  explicit SmallRoot(const char* size) : disk(dir.path() + "/small", size), root(disk.path + "/r") {
    if (!disk.ok) return;
    fs::create_directories(root);
    fs::create_directories(dir.path() + "/runs");
    fs::create_symlink(dir.path() + "/runs", root + "/runs");
  }
  // A file for a test to fill the disk with (fill) and remove again.
  std::string filler() const { return disk.path + "/filler"; }
};

// `ctlab ARGS` started in the background, its output (stdout and stderr) to be read from
// the returned stream; pclose gives its exit status.
FILE* start_ctlab(const std::string& args) {
  return ::popen(("env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN "' " + args + " 2>&1").c_str(), "r");
}

// Writes to `path` until the filesystem is full.
void fill(const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  const std::string block(4096, 'x');
  while (out.write(block.data(), block.size()) && out.flush()) {
  }
}

// Waits (up to a minute) until the only run in the database at `root` has recorded `step`
// steps, and returns its holder's pid (0 if it never did).
pid_t holder_once_at_step(const std::string& root, int64_t step) {
  for (int i = 0; i < 600; ++i) {
    if (fs::exists(root + "/ctlab.sqlite")) {
      RunStore s(root + "/ctlab.sqlite");
      const auto runs = s.runs();
      if (!runs.empty() && runs[0].step >= step && !runs[0].owner.empty()) {
        const std::string& o = runs[0].owner;  // host:pid:start
        const size_t end = o.rfind(':'), begin = o.rfind(':', end - 1);
        return static_cast<pid_t>(std::stol(o.substr(begin + 1, end - begin - 1)));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

std::string read_all(FILE* f) {
  std::string output;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) output.append(buf, n);
  return output;
}

}  // namespace

TEST(DiskFull, StepsRecordedNeverGoDown) {
  TempDir dir;
  RunStore s(dir.path() + "/ctlab.sqlite");
  RunRecord m;
  m.run_id = "r";
  m.experiment = "e";
  s.start_run(m, {});
  s.record_progress("r", 2500);
  s.finish_run("r", RunStatus::Failed, 2500, "disk full");
  s.start_run(m, {});  // a re-run that fails before it resumes from its checkpoint
  s.record_progress("r", 0);
  EXPECT_EQ(s.find_run("r")->step, 2500);
  s.finish_run("r", RunStatus::Failed, 0, "disk still full");
  EXPECT_EQ(s.find_run("r")->step, 2500);
  EXPECT_EQ(s.find_run("r")->status, RunStatus::Failed);
}

TEST(DiskFull, ADatabaseThatFillsItsDiskStillRecordsFailedAndKeepsTheStep) {
  SmallRoot small("size=2m");
  if (!small.disk.ok) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  // Only the database lives on the small disk: the run folders are elsewhere, so it is
  // SQLite's own growth (metrics committed every step) that fills it.
  const std::string& root = small.root;
  auto ini = small.dir.file("tiny.ini", test::tiny_run("diskfull"));
  const std::string args = "train " + ini + " --results " + root +
                           " --set max_steps=100000 --set log_every=1 --set checkpoint_every=1 "
                           "--set tensorboard=false";
  auto r = run_ctlab(args);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "database or disk is full")) << r.output;
  int64_t step = 0;
  {
    RunStore s(root + "/ctlab.sqlite");
    const auto rec = s.runs().front();
    EXPECT_EQ(rec.status, RunStatus::Failed) << rec.error;
    EXPECT_TRUE(rec.owner.empty()) << rec.owner;
    EXPECT_GT(rec.step, 0);
    EXPECT_EQ(s.integrity_check(), std::vector<std::string>{"ok"});
    step = rec.step;
  }
  EXPECT_FALSE(
      fs::exists(root + "/ctlab.sqlite-reserve-" + RunStore(root + "/ctlab.sqlite").runs()[0].run_id));
  // Again while the disk is still full: it fails too, and the step stays.
  fill(small.filler());
  auto again = run_ctlab(args);
  EXPECT_NE(again.exit_code, 0) << again.output;
  fs::remove(small.filler());
  RunStore s(root + "/ctlab.sqlite");
  const auto rec = s.runs().front();
  EXPECT_EQ(rec.status, RunStatus::Failed) << rec.error;
  EXPECT_TRUE(rec.owner.empty()) << rec.owner;
  EXPECT_EQ(rec.step, step) << "a re-run lowered the recorded step";
  EXPECT_EQ(s.integrity_check(), std::vector<std::string>{"ok"});
}

TEST(DiskFull, ADiskFilledByAnotherWriterStillGetsTheFailedStatus) {
  SmallRoot small("size=4m");
  if (!small.disk.ok) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  const std::string& root = small.root;
  auto ini = small.dir.file("tiny.ini", test::tiny_run("diskfull"));
  FILE* run = start_ctlab(
      "train " + ini + " --results " + root +
      " --set max_steps=100000 --set log_every=1 --set checkpoint_every=1 --set tensorboard=false");
  ASSERT_NE(run, nullptr);
  // Once the run has recorded some steps, another writer takes every free byte: the
  // run's next commit fails without a frame written, so nothing in the database's own
  // files is free for the final status.
  EXPECT_GT(holder_once_at_step(root, 5), 0);
  fill(small.filler());
  const std::string output = read_all(run);
  const int status = ::pclose(run);
  fs::remove(small.filler());
  EXPECT_NE(status, 0) << output;
  RunStore s(root + "/ctlab.sqlite");
  const auto rec = s.runs().front();
  EXPECT_EQ(rec.status, RunStatus::Failed) << output;
  EXPECT_TRUE(rec.owner.empty()) << rec.owner;
  EXPECT_GE(rec.step, 5);
  EXPECT_EQ(s.integrity_check(), std::vector<std::string>{"ok"});
}

TEST(DiskFull, NoRoomForTheReserveAtTheStartLeavesNoRunRunning) {
  SmallRoot small("size=2m");
  if (!small.disk.ok) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  const std::string& root = small.root;
  { RunStore s(root + "/ctlab.sqlite"); }
  // 48 KiB are left: room for the database to be read, none for the reserve (at least 64 KiB).
  fill(small.filler());
  fs::resize_file(small.filler(), fs::file_size(small.filler()) - (48 << 10));
  auto ini = small.dir.file("tiny.ini", test::tiny_run("diskfull"));
  auto r = run_ctlab("train " + ini + " --results " + root + " --set tensorboard=false");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "no room on the disk of " + root + "/ctlab.sqlite for the reserve"))
      << r.output;
  // A grid's scheduler cannot hold its reserve either: it starts no cell and exits 1.
  auto grid = small.dir.file("grid.ini", test::tiny_run("diskfull") + "[grid]\nseed = 1, 2\n");
  auto g = run_ctlab("grid run " + grid + " --results " + root + " --set tensorboard=false");
  EXPECT_EQ(g.exit_code, 1) << g.output;
  EXPECT_TRUE(contains(g.output, "for the reserve")) << g.output;
  EXPECT_TRUE(contains(g.output, "no further cell is started")) << g.output;
  EXPECT_FALSE(contains(g.output, "start  [")) << g.output;
  fs::remove(small.filler());
  RunStore s(root + "/ctlab.sqlite");
  for (const auto& rec : s.runs()) EXPECT_NE(rec.status, RunStatus::Running) << rec.run_id;
  EXPECT_TRUE(s.runs().empty());  // refused before the claim: nothing recorded
  EXPECT_EQ(s.integrity_check(), std::vector<std::string>{"ok"});
}

TEST(DiskFull, AGridWorkerThatDiesOnAFullDiskIsRecordedFailedByItsScheduler) {
  SmallRoot small("size=4m");
  if (!small.disk.ok) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  const std::string& root = small.root;
  auto grid = small.dir.file("grid.ini", test::tiny_run("diskfull") + "[grid]\nseed = 1\n");
  FILE* g = start_ctlab(
      "grid run " + grid + " --results " + root +
      " --set max_steps=100000 --set log_every=1 --set checkpoint_every=1000 --set tensorboard=false");
  ASSERT_NE(g, nullptr);
  // The worker is stopped while it trains, every free byte is taken, and the worker is
  // killed: it records nothing, and its own reserve file stays where it was. Only the
  // scheduler's reserve makes room for the `failed` status.
  const pid_t worker = holder_once_at_step(root, 5);
  ASSERT_GT(worker, 0);
  ::kill(worker, SIGSTOP);
  fill(small.filler());
  ::kill(worker, SIGKILL);
  const std::string output = read_all(g);
  const int status = ::pclose(g);
  fs::remove(small.filler());
  EXPECT_NE(status, 0) << output;
  RunStore s(root + "/ctlab.sqlite");
  const auto rec = s.runs().front();
  EXPECT_EQ(rec.status, RunStatus::Failed) << output;
  EXPECT_TRUE(contains(rec.error, "the worker process ended without recording the run's status (signal 9"))
      << rec.error;
  EXPECT_TRUE(rec.owner.empty()) << rec.owner;
  EXPECT_GE(rec.step, 5);
  EXPECT_EQ(s.integrity_check(), std::vector<std::string>{"ok"});
}
