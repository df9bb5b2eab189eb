// The checks a grid passes before any worker starts (scheduler.h, check_grid_fits): rank
// division, bf16 where the workers run, memory beside the other workers.
#include <algorithm>

#include "config/run_shape.h"
#include "grid/scheduler.h"
#include "runtime/cpu.h"
#include "runtime/runtime.h"
#include "session/resolve.h"
#include "util/error.h"

namespace ctlab {

namespace {

// Every cell's batch must divide between its ranks, before any worker starts.
void check_grid_ranks(const Grid& grid, const GridRunOptions& o) {
  for (const auto& c : grid.cells) try {
      check_rank_division(c.cfg, o.ranks_per_cell);
    } catch (const Error& e) {
      throw Error("grid cell [" + std::to_string(c.index) + "] " + c.name + " with --ranks-per-cell " +
                  std::to_string(o.ranks_per_cell) + ": " + e.what());
    }
}

// Every cell must fit in memory beside the other workers (and their ranks), before any of
// them starts.
void check_grid_memory(const Grid& grid, const GridRunOptions& o) {
  if (o.dry_run || !o.devices.empty()) return;
  const int64_t workers = std::min<int64_t>(o.jobs, static_cast<int64_t>(grid.cells.size()));
  for (const auto& c : grid.cells) {
    const bool bptt = grid.host->compression_loss(c.cfg.compression_loss.name).spec.mode == LossMode::Bptt;
    check_memory_fits(c.cfg, bptt, "grid cell [" + std::to_string(c.index) + "] " + c.name,
                      workers * o.ranks_per_cell, o.ranks_per_cell);
  }
}

// A CPU worker's cell in bf16 must be able to run it here (runtime/cpu.h).
void check_grid_precision(const Grid& grid, const GridRunOptions& o) {
  if (!o.devices.empty()) return;  // GPU workers
  for (const auto& c : grid.cells)
    if (c.cfg.train.precision == Precision::Bf16)
      check_bf16(resolve_device(c.cfg.device),
                 "grid cell [" + std::to_string(c.index) + "] " + c.name + ": precision = bf16");
}

}  // namespace

void check_grid_fits(const Grid& grid, const GridRunOptions& o, bool check_memory) {
  check_grid_ranks(grid, o);
  check_grid_precision(grid, o);
  if (check_memory) check_grid_memory(grid, o);
}

}  // namespace ctlab
