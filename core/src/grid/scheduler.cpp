// The grid scheduler: what runs where (resume decisions, worker slots, devices and threads),
// the workers' processes and the live status. Claims and run rows go through session/claim.h.
#include "grid/scheduler.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <thread>

#include "config/run_shape.h"
#include "runtime/runtime.h"
#include "session/claim.h"
#include "session/job.h"
#include "session/resolve.h"
#include "store/claim_state.h"
#include "store/results_layout.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/process.h"
#include "util/signals.h"
#include "util/text.h"

namespace ctlab {
namespace {

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
  int64_t threads = 0;  // the worker's threads, 0 for a cell that sets its own
  std::chrono::steady_clock::time_point started;
  std::unique_ptr<RunClaim> claim;  // the cell's claim, kept alive until the worker takes it over
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
      return "failed (failed attempts used up; --max-attempts allows more)";
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
  if (r->status == RunStatus::Completed) return CellAction::Done;
  if (r->status == RunStatus::Diverged && !o.retry_diverged) return CellAction::Diverged;
  if (claim_state_of(*r, o.stale_after).claimed) return CellAction::RunningElsewhere;
  switch (r->status) {
    case RunStatus::Completed:
      return CellAction::Done;
    case RunStatus::Diverged:
      return CellAction::Retry;
    case RunStatus::Failed:  // only failures count: interruptions resume from their checkpoint
      return r->failures < o.max_attempts ? CellAction::Retry : CellAction::GaveUp;
    case RunStatus::Running:
    case RunStatus::Interrupted:
    case RunStatus::Pending:
      return CellAction::Resume;
  }
  return CellAction::Resume;
}

int64_t tail_threads(int64_t cores, int64_t running, int64_t ranks_per_cell) {
  return std::max<int64_t>(1, cores / std::max<int64_t>(1, running * std::max<int64_t>(1, ranks_per_cell)));
}

namespace {

// One call of run_grid: the queue of cells, the worker slots and the live display.
class Scheduler {
 public:
  Scheduler(const Grid& grid, const GridRunOptions& o)
      : grid_(grid),
        o_(o),
        layout_(o.results_root),
        cells_(shard_cells(grid, o.shard, o.shards)),
        store_((layout_.prepare(), layout_.database())),
        tty_(isatty(fileno(stdout))) {
    const bool gpu = !o.devices.empty();
    const int64_t k = std::max<int64_t>(1, o.ranks_per_cell);
    const int64_t slots = gpu ? static_cast<int64_t>(o.devices.size()) / k : std::max<int64_t>(1, o.jobs);
    cores_ = available_cpus();  // the CPUs this scheduler was given, not the machine's
    threads_ = std::max<int64_t>(1, cores_ / (slots * k));  // per rank
    workers_.resize(slots);
    for (size_t i = 0; i < workers_.size(); ++i)
      if (gpu)
        for (int64_t j = 0; j < k; ++j) workers_[i].device += (j ? "," : "") + o.devices[i * k + j];
  }
  int run();

 private:
  void plan();
  void fill_idle_workers();
  void give_idle_cores();
  std::unique_ptr<RunClaim> claim(const GridCell& cell);
  void launch(Worker& w, const GridCell& cell);
  TrainJob worker_job(const Worker& w, const GridCell& cell, int64_t threads,
                      const std::string& visible) const;
  bool reap();  // true while a worker is running
  void report_finished(Worker& w, int wait_status);
  void draw(bool force);
  void clear_live_block();
  int summarise();

