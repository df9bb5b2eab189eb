// Experiment grids: an INI file with a run file's keys, plus a [grid] section whose values
// are comma-separated lists (the cartesian product of them gives the cells), optional
// [variant NAME] sections (one axis of named sets of keys), `exclude` rules, a seed axis
// and an optional `baseline` cell for comparisons. Every cell is resolved and validated
// before anything runs.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/options.h"
#include "plugin/plugin_host.h"

namespace ctlab {

struct GridCell {
  int64_t index = 0;  // position in expansion order (stable: shards are taken from it)
  std::string name;   // "variant=conv1d cmem_rate=2 seed=1"
  std::vector<std::pair<std::string, std::string>> axes;  // this cell's value of every axis
  RunConfig cfg;  // resolved, validated, plugins pinned, vocab_size from the data
  std::string run_id;
};

struct Grid {
  std::string path;
  std::string experiment;
  std::vector<std::string> axes;  // axis names in order
  std::vector<GridCell> cells;
  // `baseline = axis=value & ...` in [grid]: the cell every other cell is compared with
  // (with the same values of the axes the conditions do not name); empty when not given.
  std::vector<std::pair<std::string, std::string>> baseline;
  std::string baseline_text;  // as written, e.g. "variant=txl_same_cost"
  // `paired = true` in [grid]: the arms share data, transformer weights and dropout seed by
  // seed (model/factory.h), so comparisons match runs by seed and use paired tests.
  bool paired = false;
  int64_t excluded = 0;    // combinations dropped by exclude rules
  int64_t duplicates = 0;  // combinations that are the same run as an earlier cell
  std::shared_ptr<const PluginHost> host;
};

// A cell built by code rather than read from a file (a study such as the scorecard): its
// labels (every axis, the seed included) and its configuration with every key applied.
struct CellSpec {
  std::vector<std::pair<std::string, std::string>> axes;
  RunConfig cfg;
};

// A grid of cells built by code: each validated and resolved through the same pipeline as a
// grid file's (so the same settings give the same run id); a cell that is the same run as an
// earlier one is dropped (counted in `duplicates`). `name` stands for the file in messages.
// `run_ids` (optional) gets the run id of every cell given, duplicates included, in order.
// Throws ctlab::Error listing every bad cell, before anything runs.
Grid build_grid(const std::string& name, const std::vector<CellSpec>& cells, const PluginSources& plugins,
                bool paired, std::vector<std::string>* run_ids = nullptr);

// Expands and validates the grid. `overrides` ("key=value") apply to every cell after the
// file. Throws ctlab::Error naming the file and line, or every bad cell and its problem.
Grid expand_grid(const std::string& path, const PluginSources& plugins,
                 const std::vector<std::string>& overrides);

// "i/N" -> (i, N) with 0 <= i < N; "" -> from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT,
// else (0, 1). Throws ctlab::Error for malformed values.
std::pair<int64_t, int64_t> parse_shard(const std::string& spec);
// The cells of shard i of N: every N-th cell in expansion order, starting at i.
std::vector<const GridCell*> shard_cells(const Grid& grid, int64_t shard, int64_t shards);

}  // namespace ctlab
