// Starting ctlab's own child processes (grid workers, the ranks of one run): one fork/exec
// helper, so every child is started the same way. The child gets the given environment
// additions, optionally appends its output to a file, ignores Ctrl-C (the parent stops its
// children in order) and receives a signal when the parent dies.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <string>
#include <utility>
#include <vector>

namespace ctlab {

struct ChildSpec {
  std::vector<std::string> argv;                         // argv[0]: the program's path
  std::vector<std::pair<std::string, std::string>> env;  // set in the child only
  std::string output;                                    // append stdout and stderr here ("" = inherit)
  int parent_death_signal = SIGTERM;                     // sent to the child when the parent dies
};

// Starts the child and returns its pid. Throws ctlab::Error (kind Run) when fork fails.
// A child whose parent is already gone exits with 128 + parent_death_signal.
pid_t spawn_child(const ChildSpec& spec);

// How a child ended, from waitpid's status.
struct ChildExit {
  int code = -1;   // exit status (-1: did not start or was killed)
  int signal = 0;  // the signal that killed it, or 0
  static ChildExit of(int wait_status);
  std::string describe() const;  // "exited with code 1", "was killed by signal 9"
};

}  // namespace ctlab
