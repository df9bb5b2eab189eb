// `ctlab report <experiment>`: the paper-style Markdown report of an experiment: final
// scores pivoted over the grid's axes (mean ± std over seeds, the shape of [CT] Table 5),
// attention by bucket ([CT] Fig. 2) and perplexity by token frequency ([CT] Table 7) per
// cell, and the figures drawn by analysis/figures.py.
#pragma once

#include <string>

namespace ctlab {

struct ReportOptions {
  std::string results_root = "results";
  std::string experiment;
  std::string out_dir;  // default: <results>/reports/<experiment>
  bool figures = true;
};

// Writes report.md, data/*.csv and figures/*.png into the output folder and returns the
// path of report.md.
std::string write_report(const ReportOptions& options);

// Where analysis/figures.py is: beside the installed executable (share/ctlab/analysis),
// else in the source tree this ctlab was built from. "" when neither exists.
std::string figures_script();

}  // namespace ctlab
