// The scorecard's tables, built once and written three ways: to standard output (aligned
// text), to the report (Markdown) and, for the all-pairs table, to comparisons.csv.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "export.h"
#include "study/scorecard_stats.h"

namespace ctlab {

struct ScoreTable {
  std::string title;  // a line above the table
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;  // lines below it
};
std::string as_text(const ScoreTable& t);
std::string as_markdown(const ScoreTable& t);

// What the tables read.
struct ScorecardView {
  const Suite* suite = nullptr;
  const ScorecardPlan* plan = nullptr;
  const ScorecardResults* results = nullptr;
  SeedSplit seeds;
  bool full = false;
  std::map<std::string, std::string> chosen_lr;         // "arm\ttask" -> rate ("" = the suite's)
  std::map<std::string, std::vector<double>> lr_means;  // "arm\ttask" -> mean recovered per rate
  std::string root;                                     // the results root
};

// Per arm and task, recovered mean [95% CI] over seeds, with each task's gate: the live table.
ScoreTable recovered_table(const ScorecardView& v);
// Every table, in the order printed: recovered, the learning rates (--full), per task the
// ranking and all pairs, the capacity and reach curves, retained vs used.
std::vector<ScoreTable> scorecard_tables(const ScorecardView& v);
// The all-pairs rows of every task that passes the gate (comparisons.csv).
Table comparisons_table(const ScorecardView& v);

}  // namespace ctlab
