// Building the scorecard's runs (scorecard_plan.h): each run's configuration from the suite's
// settings, the arm's, the curve level or learning rate, the task and the seed; resolved
// through the grid's pipeline, so the run ids are the ones `ctlab train` would give.
#include "study/scorecard_plan.h"

#include <algorithm>
#include <set>

#include "config/options.h"
#include "util/error.h"
#include "util/text.h"

namespace ctlab {

const char* probe_name(Probe p) {
  switch (p) {
    case Probe::Score:
      return "score";
    case Probe::Capacity:
      return "capacity";
    case Probe::Reach:
      return "reach";
    case Probe::Selection:
      return "selection";
  }
  return "?";
}

SeedSplit split_seeds(const std::vector<int64_t>& suite_seeds, int64_t count, int64_t selection) {
  constexpr int64_t kFirstSelectionSeed = 1001;
  SeedSplit s;
  if (count > 0)
    for (int64_t i = 1; i <= count; ++i) s.scored.push_back(i);
  else
    s.scored = suite_seeds;
  for (int64_t i = 0; i < selection; ++i) s.selection.push_back(kFirstSelectionSeed + i);
  for (int64_t seed : s.scored)
    if (seed >= kFirstSelectionSeed)
      throw Error("scored seed " + std::to_string(seed) + ": expected seeds below " +
                  std::to_string(kFirstSelectionSeed) + " (seeds from " +
                  std::to_string(kFirstSelectionSeed) +
                  " on choose learning rates, so that they are never scored)");
  return s;
}

namespace {

// One run to resolve: its configuration and what it measures.
struct Pending {
  CellSpec spec;
  PlannedRun run;
};

void apply_all(RunConfig& cfg, const std::vector<SuiteSetting>& settings) {
  for (const auto& s : settings) apply_setting(cfg, s.key, s.value, s.where);
}

// An --set override may not change what an arm, a curve or the sweep varies: the rows would
// then be labelled with settings they did not run.
void check_overrides(const PlanInputs& in) {
  std::set<std::string> varied = {"dataset", "seed", "experiment"};
  for (const auto& a : in.arms)
    for (const auto& s : a.settings) varied.insert(s.key);
  for (const auto& r : in.suite->references)
    for (const auto& s : r.settings) varied.insert(s.key);
  for (const SuiteCurve* c : {&in.suite->capacity, &in.suite->reach})
    varied.insert(c->keys.begin(), c->keys.end());
  if (!in.suite->learning_rates.empty()) varied.insert("lr");
  for (const auto& o : in.overrides) {
    const std::string key = trim(o.substr(0, o.find('=')));
    if (varied.count(key))
      throw Error("--set " + o + ": '" + key +
                  "' is set by an arm, a curve or the learning-rate sweep of the scorecard; change the suite "
                  "file instead (--suite FILE), so every row says what it ran");
  }
}

// The configuration every run of an arm on a task shares (the seed aside).
RunConfig arm_config(const PlanInputs& in, const ScorecardArm& arm, const std::string& task) {
  RunConfig cfg;
  apply_all(cfg, in.suite->base);
  apply_all(cfg, arm.settings);
  apply_setting(cfg, "dataset", task, in.suite->path + " [grid] dataset");
  for (const auto& o : in.overrides) apply_override(cfg, o);
  cfg.experiment = kScorecardExperiment;
  return cfg;
}

// A curve level: the arm's configuration with the level's keys. A level that is the arm's
// own setting is its score run; other levels skip the retention probe (retained vs used is
// reported at the suite's setting).
RunConfig level_config(const RunConfig& main, const SuiteCurve& curve, size_t level) {
  RunConfig cfg = main;
  bool same = true;
  for (size_t k = 0; k < curve.keys.size(); ++k) {
    apply_setting(cfg, curve.keys[k], curve.levels[level][k], "[" + curve.name + "] " + curve.keys[k]);
    same = same && get_setting(cfg, curve.keys[k]) == get_setting(main, curve.keys[k]);
  }
  if (same) return main;
  cfg.eval.retention_segments = 0;
  return cfg;
}

void add_run(std::vector<Pending>& out, const RunConfig& cfg, size_t arm, const std::string& arm_name,
             const std::string& task, Probe probe, size_t level, const std::string& label, int64_t seed) {
  Pending p;
  p.spec.cfg = cfg;
  p.spec.cfg.seed = seed;
  p.spec.axes = {{"arm", arm_name}, {"dataset", task}, {"probe", probe_name(probe)}};
  if (!label.empty()) p.spec.axes.emplace_back("level", label);
  p.spec.axes.emplace_back("seed", std::to_string(seed));
  p.run = PlannedRun{arm, task, probe, level, seed, ""};
  out.push_back(std::move(p));
}

// The curve runs of one compared arm on one task.
void add_curves(std::vector<Pending>& out, const PlanInputs& in, const RunConfig& main, size_t a,
                const std::string& task) {
  const auto& arm = in.arms[a];
  for (const SuiteCurve* c : {&in.suite->capacity, &in.suite->reach}) {
    if (c->empty() || !c->runs_on(task)) continue;
    const Probe probe = c->name == "capacity" ? Probe::Capacity : Probe::Reach;
    for (size_t l = 0; l < c->levels.size(); ++l) {
      const RunConfig cfg = level_config(main, *c, l);
      for (int64_t seed : in.seeds.scored)
        add_run(out, cfg, a, arm.name, task, probe, l, c->keys[0] + "=" + c->levels[l][0], seed);
    }
  }
}

std::vector<Pending> pending_runs(const PlanInputs& in, const std::vector<std::string>& rates) {
  std::vector<Pending> out;
  for (size_t a = 0; a < in.arms.size(); ++a) {
    const auto& arm = in.arms[a];
    const bool compared = arm.role != ArmRole::Floor && arm.role != ArmRole::Ceiling;
    for (const auto& task : in.suite->tasks) {
      const RunConfig main = arm_config(in, arm, task);
      if (in.selection) {
        for (size_t r = 0; r < rates.size(); ++r) {
          RunConfig cfg = main;
          if (!rates[r].empty()) apply_setting(cfg, "lr", rates[r], "[learning_rates] lr");
          cfg.eval.retention_segments = 0;  // the choice reads `recovered` only
          for (int64_t seed : in.seeds.selection)
            add_run(out, cfg, a, arm.name, task, Probe::Selection, r, "lr=" + get_setting(cfg, "lr"), seed);
        }
        continue;
      }
      RunConfig scored = main;
      const auto lr = in.chosen_lr.find(arm.name + "\t" + task);
      if (lr != in.chosen_lr.end() && !lr->second.empty())
        apply_setting(scored, "lr", lr->second, "the learning rate chosen on the selection seeds");
      for (int64_t seed : in.seeds.scored) add_run(out, scored, a, arm.name, task, Probe::Score, 0, "", seed);
      if (compared) add_curves(out, in, main, a, task);
    }
  }
  return out;
}

// Marks each arm whose first run is an earlier arm's: the same configuration.
void mark_aliases(ScorecardPlan& plan) {
  std::map<std::string, size_t> owner;  // run id -> the arm that planned it first
  std::set<size_t> seen;
  for (const auto& r : plan.runs) {
    if (!seen.insert(r.arm).second) continue;  // only each arm's first run
    const auto [it, fresh] = owner.emplace(r.run_id, r.arm);
    if (!fresh) plan.arms[r.arm].same_as = plan.arms[it->second].name;
  }
}

}  // namespace

ScorecardPlan plan_scorecard(const PlanInputs& in, const PluginSources& plugins, const std::string& name) {
  check_overrides(in);
  ScorecardPlan plan;
  plan.arms = in.arms;
  plan.rates.push_back("");
  plan.rates.insert(plan.rates.end(), in.suite->learning_rates.begin(), in.suite->learning_rates.end());
  auto pending = pending_runs(in, plan.rates);
  std::vector<CellSpec> specs;
  for (const auto& p : pending) specs.push_back(p.spec);
  std::vector<std::string> ids;
  Grid all = build_grid(name, specs, plugins, in.suite->paired, &ids);
  std::set<std::string> trained;
  for (size_t i = 0; i < pending.size(); ++i) {
    pending[i].run.run_id = ids[i];
    plan.runs.push_back(pending[i].run);
    if (in.arms[pending[i].run.arm].trains) trained.insert(ids[i]);
  }
  mark_aliases(plan);
  plan.grid = all;
  plan.grid.cells.clear();
  for (auto& c : all.cells)
    if (trained.count(c.run_id)) {
      c.index = static_cast<int64_t>(plan.grid.cells.size());
      plan.grid.cells.push_back(std::move(c));
    }
  return plan;
}

std::map<int64_t, std::string> runs_of(const ScorecardPlan& plan, size_t arm, const std::string& task,
                                       Probe probe, size_t level) {
  std::map<int64_t, std::string> out;
  for (const auto& r : plan.runs)
    if (r.arm == arm && r.task == task && r.probe == probe && r.level == level) out[r.seed] = r.run_id;
  return out;
}

}  // namespace ctlab
