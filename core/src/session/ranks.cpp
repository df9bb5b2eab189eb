// The local launcher behind `ctlab train --nproc N`.
#include "session/ranks.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <optional>
#include <thread>

#include "util/error.h"
#include "util/signals.h"

namespace ctlab {

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

// A rank: the launcher conventions in its environment; a launcher that dies takes its
// ranks with it (SIGKILL); Ctrl-C reaches the launcher, which forwards SIGTERM to every rank.
ChildSpec rank_child(const LocalLaunch& l, int rank, int port) {
  ChildSpec c;
  c.argv = l.argv;
  c.parent_death_signal = SIGKILL;
  const std::string threads = std::to_string(l.threads_per_rank);
  c.env = {{"RANK", std::to_string(rank)},
           {"LOCAL_RANK", std::to_string(rank)},
           {"WORLD_SIZE", std::to_string(l.nproc)},
           {"LOCAL_WORLD_SIZE", std::to_string(l.nproc)},
           {"MASTER_ADDR", "127.0.0.1"},
           {"MASTER_PORT", std::to_string(port)},
           {"OPENBLAS_NUM_THREADS", threads},
           {"OMP_NUM_THREADS", threads}};
  return c;
}

}  // namespace

std::vector<ChildExit> run_local_ranks(const LocalLaunch& l) {
  StopSignals signals;  // Ctrl-C and SIGTERM are forwarded, not fatal to the launcher
  const int port = free_local_port();
  std::vector<pid_t> pids(l.nproc, -1);
  std::vector<ChildExit> exits(l.nproc);
  for (int r = 0; r < l.nproc; ++r) {
    try {
      pids[r] = spawn_child(rank_child(l, r, port));
    } catch (const Error&) {
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
          exits[r] = ChildExit::of(status);
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