  const Grid& grid_;
  const GridRunOptions& o_;
  ResultsLayout layout_;
  std::vector<const GridCell*> cells_, queue_;
  RunStore store_;  // read here; written through the cells' claims (session/claim.h)
  bool tty_;
  int64_t threads_ = 1, cores_ = 1;
  std::vector<Worker> workers_;
  size_t next_ = 0, started_ = 0, finished_ = 0;
  int drawn_ = 0;
  bool stopping_ = false;
  bool halted_ = false;  // a cell could not be claimed: the running cells end, no other starts
  std::chrono::steady_clock::time_point last_report_ = std::chrono::steady_clock::now();
};

void Scheduler::plan() {
  std::printf(
      "grid %s: %zu cells in shard %lld/%lld (%lld in the grid), %lld worker(s) x %lld thread(s)%s, results "
      "in "
      "%s\n",
      grid_.path.c_str(), cells_.size(), static_cast<long long>(o_.shard), static_cast<long long>(o_.shards),
      static_cast<long long>(grid_.cells.size()), static_cast<long long>(workers_.size()),
      static_cast<long long>(threads_), o_.devices.empty() ? "" : (" on " + join(o_.devices, ",")).c_str(),
      o_.results_root.c_str());
  for (const auto* c : cells_) {
    auto action = decide(store_.find_run(c->run_id), o_);
    if (o_.dry_run || !action_runs(action))
      std::printf("  [%lld] %s %-40s %s\n", static_cast<long long>(c->index), c->run_id.c_str(),
                  c->name.c_str(), action_name(action));
    if (action_runs(action)) queue_.push_back(c);
  }
}

// Claims the cell for a worker when its state says it should run (null otherwise), with
// its place in the grid as params (grid.<axis> = value, for exports and reports).
std::unique_ptr<RunClaim> Scheduler::claim(const GridCell& cell) {
  ClaimRequest q;
  q.run_id = cell.run_id;
  q.experiment = cell.cfg.experiment;
  q.config = format_run_config(cell.cfg);
  q.by = Claimant::Scheduler;
  q.stale_after_s = o_.stale_after;
  q.wanted = [this](const std::optional<RunRecord>& r) { return action_runs(decide(r, o_)); };
  q.params = {{"grid_axes", join(grid_.axes, ",")}};
  if (!grid_.baseline_text.empty()) q.params.emplace_back("grid_baseline", grid_.baseline_text);
  if (grid_.paired) q.params.emplace_back("grid_paired", "true");
  for (const auto& [k, v] : cell.axes) q.params.emplace_back("grid." + k, v);
  // Room for recording `failed` for a worker that dies without a status on a full disk:
  // one reserve for this scheduler, held again at each claim after a write has spent it.
  q.reserve_path = layout_.database() + "-reserve-grid-" + std::to_string(::getpid());
  auto c = RunClaim::claim(store_, std::move(q));
  if (c && !c->taken_from().empty()) {
    clear_live_block();
    std::printf("takeover [%lld] %s: its claimant was %s\n", static_cast<long long>(cell.index),
                cell.run_id.c_str(), c->taken_from().c_str());
  }
  return c;
}

void Scheduler::fill_idle_workers() {
  for (auto& w : workers_) {
    while (!stopping_ && !halted_ && w.pid < 0 && next_ < queue_.size()) {
      const GridCell& cell = *queue_[next_++];
      std::unique_ptr<RunClaim> c;
      try {
        c = claim(cell);
      } catch (const Error& e) {
        clear_live_block();
        std::printf("error  [%lld] %s %s: %s; no further cell is started\n",
                    static_cast<long long>(cell.index), cell.run_id.c_str(), cell.name.c_str(), e.what());
        halted_ = true;
        break;
      }
      if (c) {
        w.claim = std::move(c);
        launch(w, cell);
      } else {
        std::printf("skip   [%lld] %s %s: taken by another scheduler\n", static_cast<long long>(cell.index),
                    cell.run_id.c_str(), cell.name.c_str());
        ++finished_;
      }
    }
  }
}

// Once no cell is left to start, the cells still running on CPU workers get the cores of the
// finished ones: a larger thread count in their threads file, which the worker applies
// between steps. Cells that set `threads` themselves keep it.
void Scheduler::give_idle_cores() {
  if (!o_.devices.empty() || stopping_ || (!halted_ && next_ < queue_.size())) return;
  int64_t running = 0;
  for (const auto& w : workers_) running += w.pid > 0;
  if (running == 0) return;
  const int64_t n = tail_threads(cores_, running, o_.ranks_per_cell);
  for (auto& w : workers_) {
    if (w.pid <= 0 || w.threads == 0 || n <= w.threads) continue;
    write_file_atomic(layout_.run(w.cell->run_id).threads, std::to_string(n) + "\n");
    w.threads = n;
    if (!tty_)
      std::printf("threads [%lld] %s %s: %lld (cores of finished cells)\n",
                  static_cast<long long>(w.cell->index), w.cell->run_id.c_str(), w.cell->name.c_str(),
                  static_cast<long long>(n));
    std::fflush(stdout);
  }
}

// The worker's job: the cell's resolved configuration and this scheduler's operational
// settings (session/job.h), written beside the run.
TrainJob Scheduler::worker_job(const Worker& w, const GridCell& cell, int64_t threads,
                               const std::string& visible) const {
  TrainJob job;
  job.config_text = format_run_config(cell.cfg);
  job.expect_run_id = cell.run_id;
  job.threads = threads;
  if (!w.device.empty()) job.device = visible.empty() ? w.device : std::string("cuda");
  job.results_root = o_.results_root;
  job.hparams = cell.axes;
  job.plugins = o_.plugins;
  job.accept_plugin_change = o_.accept_plugin_change;
  job.check_memory = false;  // checked for all workers together
  job.nproc = static_cast<int>(o_.ranks_per_cell);
  return job;
}

void Scheduler::launch(Worker& w, const GridCell& cell) {
  auto paths = layout_.run(cell.run_id);
  boost::filesystem::create_directories(paths.dir);
  const int64_t threads = cell.cfg.threads > 0 ? cell.cfg.threads : threads_;
  // A threads file left by an earlier attempt would raise this one's threads at its first step.
  boost::filesystem::remove(paths.threads);
  std::string visible;  // a cell of several devices sees only its own, one per rank
  if (o_.ranks_per_cell > 1)
    for (const auto& d : split(w.device, ','))
      if (!d.empty()) visible += (visible.empty() ? "" : ",") + d.substr(d.find(':') + 1);
  // The worker gets SIGTERM (checkpoint, then stop) when the scheduler dies; Ctrl-C reaches
  // the scheduler, which stops workers in order. Its threads do not oversubscribe the cores.
  JobStart how;
  how.output = paths.stdout_log;
  if (!visible.empty()) how.env.emplace_back("CUDA_VISIBLE_DEVICES", visible);
  w.pid = start_job(worker_job(w, cell, threads, visible), paths.dir + "/job.json", how);
  w.cell = &cell;
  w.threads = cell.cfg.threads > 0 ? 0 : threads_;
  w.started = std::chrono::steady_clock::now();
  ++started_;
  if (!tty_)
    std::printf("start  [%lld] %s %s%s\n", static_cast<long long>(cell.index), cell.run_id.c_str(),
                cell.name.c_str(), w.device.empty() ? "" : (" on " + w.device).c_str());
  std::fflush(stdout);
}

void Scheduler::draw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_report_ < std::chrono::seconds(tty_ ? 1 : 60)) return;
  last_report_ = now;
  std::vector<std::string> lines;
  char head[200];
  std::snprintf(head, sizeof head, "grid %s: %zu/%zu cells finished this run, %zu running, %zu waiting",
                grid_.experiment.c_str(), finished_, queue_.size(), started_ - finished_,
                queue_.size() - next_);
  lines.push_back(head);
  for (size_t i = 0; i < workers_.size(); ++i) {
    const auto& w = workers_[i];
    std::string l = "  worker " + std::to_string(i) + (w.device.empty() ? "" : " (" + w.device + ")") + ": ";
    if (w.pid < 0) {
      l += "idle";
    } else {
      auto status = last_line(layout_.run(w.cell->run_id).log);
      l += "[" + std::to_string(w.cell->index) + "] " + w.cell->name + " | " +
           (status.empty() ? "starting" : status);
    }
    if (l.size() > 160) l = l.substr(0, 157) + "...";
    lines.push_back(l);
  }
  if (tty_) {
    if (drawn_) std::printf("\033[%dA", drawn_);
    for (const auto& l : lines) std::printf("\033[K%s\n", l.c_str());
    drawn_ = static_cast<int>(lines.size());
  } else {
    std::printf("%s\n", lines[0].c_str());
  }
  std::fflush(stdout);
}

