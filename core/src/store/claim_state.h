// One live claim per run (ARCHITECTURE's glossary: claim). A run row names its claimant
// (the `owner` column, "host:pid:start", see util/process.h): the
// process training it (grid worker or plain `ctlab train`), the grid scheduler that
// claimed it for a worker, or an evaluation writing to it. A claimant on this host is
// alive exactly while its process exists, however old its heartbeat; a claimant on another
// host is trusted until its heartbeat is older than the stale limit, after which the run
// may be taken over (and the takeover is written to the run's history).
#pragma once

#include <cstdint>
#include <string>

#include "store/run_store.h"
#include "util/error.h"

namespace ctlab {

// The default for how long a claimant on another host may stay silent (grid --stale-after).
constexpr int64_t kStaleAfterSeconds = 120;

struct ClaimState {
  bool claimed = false;   // another live process has claimed the run: leave it alone
  bool takeover = false;  // free only because a claimant on another host went silent
  std::string claimant;   // who, and why we think so ("" when nobody)
};

// Seconds since an ISO 8601 UTC time (very large for "" or unreadable text).
int64_t age_seconds(const std::string& iso_utc);

// Whether a process other than the caller (and its parent scheduler) has claimed the run.
ClaimState claim_state_of(const RunRecord& record, int64_t stale_after_s);

// The refusal (a usage error, exit 2) when `h.claimed`: names the run and its claimant.
Error claimed_elsewhere_error(const std::string& run_id, const ClaimState& h);

}  // namespace ctlab
