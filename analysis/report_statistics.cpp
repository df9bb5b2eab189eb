// `ctlab report`'s statistics: cells over seeds with confidence intervals, and each cell's
// comparison with the grid's baseline.
#include <algorithm>

#include "report_parts.h"
#include "util/format.h"
#include "util/text.h"

namespace ctlab::report {
namespace {

std::vector<std::string> metrics_of(const std::vector<Cell>& cells) {
  std::vector<std::string> out;
  for (const char* m : {"bpc", "ppl", "recovered"})
    for (const auto& c : cells)
      if (c.values.count(m)) {
        out.push_back(m);
        break;
      }
  return out;
}

// Best first by the share of long-range information recovered when the runs have it, else
// by the score (lower is better); cells without the metric last, by name.
void rank_cells(std::vector<Cell>& cells, const std::vector<std::string>& metrics) {
  std::string key = metrics.empty() ? "" : metrics.front();
  if (std::find(metrics.begin(), metrics.end(), "recovered") != metrics.end()) key = "recovered";
  auto mean = [&](const Cell& c) { return stats::summarize(c.values.at(key)).mean; };
  std::stable_sort(cells.begin(), cells.end(), [&](const Cell& a, const Cell& b) {
    const bool ha = !key.empty() && a.values.count(key), hb = !key.empty() && b.values.count(key);
    if (ha != hb) return ha;
    if (!ha) return natural_less(a.name, b.name);
    return lower_is_better(key) ? mean(a) < mean(b) : mean(a) > mean(b);
  });
}

void write_cell_statistics(std::ostream& md, const std::vector<Cell>& cells,
                           const std::vector<std::string>& metrics, const std::string& out_dir) {
  const bool recovered = std::find(metrics.begin(), metrics.end(), "recovered") != metrics.end();
  md << "## Cells over seeds\n\nRanked best first by " << (recovered ? "recovered" : "the score")
     << ". Mean over the completed runs of each cell with a 95% confidence interval (Student's t over seeds; "
        "one "
        "run gives no interval). `recovered` is the share of the task's long-range information recovered (0 "
        "= "
        "none, 1 = the ideal predictor).\n\n";
  std::vector<std::string> head = {"cell", "runs"};
  head.insert(head.end(), metrics.begin(), metrics.end());
  std::vector<std::vector<std::string>> rows;
  Table csv;
  csv.columns = {"cell", "metric", "runs", "mean", "ci_low", "ci_high"};
  csv.numeric = {false, false, true, true, true, true};
  for (const auto& c : cells) {
    std::vector<std::string> row = {c.name, std::to_string(c.run_ids.size())};
    for (const auto& m : metrics) {
      if (!c.values.count(m)) {
        row.push_back("-");
        continue;
      }
      auto s = stats::summarize(c.values.at(m));
      row.push_back(format_mean_ci(s));
      csv.rows.push_back({c.name, m, std::to_string(s.n), export_number(s.mean), export_number(s.ci_low),
                          export_number(s.ci_high)});
    }
    rows.push_back(row);
  }
  md_table(md, head, rows);
  save_csv(csv, out_dir + "/data/cells.csv");
}

void write_comparisons(std::ostream& md, const ReportTables& t, const std::vector<Cell>& cells,
                       const std::vector<std::string>& metrics, const std::string& out_dir,
                       const ResultsLayout& layout) {
  Table csv;
  csv.columns = {"baseline", "cell",    "metric",  "mean_baseline", "mean_cell", "diff",
                 "ci_low",   "ci_high", "p_value", "seeds",         "test",      "p_value_exact"};
  csv.numeric = {false, false, false, true, true, true, true, true, true, false, false, true};
  if (t.baseline_text.empty()) {
    save_csv(csv, out_dir + "/data/comparisons.csv");
    return;
  }
  auto rows =
      compare_to_baseline(cells, parse_conditions(t.baseline_text, "the runs' params", "grid_baseline"),
                          metrics, segment_values(layout), t.paired);
  md << "## Comparisons with the baseline (" << t.baseline_text << ")\n\n"
     << "Difference = cell - baseline with a 95% confidence interval and a two-sided p-value: "
     << (t.paired
             ? "the grid is paired (every arm has the same data, transformer weights and dropout, seed by "
               "seed), so runs are matched by seed: a paired t-test over the seeds both cells have (column "
               "p) and an exact sign-flip test of the same pairs (column p exact; with n seeds it cannot go "
               "below 2^(1-n))"
             : "Welch's t-test over seeds")
     << ", or a paired bootstrap over the final validation's segments when both cells have one run "
        "(then only evaluation noise is measured, not seed noise). The column test names the test behind p. "
        "Lower is better for bpc and ppl, higher for recovered.\n\n";
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> significant, not_significant;
  for (const auto& r : rows) {
    table.push_back({r.cell, r.metric, format_fixed(r.c.mean_baseline), format_fixed(r.c.mean_cell),
                     format_diff_ci(r.c), format_p(r.c.p_value), r.exact ? format_p(r.exact->p_value) : "-",
                     r.c.test, verdict(r)});
    csv.rows.push_back({r.baseline, r.cell, r.metric, export_number(r.c.mean_baseline),
                        export_number(r.c.mean_cell), export_number(r.c.diff), export_number(r.c.ci_low),
                        export_number(r.c.ci_high), export_number(r.c.p_value),
                        std::to_string(r.n_baseline) + "/" + std::to_string(r.n_cell), r.c.test,
                        r.exact ? export_number(r.exact->p_value) : ""});
    const bool better = lower_is_better(r.metric) ? r.c.diff < 0 : r.c.diff > 0;
    const std::string what = r.cell + (r.c.significant() ? (better ? " better" : " worse") : "") + " on " +
                             r.metric + " (" + format_diff_ci(r.c) + ", p " + format_p(r.c.p_value) + ")";
    (r.c.significant() ? significant : not_significant).push_back(what);
  }
  md_table(
      md,
      {"cell", "metric", "baseline", "cell mean", "difference [95% CI]", "p", "p exact", "test", "verdict"},
      table);
  md << "In plain words: "
     << (significant.empty() ? "no difference from the baseline is significant at p < 0.05"
                             : "significant at p < 0.05: " + join(significant, "; "))
     << ". " << (not_significant.empty() ? "" : "Within noise: " + join(not_significant, "; ") + ".")
     << "\n\n";
  save_csv(csv, out_dir + "/data/comparisons.csv");
}

}  // namespace

void write_statistics(std::ostream& md, const ReportTables& t, const std::string& out_dir,
                      const ResultsLayout& layout) {
  auto cells = group_cells(t.results);
  auto metrics = metrics_of(cells);
  rank_cells(cells, metrics);
  write_cell_statistics(md, cells, metrics, out_dir);
  write_comparisons(md, t, cells, metrics, out_dir, layout);
}

}  // namespace ctlab::report
