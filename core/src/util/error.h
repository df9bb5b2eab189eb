// ctlab::Error: the one exception type for user errors and host invariants, and the exit
// codes the command line maps error kinds to.
#pragma once

#include <stdexcept>
#include <string>

namespace ctlab {

enum class ErrorKind {
  Usage,   // bad command line, config key/value, data file: the user can fix the input
  Plugin,  // a plugin failed to load or threw; the message names the plugin and file
  Run,     // a run failed while executing
};

// Process exit codes. Documented in README.md; scripts and grids rely on them.
enum ExitCode : int {
  kExitOk = 0,
  kExitRunFailed = 1,
  kExitUsage = 2,
  kExitDiverged = 3,
  kExitInterrupted = 130,  // stopped by SIGINT/SIGTERM (128 + SIGINT, the shell's convention)
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, ErrorKind kind = ErrorKind::Usage)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return kind_ == ErrorKind::Usage ? kExitUsage : kExitRunFailed; }

 private:
  ErrorKind kind_;
};

// The message of any exception without LibTorch's C++ backtrace, first line only.
std::string brief_what(const std::exception& e);

}  // namespace ctlab
