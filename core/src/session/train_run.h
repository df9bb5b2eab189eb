// Training one run: the lifecycle every way of starting a run goes through (`ctlab train`,
// grid workers, the ranks of `--nproc` and of outside launchers). In order:
//  1. resolve the job's configuration (session/resolve.h) and check what can be checked
//     before anything is written: ranks, backend, memory, device, the expected run id;
//  2. rank 0 (or the only process) refuses what must be refused (completed, a foreign
//     checkpoint, changed plugins, another live claimant), claims the run (session/claim.h),
//     writes its config.ini and records its start; it tells the other ranks go or stop;
//  3. the trainer runs on the device resolved in 1, with the store as its sink
//     (session/store_sink.h) and the claim's heartbeat; rank 0 records the checkpoint and
//     prints the outcome.
// With job.nproc > 1 this process instead claims the run, starts the ranks (each a
// `ctlab run-job` of the same job with nproc 1) and, through its claim, records the end if
// rank 0 could not.
#pragma once

#include "session/job.h"

namespace ctlab {

// Returns the process exit code (util/error.h); throws ctlab::Error for refusals.
int train_job(const TrainJob& job);

}  // namespace ctlab
