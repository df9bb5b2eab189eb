// `ctlab train --nproc N`: starts N ranks of one run on this machine as child processes
// (the launcher conventions RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set for
// each), forwards Ctrl-C and SIGTERM to them, and when one rank fails stops the others
// after the collective timeout at the latest.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace ctlab {

struct LocalLaunch {
  int nproc = 2;
  std::vector<std::string> argv;    // each rank's command line (program path first)
  int threads_per_rank = 1;         // OPENBLAS_NUM_THREADS / OMP_NUM_THREADS of each rank
  std::chrono::seconds grace{300};  // after a rank fails, how long the others get to stop
};

struct RankExit {
  int code = -1;                 // exit status (-1: did not start or was killed)
  int signal = 0;                // the signal that killed it, or 0
  std::string describe() const;  // "exited with code 1", "was killed by signal 9"
};

// Runs the ranks to the end and returns their exits, rank order. Throws ctlab::Error when
// a rank cannot be started (the ones started are stopped first).
std::vector<RankExit> run_local_ranks(const LocalLaunch& launch);

// A free TCP port on the loopback interface for the ranks' rendezvous.
int free_local_port();

}  // namespace ctlab
