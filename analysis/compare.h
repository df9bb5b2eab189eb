// Cells of a study and their comparison with a baseline cell: runs grouped by every grid
// axis but the seed, per-metric means over seeds with 95% confidence intervals, and for
// each cell the difference from its baseline with a 95% interval and a p-value (Welch's
// t-test over seeds; in a paired grid a paired t-test and an exact sign-flip test over the
// seeds both cells have; a paired bootstrap over evaluation segments when both cells have
// one seed). Used by `ctlab report`, `ctlab grid status` and the scorecard.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stats.h"
#include "store/results_layout.h"
#include "store/run_store.h"
#include "util/conditions.h"  // AxisValues, parse_conditions

namespace ctlab {

// One finished run: its grid axes (seed included) and final metric values.
struct RunResult {
  std::string run_id;
  AxisValues axes;
  std::map<std::string, double> metrics;  // e.g. "bpc", "recovered"
};

struct Cell {
  std::string name;  // "variant=conv1d cmem_rate=2" (every axis but the seed), "(all runs)" without axes
  AxisValues axes;   // without the seed
  std::vector<std::string> run_ids;
  std::map<std::string, std::vector<double>> values;      // metric -> one value per run
  std::map<std::string, std::vector<std::string>> seeds;  // metric -> the seed of each value ("" if none)
};
// Groups runs into cells in first-seen order.
std::vector<Cell> group_cells(const std::vector<RunResult>& runs);

// Per-segment values of one run's final evaluation, for a metric (empty when unknown):
// lets single-seed comparisons use a paired bootstrap.
using SegmentValues =
    std::function<std::vector<double>(const std::string& run_id, const std::string& metric)>;

struct ComparisonRow {
  std::string baseline, cell, metric;
  stats::Comparison c;                     // Welch, paired t (paired grids) or bootstrap
  std::optional<stats::Comparison> exact;  // paired grids: the sign-flip test of the same pairs
  int64_t n_baseline = 0, n_cell = 0;      // values compared (paired: the seeds both cells have)
};

// Compares every cell with its baseline: the cell that meets `baseline` and agrees with it
// on every other axis, or else the only cell that meets `baseline`. Cells without a
// baseline, and the baselines themselves, give no row. `metrics` are compared in the order
// given. `paired` (a grid with `paired = true`): values are matched by seed, and two or
// more matched seeds are compared with a paired t-test and a sign-flip test.
std::vector<ComparisonRow> compare_to_baseline(const std::vector<Cell>& cells, const AxisValues& baseline,
                                               const std::vector<std::string>& metrics,
                                               const SegmentValues& segments, bool paired = false);

// A completed run's final validation score (metric "bpc" or "ppl") and, for generated
// tasks, the share of long-range information recovered ("recovered"); nullopt for a run
// that is not completed.
std::optional<RunResult> final_result(RunStore& store, const std::string& run_id, const AxisValues& axes);
// Per-segment values from each run's analysis.h5 (/validation): bpc and recovered per
// segment of the final validation; nothing for perplexities.
SegmentValues segment_values(const ResultsLayout& layout);

// "2.7820 [2.7791, 2.7849]" (mean and 95% CI), or "2.7820 (1 run)".
std::string format_mean_ci(const stats::Summary& s, int digits = 4);
// "-0.0150 [-0.0200, -0.0100]"
std::string format_diff_ci(const stats::Comparison& c, int digits = 4);
// "0.0012", "< 0.0001", "-"
std::string format_p(double p);
// "better (p < 0.05)", "worse (p < 0.05)", "not significant", "no test (one run each)".
std::string verdict(const ComparisonRow& r, double alpha = 0.05);

// Whether a smaller value is better (losses, bpc, perplexity) or a larger one (recovered).
bool lower_is_better(const std::string& metric);

}  // namespace ctlab
