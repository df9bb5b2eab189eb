// Running another program to completion and collecting its output (the report's figure
// script), without a shell: the argument vector goes to
// posix_spawnp as is, so no argument (a path, an experiment name) is ever interpreted by a
// shell. ctlab's own children (grid workers, ranks) start through util/spawn.h instead.
#pragma once

#include <string>
#include <vector>

namespace ctlab {

struct ProcessResult {
  int exit_code = -1;  // the child's exit status; 128 + signal when it was killed; -1 when it did not start
  std::string output;  // standard output and standard error, interleaved
};

// Runs argv[0] (searched on PATH when it has no '/') with argv, waits for it and collects
// its output. Never throws for the child's failure; throws ctlab::Error for an empty argv.
ProcessResult run_process(const std::vector<std::string>& argv);

}  // namespace ctlab
