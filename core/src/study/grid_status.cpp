#include "study/grid_status.h"

#include <algorithm>
#include <boost/filesystem.hpp>
#include <cmath>
#include <cstdio>

#include "compare.h"
#include "store/results_layout.h"
#include "store/run_store.h"
#include "util/error.h"
#include "util/text.h"

namespace ctlab {
namespace {

std::string final_score(RunStore& store, const std::string& run_id) {
  for (const char* key : {"valid/bpc", "valid/ppl"}) {
    auto rows = store.metrics(run_id, key);
    double v = NAN;
    for (const auto& r : rows)
      if (r.key == key) v = r.value;
    if (!std::isnan(v)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s %.4f", key + 6, v);
      return buf;
    }
  }
  return "-";
}

// Per cell over seeds: mean and 95% CI of each metric; comparisons with the baseline.
void print_cell_statistics(const Grid& grid, const std::vector<RunResult>& results,
                           const ResultsLayout& layout) {
  auto cells = group_cells(results);
  if (cells.empty()) return;
  std::vector<std::string> metrics;
  for (const char* m : {"bpc", "ppl", "recovered"})
    for (const auto& c : cells)
      if (c.values.count(m) && std::find(metrics.begin(), metrics.end(), m) == metrics.end())
        metrics.push_back(m);
  std::printf("\ncells over seeds (completed runs; mean [95%% CI]):\n");
  for (const auto& c : cells) {
    std::string line = "  " + c.name + " (" + std::to_string(c.run_ids.size()) + " run(s))";
    for (const auto& m : metrics)
      if (c.values.count(m)) line += "  " + m + " " + format_mean_ci(stats::summarize(c.values.at(m)));
    std::printf("%s\n", line.c_str());
  }
  if (grid.baseline.empty()) return;
  auto rows = compare_to_baseline(cells, grid.baseline, metrics, segment_values(layout), grid.paired);
  std::printf("\nagainst the baseline %s (difference [95%% CI], p):\n", grid.baseline_text.c_str());
  for (const auto& r : rows) {
    const std::string exact = r.exact ? ", p " + format_p(r.exact->p_value) + " (" + r.exact->test + ")" : "";
    std::printf("  %s  %s %s, p %s (%s)%s: %s\n", r.cell.c_str(), r.metric.c_str(),
                format_diff_ci(r.c).c_str(), format_p(r.c.p_value).c_str(), r.c.test.c_str(), exact.c_str(),
                verdict(r).c_str());
  }
}

}  // namespace

int print_grid_status(const Grid& grid, const std::string& root, int64_t shard, int64_t shards) {
  const std::string db = ResultsLayout(root).database();
  if (!boost::filesystem::exists(db)) {
    std::printf("grid %s: no results yet in %s (%zu cells)\n", grid.path.c_str(), root.c_str(),
                grid.cells.size());
    return kExitOk;
  }
  RunStore store(db);
  std::printf("%-5s %-13s %-12s %-7s %-8s %-14s %s\n", "CELL", "RUN_ID", "STATUS", "ATTEMPT", "STEP", "FINAL",
              "AXES");
  int64_t done = 0;
  const auto cells = shard_cells(grid, shard, shards);
  std::vector<RunResult> results;
  for (const auto* c : cells) {
    if (auto res = final_result(store, c->run_id, c->axes)) results.push_back(*res);
    auto r = store.find_run(c->run_id);
    done += r && r->status == RunStatus::Completed;
    std::printf("%-5lld %-13s %-12s %-7lld %-8s %-14s %s\n", static_cast<long long>(c->index),
                c->run_id.c_str(), to_string(r ? r->status : RunStatus::Pending),
                static_cast<long long>(r ? r->attempt : 0),
                (std::to_string(r ? r->step : 0) + "/" + std::to_string(c->cfg.train.max_steps)).c_str(),
                final_score(store, c->run_id).c_str(), c->name.c_str());
  }
  std::printf("%lld of %zu cells completed (results in %s)\n", static_cast<long long>(done), cells.size(),
              root.c_str());
  print_cell_statistics(grid, results, ResultsLayout(root));
  return kExitOk;
}

}  // namespace ctlab
