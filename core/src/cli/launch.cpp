// The local launcher behind `ctlab train --nproc N`.
#include "cli/launch.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

#include "util/error.h"
#include "util/signals.h"

namespace ctlab {

std::string RankExit::describe() const {
  if (signal != 0) return "was killed by signal " + std::to_string(signal);
  if (code < 0) return "did not start";
  return "exited with code " + std::to_string(code);
}

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw Error("cannot open a socket to find a free port for the ranks' rendezvous", ErrorKind::Run);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  if (port <= 0)
    throw Error("cannot find a free TCP port on 127.0.0.1 for the ranks' rendezvous", ErrorKind::Run);
  return port;
}

namespace {

[[noreturn]] void exec_rank(const LocalLaunch& l, int rank, int port, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // a launcher that dies takes its ranks with it
  if (::getppid() != parent) _exit(128 + SIGKILL);
  signal(SIGINT, SIG_IGN);  // Ctrl-C reaches the launcher, which forwards SIGTERM to every rank
  const auto set = [](const char* k, const std::string& v) { setenv(k, v.c_str(), 1); };
  set("RANK", std::to_string(rank));
  set("LOCAL_RANK", std::to_string(rank));
  set("WORLD_SIZE", std::to_string(l.nproc));
  set("LOCAL_WORLD_SIZE", std::to_string(l.nproc));
  set("MASTER_ADDR", "127.0.0.1");
  set("MASTER_PORT", std::to_string(port));
  set("OPENBLAS_NUM_THREADS", std::to_string(l.threads_per_rank));
  set("OMP_NUM_THREADS", std::to_string(l.threads_per_rank));
  std::vector<char*> args;
  for (const auto& a : l.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(l.argv[0].c_str(), args.data());
  _exit(127);
}

RankExit exit_of(int status) {
  RankExit e;
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}

}  // namespace

std::vector<RankExit> run_local_ranks(const LocalLaunch& l) {
  StopSignals signals;  // Ctrl-C and SIGTERM are forwarded, not fatal to the launcher
  const int port = free_local_port();
  std::vector<pid_t> pids(l.nproc, -1);
  std::vector<RankExit> exits(l.nproc);
  const pid_t parent = ::getpid();
  std::fflush(nullptr);
  for (int r = 0; r < l.nproc; ++r) {
    pids[r] = fork();
    if (pids[r] == 0) exec_rank(l, r, port, parent);
    if (pids[r] < 0) {
      for (int k = 0; k < r; ++k) ::kill(pids[k], SIGKILL);
      for (int k = 0; k < r; ++k) ::waitpid(pids[k], nullptr, 0);
      throw Error("cannot start rank " + std::to_string(r) + ": fork failed", ErrorKind::Run);
    }
  }
  using Clock = std::chrono::steady_clock;
  int running = l.nproc, forwarded = 0;
  std::optional<Clock::time_point> deadline;
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < l.nproc; ++r)
        if (pids[r] == pid) {
          exits[r] = exit_of(status);
          pids[r] = -1;
          --running;
          if ((exits[r].code != 0 || exits[r].signal != 0) && !deadline) deadline = Clock::now() + l.grace;
        }
      continue;
    }
    if (const int sig = stop_signal(); sig != 0 && sig != forwarded) {
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGTERM);  // each rank checkpoints (together) and stops
      forwarded = sig;
    }
    if (deadline && Clock::now() > *deadline)
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return exits;
}

}  // namespace ctlab
