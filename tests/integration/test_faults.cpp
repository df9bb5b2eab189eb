// Results that cannot silently mix, part two: plugin identity by content, stored
// evaluations keyed by their settings, one live holder per run, attempts that count
// failures only, writes that fail (injected with CTLAB_FAIL_WRITE, and a real full
// tmpfs), memory estimates before allocating, and `ctlab check`.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <fstream>

#include "grid/scheduler.h"
#include "store/heartbeat.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "util/process.h"
#include "util/sha256.h"

using namespace ctlab;
using ctlab::test::contains;
using ctlab::test::run_command;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;
namespace fs = boost::filesystem;

namespace {

const std::string kTiny = test::tiny_run("faults");

const std::string kImpostorDir = CTLAB_TEST_FIXTURE_DIR "/duplicate";
const std::string kImpostor = kImpostorDir + "/libctlab_plugin_fixture_duplicate.so";
const std::string kGenuine = CTLAB_TEST_PLUGIN_DIR "/libctlab_plugin_mean_pool.so";

// Trains the tiny run into root; returns its run id.
std::string train_tiny(const TempDir& dir, const std::string& root, const std::string& extra = "") {
  auto ini = dir.file("tiny.ini", kTiny);
  auto r = run_ctlab("train " + ini + " --results " + root + " " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return RunStore(root + "/ctlab.sqlite").runs().front().run_id;
}

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it)
    if (contains(it->path().filename().string(), ".tmp.")) out.push_back(it->path().string());
  return out;
}

