// The scorecard study (`ctlab scorecard <function>[@version]`): a suite (experiments/
// scorecard/suite.ini by default; scorecard_suite.h) of generated tasks whose answer lies far
// back, trained with paired seeds (8 by default) for the function under test (one arm per
// loss that trains it, and per position map asked for), the suite's references, and two
// Transformer-XL arms: one of the same cost that cannot reach the answer (the floor) and one
// that can (the ceiling). A task counts only when it passes the gate (scorecard_gate).
//
// Every arm scored in a results root under the same suite (same file, --set and --full) is
// remembered (results/scorecards/suite-<hash>/arms/), so the tables rank every one of them:
// the recovered share per arm, every arm against every other with Holm-adjusted paired
// tests, the ranking by probability of improvement, the capacity and reach curves, and
// retained vs used (scorecard_tables.h). Runs are shared by configuration: an arm that is a
// reference, or that another scorecard already trained, is not trained again. With `full`,
// each arm's learning rate is chosen on selection seeds disjoint from the scored ones.
#pragma once

#include <string>
#include <vector>

#include "plugin/plugin_host.h"
#include "study/scorecard_plan.h"
#include "study/scorecard_stats.h"

namespace ctlab {

struct ScorecardRequest {
  std::string function;  // name or name@version
  std::string loss;  // "" = none for a function without parameters, else every auxiliary loss (one arm each)
  std::vector<std::string> positions;  // cmem_positions maps, one arm each; empty = the suite's
  int64_t seeds = 0;                   // scored seeds 1..seeds; 0 = the suite's
  int64_t jobs = 2;                    // local CPU worker processes
  std::vector<std::string> sets;       // "key=value" for every run
  std::string results_root = "results";
  PluginSources plugins;
  std::string suite;  // the suite's file; "" = experiments/scorecard/suite.ini
  bool full = false;  // choose each arm's learning rate on selection seeds first
};

// Runs (or resumes) the scorecard and prints its tables; writes the report and
// comparisons.csv beside the arms. Returns the grid's exit code.
int run_scorecard(const ScorecardRequest& request);

}  // namespace ctlab
