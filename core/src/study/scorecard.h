// The scorecard study (`ctlab scorecard <function>[@version]`): a suite (a grid file,
// experiments/scorecard/suite.ini by default) of generated tasks whose answer lies 80-96
// tokens back, trained with 3 seeds for the function under test (one arm per loss that
// trains it), the suite's references, and two Transformer-XL arms: one of the same cost
// that cannot reach the answer (the floor) and one that can (the ceiling). A task counts
// only when it passes the gate (scorecard_gate). Tables: the share of long-range
// information each arm recovers, with 95% confidence intervals, and paired tests of each
// candidate arm against each reference; the capacity curve (the suite's [capacity] load
// levels, each compared arm again as variant "<arm>@<load>", and the load where recovered
// falls to 0.5); retained vs used (train/retention.h). With `full`, the suite's
// [learning_rates] too (variants "<arm>~<lr>"), each arm scored at its best rate. It is an
// experiment grid like any other (resumable; `ctlab report scorecard-<name>` reports the
// candidate's runs).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compare.h"
#include "plugin/plugin_host.h"

namespace ctlab {

struct ScorecardRequest {
  std::string function;  // name or name@version
  std::string loss;  // "" = none for a function without parameters, else every auxiliary loss (one arm each)
  int64_t jobs = 2;  // local CPU worker processes
  std::vector<std::string> sets;  // "key=value" for every cell
  std::string results_root = "results";
  PluginSources plugins;
  std::string suite;  // the suite's grid file; "" = experiments/scorecard/suite.ini
  bool full = false;  // also the suite's [learning_rates] sweep: each arm at its best rate
};

// The validity gate of one task, from the means over seeds of `recovered` of the suite's
// ceiling (txl_reach: at least kScorecardCeilingMin) and floor (txl_same_cost: at most
// kScorecardFloorMax).
// A task that fails it cannot tell compression functions apart at the suite's size.
inline constexpr double kScorecardCeilingMin = 0.9, kScorecardFloorMax = 0.1;
struct ScorecardGate {
  bool informative = false;
  std::string text;  // "passes", or why the task is uninformative (with the numbers)
};
ScorecardGate scorecard_gate(double ceiling, double floor);

// A learning-rate sweep's runs (variants "<arm>~<lr>" beside "<arm>" at the suite's rate)
// reduced to each arm's best: per arm and values of the other axes (the seed aside), the
// rate with the highest mean `recovered` over seeds (ties: the first seen), its runs under
// the arm's own variant name, the other rates' runs dropped. Capacity variants ("@") pass
// unchanged. `chosen` gets "arm other-axis-values" -> the rate ("" = the suite's).
std::vector<RunResult> best_learning_rates(std::vector<RunResult> results,
                                           std::map<std::string, std::string>* chosen = nullptr);

// Runs (or resumes) the suite's grid and prints the scorecard table. Returns the grid's exit code.
int run_scorecard(const ScorecardRequest& request);

}  // namespace ctlab
