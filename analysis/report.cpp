// The Markdown report: pivots over exported tables, then the figure script.
#include "report.h"

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/filesystem.hpp>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include "report_parts.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/format.h"
#include "util/run_process.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace report {

std::string mean_std(const std::vector<double>& xs) {
  if (xs.empty()) return "-";
  double m = 0;
  for (double x : xs) m += x;
  m /= xs.size();
  if (xs.size() == 1) return format_fixed(m) + " (1 seed)";
  double v = 0;
  for (double x : xs) v += (x - m) * (x - m);
  return format_fixed(m) + " ± " + format_fixed(std::sqrt(v / (xs.size() - 1))) + " (" +
         std::to_string(xs.size()) + ")";
}

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

double mean_of(const std::vector<double>& xs) {
  double m = 0;
  for (double x : xs) m += x;
  return m / xs.size();
}

}  // namespace report

using namespace report;

namespace {

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
         r[runs.column("valid_score")].empty() ? "-"
                                               : format_fixed(std::stod(r[runs.column("valid_score")]))});
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
                                : format_fixed(std::stod(score)) +
                                      (se.empty() ? "" : " ± " + format_fixed(std::stod(se))));
    rows.push_back(row);
  }
  auto head = settings;
  head.insert(head.begin(), "run");
  head.push_back(t.score + " ± se");
  md_table(md, head, rows);
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