// A child process that sleeps until killed: a live holder on this host.
struct Sleeper {
  pid_t pid;
  Sleeper() : pid(fork()) {
    if (pid == 0) {
      execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Sleeper() {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
};

}  // namespace

// --- 1 and 2: plugin identity is the library's content --------------------------------

TEST(Faults, TwoLibrariesOfferingOneNameAtVersionAreAnErrorUntilOneIsPinned) {
  TempDir dir;
  auto ini = dir.file("tiny.ini", kTiny);
  auto clash = run_ctlab("config " + ini + " --plugin-dir " + kImpostorDir);
  EXPECT_EQ(clash.exit_code, 2) << clash.output;
  EXPECT_TRUE(contains(clash.output,
                       "compression function mean_pool@1 is offered by libraries with different "
                       "contents: " +
                           kImpostor))
      << clash.output;
  EXPECT_TRUE(contains(clash.output, "libctlab_plugin_mean_pool.so (sha256 ")) << clash.output;
  EXPECT_TRUE(contains(clash.output, "--plugin-pin mean_pool@1=FILE")) << clash.output;
  auto train = run_ctlab("train " + ini + " --results " + dir.path() + "/r --plugin-dir " + kImpostorDir);
  EXPECT_EQ(train.exit_code, 2) << train.output;
  EXPECT_FALSE(fs::exists(dir.path() + "/r"));  // nothing written
  // A pin settles it, on the command line or in the environment.
  EXPECT_EQ(
      run_ctlab("config " + ini + " --plugin-dir " + kImpostorDir + " --plugin-pin mean_pool@1=" + kGenuine)
          .exit_code,
      0);
  EXPECT_EQ(run_command("CTLAB_PLUGIN_PIN=mean_pool@1=" + kImpostor +
                        " env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN "' config " + ini + " --plugin-dir " +
                        kImpostorDir)
                .exit_code,
            0);
  auto list = run_ctlab("plugins list --plugin-dir " + kImpostorDir);
  EXPECT_TRUE(contains(list.output, "fn mean_pool@1 is offered by libraries with different contents"))
      << list.output;
  auto bad_pin = run_ctlab("config " + ini + " --plugin-pin mean_pool=" + kGenuine);
  EXPECT_EQ(bad_pin.exit_code, 2);
  EXPECT_TRUE(contains(bad_pin.output, "expected name@version=FILE")) << bad_pin.output;
  auto bad_env = run_command(
      "CTLAB_PLUGIN_PIN=mean_pool@1=/no/such.so env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN "' config " + ini);
  EXPECT_EQ(bad_env.exit_code, 2);
  EXPECT_TRUE(contains(bad_env.output, "no library file '/no/such.so' (in $CTLAB_PLUGIN_PIN)"))
      << bad_env.output;
  // An identical copy of a library elsewhere on the path is the same plugin: no conflict.
  fs::create_directories(dir.path() + "/copy");
  fs::copy_file(kGenuine, dir.path() + "/copy/libctlab_plugin_mean_pool.so");
  EXPECT_EQ(run_ctlab("config " + ini + " --plugin-dir " + dir.path() + "/copy").exit_code, 0);
}

TEST(Faults, ARunRecordedWithOtherPluginBytesIsNotResumedOrEvaluatedSilently) {
  TempDir dir;
  const std::string root = dir.path() + "/r";
  const std::string id = train_tiny(dir, root);
  const std::string pin = " --plugin-dir " + kImpostorDir + " --plugin-pin mean_pool@1=" + kImpostor;
  const std::string genuine_sha = sha256_file(kGenuine), impostor_sha = sha256_file(kImpostor);
  const auto before = RunStore(root + "/ctlab.sqlite").metrics(id, "eval/").size();
  auto eval = run_ctlab("eval " + id + " --results " + root + " --segments 2" + pin);
  EXPECT_EQ(eval.exit_code, 2) << eval.output;
  EXPECT_TRUE(contains(eval.output, "recorded sha256 " + genuine_sha + ", found now " + impostor_sha))
      << eval.output;
  EXPECT_EQ(RunStore(root + "/ctlab.sqlite").metrics(id, "eval/").size(), before);  // nothing stored
  // Resuming an interrupted run with the other library is refused too.
  RunStore(root + "/ctlab.sqlite").finish_run(id, RunStatus::Interrupted, 2);
  auto resume = run_ctlab("train " + dir.path() + "/tiny.ini --results " + root + pin);
  EXPECT_EQ(resume.exit_code, 2) << resume.output;
  EXPECT_TRUE(contains(resume.output, "--accept-plugin-change to resume")) << resume.output;
  // Accepted explicitly, the change is written to the run's history.
  auto accepted =
      run_ctlab("eval " + id + " --results " + root + " --segments 2 --accept-plugin-change" + pin);
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  auto history = run_ctlab("export history --results " + root);
  EXPECT_TRUE(contains(history.output, "plugin_change,\"evaluate with a changed library accepted"))
      << history.output;
}

// --- 3: every stored evaluation is keyed by what changes its value ---------------------

TEST(Faults, EvaluationsWithOtherSettingsNeverOverwriteEachOther) {
  TempDir dir;
  const std::string root = dir.path() + "/r";
  const std::string id = train_tiny(dir, root);
  for (const char* flags :
       {"--segments 1", "--segments 2", "--segments 2 --batch-size 2", "--segments 2 --mem-len 4"})
    ASSERT_EQ(run_ctlab("eval " + id + " --results " + root + " " + flags).exit_code, 0) << flags;
  auto table = run_ctlab("export evaluations --results " + root);
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_TRUE(
      contains(table.output, "split,step,seq_len,mem_len,cmem_len,clamp_len,same_length,batch_size,segments"))
      << table.output;
  EXPECT_TRUE(contains(table.output, ",test,4,8,8,4,-1,false,8,1,")) << table.output;
  EXPECT_TRUE(contains(table.output, ",test,4,8,8,4,-1,false,8,2,")) << table.output;
  EXPECT_TRUE(contains(table.output, ",test,4,8,8,4,-1,false,2,2,")) << table.output;
  EXPECT_TRUE(contains(table.output, ",test,4,8,4,4,-1,false,8,2,")) << table.output;
  auto report = run_ctlab("report faults --no-figures --results " + root);
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_TRUE(contains(report.output, "## Evaluations (ctlab eval)")) << report.output;
  EXPECT_TRUE(contains(report.output, "| test | 4 | 8 | 8 | 4 | -1 | false | 2 | 2 |")) << report.output;
}

// --- 4: one live holder per run --------------------------------------------------------

TEST(Faults, ALiveClaimantOnThisHostIsNeverDeclaredDead) {
  TempDir dir;
  auto ini = dir.file("tiny.ini", kTiny);
  auto grid = dir.file("grid.ini", std::string(kTiny) + "[grid]\nseed = 1\n");
  const std::string root = dir.path() + "/r";
  const std::string id = train_tiny(dir, dir.path() + "/probe");  // the cell's run id
  Sleeper holder;
  {
    RunStore s((fs::create_directories(root), root + "/ctlab.sqlite"));
    RunRecord meta;
    meta.run_id = id;
    meta.experiment = "faults";
    meta.config = "x";
    ASSERT_TRUE(
        s.claim_run(meta, process_owner(holder.pid), [](const std::optional<RunRecord>&) { return true; }));
  }
  sleep(2);  // the holder's heartbeat is now older than --stale-after 1
  auto zero = run_ctlab("grid run " + grid + " --results " + root + " --stale-after 0");
  EXPECT_EQ(zero.exit_code, 2) << zero.output;
  EXPECT_TRUE(contains(zero.output, "--stale-after 0: expected >= 1 second")) << zero.output;
  auto g = run_ctlab("grid run " + grid + " --results " + root + " --stale-after 1");
  EXPECT_EQ(g.exit_code, 1) << g.output;
  EXPECT_TRUE(contains(g.output, "running elsewhere")) << g.output;
  auto t = run_ctlab("train " + ini + " --results " + root);
  EXPECT_EQ(t.exit_code, 2) << t.output;
  EXPECT_TRUE(
      contains(t.output, "is claimed by process " + process_owner(holder.pid) + " on this host (alive"))
      << t.output;
  RunStore s(root + "/ctlab.sqlite");
  EXPECT_EQ(s.find_run(id)->owner, process_owner(holder.pid));
  EXPECT_EQ(s.find_run(id)->status, RunStatus::Running);
  EXPECT_FALSE(fs::exists(root + "/runs/" + id + "/checkpoint.pt"));  // nobody trained it
}

TEST(Faults, ASilentClaimantOnAnotherHostIsTakenOverAndTheTakeoverIsLogged) {
  TempDir dir;
  auto grid = dir.file("grid.ini", std::string(kTiny) + "[grid]\nseed = 1\n");
  const std::string root = dir.path() + "/r";
  const std::string id = train_tiny(dir, dir.path() + "/probe");
  {
    RunStore s((fs::create_directories(root), root + "/ctlab.sqlite"));
    RunRecord meta;
    meta.run_id = id;
    meta.experiment = "faults";
    meta.config = "x";
    s.claim_run(meta, "another-host:4242:77", [](const std::optional<RunRecord>&) { return true; });
  }
  auto fresh = run_ctlab("grid run " + grid + " --results " + root);  // heartbeat just written: held
  EXPECT_TRUE(contains(fresh.output, "running elsewhere")) << fresh.output;
  sleep(2);
  auto g = run_ctlab("grid run " + grid + " --results " + root + " --stale-after 1");
  EXPECT_EQ(g.exit_code, 0) << g.output;
  EXPECT_TRUE(contains(g.output, "takeover")) << g.output;
  auto history = run_ctlab("export history --results " + root);
  EXPECT_TRUE(contains(history.output, "takeover,\"taken over by grid scheduler")) << history.output;
  // Once: the worker then takes the claim over from its scheduler, which is no takeover.
  size_t takeovers = 0;
  for (size_t at = 0; (at = history.output.find(",takeover,", at)) != std::string::npos; ++at) ++takeovers;
  EXPECT_EQ(takeovers, 1u) << history.output;
  EXPECT_TRUE(contains(history.output, "from process another-host:4242:77 on another host"))
      << history.output;
  EXPECT_TRUE(contains(history.output, " (grid worker)"))
      << history.output;  // the worker took the claim over
}

TEST(Faults, HeartbeatsKeepComingWhileTheProcessLives) {
  TempDir dir;
  const std::string db = dir.path() + "/ctlab.sqlite";
  RunStore s(db);
  RunRecord meta;
  meta.run_id = "r1";
  meta.experiment = "faults";
  meta.config = "x";
  const std::string me = process_owner();
  s.claim_run(meta, me, [](const std::optional<RunRecord>&) { return true; });
  const auto first = s.find_run("r1")->heartbeat;
  {
    HeartbeatThread beat(db, "r1", me, std::chrono::milliseconds(100));
    sleep(2);  // a long step: no heartbeat from the trainer
  }
  EXPECT_NE(s.find_run("r1")->heartbeat, first);
  // Only the holder's heartbeat is refreshed.
  s.release_eval_claim("r1", me);
  const auto released = s.find_run("r1")->heartbeat;
  {
    HeartbeatThread beat(db, "r1", me, std::chrono::milliseconds(100));
    sleep(2);
  }
  EXPECT_EQ(s.find_run("r1")->heartbeat, released);
}

// --- 5: attempts count failures only ---------------------------------------------------

TEST(Faults, InterruptionsDoNotUseUpAttempts) {
  GridRunOptions o;
  o.max_attempts = 2;
  RunRecord r;
  r.status = RunStatus::Failed;
  r.attempt = 3;  // a scheduler kill (interrupted, checkpoint written), then a crash, then this
  r.failures = 1;
  EXPECT_EQ(decide(r, o), CellAction::Retry);
  r.failures = 2;
  EXPECT_EQ(decide(r, o), CellAction::GaveUp);
  r.status = RunStatus::Interrupted;
  r.attempt = 9;
  EXPECT_EQ(decide(r, o), CellAction::Resume);
  // The store counts a failure when a run ends failed, not when it is interrupted.
  TempDir dir;
  RunStore s(dir.path() + "/ctlab.sqlite");
  RunRecord meta;
  meta.run_id = "r";
  meta.experiment = "faults";
  meta.config = "x";
  s.start_run(meta, {});
  s.finish_run("r", RunStatus::Interrupted, 1);
  s.start_run(meta, {});
  s.finish_run("r", RunStatus::Failed, 1, "boom");
  s.start_run(meta, {});
  s.finish_run("r", RunStatus::Interrupted, 2);
  EXPECT_EQ(s.find_run("r")->attempt, 3);
  EXPECT_EQ(s.find_run("r")->failures, 1);
}

// --- 6: writes that fail ---------------------------------------------------------------

TEST(Faults, AFailedCheckpointWriteFailsTheRunAndKeepsThePreviousCheckpoint) {
  TempDir dir;
  auto ini = dir.file("tiny.ini", kTiny);
  const std::string root = dir.path() + "/r";
  // The second checkpoint write (step 4) fails half written, as on a full disk.
  auto r =
      run_command("CTLAB_FAIL_WRITE=checkpoint.pt@2 env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN "' train " +
                  ini + " --results " + root);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "No space left on device; the previous file is unchanged")) << r.output;
  RunStore s(root + "/ctlab.sqlite");
  const auto rec = s.runs().front();
  EXPECT_EQ(rec.status, RunStatus::Failed);
  EXPECT_TRUE(rec.owner.empty());
  EXPECT_TRUE(temp_files(root).empty());
  const std::string ckpt = root + "/runs/" + rec.run_id + "/checkpoint.pt";
  EXPECT_EQ(checkpoint_run_id(ckpt), rec.run_id);  // the step-2 checkpoint, intact
  auto again = run_ctlab("train " + ini + " --results " + root);
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(contains(again.output, "resumed from")) << again.output;
}

TEST(Faults, AFullDiskDuringACheckpointLeavesATrueStatusAndNoTemporaryFile) {
  TempDir dir;
  const std::string mnt = dir.path() + "/small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=600k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  // A model whose checkpoint (weights and Adam moments, about 1.5 MB) cannot fit.
  auto ini = dir.file("tiny.ini", kTiny);
  auto r =
      run_ctlab("train " + ini + " --results " + mnt + "/r --set d_model=96 --set d_ff=384 --set n_head=4");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "No space left on device")) << r.output;
  EXPECT_FALSE(contains(r.output, "terminate called")) << r.output;
  RunStore s(mnt + "/r/ctlab.sqlite");
  EXPECT_EQ(s.runs().front().status, RunStatus::Failed) << s.runs().front().error;
  EXPECT_TRUE(temp_files(mnt + "/r").empty());
}

