// The scorecard's runs as typed values: the arms (references, the functions under test and
// every function scored before in the same results root under the same suite), each run
// they need (task, probe, curve level, learning rate, seed) and the grid that trains them.
// Every arm's runs share one experiment, so an arm whose configuration is another's gets the
// same run ids: it is that arm (no second training, no second row).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "grid/grid.h"
#include "study/scorecard_suite.h"

namespace ctlab {

inline constexpr const char* kScorecardExperiment = "scorecard";

enum class ArmRole { Candidate, Reference, Floor, Ceiling };

struct ScorecardArm {
  std::string name;                    // "mean_pool", "conv1d+autoencoding", "max_pool [slot]"
  std::vector<SuiteSetting> settings;  // applied after the suite's own
  ArmRole role = ArmRole::Candidate;
  bool trains = false;  // this scorecard trains its runs (references and the functions under test)
  std::string same_as;  // the arm it is (same configuration) and whose rows it has; "" = itself
};

// What a run measures: the arm's score, a curve level, or a learning rate on selection seeds.
enum class Probe { Score, Capacity, Reach, Selection };
const char* probe_name(Probe p);

struct PlannedRun {
  size_t arm = 0;  // index into ScorecardPlan::arms
  std::string task;
  Probe probe = Probe::Score;
  size_t level = 0;  // the curve's level; for Selection the index into the rates ("" first)
  int64_t seed = 0;
  std::string run_id;
};

// Which seeds score and which choose learning rates (--full): disjoint by construction.
struct SeedSplit {
  std::vector<int64_t> scored, selection;
};
// `count` > 0: seeds 1..count scored, else the suite's; selection seeds 1001, 1002, ...
// (`selection` of them). Throws ctlab::Error when a scored seed is 1001 or above.
SeedSplit split_seeds(const std::vector<int64_t>& suite_seeds, int64_t count, int64_t selection);

struct PlanInputs {
  const Suite* suite = nullptr;
  std::vector<ScorecardArm> arms;
  SeedSplit seeds;
  std::vector<std::string> overrides;  // --set key=value, for every run
  bool selection = false;              // plan the learning-rate selection runs only
  // --full, after the selection: "arm\ttask" -> the chosen rate ("" = the suite's).
  std::map<std::string, std::string> chosen_lr;
};

struct ScorecardPlan {
  std::vector<ScorecardArm> arms;  // aliases marked (same_as)
  std::vector<PlannedRun> runs;
  std::vector<std::string> rates;  // the Selection levels: "" (the suite's rate), then the sweep
  Grid grid;                       // the runs of the arms that train (one cell per run id)
};

// Resolves every run (validated before anything runs; ctlab::Error lists the bad ones).
ScorecardPlan plan_scorecard(const PlanInputs& in, const PluginSources& plugins, const std::string& name);

// The runs of one arm, task, probe and level, by seed (run ids; the arm's alias resolved).
std::map<int64_t, std::string> runs_of(const ScorecardPlan& plan, size_t arm, const std::string& task,
                                       Probe probe, size_t level = 0);

}  // namespace ctlab
