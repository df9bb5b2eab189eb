// The scorecard's numbers from its runs' results: the gate of each task, every arm against
// every other (paired t and exact sign-flip p, both Holm-adjusted over the task's table),
// the ranking by probability of improvement, the learning rate chosen on the selection
// seeds, the curves' thresholds, and retained vs used. Pure functions of the plan and the
// results; the tables (scorecard_tables.h) print them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "stats.h"
#include "store/results_layout.h"
#include "study/scorecard_plan.h"

namespace ctlab {

// The validity gate of one task, from the means over seeds of `recovered` of the suite's
// ceiling (txl_reach: at least kScorecardCeilingMin) and floor (txl_same_cost: at most
// kScorecardFloorMax). A task that fails it cannot tell compression functions apart.
inline constexpr double kScorecardCeilingMin = 0.9, kScorecardFloorMax = 0.1;
struct ScorecardGate {
  bool informative = false;
  std::string text;  // "passes", "pending", or why the task is uninformative (with the numbers)
};
ScorecardGate scorecard_gate(double ceiling, double floor);

// The final metrics of the plan's completed runs: run id -> metric -> value.
using ScorecardResults = std::map<std::string, std::map<std::string, double>>;
ScorecardResults load_results(const ScorecardPlan& plan, const ResultsLayout& layout);

// A metric of one arm, task, probe and level, by seed (completed runs only).
std::map<int64_t, double> values_of(const ScorecardPlan& plan, const ScorecardResults& results, size_t arm,
                                    const std::string& task, Probe probe, size_t level = 0,
                                    const std::string& metric = "recovered");

// The arms a table shows: in plan order, without aliases (and without the ceiling when
// `compared_only`, without the floor too when `curves_only`).
std::vector<size_t> shown_arms(const ScorecardPlan& plan, bool compared_only, bool curves_only = false);

ScorecardGate gate_of(const ScorecardPlan& plan, const ScorecardResults& results, const std::string& task);

struct PairRow {
  std::string a, b;            // a ranked above b
  size_t seeds = 0;            // the seeds both have
  stats::Comparison t, exact;  // of a - b: paired t (with the interval) and sign-flip
  double p_t_holm = NAN, p_exact_holm = NAN;
  double improvement = NAN;  // P(a > b), Agarwal et al. 2021
};
struct RankRow {
  std::string arm;
  stats::Summary recovered;
  stats::Interval improvement;  // mean P(arm > other) over the other arms, bootstrap CI over seeds
};
struct TaskTable {
  std::string task;
  ScorecardGate gate;
  std::vector<int64_t> seeds;  // the seeds every ranked arm has
  std::vector<RankRow> ranking;
  std::vector<PairRow> pairs;
};
// Every arm (but the ceiling) against every other on one task, ranked.
TaskTable all_pairs(const ScorecardPlan& plan, const ScorecardResults& results, const std::string& task);

// The index of the rate with the highest mean (ties: the first); npos when one has no values.
size_t best_rate(const std::vector<std::vector<double>>& by_rate);
// --full: per "arm\ttask", the rate chosen on the selection seeds ("" = the suite's); arms
// whose selection runs are not all complete are left out. `means` gets per "arm\ttask" the
// mean recovered at each rate.
std::map<std::string, std::string> choose_learning_rates(const ScorecardPlan& plan,
                                                         const ScorecardResults& results,
                                                         std::map<std::string, std::vector<double>>* means);

struct CurveRow {
  std::string task, arm;
  std::vector<double> means;   // per level; NaN where no run completed
  stats::Threshold threshold;  // where recovered falls to 0.5; NaN until every level is complete
  bool complete = false;
};
std::vector<CurveRow> curve_rows(const ScorecardPlan& plan, const ScorecardResults& results,
                                 const SuiteCurve& curve, Probe probe, const std::vector<std::string>& tasks);

}  // namespace ctlab
