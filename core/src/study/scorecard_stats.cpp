// The scorecard's statistics (scorecard_stats.h) over the plan's runs.
#include "study/scorecard_stats.h"

#include <algorithm>
#include <set>

#include "compare.h"
#include "store/run_store.h"
#include "util/format.h"

namespace ctlab {

ScorecardGate scorecard_gate(double ceiling, double floor) {
  auto num = [](double v) { return format_fixed(v, 3); };
  if (!(ceiling >= kScorecardCeilingMin))
    return {false, std::string("uninformative: ") + kScorecardCeiling + " recovers " + num(ceiling) + " < " +
                       num(kScorecardCeilingMin) + " (not learned within the suite's budget)"};
  if (!(floor <= kScorecardFloorMax))
    return {false, std::string("uninformative: ") + kScorecardFloor + " recovers " + num(floor) + " > " +
                       num(kScorecardFloorMax) + " (the answer is within its reach)"};
  return {true, "passes"};
}

ScorecardResults load_results(const ScorecardPlan& plan, const ResultsLayout& layout) {
  ScorecardResults out;
  RunStore store(layout.database());
  std::set<std::string> ids;
  for (const auto& r : plan.runs) ids.insert(r.run_id);
  for (const auto& id : ids)
    if (auto r = final_result(store, id, {})) out[id] = r->metrics;
  return out;
}

std::map<int64_t, double> values_of(const ScorecardPlan& plan, const ScorecardResults& results, size_t arm,
                                    const std::string& task, Probe probe, size_t level,
                                    const std::string& metric) {
  std::map<int64_t, double> out;
  for (const auto& [seed, id] : runs_of(plan, arm, task, probe, level)) {
    const auto r = results.find(id);
    if (r == results.end()) continue;
    const auto m = r->second.find(metric);
    if (m != r->second.end()) out[seed] = m->second;
  }
  return out;
}

std::vector<size_t> shown_arms(const ScorecardPlan& plan, bool compared_only, bool curves_only) {
  std::vector<size_t> out;
  for (size_t a = 0; a < plan.arms.size(); ++a) {
    const auto role = plan.arms[a].role;
    if (!plan.arms[a].same_as.empty()) continue;
    if ((compared_only || curves_only) && role == ArmRole::Ceiling) continue;
    if (curves_only && role == ArmRole::Floor) continue;
    out.push_back(a);
  }
  // The arms under test first, then earlier ones, the references, the floor and the ceiling.
  auto order = [&](size_t a) {
    const auto& arm = plan.arms[a];
    return arm.role == ArmRole::Candidate   ? (arm.trains ? 0 : 1)
           : arm.role == ArmRole::Reference ? 2
           : arm.role == ArmRole::Floor     ? 3
                                            : 4;
  };
  std::stable_sort(out.begin(), out.end(), [&](size_t a, size_t b) { return order(a) < order(b); });
  return out;
}

namespace {

size_t arm_named(const ScorecardPlan& plan, const char* name) {
  for (size_t a = 0; a < plan.arms.size(); ++a)
    if (plan.arms[a].name == name) return a;
  return plan.arms.size();
}

std::vector<double> values(const std::map<int64_t, double>& by_seed) {
  std::vector<double> v;
  for (const auto& [s, x] : by_seed) v.push_back(x);
  return v;
}

// The values of two arms at the seeds both have, in seed order.
std::pair<std::vector<double>, std::vector<double>> matched(const std::map<int64_t, double>& a,
                                                            const std::map<int64_t, double>& b) {
  std::pair<std::vector<double>, std::vector<double>> out;
  for (const auto& [s, x] : a)
    if (b.count(s)) out.first.push_back(x), out.second.push_back(b.at(s));
  return out;
}

// The ranked arms: each arm's mean probability of improvement over the others on the seeds
// they all have.
void rank_arms(TaskTable& t, const std::vector<std::string>& names,
               const std::vector<std::map<int64_t, double>>& by_arm) {
  std::set<int64_t> common;
  for (const auto& [s, x] : by_arm.front()) common.insert(s);
  for (const auto& m : by_arm)
    for (auto it = common.begin(); it != common.end();) it = m.count(*it) ? std::next(it) : common.erase(it);
  t.seeds.assign(common.begin(), common.end());
  std::vector<std::vector<double>> v(by_arm.size());
  for (size_t a = 0; a < by_arm.size(); ++a)
    for (int64_t s : t.seeds) v[a].push_back(by_arm[a].at(s));
  const auto pi = stats::improvement_ranking(v);
  for (size_t a = 0; a < by_arm.size(); ++a)
    t.ranking.push_back({names[a], stats::summarize(values(by_arm[a])), pi[a]});
  std::stable_sort(t.ranking.begin(), t.ranking.end(), [](const RankRow& x, const RankRow& y) {
    const double a = std::isnan(x.improvement.estimate) ? x.recovered.mean : x.improvement.estimate;
    const double b = std::isnan(y.improvement.estimate) ? y.recovered.mean : y.improvement.estimate;
    return a > b;
  });
}

}  // namespace

ScorecardGate gate_of(const ScorecardPlan& plan, const ScorecardResults& results, const std::string& task) {
  const size_t ceiling = arm_named(plan, kScorecardCeiling), floor = arm_named(plan, kScorecardFloor);
  if (ceiling == plan.arms.size() || floor == plan.arms.size()) return {false, "pending"};
  const auto c = values(values_of(plan, results, ceiling, task, Probe::Score));
  const auto f = values(values_of(plan, results, floor, task, Probe::Score));
  if (c.empty() || f.empty()) return {false, "pending"};
  return scorecard_gate(stats::summarize(c).mean, stats::summarize(f).mean);
}

TaskTable all_pairs(const ScorecardPlan& plan, const ScorecardResults& results, const std::string& task) {
  TaskTable t;
  t.task = task;
  t.gate = gate_of(plan, results, task);
  std::vector<std::string> names;
  std::vector<std::map<int64_t, double>> by_arm;
  for (size_t a : shown_arms(plan, true)) {
    auto v = values_of(plan, results, a, task, Probe::Score);
    if (v.size() < 2) continue;  // no test with fewer than two seeds
    names.push_back(plan.arms[a].name);
    by_arm.push_back(std::move(v));
  }
  if (by_arm.empty()) return t;
  rank_arms(t, names, by_arm);
  auto index = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) - names.begin(); };
  for (size_t i = 0; i < t.ranking.size(); ++i)
    for (size_t j = i + 1; j < t.ranking.size(); ++j) {
      const auto& a = by_arm[index(t.ranking[i].arm)];
      const auto& b = by_arm[index(t.ranking[j].arm)];
      const auto [x, y] = matched(a, b);
      PairRow p{t.ranking[i].arm, t.ranking[j].arm, x.size(), {}, {}, NAN, NAN, NAN};
      if (plan.grid.paired) {
        p.t = stats::paired_t(y, x);  // of a - b
        p.exact = stats::sign_flip(y, x);
      } else {
        p.t = stats::welch(values(b), values(a));
        p.exact.p_value = NAN;
        p.exact.test = "none";
      }
      p.improvement = stats::probability_of_improvement(values(a), values(b));
      t.pairs.push_back(p);
    }
  std::vector<double> pt, pe;
  for (const auto& p : t.pairs) pt.push_back(p.t.p_value), pe.push_back(p.exact.p_value);
  const auto ht = stats::holm(pt), he = stats::holm(pe);
  for (size_t i = 0; i < t.pairs.size(); ++i) t.pairs[i].p_t_holm = ht[i], t.pairs[i].p_exact_holm = he[i];
  return t;
}

