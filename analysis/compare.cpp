// Grouping runs into cells and comparing cells with their baseline.
#include "compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "store/analysis_file.h"
#include "util/error.h"
#include "util/format.h"
#include "util/text.h"

namespace ctlab {

std::vector<Cell> group_cells(const std::vector<RunResult>& runs) {
  std::vector<Cell> cells;
  for (const auto& r : runs) {
    AxisValues axes;
    std::vector<std::string> parts;
    for (const auto& [k, v] : r.axes)
      if (k != "seed") {
        axes.emplace_back(k, v);
        parts.push_back(k + "=" + v);
      }
    auto it = std::find_if(cells.begin(), cells.end(), [&](const Cell& c) { return c.axes == axes; });
    if (it == cells.end()) {
      cells.push_back({parts.empty() ? "(all runs)" : join(parts, " "), axes, {}, {}, {}});
      it = cells.end() - 1;
    }
    std::string seed;
    for (const auto& [k, v] : r.axes)
      if (k == "seed") seed = v;
    it->run_ids.push_back(r.run_id);
    for (const auto& [m, v] : r.metrics) {
      it->values[m].push_back(v);
      it->seeds[m].push_back(seed);
    }
  }
  return cells;
}

bool lower_is_better(const std::string& metric) { return metric != "recovered"; }

std::optional<RunResult> final_result(RunStore& store, const std::string& run_id, const AxisValues& axes) {
  auto rec = store.find_run(run_id);
  if (!rec || rec->status != RunStatus::Completed) return std::nullopt;
  RunResult r{run_id, axes, {}};
  for (const char* m : {"bpc", "ppl", "recovered", "retained", "recovered_no_cmem", "recovered_phase_min",
                        "recovered_phase_max", "source_mass"}) {
    auto rows = store.metrics_exact(run_id, {std::string("valid/") + m});
    if (!rows.empty()) r.metrics[m] = rows.back().value;  // by step: the final validation
  }
  return r;
}

SegmentValues segment_values(const ResultsLayout& layout) {
  return [layout](const std::string& run_id, const std::string& metric) {
    ValidationRecord v;
    std::vector<double> out;
    if (metric == "ppl" || !read_validation(layout.run(run_id).analysis, "", v)) return out;
    if (metric == "recovered") return v.segment_recovered;
    for (double loss : v.segment_loss)
      if (metric == "bpc") out.push_back(loss / std::log(2.0));
    return out;
  };
}

std::string format_mean_ci(const stats::Summary& s, int digits) {
  if (s.n == 0) return "-";
  if (s.n == 1) return format_fixed(s.mean, digits) + " (1 run)";
  return format_fixed(s.mean, digits) + " [" + format_fixed(s.ci_low, digits) + ", " +
         format_fixed(s.ci_high, digits) + "]";
}

std::string format_diff_ci(const stats::Comparison& c, int digits) {
  std::string d = (c.diff >= 0 ? "+" : "") + format_fixed(c.diff, digits);
  if (std::isnan(c.ci_low)) return d;
  return d + " [" + format_fixed(c.ci_low, digits) + ", " + format_fixed(c.ci_high, digits) + "]";
}

std::string format_p(double p) {
  if (std::isnan(p)) return "-";
  if (p < 1e-4) return "< 0.0001";
  return format_fixed(p, 4);
}

std::string verdict(const ComparisonRow& r, double alpha) {
  if (r.c.test == "none") return "no test (needs 2+ runs per cell, or segment losses for one run each)";
  if (!r.c.significant(alpha)) return "not significant";
  const bool better = lower_is_better(r.metric) ? r.c.diff < 0 : r.c.diff > 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s (p < %g)", better ? "better" : "worse", alpha);
  return buf;
}

namespace {

bool meets(const Cell& c, const AxisValues& conditions) {
  for (const auto& [k, v] : conditions) {
    bool ok = false;
    for (const auto& [ck, cv] : c.axes) ok = ok || (ck == k && cv == v);
    if (!ok) return false;
  }
  return true;
}

// The baseline of `cell`: meets the conditions, equal on every axis they do not name; or,
// when no cell is, the only cell that meets the conditions (a grid merges cells that are
// the same run, e.g. Transformer-XL at every compression rate).
const Cell* baseline_of(const Cell& cell, const std::vector<Cell>& cells, const AxisValues& conditions) {
  const Cell* only = nullptr;
  int meeting = 0;
  for (const auto& b : cells)
    if (meets(b, conditions)) {
      only = &b;
      ++meeting;
    }
  for (const auto& b : cells) {
    if (!meets(b, conditions) || b.axes.size() != cell.axes.size()) continue;
    bool same_rest = true;
    for (size_t i = 0; i < b.axes.size(); ++i) {
      bool named = false;
      for (const auto& [k, v] : conditions) named = named || k == b.axes[i].first;
      if (!named && b.axes[i] != cell.axes[i]) same_rest = false;
    }
    if (same_rest) return &b;
  }
  return meeting == 1 ? only : nullptr;
}

// The values of both cells for the seeds both have, in the baseline's order.
std::pair<std::vector<double>, std::vector<double>> matched_by_seed(const Cell& base, const Cell& cell,
                                                                    const std::string& metric) {
  std::pair<std::vector<double>, std::vector<double>> out;
  const auto& seeds_a = base.seeds.at(metric);
  const auto& seeds_b = cell.seeds.at(metric);
  for (size_t i = 0; i < seeds_a.size(); ++i)
    for (size_t j = 0; j < seeds_b.size(); ++j)
      if (!seeds_a[i].empty() && seeds_a[i] == seeds_b[j]) {
        out.first.push_back(base.values.at(metric)[i]);
        out.second.push_back(cell.values.at(metric)[j]);
        break;
      }
  return out;
}

ComparisonRow compare_metric(const Cell& base, const Cell& cell, const std::string& metric,
                             const SegmentValues& segments, bool paired) {
  ComparisonRow r{base.name, cell.name, metric, {}, std::nullopt, 0, 0};
  const auto& a = base.values.at(metric);
  const auto& b = cell.values.at(metric);
  r.n_baseline = static_cast<int64_t>(a.size());
  r.n_cell = static_cast<int64_t>(b.size());
  if (paired) {
    const auto [pa, pb] = matched_by_seed(base, cell, metric);
    if (pa.size() >= 2) {
      r.c = stats::paired_t(pa, pb);
      if (pa.size() <= 20) r.exact = stats::sign_flip(pa, pb);
      r.n_baseline = r.n_cell = static_cast<int64_t>(pa.size());
      return r;
    }
  }
  if (a.size() == 1 && b.size() == 1 && segments) {
    auto sa = segments(base.run_ids[0], metric), sb = segments(cell.run_ids[0], metric);
    if (!sa.empty() && sa.size() == sb.size()) {
      r.c = stats::paired_bootstrap(sa, sb);
      return r;
    }
  }
  r.c = stats::welch(a, b);
  return r;
}

}  // namespace

std::vector<ComparisonRow> compare_to_baseline(const std::vector<Cell>& cells, const AxisValues& baseline,
                                               const std::vector<std::string>& metrics,
                                               const SegmentValues& segments, bool paired) {
  std::vector<ComparisonRow> rows;
  for (const auto& cell : cells) {
    if (meets(cell, baseline)) continue;
    const Cell* base = baseline_of(cell, cells, baseline);
    if (!base) continue;
    for (const auto& m : metrics) {
      if (!base->values.count(m) || !cell.values.count(m)) continue;
      rows.push_back(compare_metric(*base, cell, m, segments, paired));
    }
  }
  return rows;
}

}  // namespace ctlab