TEST(Faults, AFailedAnalysisOrStoreWriteFailsTheRunAndAReRunCompletesIt) {
  for (const char* target : {"analysis.h5", "sqlite"}) {
    TempDir dir;
    auto ini = dir.file("tiny.ini", kTiny);
    const std::string root = dir.path() + "/r";
    auto r =
        run_command(std::string("CTLAB_FAIL_WRITE=") + target +
                    " env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN "' train " + ini + " --results " + root);
    EXPECT_EQ(r.exit_code, 1) << target << "\n" << r.output;
    RunStore s(root + "/ctlab.sqlite");
    const auto rec = s.runs().front();
    EXPECT_EQ(rec.status, RunStatus::Failed) << target;
    EXPECT_TRUE(contains(rec.error, std::string(target) == "sqlite" ? "database or disk is full"
                                                                    : "re-run to write the analysis"))
        << rec.error;
    EXPECT_TRUE(temp_files(root).empty()) << target;
    auto again = run_ctlab("train " + ini + " --results " + root);
    EXPECT_EQ(again.exit_code, 0) << target << "\n" << again.output;
    EXPECT_TRUE(fs::exists(root + "/runs/" + rec.run_id + "/analysis.h5")) << target;
  }
}

TEST(Faults, AFailedReportOrExportWriteKeepsThePreviousFile) {
  TempDir dir;
  const std::string root = dir.path() + "/r";
  train_tiny(dir, root);
  ASSERT_EQ(run_ctlab("report faults --results " + root + " --no-figures").exit_code, 0);
  const std::string report = root + "/reports/faults/report.md";
  const auto before = sha256_file(report);
  auto r = run_command("CTLAB_FAIL_WRITE=report.md env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN
                       "' report faults --results " +
                       root + " --no-figures");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "No space left on device")) << r.output;
  EXPECT_EQ(sha256_file(report), before);
  const std::string out = dir.path() + "/runs.csv";
  ASSERT_EQ(run_ctlab("export runs --results " + root + " --out " + out).exit_code, 0);
  const auto csv = sha256_file(out);
  auto e = run_command("CTLAB_FAIL_WRITE=runs.csv env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN
                       "' export metrics --results " +
                       root + " --out " + out);
  EXPECT_EQ(e.exit_code, 1) << e.output;
  EXPECT_EQ(sha256_file(out), csv);
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