size_t best_rate(const std::vector<std::vector<double>>& by_rate) {
  size_t best = std::string::npos;
  double best_mean = 0;
  for (size_t r = 0; r < by_rate.size(); ++r) {
    if (by_rate[r].empty()) return std::string::npos;
    const double m = stats::summarize(by_rate[r]).mean;
    if (best == std::string::npos || m > best_mean) best = r, best_mean = m;
  }
  return best;
}

std::map<std::string, std::string> choose_learning_rates(const ScorecardPlan& plan,
                                                         const ScorecardResults& results,
                                                         std::map<std::string, std::vector<double>>* means) {
  std::map<std::string, std::string> chosen;
  std::set<std::string> tasks;
  for (const auto& r : plan.runs) tasks.insert(r.task);
  for (size_t a = 0; a < plan.arms.size(); ++a)
    for (const auto& task : tasks) {
      std::vector<std::vector<double>> by_rate;
      std::vector<double> m;
      for (size_t r = 0; r < plan.rates.size(); ++r) {
        const auto v = values_of(plan, results, a, task, Probe::Selection, r);
        by_rate.push_back(v.size() == runs_of(plan, a, task, Probe::Selection, r).size()
                              ? values(v)
                              : std::vector<double>{});
        m.push_back(v.empty() ? NAN : stats::summarize(values(v)).mean);
      }
      const std::string key = plan.arms[a].name + "\t" + task;
      if (means) (*means)[key] = m;
      const size_t best = best_rate(by_rate);
      if (best != std::string::npos) chosen[key] = plan.rates[best];
    }
  return chosen;
}

std::vector<CurveRow> curve_rows(const ScorecardPlan& plan, const ScorecardResults& results,
                                 const SuiteCurve& curve, Probe probe,
                                 const std::vector<std::string>& tasks) {
  std::vector<CurveRow> out;
  for (const auto& task : tasks) {
    if (curve.empty() || !curve.runs_on(task)) continue;
    for (size_t a : shown_arms(plan, true, true)) {
      CurveRow row{task, plan.arms[a].name, {}, {}, true};
      std::vector<std::map<int64_t, double>> levels;
      for (size_t l = 0; l < curve.levels.size(); ++l) {
        levels.push_back(values_of(plan, results, a, task, probe, l));
        row.means.push_back(levels.back().empty() ? NAN : stats::summarize(values(levels.back())).mean);
        row.complete = row.complete && levels.back().size() == runs_of(plan, a, task, probe, l).size();
      }
      if (row.complete) {
        std::vector<std::vector<double>> v;
        for (const auto& l : levels) v.push_back(values(l));
        row.threshold = stats::load_threshold(curve.xs, v);
      }
      out.push_back(row);
    }
  }
  return out;
}

}  // namespace ctlab
