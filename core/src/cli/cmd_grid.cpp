// `ctlab grid run|status|expand <grid.ini>`: experiment grids (see grid/grid.h and
// grid/scheduler.h).
#include <algorithm>
#include <boost/filesystem.hpp>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "grid/grid.h"
#include "grid/scheduler.h"
#include "runtime/runtime.h"
#include "study/grid_status.h"
#include "util/text.h"

namespace ctlab {
namespace {

// The default results root of a shard: its own folder, so shards never share a database.
std::string shard_root(const po::variables_map& vm, int64_t shard, int64_t shards) {
  const std::string root = results_layout(vm).root();
  if (!vm["results"].defaulted() || shards == 1) return root;
  return root + "/shard-" + std::to_string(shard) + "-of-" + std::to_string(shards);
}

int grid_expand(const Grid& grid, int64_t shards) {
  std::printf("grid %s: experiment %s, axes %s: %zu cells (%lld excluded, %lld merged as the same run)\n",
              grid.path.c_str(), grid.experiment.c_str(),
              grid.axes.empty() ? "(none)" : join(grid.axes, ", ").c_str(), grid.cells.size(),
              static_cast<long long>(grid.excluded), static_cast<long long>(grid.duplicates));
  if (!grid.baseline_text.empty())
    std::printf("baseline: %s (every other cell is compared with it)\n", grid.baseline_text.c_str());
  std::printf("%-5s %-13s %-6s %s\n", "CELL", "RUN_ID", "SHARD", "AXES");
  for (const auto& c : grid.cells)
    std::printf("%-5lld %-13s %-6lld %s\n", static_cast<long long>(c.index), c.run_id.c_str(),
                static_cast<long long>(c.index % shards), c.name.c_str());
  return kExitOk;
}

GridRunOptions run_options(const po::variables_map& vm, const std::string& root, int64_t shard,
                           int64_t shards, const PluginSources& plugins) {
  GridRunOptions o;
  o.jobs = vm["jobs"].as<int64_t>();
  if (vm.count("devices")) {
    for (const auto& d : split(vm["devices"].as<std::string>(), ','))
      if (!d.empty()) o.devices.push_back(d);
    RunConfig probe;
    for (const auto& d : o.devices) apply_setting(probe, "device", d, "--devices");
  }
  o.ranks_per_cell = vm["ranks-per-cell"].as<int64_t>();
  if (o.ranks_per_cell < 1)
    throw Error("--ranks-per-cell " + std::to_string(o.ranks_per_cell) + ": expected >= 1");
  if (!o.devices.empty() && static_cast<int64_t>(o.devices.size()) % o.ranks_per_cell != 0)
    throw Error("--devices lists " + std::to_string(o.devices.size()) +
                " device(s), which cannot be divided into " + "cells of --ranks-per-cell " +
                std::to_string(o.ranks_per_cell));
  for (const auto& d : o.devices)
    if (o.ranks_per_cell > 1 && d.rfind("cuda:", 0) != 0)
      throw Error("--devices " + d + ": with --ranks-per-cell, expected CUDA devices written cuda:N");
  o.shard = shard;
  o.shards = shards;
  o.max_attempts = vm["max-attempts"].as<int64_t>();
  o.retry_diverged = vm.count("retry-diverged") > 0;
  o.dry_run = vm.count("dry-run") > 0;
  o.stale_after = vm["stale-after"].as<int64_t>();
  o.results_root = root;
  o.plugins = plugins;
  return o;
}

po::options_description grid_options() {
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("action", po::value<std::string>(), "run | status | expand")(
      "file", po::value<std::string>(), "grid file (INI)")(
      "jobs,j", po::value<int64_t>()->default_value(1),
      "local CPU worker processes; cores are divided among them")(
      "devices", po::value<std::string>(), "one worker per device, e.g. cuda:0,cuda:1")(
      "ranks-per-cell,devices-per-cell", po::value<int64_t>()->default_value(1),
      "train each cell as one run of K data-parallel ranks (ctlab train --nproc K): K CPU ranks sharing "
      "the worker's cores, or with --devices K devices per cell")(
      "shard", po::value<std::string>()->default_value(""),
      "run only shard i of N (i/N, 0-based); default from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT")(
      "max-attempts", po::value<int64_t>()->default_value(2),
      "retry a failed cell until it has failed this many times (interruptions do not count)")(
      "retry-diverged", "run diverged cells again")(
      "stale-after", po::value<int64_t>()->default_value(kStaleAfterSeconds),
      "seconds without a heartbeat after which a cell claimed on another host is taken over (a claimant on "
      "this host is waited for as long as its process lives)")("dry-run", "show what would run, run nothing")(
      "skip-memory-check", "run cells even when their estimated memory exceeds what the machine has")(
      "accept-plugin-change",
      "resume cells although a plugin library's SHA-256 differs from the one recorded (written to each "
      "run's history)")("set", po::value<std::vector<std::string>>()->composing(),
                        "override a key in every cell: --set max_steps=10");
  add_results_option(desc);
  add_plugin_dir_option(desc);
  return desc;
}

}  // namespace

int cmd_grid(const std::vector<std::string>& args) {
  const CommandDef self = command("grid");
  po::options_description desc = grid_options();
  po::positional_options_description pos;
  pos.add("action", 1).add("file", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "grid");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("action") || !vm.count("file"))
    throw Error(
        "ctlab grid: expected an action and a grid file, e.g. 'ctlab grid run "
        "experiments/quickstart/grid.ini'");
  const std::string action = vm["action"].as<std::string>();
  if (action != "run" && action != "status" && action != "expand")
    throw Error("ctlab grid: unknown action '" + action + "'; expected run, status or expand");
  if (vm["jobs"].as<int64_t>() < 1)
    throw Error("--jobs " + std::to_string(vm["jobs"].as<int64_t>()) + ": expected >= 1");
  if (vm["max-attempts"].as<int64_t>() < 1) throw Error("--max-attempts: expected >= 1");
  if (vm["stale-after"].as<int64_t>() < 1)
    throw Error("--stale-after " + std::to_string(vm["stale-after"].as<int64_t>()) +
                ": expected >= 1 second");

  std::vector<std::string> sets;
  const auto plugins = plugin_sources(vm);
  if (vm.count("set")) sets = vm["set"].as<std::vector<std::string>>();
  auto [shard, shards] = parse_shard(vm["shard"].as<std::string>());
  Grid grid = expand_grid(vm["file"].as<std::string>(), plugins, sets);
  const std::string root = shard_root(vm, shard, shards);
  if (action == "expand") return grid_expand(grid, shards);
  if (action == "status") return print_grid_status(grid, root, shard, shards);
  auto options = run_options(vm, root, shard, shards, plugins);
  check_grid_fits(grid, options, !vm.count("skip-memory-check"));
  options.accept_plugin_change = vm.count("accept-plugin-change") > 0;
  if (const auto blas = blas_info(); !blas.warning.empty()) std::cerr << "warning: " << blas.warning << "\n";
  return run_grid(grid, options);
}

CommandDef grid_command() {
  return {"grid",
          "ctlab grid run|status|expand <grid.ini> [--jobs N] [--devices cuda:0,...] [--shard i/N] ...",
          "expand, run (in parallel, resumable, shardable) and follow an experiment grid", cmd_grid};
}

}  // namespace ctlab
