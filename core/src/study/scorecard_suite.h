// The scorecard's suite file read once into a typed value: the settings every run shares,
// the reference arms (the floor and the ceiling among them), the tasks, the scored seeds,
// the curves ([capacity], [reach]) and the learning-rate sweep of --full. Everything after
// this point works on the value, not on INI text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ctlab {

// The two Transformer-XL arms every suite has: the floor (the candidate's attention cost,
// cannot reach the answer) and the ceiling (reaches it).
inline constexpr const char* kScorecardFloor = "txl_same_cost";
inline constexpr const char* kScorecardCeiling = "txl_reach";

struct SuiteSetting {
  std::string key, value, where;  // where: "file:line" for messages
};

struct SuiteArm {
  std::string name;
  std::vector<SuiteSetting> settings;  // applied after the suite's own settings
};

// A curve: each compared arm again at several levels of some keys; the first key's value
// is the curve's x (the load for [capacity], the source distance for [reach]), ascending.
struct SuiteCurve {
  std::string name;                              // "capacity" or "reach"
  std::vector<std::string> keys;                 // the first is the x
  std::vector<std::vector<std::string>> levels;  // [level][key]
  std::vector<double> xs;                        // the first key's value per level
  std::vector<std::string> tasks;  // the tasks it runs on (`dataset = a, b`); empty = every task
  bool empty() const { return keys.empty(); }
  bool runs_on(const std::string& task) const;
};

struct Suite {
  std::string path;
  std::string text_hash;  // SHA-256 of every entry but the seeds (which only add runs)
  std::vector<SuiteSetting> base;
  std::vector<SuiteArm> references;  // the suite's variants in file order
  std::vector<std::string> tasks;    // [grid] dataset
  std::vector<int64_t> seeds;        // [grid] seeds: the scored seeds
  bool paired = false;
  SuiteCurve capacity, reach;
  std::vector<std::string> learning_rates;  // [learning_rates] lr: the sweep of --full
  int64_t selection_seeds = 3;              // [learning_rates] selection_seeds
  std::string positions;                    // the suite's cmem_positions ("slot" when it sets none)
};

// Reads and checks a suite file. Throws ctlab::Error naming the file, line, key and what was
// expected: no `experiment`; variants named candidate*; a [grid] without `dataset`; a
// missing floor or ceiling; curve levels not ascending or uneven; a bad learning rate.
Suite read_suite(const std::string& path);

// The shipped suite: beside an installed ctlab (share/ctlab/experiments/scorecard), else in
// the source tree it was built from.
std::string default_suite_path();

}  // namespace ctlab
