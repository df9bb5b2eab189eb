// Runs a grid's cells as local worker processes (each trains its cell's resolved config as
// a training job, session/job.h), several at a time: CPU threads divided among CPU workers, or one worker per
// GPU. At the grid's tail, when fewer cells remain than CPU workers, the cores of finished
// workers go to the cells still running (their threads file, runtime/thread_request.h). Cells are claimed
// through session/claim.h (atomically, in the run store), so concurrent schedulers never run a cell twice;
// the scheduler itself writes no run rows. Re-running resumes, retries and skips by each cell's recorded
// status.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "grid/grid.h"
#include "store/claim_state.h"
#include "store/run_store.h"

namespace ctlab {

struct GridRunOptions {
  int64_t jobs = 1;                  // CPU workers (ignored when devices are given)
  std::vector<std::string> devices;  // one worker per device: cuda:0,cuda:1
  int64_t ranks_per_cell = 1;        // > 1: each cell is one run of K local ranks (K devices each)
  int64_t shard = 0, shards = 1;
  int64_t max_attempts = 2;  // a failed cell is retried until it has this many attempts
  bool retry_diverged = false;
  bool dry_run = false;
  int64_t stale_after = kStaleAfterSeconds;  // seconds without a heartbeat before a running cell is abandoned
  std::string results_root = "results";
  PluginSources plugins;  // passed on to every worker
  bool accept_plugin_change = false;
  // Called in the scheduler's process after each cell's worker ends (whatever its status).
  std::function<void(const GridCell&)> on_finished;
};

enum class CellAction { Start, Resume, Retry, Done, Diverged, GaveUp, RunningElsewhere };
const char* action_name(CellAction a);
bool action_runs(CellAction a);

// What a scheduler does with a cell in the given state.
CellAction decide(const std::optional<RunRecord>& record, const GridRunOptions& options);

// Refuses (ctlab::Error) a grid whose cells' batches cannot be divided between their ranks,
// or (check_memory) whose cells do not fit in memory beside the other workers and ranks,
// before any worker starts.
void check_grid_fits(const Grid& grid, const GridRunOptions& options, bool check_memory);

// Threads for each CPU worker still running once no cell is left to start: the `cores`
// divided among the `running` workers and their `ranks_per_cell` ranks, at least 1.
int64_t tail_threads(int64_t cores, int64_t running, int64_t ranks_per_cell);

// Runs the cells of the options' shard. Returns 0 when all of them completed, 1 when any
// did not, 130 when interrupted by a signal.
int run_grid(const Grid& grid, const GridRunOptions& options);

}  // namespace ctlab