// Clears the live block so an event line can be printed; it is redrawn later.
void Scheduler::clear_live_block() {
  if (!tty_ || !drawn_) return;
  std::printf("\033[%dA", drawn_);
  for (int i = 0; i < drawn_; ++i) std::printf("\033[K\n");
  std::printf("\033[%dA", drawn_);
  drawn_ = 0;
}

void Scheduler::report_finished(Worker& w, int wait_status) {
  // A worker that died without recording how (crash, kill -9) leaves its run failed.
  const std::string how = WIFSIGNALED(wait_status) ? "signal " + std::to_string(WTERMSIG(wait_status))
                                                   : "exit code " + std::to_string(WEXITSTATUS(wait_status));
  try {
    w.claim->child_ended("the worker process", how + "; see " + layout_.run(w.cell->run_id).stdout_log);
  } catch (const Error& e) {
    // A store that still cannot take the write: the row names a claimant that is gone,
    // which the next claim of the cell takes over.
    clear_live_block();
    std::printf("error  [%lld] %s: cannot record how its worker ended: %s\n",
                static_cast<long long>(w.cell->index), w.cell->run_id.c_str(), e.what());
  }
  w.claim.reset();
  const auto rec = store_.find_run(w.cell->run_id);
  ++finished_;
  clear_live_block();
  std::printf("%-9s [%lld] %s %s%s\n", rec ? to_string(rec->status) : "?",
              static_cast<long long>(w.cell->index), w.cell->run_id.c_str(), w.cell->name.c_str(),
              rec && !rec->error.empty() ? (": " + rec->error).c_str() : "");
  const GridCell* cell = w.cell;
  w.pid = -1;
  w.cell = nullptr;
  if (o_.on_finished) o_.on_finished(*cell);
}

