// The grid scheduler: claims, worker processes, live status, resume decisions.
#include "grid/scheduler.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/filesystem.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <thread>

#include "train/runtime.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/text.h"

namespace ctlab {
namespace {

std::atomic<int> g_grid_signal{0};
void on_grid_signal(int sig) { g_grid_signal = sig; }

int64_t age_seconds(const std::string& iso) {
  std::tm tm{};
  if (iso.empty() || !strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return 1LL << 40;
  return static_cast<int64_t>(std::time(nullptr) - timegm(&tm));
}

// Whether the process named by owner ("host:pid") is certainly gone.
bool owner_gone(const std::string& owner) {
  auto colon = owner.rfind(':');
  if (colon == std::string::npos) return true;
  if (owner.substr(0, colon) != host_name()) return false;  // another machine: trust the heartbeat
  pid_t pid = static_cast<pid_t>(std::atoll(owner.c_str() + colon + 1));
  return pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH);
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last;
}

struct Worker {
  pid_t pid = -1;
  const GridCell* cell = nullptr;
  std::string device;
  std::chrono::steady_clock::time_point started;
};

}  // namespace

const char* action_name(CellAction a) {
  switch (a) {
    case CellAction::Start:
      return "start";
    case CellAction::Resume:
      return "resume";
    case CellAction::Retry:
      return "retry";
    case CellAction::Done:
      return "completed";
    case CellAction::Diverged:
      return "diverged (skipped; --retry-diverged runs it again)";
    case CellAction::GaveUp:
      return "failed (attempts used up; --max-attempts allows more)";
    case CellAction::RunningElsewhere:
      return "running elsewhere";
  }
  return "?";
}

bool action_runs(CellAction a) {
  return a == CellAction::Start || a == CellAction::Resume || a == CellAction::Retry;
}

CellAction decide(const std::optional<RunRecord>& r, const GridRunOptions& o) {
  if (!r) return CellAction::Start;
  const auto& s = r->status;
  if (s == "completed") return CellAction::Done;
  if (s == "diverged") return o.retry_diverged ? CellAction::Retry : CellAction::Diverged;
  if (s == "failed") return r->attempt < o.max_attempts ? CellAction::Retry : CellAction::GaveUp;
  if (s == "running") {
    const bool stale = owner_gone(r->owner) || age_seconds(r->heartbeat) > o.stale_after;
    return stale ? CellAction::Resume : CellAction::RunningElsewhere;
  }
  return CellAction::Resume;  // interrupted, pending
}

int run_grid(const Grid& grid, const GridRunOptions& o) {
  namespace fs = boost::filesystem;
  auto cells = shard_cells(grid, o.shard, o.shards);
  fs::create_directories(o.results_root);
  RunStore store(o.results_root + "/ctlab.sqlite");

  const bool gpu = !o.devices.empty();
  const int64_t slots = gpu ? static_cast<int64_t>(o.devices.size()) : std::max<int64_t>(1, o.jobs);
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t threads = std::max<int64_t>(1, cores / slots);
  std::printf(
      "grid %s: %zu cells in shard %lld/%lld (%lld in the grid), %lld worker(s) x %lld thread(s)%s, results "
      "in %s\n",
      grid.path.c_str(), cells.size(), static_cast<long long>(o.shard), static_cast<long long>(o.shards),
      static_cast<long long>(grid.cells.size()), static_cast<long long>(slots),
      static_cast<long long>(threads), gpu ? (" on " + join(o.devices, ",")).c_str() : "",
      o.results_root.c_str());

  std::vector<const GridCell*> queue;
  for (const auto* c : cells) {
    auto action = decide(store.find_run(c->run_id), o);
    if (o.dry_run || !action_runs(action))
      std::printf("  [%lld] %s %-40s %s\n", static_cast<long long>(c->index), c->run_id.c_str(),
                  c->name.c_str(), action_name(action));
    if (action_runs(action)) queue.push_back(c);
  }
  if (o.dry_run) return kExitOk;

  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_grid_signal;
  sigemptyset(&sa.sa_mask);
  g_grid_signal = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  const std::string self = boost::dll::program_location().string();
  const std::string owner = host_name() + ":" + std::to_string(::getpid());
  const bool tty = isatty(fileno(stdout));
  std::vector<Worker> workers(slots);
  size_t next = 0, started = 0, finished = 0;
  int drawn = 0;
  auto last_report = std::chrono::steady_clock::now();

  auto launch = [&](Worker& w, const GridCell& cell) {
    auto paths = RunPaths::for_run(o.results_root, cell.run_id);
    fs::create_directories(paths.dir);
    write_file_atomic(paths.config, "# run_id = " + cell.run_id + "\n# grid cell: " + cell.name + "\n" +
                                        format_run_config(cell.cfg));
    std::vector<std::string> argv = {
        self,
        "train",
        paths.config,
        "--results",
        o.results_root,
        "--expect-run-id",
        cell.run_id,
        "--set",
        "threads=" + std::to_string(cell.cfg.threads > 0 ? cell.cfg.threads : threads)};
    if (!w.device.empty()) argv.insert(argv.end(), {"--set", "device=" + w.device});
    for (const auto& d : o.plugin_dirs) argv.insert(argv.end(), {"--plugin-dir", d});
    const std::string out_path = paths.dir + "/stdout.txt";
    const std::string blas_threads = std::to_string(cell.cfg.threads > 0 ? cell.cfg.threads : threads);
    pid_t parent = ::getpid();
    std::fflush(nullptr);  // or the child's copy of our buffered output is printed twice
    pid_t pid = fork();
    if (pid < 0) throw Error("cannot start a worker process: fork failed", ErrorKind::Run);
    if (pid == 0) {
      // The worker gets SIGTERM (checkpoint, then stop) when the scheduler dies.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) _exit(130);
      signal(SIGINT, SIG_IGN);  // Ctrl-C reaches the scheduler, which stops workers in order
      FILE* f = std::freopen(out_path.c_str(), "a", stdout);
      if (f) dup2(fileno(stdout), fileno(stderr));
      setenv("OPENBLAS_NUM_THREADS", blas_threads.c_str(), 1);  // no oversubscription across workers
      setenv("OMP_NUM_THREADS", blas_threads.c_str(), 1);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(self.c_str(), args.data());
      _exit(127);
    }
    w.pid = pid;
    w.cell = &cell;
    w.started = std::chrono::steady_clock::now();
    ++started;
    if (!tty)
      std::printf("start  [%lld] %s %s%s\n", static_cast<long long>(cell.index), cell.run_id.c_str(),
                  cell.name.c_str(), w.device.empty() ? "" : (" on " + w.device).c_str());
    std::fflush(stdout);
  };

  auto draw = [&](bool force) {
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_report < std::chrono::seconds(tty ? 1 : 60)) return;
    last_report = now;
    std::vector<std::string> lines;
    char head[200];
    std::snprintf(head, sizeof head, "grid %s: %zu/%zu cells finished this run, %zu running, %zu waiting",
                  grid.experiment.c_str(), finished, queue.size(), started - finished, queue.size() - next);
    lines.push_back(head);
    for (size_t i = 0; i < workers.size(); ++i) {
      const auto& w = workers[i];
      std::string l =
          "  worker " + std::to_string(i) + (w.device.empty() ? "" : " (" + w.device + ")") + ": ";
      if (w.pid < 0)
        l += "idle";
      else {
        auto status = last_line(RunPaths::for_run(o.results_root, w.cell->run_id).log);
        l += "[" + std::to_string(w.cell->index) + "] " + w.cell->name + " | " +
             (status.empty() ? "starting" : status);
      }
      if (l.size() > 160) l = l.substr(0, 157) + "...";
      lines.push_back(l);
    }
    if (tty) {
      if (drawn) std::printf("\033[%dA", drawn);
      for (const auto& l : lines) std::printf("\033[K%s\n", l.c_str());
      drawn = static_cast<int>(lines.size());
    } else {
      std::printf("%s\n", lines[0].c_str());
    }
    std::fflush(stdout);
  };

