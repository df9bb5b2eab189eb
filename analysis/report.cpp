// The Markdown report: pivots over exported tables, then the figure script.
#include "report.h"

#include <algorithm>
#include <array>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/filesystem.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "compare.h"
#include "export.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/run_process.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

std::string fmt(double v, int digits = 4) {
  if (std::isnan(v)) return "-";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string mean_std(const std::vector<double>& xs) {
  if (xs.empty()) return "-";
  double m = 0;
  for (double x : xs) m += x;
  m /= xs.size();
  if (xs.size() == 1) return fmt(m) + " (1 seed)";
  double v = 0;
  for (double x : xs) v += (x - m) * (x - m);
  return fmt(m) + " ± " + fmt(std::sqrt(v / (xs.size() - 1))) + " (" + std::to_string(xs.size()) + ")";
}

// The axes of a table: its columns between experiment and the first fixed column.
std::vector<std::string> axes_of(const Table& t, const std::string& first_fixed) {
  std::vector<std::string> a;
  for (int i = 2; i < t.column(first_fixed); ++i) a.push_back(t.columns[i]);
  return a;
}

std::string cell_key(const Table& t, const std::vector<std::string>& row,
                     const std::vector<std::string>& axes) {
  std::vector<std::string> parts;
  for (const auto& a : axes) parts.push_back(a + "=" + row[t.column(a)]);
  return parts.empty() ? "(all runs)" : join(parts, " ");
}

void md_table(std::ostream& out, const std::vector<std::string>& head,
              const std::vector<std::vector<std::string>>& rows) {
  out << "| " << join(head, " | ") << " |\n|";
  for (size_t i = 0; i < head.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& r : rows) out << "| " << join(r, " | ") << " |\n";
  out << "\n";
}

void save_csv(const Table& t, const std::string& path) {
  std::ostringstream s;
  write_csv(t, s);
  write_file_atomic(path, s.str());
}

// The exported tables a report is built from.
struct ReportTables {
  Table runs, attention, frequency, metrics, evaluations, retention, readout;
  std::vector<std::string> axes;       // every axis
  std::vector<std::string> cell_axes;  // every axis but the seed
  std::string score = "score";         // bpc or ppl
  std::vector<RunResult> results;      // completed runs' final metrics
  std::string baseline_text;           // the grid's `baseline`, "" when none
  bool paired = false;                 // the grid's `paired = true`
};

ReportTables load_tables(const ReportOptions& o) {
  ResultsLayout layout(o.results_root);
  ExportFilter f;
  f.experiment = o.experiment;
  ReportTables t;
  t.runs = export_table("runs", layout, f);
  t.attention = export_table("attention", layout, f);
  t.frequency = export_table("frequency", layout, f);
  t.metrics = export_table("metrics", layout, f);
  t.evaluations = export_table("evaluations", layout, f);
  t.retention = export_table("retention", layout, f);
  t.readout = export_table("readout", layout, f);
  t.axes = axes_of(t.runs, "status");
  for (const auto& a : t.axes)
    if (a != "seed") t.cell_axes.push_back(a);
  for (const auto& r : t.runs.rows)
    if (!r[t.runs.column("score_name")].empty()) t.score = r[t.runs.column("score_name")];
  RunStore store(layout.database());
  for (const auto& r : t.runs.rows) {
    AxisValues axes;
    for (const auto& a : t.axes) axes.emplace_back(a, r[t.runs.column(a)]);
    if (auto res = final_result(store, r[0], axes)) t.results.push_back(*res);
    auto params = store.params(r[0]);
    if (t.baseline_text.empty() && params.count("grid_baseline")) t.baseline_text = params["grid_baseline"];
    t.paired = t.paired || (params.count("grid_paired") && params["grid_paired"] == "true");
  }
  return t;
}

bool natural_less(const std::string& a, const std::string& b);

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
  auto rows = compare_to_baseline(cells, parse_conditions(t.baseline_text, "grid_baseline"), metrics,
                                  segment_values(layout), t.paired);
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
    table.push_back({r.cell, r.metric, fmt(r.c.mean_baseline), fmt(r.c.mean_cell), format_diff_ci(r.c),
                     format_p(r.c.p_value), r.exact ? format_p(r.exact->p_value) : "-", r.c.test,
                     verdict(r)});
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

void write_statistics(std::ostream& md, const ReportTables& t, const std::string& out_dir,
                      const ResultsLayout& layout) {
  auto cells = group_cells(t.results);
  auto metrics = metrics_of(cells);
  rank_cells(cells, metrics);
  write_cell_statistics(md, cells, metrics, out_dir);
  write_comparisons(md, t, cells, metrics, out_dir, layout);
}

void write_summary(std::ostream& md, const ReportOptions& o, const ReportTables& t) {
  std::map<std::string, int> statuses;
  for (const auto& r : t.runs.rows) statuses[r[t.runs.column("status")]]++;
  std::vector<std::string> st;
  for (const auto& [s, n] : statuses) st.push_back(std::to_string(n) + " " + s);
  md << "# Report: " << o.experiment << "\n\n";
  md << t.runs.rows.size() << " runs (" << join(st, ", ") << ") in `" << o.results_root
     << "`. Axes: " << (t.axes.empty() ? "none" : join(t.axes, ", ")) << ". Scores are the final validation "
     << t.score
     << (t.score == "bpc"   ? " (bits per byte)"
         : t.score == "ppl" ? " (perplexity)"
                            : "")
     << "; mean ± standard deviation over seeds (number of seeds).\n\n";
}

// Natural order: "cmem_rate=2" before "cmem_rate=10".
bool natural_less(const std::string& a, const std::string& b) {
  auto ea = a.find('='), eb = b.find('=');
  if (ea != std::string::npos && eb != std::string::npos && a.compare(0, ea, b, 0, eb) == 0) {
    char *pa, *pb;
    double x = std::strtod(a.c_str() + ea + 1, &pa), y = std::strtod(b.c_str() + eb + 1, &pb);
    if (*pa == '\0' && *pb == '\0') return x < y;
  }
  return a < b;
}

void add_unique(std::vector<std::string>& v, const std::string& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

// Rows = all cell axes but the last, columns = the last cell axis.
void write_score_pivot(std::ostream& md, const ReportTables& t) {
  const Table& runs = t.runs;
  md << "## Final validation " << t.score << "\n\n";
  std::map<std::string, std::map<std::string, std::vector<double>>> pivot;
  std::vector<std::string> row_keys, col_keys;
  std::vector<std::string> row_axes(t.cell_axes.begin(),
                                    t.cell_axes.empty() ? t.cell_axes.end() : t.cell_axes.end() - 1);
  const std::string col_axis = t.cell_axes.empty() ? "" : t.cell_axes.back();
  for (const auto& r : runs.rows) {
    auto rk = cell_key(runs, r, row_axes);
    auto ck = col_axis.empty() ? t.score : col_axis + "=" + r[runs.column(col_axis)];
    add_unique(row_keys, rk);
    add_unique(col_keys, ck);
    const auto& v = r[runs.column("valid_score")];
    if (r[runs.column("status")] == to_string(RunStatus::Completed) && !v.empty())
      pivot[rk][ck].push_back(std::stod(v));
    else
      pivot[rk][ck];
  }
  std::sort(col_keys.begin(), col_keys.end(), natural_less);
  std::sort(row_keys.begin(), row_keys.end(), natural_less);
  std::vector<std::vector<std::string>> rows;
  for (const auto& rk : row_keys) {
    std::vector<std::string> row = {rk};
    for (const auto& ck : col_keys) row.push_back(pivot[rk].count(ck) ? mean_std(pivot[rk][ck]) : "");
    rows.push_back(row);
  }
  std::vector<std::string> head = {row_axes.empty() ? "runs" : join(row_axes, ", ")};
  head.insert(head.end(), col_keys.begin(), col_keys.end());
  md_table(md, head, rows);
}

void write_runs(std::ostream& md, const ReportTables& t) {
  const Table& runs = t.runs;
  md << "## Runs\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs.rows)
    rows.push_back(
        {"`" + r[0] + "`", cell_key(runs, r, t.axes), r[runs.column("status")], r[runs.column("step")],
         r[runs.column("valid_score")].empty() ? "-" : fmt(std::stod(r[runs.column("valid_score")]))});
  md_table(md, {"run", "cell", "status", "step", t.score}, rows);
}

// Stored `ctlab eval` results, each with every setting that changes its value.
void write_evaluations(std::ostream& md, const ReportTables& t) {
  const Table& e = t.evaluations;
  if (e.rows.empty()) return;
  md << "## Evaluations (ctlab eval)\n\nEach row is one stored evaluation with the settings that produced it "
        "(segments 0 = the whole split).\n\n";
  const std::vector<std::string> settings = {"split",     "step",        "seq_len",    "mem_len", "cmem_len",
                                             "clamp_len", "same_length", "batch_size", "segments"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : e.rows) {
    std::vector<std::string> row = {"`" + r[0] + "`"};
    for (const auto& s : settings) row.push_back(r[e.column(s)]);
    const int sc = e.column(t.score), sc_se = e.column(t.score + "_se");
    const std::string score = sc < 0 ? "" : r[sc], se = sc_se < 0 ? "" : r[sc_se];
    row.push_back(score.empty() ? "-"
                                : fmt(std::stod(score)) + (se.empty() ? "" : " ± " + fmt(std::stod(se))));
    rows.push_back(row);
  }
  auto head = settings;
  head.insert(head.begin(), "run");
  head.push_back(t.score + " ± se");
  md_table(md, head, rows);
}

std::string region_tag(const std::string& region) {
  return region == "compressed memory" ? "cm" : region == "memory" ? "m" : "s";
}

double mean_of(const std::vector<double>& xs) {
  double m = 0;
  for (double x : xs) m += x;
  return m / xs.size();
}

// Columns are (region, ordinal within the region), so cells with and without compressed
// memory line up.
void write_attention(std::ostream& md, const ReportTables& t) {
  const Table& attention = t.attention;
  if (attention.rows.empty()) return;
  md << "## Attention by bucket\n\nShare of attention (%, mean over layers, heads, queries and "
        "sequences with full memories) on each bucket of key slots, oldest first: compressed memory (cm), "
        "memory "
        "(m), current sequence (s). Mean over seeds.\n\n";
  const int c_layer = attention.column("layer"), c_region = attention.column("region");
  const int c_bucket = attention.column("bucket"), c_mass = attention.column("mass");
  std::map<std::string, std::map<std::string, int>> first_in_region;  // run -> region -> first bucket
  for (const auto& r : attention.rows) {
    if (r[c_layer] != "all") continue;
    auto& first = first_in_region[r[0]];
    if (!first.count(r[c_region])) first[r[c_region]] = std::stoi(r[c_bucket]);
  }
  std::vector<std::string> columns, cells;
  for (const std::string region : {"compressed memory", "memory", "sequence"}) {
    int most = 0;
    for (const auto& r : attention.rows)
      if (r[c_layer] == "all" && r[c_region] == region)
        most = std::max(most, std::stoi(r[c_bucket]) - first_in_region[r[0]][region] + 1);
    for (int i = 1; i <= most; ++i) columns.push_back(region_tag(region) + std::to_string(i));
  }
  std::map<std::string, std::map<std::string, std::vector<double>>> by_cell;
  for (const auto& r : attention.rows) {
    if (r[c_layer] != "all") continue;
    auto ck = cell_key(attention, r, t.cell_axes);
    add_unique(cells, ck);
    int ordinal = std::stoi(r[c_bucket]) - first_in_region[r[0]][r[c_region]] + 1;
    by_cell[ck][region_tag(r[c_region]) + std::to_string(ordinal)].push_back(std::stod(r[c_mass]));
  }
  std::vector<std::string> head = {"cell"};
  head.insert(head.end(), columns.begin(), columns.end());
  std::vector<std::vector<std::string>> rows;
  for (const auto& ck : cells) {
    std::vector<std::string> row = {ck};
    for (const auto& c : columns) {
      auto& xs = by_cell[ck][c];
      row.push_back(xs.empty() ? "" : fmt(100.0 * mean_of(xs), 1));
    }
    rows.push_back(row);
  }
  md_table(md, head, rows);
}

void write_frequency(std::ostream& md, const ReportTables& t) {
  const Table& frequency = t.frequency;
  if (frequency.rows.empty()) return;
  md << "## Perplexity by token frequency\n\nTargets bucketed by their count in the training split ([CT] "
        "Table "
        "7); exp(mean NLL) per bucket, mean over seeds.\n\n";
  std::map<std::string, std::map<std::string, std::vector<double>>> by_cell;
  std::vector<std::string> labels, cells;
  for (const auto& r : frequency.rows) {
    auto ck = cell_key(frequency, r, t.cell_axes);
    const auto& label = r[frequency.column("label")];
    add_unique(cells, ck);
    add_unique(labels, label);
    const auto& p = r[frequency.column("ppl")];
    if (!p.empty()) by_cell[ck][label].push_back(std::stod(p));
  }
  std::vector<std::string> head = {"cell"};
  head.insert(head.end(), labels.begin(), labels.end());
  std::vector<std::vector<std::string>> rows;
  for (const auto& ck : cells) {
    std::vector<std::string> row = {ck};
    for (const auto& l : labels) {
      auto& xs = by_cell[ck][l];
      row.push_back(xs.empty() ? "-" : fmt(mean_of(xs), 2));
    }
    rows.push_back(row);
  }
  md_table(md, head, rows);
}

// Retained vs used (runs with retention_segments > 0): per cell and distance region, mean
// over seeds of what a linear probe decodes from the compressed slots and of recovered with
// compressed memory as trained and knocked out.
void write_retention(std::ostream& md, const ReportTables& t) {
  const Table& r = t.retention;
  if (r.rows.empty()) return;
  md << "## Retained vs used\n\nretained: share of the compressed tokens' identity a linear probe decodes "
        "from the compressed slots (1 = all, 0 = nothing beyond token frequencies); recovered: share of the "
        "long-range information the model recovers on the tokens whose source lies in the region, with "
        "compressed memory as trained and knocked out. Low retained: the function loses it; high retained "
        "and low recovered: attention does not find it. Mean over seeds.\n\n";
  std::vector<std::string> cells, labels;
  std::map<std::string, std::map<std::string, std::array<std::vector<double>, 3>>> by_cell;
  const int c_label = r.column("label");
  const int cols[3] = {r.column("retained"), r.column("recovered"), r.column("recovered_no_cmem")};
  for (const auto& row : r.rows) {
    auto ck = cell_key(r, row, t.cell_axes);
    add_unique(cells, ck);
    add_unique(labels, row[c_label]);
    for (int i = 0; i < 3; ++i)
      if (!row[cols[i]].empty()) by_cell[ck][row[c_label]][i].push_back(std::stod(row[cols[i]]));
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& ck : cells)
    for (const auto& l : labels) {
      const auto& v = by_cell[ck][l];
      if (v[0].empty() && v[1].empty()) continue;
      std::vector<std::string> row = {ck, l};
      for (int i = 0; i < 3; ++i) row.push_back(v[i].empty() ? "-" : fmt(mean_of(v[i]), 3));
      rows.push_back(row);
    }
  md_table(md, {"cell", "region", "retained", "recovered", "recovered, no cmem"}, rows);
}

void write_figures(std::ostream& md, const ReportOptions& o, const std::string& out_dir) {
  md << "## Figures\n\n";
  const std::string script = figures_script();
  const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  if (!o.figures || script.empty()) {
    md << "Figures were not drawn (" << (o.figures ? "analysis/figures.py not found" : "turned off")
       << ").\n\n";
    return;
  }
  // An argument vector, never a shell: the folder names are passed as they are.
  const std::vector<std::string> argv = {python,   script,
                                         "--data", out_dir + "/data",      // another program's flag
                                         "--out",  out_dir + "/figures"};  // another program's flag
  const auto r = run_process(argv);
  if (r.exit_code != 0) {
    md << "Figures were not drawn: `" << join(argv, " ") << "` failed (exit " << r.exit_code << "):\n\n```\n"
       << trim(r.output) << "\n```\n\n";
    return;
  }
  // The script prints each figure it drew (pages of many cells included), in order.
  for (const auto& line : split(r.output, '\n')) {
    const std::string fig = fs::path(trim(line)).filename().string();
    if (fig.size() > 4 && fig.compare(fig.size() - 4, 4, ".png") == 0 &&
        fs::exists(out_dir + "/figures/" + fig))
      md << "![" << fig << "](figures/" << fig << ")\n\n";
  }
}

}  // namespace

std::string figures_script() {
  boost::system::error_code ec;
  auto exe = boost::dll::program_location(ec);
  std::vector<fs::path> candidates;
  if (!ec)
    candidates.push_back(exe.parent_path().parent_path() / "share" / "ctlab" / "analysis" / "figures.py");
  candidates.push_back(fs::path(CTLAB_SOURCE_DIR) / "analysis" / "figures.py");
  for (const auto& c : candidates)
    if (fs::exists(c)) return c.string();
  return "";
}

std::string write_report(const ReportOptions& o) {
  const std::string out_dir =
      o.out_dir.empty() ? ResultsLayout(o.results_root).report_dir(o.experiment) : o.out_dir;
  ReportTables t = load_tables(o);
  fs::create_directories(out_dir + "/data");  // only once the experiment is known to exist
  save_csv(t.runs, out_dir + "/data/runs.csv");
  save_csv(t.attention, out_dir + "/data/attention.csv");
  save_csv(t.frequency, out_dir + "/data/frequency.csv");
  save_csv(t.metrics, out_dir + "/data/metrics.csv");
  save_csv(t.evaluations, out_dir + "/data/evaluations.csv");
  save_csv(t.retention, out_dir + "/data/retention.csv");
  save_csv(t.readout, out_dir + "/data/readout.csv");
  std::ostringstream md;
  write_summary(md, o, t);
  write_score_pivot(md, t);
  write_statistics(md, t, out_dir, ResultsLayout(o.results_root));
  write_runs(md, t);
  write_evaluations(md, t);
  write_attention(md, t);
  write_frequency(md, t);
  write_retention(md, t);
  write_figures(md, o, out_dir);
  md << "Data behind every table: `data/*.csv` (runs, metrics, evaluations, attention, frequency, retention "
        "and readout are the tables of `ctlab export`; cells.csv and comparisons.csv hold the statistics "
        "above).\n";
  const std::string path = out_dir + "/report.md";
  write_file_atomic(path, md.str());
  return path;
}

}  // namespace ctlab
