// Claiming a run: the one routine by which a process becomes a run's claimant in the store,
// whoever it is (`ctlab train` or a rank 0, the `--nproc` launcher, the grid scheduler
// for a cell's worker, `ctlab eval`). A claim owns the takeover of a silent claimant and its
// `takeover` event, the heartbeat that keeps the claim alive (for this process's own work,
// or until the child it starts takes the claim over), and the `failed` status of a run
// whose process ended without recording one. Run rows are written by session/ only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/claim_state.h"
#include "store/heartbeat.h"
#include "store/run_store.h"

namespace ctlab {

// Who claims a run, as its history names it.
enum class Claimant {
  Train,      // the process that trains the run (`ctlab train`, a worker, rank 0)
  Launcher,   // `ctlab train --nproc N`, for its rank 0
  Scheduler,  // a grid scheduler, for the cell's worker
  Eval,       // `ctlab eval`: claims the run without changing its status
};
const char* to_string(Claimant c);

struct ClaimRequest {
  std::string run_id;
  std::string experiment, config;  // for the row a first claim creates
  Claimant by = Claimant::Train;
  int64_t stale_after_s = kStaleAfterSeconds;  // a claimant on another host silent this long is taken over
  // The scheduler's rule on the row as it is (its state says the cell should run); false
  // refuses the claim quietly. Null: any row that no live process holds.
  std::function<bool(const std::optional<RunRecord>&)> wanted;
  // Params rows recorded with the claim (a grid cell's place: grid.<axis> = value).
  std::vector<std::pair<std::string, std::string>> params;
  // Hold disk space beside the database for the run's last status write
  // (ctlab.sqlite-reserve-<run_id>: 1 MiB, less on a nearly full disk, at least 64 KiB);
  // without room for it the claim is refused, so that no run is left `running` by a
  // process that could not record how it ended.
  std::string reserve_path;
};

// The text of the `takeover` event, the same for every claimant: "taken over by <claimant>
// <owner> from <claimant>".
std::string takeover_text(Claimant by, const std::string& owner, const std::string& claimant);

class RunClaim {
 public:
  // Makes this process the run's claimant in one store transaction. Returns null when
  // `request.wanted` refuses the row; throws ctlab::Error (claimed_elsewhere_error) when another live
  // process holds the run, or when the reserve cannot be held. A takeover is recorded as
  // a `takeover` event. The heartbeat starts with the claim.
  static std::unique_ptr<RunClaim> claim(RunStore& store, ClaimRequest request);
  // Stops the heartbeat. An evaluation's claim is released; a run still `running` under this
  // process's claim (or a child's that is gone) is recorded failed.
  ~RunClaim();
  RunClaim(const RunClaim&) = delete;
  RunClaim& operator=(const RunClaim&) = delete;

  const std::string& run_id() const { return request_.run_id; }
  const std::string& owner() const { return owner_; }
  // The run was held by this process's parent (a scheduler or launcher), which handed it over.
  bool handed_over() const { return handed_over_; }
  // A takeover: the silent claimant the run was taken from; "" otherwise.
  const std::string& taken_from() const { return taken_from_; }

  // The child started for this run ended (it was waited for): when the run is still
  // `running` and no live process holds it (the child never took the claim over, or died
  // holding it), records it failed, "<who> ended without recording the run's status
  // (<how>)", and returns true. Stops the heartbeat.
  bool child_ended(const std::string& who, const std::string& how);
  // This process cannot go on with the run it claimed: records it failed with `why`.
  void fail(const std::string& why);

 private:
  RunClaim(RunStore& store, ClaimRequest request);
  bool take();
  // Records `error` as the run's failure when it is still running and nobody alive holds
  // it; returns whether it did.
  bool settle(const std::string& error);

  RunStore& store_;
  ClaimRequest request_;
  std::string owner_;
  bool handed_over_ = false;
  std::string taken_from_;
  bool claimed_ = false;  // the claim succeeded
  bool settled_ = false;  // the end was recorded (or found recorded) once already
  std::unique_ptr<HeartbeatThread> heartbeat_;
};

}  // namespace ctlab
