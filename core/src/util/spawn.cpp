// The fork/exec helper behind grid workers and local ranks.
#include "util/spawn.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "util/error.h"

namespace ctlab {

pid_t spawn_child(const ChildSpec& spec) {
  if (spec.argv.empty()) throw Error("spawn_child: empty argv", ErrorKind::Run);
  const pid_t parent = ::getpid();
  std::fflush(nullptr);  // or the child's copy of our buffered output is printed twice
  const pid_t pid = fork();
  if (pid < 0)
    throw Error("cannot start a child process (" + spec.argv[0] + "): fork failed", ErrorKind::Run);
  if (pid > 0) return pid;
  prctl(PR_SET_PDEATHSIG, spec.parent_death_signal);
  if (::getppid() != parent) _exit(128 + spec.parent_death_signal);
  signal(SIGINT, SIG_IGN);
  if (!spec.output.empty() && std::freopen(spec.output.c_str(), "a", stdout))
    dup2(fileno(stdout), fileno(stderr));
  for (const auto& [k, v] : spec.env) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> args;
  for (const auto& a : spec.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(spec.argv[0].c_str(), args.data());
  _exit(127);
}

ChildExit ChildExit::of(int status) {
  ChildExit e;
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}

std::string ChildExit::describe() const {
  if (signal != 0) return "was killed by signal " + std::to_string(signal);
  if (code < 0) return "did not start";
  return "exited with code " + std::to_string(code);
}

}  // namespace ctlab
