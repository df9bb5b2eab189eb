// The local launcher behind `ctlab train --nproc N` (session/train_run.h): starts N ranks
// of one run on this machine as child processes
// (the launcher conventions RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set for
// each), forwards Ctrl-C and SIGTERM to them, and when one rank fails stops the others
// after the collective timeout at the latest.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "util/spawn.h"

namespace ctlab {

struct LocalLaunch {
  int nproc = 2;
  std::vector<std::string> argv;    // each rank's command line (program path first)
  int threads_per_rank = 1;         // OPENBLAS_NUM_THREADS / OMP_NUM_THREADS of each rank
  std::chrono::seconds grace{300};  // after a rank fails, how long the others get to stop
};

// Runs the ranks to the end and returns their exits, rank order. Throws ctlab::Error when
// a rank cannot be started (the ones started are stopped first).
std::vector<ChildExit> run_local_ranks(const LocalLaunch& launch);

// A free TCP port on the loopback interface for the ranks' rendezvous.
int free_local_port();

}  // namespace ctlab