// --- 8: inputs -------------------------------------------------------------------------

TEST(Faults, ARunThatCannotFitInMemoryIsRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  auto ini = dir.file("tiny.ini", kTiny);
  auto r =
      run_ctlab("train " + ini + " --results " + dir.path() +
                "/r --set d_model=8192 --set n_head=8 --set "
                "d_ff=32768 --set n_layer=64 --set seq_len=1024 --set mem_len=1024 --set batch_size=64 --set "
                "synthetic_tokens=200000");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "needs an estimated")) << r.output;
  for (const char* key : {"d_model 8192", "n_layer 64", "batch_size 64", "seq_len 1024", "mem_len 1024"})
    EXPECT_TRUE(contains(r.output, key)) << key << "\n" << r.output;
  EXPECT_FALSE(fs::exists(dir.path() + "/r"));
  auto grid = dir.file("grid.ini", std::string(kTiny) + "[grid]\nseed = 1, 2\n");
  auto g = run_ctlab("grid run " + grid + " --results " + dir.path() +
                     "/g --set d_model=8192 --set n_layer=64 --set batch_size=256");
  EXPECT_EQ(g.exit_code, 2) << g.output;
  EXPECT_TRUE(contains(g.output, "grid cell [0]")) << g.output;
  EXPECT_FALSE(fs::exists(dir.path() + "/g/ctlab.sqlite"));
}

