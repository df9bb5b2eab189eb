// The one claim routine (session/claim.h): a takeover recorded once, with one text for
// every claimant; a child that ends without a status recorded failed, and only then; a
// claim that ends with its run still running leaves it failed; an evaluation's hold.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "session/claim.h"
#include "test_util.h"
#include "util/error.h"
#include "util/process.h"

using namespace ctlab;
using test::contains;
using test::error_of;
using test::TempDir;

namespace {

const std::string kSilentClaimant = "another-host:4242:77";

ClaimRequest request(Claimant by, const std::string& run_id = "r") {
  ClaimRequest q;
  q.run_id = run_id;
  q.experiment = "e";
  q.config = "x";
  q.by = by;
  return q;
}

// Makes `owner` the run's holder, as another process's claim would.
void claimed_by(RunStore& s, const std::string& owner, const std::string& run_id = "r") {
  RunRecord meta;
  meta.run_id = run_id;
  meta.experiment = "e";
  meta.config = "x";
  ASSERT_TRUE(s.claim_run(meta, owner, [](const std::optional<RunRecord>&) { return true; }));
}

std::vector<RunEvent> takeovers(RunStore& s) {
  std::vector<RunEvent> out;
  for (const auto& e : s.events("r"))
    if (e.kind == "takeover") out.push_back(e);
  return out;
}

// A child process that lives until it is killed.
struct Child {
  pid_t pid;
  Child() : pid(fork()) {
    if (pid == 0) {
      execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  void end() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~Child() { end(); }
};

}  // namespace

TEST(Claim, ATakeoverIsRecordedOnceWithTheSameTextFromTrainingAndTheGrid) {
  std::map<Claimant, std::string> detail;
  for (const Claimant by : {Claimant::Train, Claimant::Scheduler}) {
    TempDir dir;
    RunStore s(dir.path() + "/ctlab.sqlite");
    claimed_by(s, kSilentClaimant);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // older than 0 s: stale
    auto q = request(by);
    q.stale_after_s = 0;
    const auto claim = RunClaim::claim(s, q);
    ASSERT_TRUE(claim);
    EXPECT_TRUE(contains(claim->taken_from(), "process " + kSilentClaimant + " on another host"))
        << claim->taken_from();
    EXPECT_EQ(s.find_run("r")->owner, process_owner());
    EXPECT_EQ(s.find_run("r")->status, RunStatus::Running);
    // Claimed again by its holder (as a worker takes the claim over from its scheduler):
    // no second takeover.
    const auto again = RunClaim::claim(s, request(Claimant::Train));
    ASSERT_TRUE(again);
    const auto events = takeovers(s);
    ASSERT_EQ(events.size(), 1u) << to_string(by);
    EXPECT_EQ(events[0].detail, takeover_text(by, process_owner(), claim->taken_from()));
    detail[by] = events[0].detail;
  }
  // The same text but for the claimant's name and the holder's heartbeat age, which is read
  // when each claim is made (a second boundary may fall between the two).
  auto without_age = [](std::string t) {
    const auto at = t.find("heartbeat ");
    if (at != std::string::npos) t.erase(at + 10, t.find(" s ago", at) - (at + 10));
    return t;
  };
  std::string train = detail[Claimant::Train];
  train.replace(train.find("ctlab train"), 11, "grid scheduler");
  EXPECT_EQ(without_age(train), without_age(detail[Claimant::Scheduler]));
  EXPECT_TRUE(contains(train, "taken over by grid scheduler " + process_owner() + " from process " +
                                  kSilentClaimant + " on another host"))
      << train;
}

TEST(Claim, AChildThatDiesWithoutAStatusIsRecordedFailedOnce) {
  TempDir dir;
  RunStore s(dir.path() + "/ctlab.sqlite");
  auto claim = RunClaim::claim(s, request(Claimant::Scheduler));
  ASSERT_TRUE(claim);
  s.record_progress("r", 7);
  Child child;
  claimed_by(s, process_owner(child.pid));  // the child took the claim over
  child.end();                              // and was killed before it recorded how the run ended
  EXPECT_TRUE(claim->child_ended("the worker process", "signal 9"));
  const auto rec = s.find_run("r");
  EXPECT_EQ(rec->status, RunStatus::Failed);
  EXPECT_EQ(rec->error, "the worker process ended without recording the run's status (signal 9)");
  EXPECT_EQ(rec->step, 7);
  EXPECT_EQ(rec->failures, 1);
  EXPECT_TRUE(rec->owner.empty()) << rec->owner;
  claim.reset();  // the end was recorded: nothing more
  EXPECT_EQ(s.find_run("r")->failures, 1);
  // A child that never took the claim over: the same.
  auto second = RunClaim::claim(s, request(Claimant::Launcher, "q"));
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->child_ended("rank 0", "exit code 2"));
  EXPECT_EQ(s.find_run("q")->status, RunStatus::Failed);
}

TEST(Claim, ARunItsChildRecordedOrAnotherLiveProcessHoldsIsLeftAlone) {
  TempDir dir;
  RunStore s(dir.path() + "/ctlab.sqlite");
  auto claim = RunClaim::claim(s, request(Claimant::Scheduler));
  ASSERT_TRUE(claim);
  s.finish_run("r", RunStatus::Completed, 5);  // the child recorded the run's end
  EXPECT_FALSE(claim->child_ended("the worker process", "exit code 0"));
  EXPECT_EQ(s.find_run("r")->status, RunStatus::Completed);
  auto other = RunClaim::claim(s, request(Claimant::Scheduler, "q"));
  ASSERT_TRUE(other);
  Child alive;
  claimed_by(s, process_owner(alive.pid), "q");
  EXPECT_FALSE(other->child_ended("the worker process", "exit code 1"));
  other.reset();
  EXPECT_EQ(s.find_run("q")->status, RunStatus::Running);
  EXPECT_EQ(s.find_run("q")->owner, process_owner(alive.pid));
  // Held by that live process: a training claim is refused, naming it.
  const auto refused = error_of([&] { RunClaim::claim(s, request(Claimant::Train, "q")); });
  EXPECT_TRUE(contains(refused, "run q is claimed by process " + process_owner(alive.pid))) << refused;
}

TEST(Claim, AClaimThatEndsWithItsRunStillRunningLeavesItFailed) {
  TempDir dir;
  RunStore s(dir.path() + "/ctlab.sqlite");
  { ASSERT_TRUE(RunClaim::claim(s, request(Claimant::Train))); }
  const auto rec = s.find_run("r");
  EXPECT_EQ(rec->status, RunStatus::Failed);
  EXPECT_TRUE(
      contains(rec->error, "ctlab train " + process_owner() + " ended without recording the run's status"))
      << rec->error;
  EXPECT_TRUE(rec->owner.empty());
}

TEST(Claim, TheSchedulersRuleRefusesQuietlyAndItsParamsComeWithTheClaim) {
  TempDir dir;
  RunStore s(dir.path() + "/ctlab.sqlite");
  auto q = request(Claimant::Scheduler);
  q.wanted = [](const std::optional<RunRecord>& r) { return !r; };
  q.params = {{"grid.seed", "1"}};
  auto claim = RunClaim::claim(s, q);
  ASSERT_TRUE(claim);
  EXPECT_EQ(s.params("r").at("grid.seed"), "1");
  claim->child_ended("the worker process", "exit code 2");
  EXPECT_FALSE(RunClaim::claim(s, q));  // the row exists: not wanted
  EXPECT_EQ(s.find_run("r")->status, RunStatus::Failed);
}

TEST(Claim, AnEvaluationHoldsARunWithoutChangingItsStatus) {
  TempDir dir;
  RunStore s(dir.path() + "/ctlab.sqlite");
  RunRecord meta;
  meta.run_id = "r";
  meta.experiment = "e";
  s.start_run(meta, {});
  s.finish_run("r", RunStatus::Completed, 3);
  {
    const auto hold = RunClaim::claim(s, request(Claimant::Eval));
    ASSERT_TRUE(hold);
    EXPECT_EQ(s.find_run("r")->owner, process_owner());
    EXPECT_EQ(s.find_run("r")->status, RunStatus::Completed);
  }
  EXPECT_TRUE(s.find_run("r")->owner.empty());
  EXPECT_EQ(s.find_run("r")->status, RunStatus::Completed);
  const auto missing = error_of([&] { RunClaim::claim(s, request(Claimant::Eval, "nope")); });
  EXPECT_TRUE(contains(missing, "run nope: not in")) << missing;
}
