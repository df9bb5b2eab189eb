// The parts of `ctlab report` (analysis/report*.cpp) that its sections share: the exported
// tables a report reads, Markdown and CSV helpers, and the sections written outside
// report.cpp (statistics over seeds; the analyses of evaluation passes).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "compare.h"
#include "export.h"
#include "report.h"
#include "store/results_layout.h"

namespace ctlab::report {

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

// "2.7820 ± 0.0100 (3)": mean ± standard deviation over seeds (number of seeds); "-" for none.
std::string mean_std(const std::vector<double>& xs);
// The axes of a table: its columns between experiment and the first fixed column.
std::vector<std::string> axes_of(const Table& t, const std::string& first_fixed);
// "axis=value axis=value" of a row, "(all runs)" without axes.
std::string cell_key(const Table& t, const std::vector<std::string>& row,
                     const std::vector<std::string>& axes);
void md_table(std::ostream& out, const std::vector<std::string>& head,
              const std::vector<std::vector<std::string>>& rows);
void save_csv(const Table& t, const std::string& path);
// Natural order: "cmem_rate=2" before "cmem_rate=10".
bool natural_less(const std::string& a, const std::string& b);
void add_unique(std::vector<std::string>& v, const std::string& x);
double mean_of(const std::vector<double>& xs);

// Cells over seeds (data/cells.csv) and their comparisons with the grid's baseline
// (data/comparisons.csv): report_statistics.cpp.
void write_statistics(std::ostream& md, const ReportTables& t, const std::string& out_dir,
                      const ResultsLayout& layout);
// Attention by bucket, perplexity by token frequency, retained vs used: report_analyses.cpp.
void write_attention(std::ostream& md, const ReportTables& t);
void write_frequency(std::ostream& md, const ReportTables& t);
void write_retention(std::ostream& md, const ReportTables& t);

}  // namespace ctlab::report