bool Scheduler::reap() {
  bool active = false;
  for (auto& w : workers_) {
    if (w.pid < 0) continue;
    int status = 0;
    if (waitpid(w.pid, &status, WNOHANG) == 0) {
      active = true;
      continue;
    }
    report_finished(w, status);
  }
  return active;
}

int Scheduler::summarise() {
  int64_t completed = 0;
  std::map<std::string, int64_t> by_status;
  for (const auto* c : cells_) {
    auto r = store_.find_run(c->run_id);
    auto s = r ? r->status : RunStatus::Pending;
    by_status[to_string(s)]++;
    completed += s == RunStatus::Completed;
  }
  std::vector<std::string> counts;
  for (const auto& [s, n] : by_status) counts.push_back(std::to_string(n) + " " + s);
  std::printf("grid %s: %s (of %zu cells in this shard)\n", grid_.experiment.c_str(),
              join(counts, ", ").c_str(), cells_.size());
  if (stopping_) return kExitInterrupted;
  return completed == static_cast<int64_t>(cells_.size()) ? kExitOk : kExitRunFailed;
}

int Scheduler::run() {
  plan();
  if (o_.dry_run) return kExitOk;
  StopSignals signals;
  while (true) {
    if (stop_signal() && !stopping_) {
      stopping_ = true;
      for (auto& w : workers_)
        if (w.pid > 0) ::kill(w.pid, SIGTERM);
    }
    fill_idle_workers();
    const bool active = reap();
    give_idle_cores();
    if (!active && (stopping_ || halted_ || next_ >= queue_.size())) {
      bool idle = true;
      for (auto& w : workers_) idle = idle && w.pid < 0;
      if (idle) break;
    }
    draw(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return summarise();
}

}  // namespace

int run_grid(const Grid& grid, const GridRunOptions& o) { return Scheduler(grid, o).run(); }

}  // namespace ctlab
