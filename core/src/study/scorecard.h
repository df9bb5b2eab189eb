// The scorecard study (`ctlab scorecard <function>[@version]`): the long-range suite for
// one compression function. Three generated tasks whose answer lies 82-96 tokens back (copy, distant
// reference, associative recall), each trained with 3 seeds for the function under test,
// for mean_pool and for Transformer-XL with the same attention cost (which cannot reach
// that far); one table of the share of long-range information each recovers, with 95%
// confidence intervals and Welch's t-test against both references. It is an experiment
// grid like any other (resumable; `ctlab report scorecard-<name>` reports it).
#pragma once

#include <string>
#include <vector>

#include "plugin/plugin_host.h"

namespace ctlab {

struct ScorecardRequest {
  std::string function;  // name or name@version
  std::string loss;      // "" = none for a function without parameters, else attention_reconstruction
  int64_t jobs = 2;      // local CPU worker processes
  std::vector<std::string> sets;  // "key=value" for every cell
  std::string results_root = "results";
  PluginSources plugins;
  std::string suite;  // the suite's grid file; "" = experiments/scorecard/suite.ini
};

// The validity gate of one task, from the means over seeds of `recovered` of the suite's
// ceiling (txl_reach: must reach kCeilingMin) and floor (txl_same_cost: at most kFloorMax).
// A task that fails it cannot tell compression functions apart at the suite's size.
inline constexpr double kScorecardCeilingMin = 0.9, kScorecardFloorMax = 0.1;
struct ScorecardGate {
  bool informative = false;
  std::string text;  // "passes", or why the task is uninformative (with the numbers)
};
ScorecardGate scorecard_gate(double ceiling, double floor);

// Runs (or resumes) the suite's grid and prints the scorecard table. Returns the grid's exit code.
int run_scorecard(const ScorecardRequest& request);

}  // namespace ctlab