  for (size_t i = 0; i < workers.size(); ++i)
    if (gpu) workers[i].device = o.devices[i];
  bool stopping = false;
  while (true) {
    if (g_grid_signal && !stopping) {
      stopping = true;
      for (auto& w : workers)
        if (w.pid > 0) ::kill(w.pid, SIGTERM);
    }
    for (auto& w : workers) {
      while (!stopping && w.pid < 0 && next < queue.size()) {
        const GridCell& cell = *queue[next++];
        RunRecord meta;
        meta.run_id = cell.run_id;
        meta.experiment = cell.cfg.experiment;
        meta.config = format_run_config(cell.cfg);
        bool mine = store.claim_run(
            meta, owner, [&](const std::optional<RunRecord>& r) { return action_runs(decide(r, o)); });
        if (!mine) {
          std::printf("skip   [%lld] %s %s: taken by another scheduler\n", static_cast<long long>(cell.index),
                      cell.run_id.c_str(), cell.name.c_str());
          ++finished;
          continue;
        }
        // The cell's place in the grid, for exports and reports (grid.<axis> = value).
        std::vector<std::pair<std::string, std::string>> axes = {{"grid_axes", join(grid.axes, ",")}};
        for (const auto& [k, v] : cell.axes) axes.emplace_back("grid." + k, v);
        store.add_params(cell.run_id, axes);
        launch(w, cell);
      }
    }
    bool active = false;
    for (auto& w : workers) {
      if (w.pid < 0) continue;
      int status = 0;
      pid_t r = waitpid(w.pid, &status, WNOHANG);
      if (r == 0) {
        active = true;
        continue;
      }
      auto rec = store.find_run(w.cell->run_id);
      if (rec && rec->status == "running") {
        // The worker died without recording how (crash, kill -9): say so.
        std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                              : "exit code " + std::to_string(WEXITSTATUS(status));
        store.finish_run(w.cell->run_id, "failed", rec->step,
                         "worker process ended with " + how + " (see " +
                             RunPaths::for_run(o.results_root, w.cell->run_id).dir + "/stdout.txt)");
        rec = store.find_run(w.cell->run_id);
      }
      ++finished;
      if (tty && drawn) {  // clear the live block, print the event, redraw later
        std::printf("\033[%dA", drawn);
        for (int i = 0; i < drawn; ++i) std::printf("\033[K\n");
        std::printf("\033[%dA", drawn);
        drawn = 0;
      }
      std::printf("%-9s [%lld] %s %s%s\n", rec ? rec->status.c_str() : "?",
                  static_cast<long long>(w.cell->index), w.cell->run_id.c_str(), w.cell->name.c_str(),
                  rec && !rec->error.empty() ? (": " + rec->error).c_str() : "");
      w.pid = -1;
      w.cell = nullptr;
    }
    if (!active && (stopping || next >= queue.size())) {
      bool idle = true;
      for (auto& w : workers) idle = idle && w.pid < 0;
      if (idle) break;
    }
    draw(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);

  int64_t completed = 0;
  std::map<std::string, int64_t> by_status;
  for (const auto* c : cells) {
    auto r = store.find_run(c->run_id);
    auto s = r ? r->status : "pending";
    by_status[s]++;
    completed += s == "completed";
  }
  std::vector<std::string> counts;
  for (const auto& [s, n] : by_status) counts.push_back(std::to_string(n) + " " + s);
  std::printf("grid %s: %s (of %zu cells in this shard)\n", grid.experiment.c_str(),
              join(counts, ", ").c_str(), cells.size());
  if (stopping) return 130;
  return completed == static_cast<int64_t>(cells.size()) ? kExitOk : kExitRunFailed;
}

}  // namespace ctlab