TEST(Faults, ConfigPrintsTheRunIdThatTrainUses) {
  // The synthetic task sets its own vocabulary (16 symbols), as word-level data do.
  TempDir dir;
  auto ini = dir.file("tiny.ini", kTiny);
  auto c = run_ctlab("config " + ini);
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const std::string id = train_tiny(dir, dir.path() + "/r");
  EXPECT_TRUE(contains(c.output, "# run_id = " + id)) << c.output;
  EXPECT_TRUE(contains(c.output, "vocab_size = 16")) << c.output;
}

// --- ctlab check -----------------------------------------------------------------------

// Every command that rewrites a run's files records their new hashes, so a healthy root
// passes its own check after any sequence: a run that failed half way, evaluated, resumed to
// completion, evaluated again.
TEST(Faults, CheckPassesAfterTrainEvalResumeAndEvalAgain) {
  TempDir dir;
  const auto ini = dir.file("tiny.ini", kTiny);
  const std::string root = dir.path() + "/r";
  const auto check_is_clean = [&](const std::string& after) {
    auto c = run_ctlab("check --results " + root);
    EXPECT_EQ(c.exit_code, 0) << "after " << after << ":\n" << c.output;
    EXPECT_TRUE(contains(c.output, "no problems found")) << "after " << after << ":\n" << c.output;
  };
  // The second checkpoint write fails: the run ends failed with its first checkpoint.
  auto first =
      run_command("CTLAB_FAIL_WRITE=checkpoint.pt@2 env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN "' train " +
                  ini + " --results " + root);
  ASSERT_EQ(first.exit_code, 1) << first.output;
  const std::string id = RunStore(root + "/ctlab.sqlite").runs().front().run_id;
  check_is_clean("a failed train");
  ASSERT_EQ(run_ctlab("eval " + id + " --results " + root + " --segments 3").exit_code, 0);
  check_is_clean("eval of the failed run");
  auto resumed = run_ctlab("train " + ini + " --results " + root);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(RunStore(root + "/ctlab.sqlite").find_run(id)->status, RunStatus::Completed);
  check_is_clean("the resumed train");
  ASSERT_EQ(run_ctlab("eval " + id + " --results " + root + " --segments 3").exit_code, 0);
  check_is_clean("eval of the completed run");
  ASSERT_EQ(run_ctlab("eval " + id + " --results " + root + " --segments 2 --split valid").exit_code, 0);
  check_is_clean("a second eval");
}

