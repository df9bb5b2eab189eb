// Holder liveness from the run row.
#include "store/claim_state.h"

#include <ctime>

#include "util/process.h"

namespace ctlab {

int64_t age_seconds(const std::string& iso) {
  std::tm tm{};
  if (iso.empty() || !strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return int64_t{1} << 40;
  return static_cast<int64_t>(std::time(nullptr) - timegm(&tm));
}

Error claimed_elsewhere_error(const std::string& run_id, const ClaimState& h) {
  return Error("run " + run_id + " is claimed by " + h.claimant +
               "; one process at a time trains or evaluates a run: wait for it, or stop it and re-run");
}

ClaimState claim_state_of(const RunRecord& r, int64_t stale_after_s) {
  ClaimState h;
  const std::string& owner = r.owner;
  if (owner.empty() || owner == process_owner() || owner_is_parent(owner)) return h;
  // Rows finished by older versions kept their last owner: only a running row, or a claimant
  // written by this version (an evaluation), can hold a finished run.
  if (r.status != RunStatus::Running && !owner_has_start_time(owner)) return h;
  const int64_t age = age_seconds(r.heartbeat);
  const std::string beat = age < (int64_t{1} << 39) ? ", heartbeat " + std::to_string(age) + " s ago" : "";
  switch (owner_liveness(owner)) {
    case Liveness::Alive:
      h.claimed = true;
      h.claimant = "process " + owner + " on this host (alive" + beat + ")";
      return h;
    case Liveness::Gone:
      return h;
    case Liveness::Unknown:
      if (age <= stale_after_s) {
        h.claimed = true;
        h.claimant = "process " + owner + " on another host" + beat;
      } else {
        h.takeover = true;
        h.claimant = "process " + owner + " on another host" + beat + " (stale after " +
                     std::to_string(stale_after_s) + " s)";
      }
      return h;
  }
  return h;
}

}  // namespace ctlab
