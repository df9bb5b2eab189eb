// The claim routine: claim or takeover, heartbeat, and the status of a run whose process
// ended without recording one.
#include "session/claim.h"

#include "util/error.h"
#include "util/process.h"

namespace ctlab {

const char* to_string(Claimant c) {
  switch (c) {
    case Claimant::Train:
      return "ctlab train";
    case Claimant::Launcher:
      return "the rank launcher";
    case Claimant::Scheduler:
      return "grid scheduler";
    case Claimant::Eval:
      return "ctlab eval";
  }
  return "?";
}

std::string takeover_text(Claimant by, const std::string& owner, const std::string& claimant) {
  return std::string("taken over by ") + to_string(by) + " " + owner + " from " + claimant;
}

namespace {

// The reserve: 1 MiB, or on a nearly full disk what it still has room for, down to what
// one commit of a run's final status takes (a few pages and the write-ahead log's frames).
constexpr int64_t kReserveBytes[] = {1 << 20, 256 << 10, 64 << 10};

bool hold_reserve(RunStore& store, const std::string& path) {
  for (const int64_t bytes : kReserveBytes)
    if (store.reserve_space(path, bytes)) return true;
  return false;
}

}  // namespace

RunClaim::RunClaim(RunStore& store, ClaimRequest request)
    : store_(store), request_(std::move(request)), owner_(process_owner()) {}

std::unique_ptr<RunClaim> RunClaim::claim(RunStore& store, ClaimRequest request) {
  std::unique_ptr<RunClaim> c(new RunClaim(store, std::move(request)));
  if (!c->take()) return nullptr;
  return c;
}

bool RunClaim::take() {
  const auto& q = request_;
  if (!q.reserve_path.empty() && !hold_reserve(store_, q.reserve_path))
    throw Error("run " + q.run_id + ": no room on the disk of " + store_.path() + " for the reserve '" +
                    q.reserve_path + "' (expected at least 64 KiB free, so that the run's last status " +
                    "can be recorded); free some space there and re-run",
                ErrorKind::Run);
  ClaimState seen;
  bool unwanted = false;
  const auto eligible = [&](const std::optional<RunRecord>& r) {
    unwanted = q.wanted && !q.wanted(r);
    if (unwanted || !r) return !unwanted;
    seen = claim_state_of(*r, q.stale_after_s);
    handed_over_ = owner_is_parent(r->owner);
    return !seen.claimed;
  };
  bool claimed = false;
  if (q.by == Claimant::Eval) {
    claimed = store_.claim_for_eval(q.run_id, owner_, eligible);
    if (!claimed && !seen.claimed && !unwanted)
      throw Error("run " + q.run_id + ": not in " + store_.path() + " (expected a recorded run)");
  } else {
    RunRecord meta;
    meta.run_id = q.run_id;
    meta.experiment = q.experiment;
    meta.config = q.config;
    claimed = store_.claim_run(meta, owner_, eligible);
  }
  if (!claimed && unwanted) return false;
  if (!claimed) throw claimed_elsewhere_error(q.run_id, seen);
  claimed_ = true;
  if (seen.takeover) {
    taken_from_ = seen.claimant;
    store_.add_event(q.run_id, "takeover", takeover_text(q.by, owner_, seen.claimant));
  }
  if (!q.params.empty()) store_.add_params(q.run_id, q.params);
  heartbeat_ = std::make_unique<HeartbeatThread>(store_.path(), q.run_id, owner_);
  return true;
}

RunClaim::~RunClaim() {
  heartbeat_.reset();
  if (!claimed_) return;
  try {
    if (request_.by == Claimant::Eval)
      store_.release_eval_claim(run_id(), owner_);
    else if (!settled_)
      settle(std::string(to_string(request_.by)) + " " + owner_ +
             " ended without recording the run's status");
  } catch (...) {
    // a busy or full store: the row names a claimant that is gone, which the next claim sees
  }
}

bool RunClaim::settle(const std::string& error) {
  settled_ = true;
  const auto rec = store_.find_run(run_id());
  if (!rec || rec->status != RunStatus::Running) return false;
  const bool abandoned =
      rec->owner.empty() || rec->owner == owner_ || owner_liveness(rec->owner) == Liveness::Gone;
  if (!abandoned) return false;  // another live process holds it now
  store_.finish_run(run_id(), RunStatus::Failed, rec->step, error);
  return true;
}

bool RunClaim::child_ended(const std::string& who, const std::string& how) {
  heartbeat_.reset();
  return settle(who + " ended without recording the run's status (" + how + ")");
}

void RunClaim::fail(const std::string& why) {
  settled_ = true;
  store_.finish_run(run_id(), RunStatus::Failed, 0, why);
}

}  // namespace ctlab