TEST(Faults, CheckAcceptsACellWhoseWorkerFailedBeforeItStarted) {
  // The scheduler claimed the cell and made its folder (job.json, stdout.txt); the worker
  // failed before its start record (say, its plugin changed): no config.ini, and no problem.
  TempDir dir;
  const std::string root = dir.path() + "/r";
  train_tiny(dir, root);
  RunStore s(root + "/ctlab.sqlite");
  RunRecord meta;
  meta.run_id = "0123456789ab";
  meta.experiment = "faults";
  meta.config = "x";
  ASSERT_TRUE(
      s.claim_run(meta, this_host() + ":999999:1", [](const std::optional<RunRecord>&) { return true; }));
  s.finish_run(meta.run_id, RunStatus::Failed, 0, "worker process ended with exit code 2");
  fs::create_directories(root + "/runs/0123456789ab");
  dir.file("r/runs/0123456789ab/stdout.txt", "ctlab: error: ...\n");
  auto c = run_ctlab("check --results " + root);
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(contains(c.output, "no problems found")) << c.output;
}

TEST(Faults, CheckFindsWhatIsWrongInAResultsRoot) {
  TempDir dir;
  const std::string root = dir.path() + "/r";
  const std::string id = train_tiny(dir, root);
  auto clean = run_ctlab("check --results " + root);
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_TRUE(contains(clean.output, "no problems found")) << clean.output;
  const std::string run = root + "/runs/" + id;
  dir.file("r/runs/" + id + "/checkpoint.pt.tmp.999999", "partial");
  fs::create_directories(root + "/runs/stray");
  { std::ofstream(run + "/config.ini", std::ios::app) << "# edited\n"; }
  { std::ofstream(run + "/analysis.h5", std::ios::trunc) << "not hdf5"; }
  RunStore s(root + "/ctlab.sqlite");
  RunRecord meta;
  meta.run_id = "deadbeef0000";
  meta.experiment = "faults";
  meta.config = "x";
  s.claim_run(meta, this_host() + ":999999:1", [](const std::optional<RunRecord>&) { return true; });
  fs::create_directories(root + "/runs/deadbeef0000");
  fs::copy_file(run + "/checkpoint.pt", root + "/runs/deadbeef0000/checkpoint.pt");
  auto bad = run_ctlab("check --results " + root);
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  for (const char* finding :
       {"checkpoint.pt.tmp.999999: temporary file of a killed writer",
        "runs/stray: a run folder the database does not know", "config.ini: differs from the recorded config",
        "analysis.h5: cannot be read", "run deadbeef0000: recorded as running, but no live process claims it",
        "belongs to run " /* the copied checkpoint */})
    EXPECT_TRUE(contains(bad.output, finding)) << finding << "\n" << bad.output;
  ASSERT_EQ(run_ctlab("check --results " + root + " --remove-temp-files").exit_code, 1);
  EXPECT_FALSE(fs::exists(run + "/checkpoint.pt.tmp.999999"));
  EXPECT_EQ(run_ctlab("check --results " + dir.path() + "/nothing").exit_code, 2);
}
