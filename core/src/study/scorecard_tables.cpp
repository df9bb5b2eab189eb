// The scorecard's tables (scorecard_tables.h): built from the statistics, written as text,
// Markdown or CSV.
#include "study/scorecard_tables.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "compare.h"
#include "stats.h"
#include "util/format.h"
#include "util/text.h"

namespace ctlab {

namespace {

// A curve level as the suite writes it (%g: 24, 0.5), for "below/above every level".
std::string level_text(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string seeds_text(const std::vector<int64_t>& seeds) {
  std::vector<std::string> s;
  for (auto x : seeds) s.push_back(std::to_string(x));
  return s.empty() ? "none" : join(s, ", ");
}

std::string summary_text(const std::map<int64_t, double>& by_seed) {
  if (by_seed.empty()) return "-";
  std::vector<double> v;
  for (const auto& [s, x] : by_seed) v.push_back(x);
  return format_mean_ci(stats::summarize(v), 3);
}

std::string interval_text(const stats::Interval& i) {
  if (std::isnan(i.estimate)) return "-";
  return format_fixed(i.estimate, 3) + " [" + format_fixed(i.low, 3) + ", " + format_fixed(i.high, 3) + "]";
}

// "1.55 [1.43, 1.70]", with "< 1" / "> 4" for a threshold beyond the levels measured.
std::string threshold_text(const stats::Threshold& t, const std::vector<double>& xs) {
  auto one = [&](double v) {
    if (std::isnan(v)) return std::string("-");
    if (v == -INFINITY) return "< " + level_text(xs.front());
    if (v == INFINITY) return "> " + level_text(xs.back());
    return format_fixed(v, 2);
  };
  return std::isnan(t.estimate) ? "(pending)"
                                : one(t.estimate) + " [" + one(t.low) + ", " + one(t.high) + "]";
}

// Apart at 0.01 or 0.05 when both Holm-adjusted p are below it.
std::string apart_text(const PairRow& p) {
  const double worst = std::max(p.p_t_holm, p.p_exact_holm);
  if (std::isnan(worst)) return "no test";
  return worst < 0.01 ? "apart (< 0.01)" : worst < 0.05 ? "apart (< 0.05)" : "not apart";
}

ScoreTable ranking_table(const ScorecardView& v, const TaskTable& t) {
  ScoreTable out;
  out.title = "\n" + t.task +
              ": arms ranked by the probability of improvement (Agarwal et al. 2021): the mean "
              "over the other arms of P(this arm's run > the other's), 95% bootstrap CI over seeds " +
              seeds_text(t.seeds) +
              (v.full ? " (learning rates chosen on seeds " + seeds_text(v.seeds.selection) + ")" : "");
  out.header = {"rank", "arm", "recovered [95% CI]", "P(improvement) [95% CI]"};
  for (size_t i = 0; i < t.ranking.size(); ++i)
    out.rows.push_back({std::to_string(i + 1), t.ranking[i].arm, format_mean_ci(t.ranking[i].recovered, 3),
                        interval_text(t.ranking[i].improvement)});
  return out;
}

// What the exact test can say with n seeds over m pairs (stats::seeds_for_exact_holm).
std::string exact_floor_text(size_t n, size_t m) {
  const double floor = std::pow(2.0, 1.0 - static_cast<double>(n));
  std::string out = "(the exact test's smallest p with " + std::to_string(n) +
                    " seeds is 2^(1-n) = " + format_fixed(floor, 4);
  if (m > 1) {
    const int64_t needed = stats::seeds_for_exact_holm(static_cast<int64_t>(m), 0.01);
    out += "; Holm over " + std::to_string(m) + " pairs keeps every exact p at or above " +
           format_fixed(std::min(1.0, static_cast<double>(m) * floor), 4);
    if (needed > static_cast<int64_t>(n))
      out += ", so one below 0.01 needs " + std::to_string(needed) + " seeds (--seeds " +
             std::to_string(needed) + ")";
  }
  return out + ")";
}

ScoreTable pairs_table(const TaskTable& t, bool paired) {
  ScoreTable out;
  out.title =
      "\n" + t.task +
      ": every arm against every other (a ranked above b): difference in recovered "
      "[95% CI]; " +
      (paired ? "paired t-test and exact sign-flip test over the seeds both have" : "Welch's t-test") +
      ", p raw and Holm-adjusted over the " + std::to_string(t.pairs.size()) + " pairs; P(a > b)";
  out.header = {"a",        "b",     "a - b [95% CI]", "p t", "p t Holm", "p exact", "p exact Holm",
                "P(a > b)", "seeds", "verdict"};
  for (const auto& p : t.pairs)
    out.rows.push_back({p.a, p.b, format_diff_ci(p.t, 3), format_p(p.t.p_value), format_p(p.p_t_holm),
                        format_p(p.exact.p_value), format_p(p.p_exact_holm), format_fixed(p.improvement, 3),
                        std::to_string(p.seeds), apart_text(p)});
  out.notes.push_back(exact_floor_text(t.seeds.size(), t.pairs.size()));
  return out;
}

ScoreTable curve_table(const ScorecardView& v, const SuiteCurve& c, Probe probe, const char* what) {
  ScoreTable out;
  std::vector<std::string> levels;
  for (const auto& l : c.levels) {
    std::vector<std::string> kv;
    for (size_t k = 0; k < c.keys.size(); ++k) kv.push_back(c.keys[k] + " " + l[k]);
    levels.push_back(join(kv, " "));
  }
  out.title = "\n" + c.name + ": recovered at each level (" + join(levels, "; ") +
              "), mean over seeds, and the " + what +
              " at which it falls to 0.5 [95% bootstrap CI over seeds]";
  out.header = {"task", "arm"};
  for (const auto& l : c.levels) out.header.push_back(c.keys[0] + "=" + l[0]);
  out.header.push_back(std::string(what) + " at 0.5");
  for (const auto& r : curve_rows(*v.plan, *v.results, c, probe, v.suite->tasks)) {
    std::vector<std::string> row = {r.task, r.arm};
    for (double m : r.means) row.push_back(format_fixed(m, 3));
    row.push_back(r.complete ? threshold_text(r.threshold, c.xs) : "(pending)");
    out.rows.push_back(row);
  }
  return out;
}

std::string phases(const std::string& low, const std::string& high) {
  return low == "-" && high == "-" ? "-" : low + " - " + high;
}

ScoreTable retention_table(const ScorecardView& v) {
  ScoreTable out;
  out.title =
      "\nretained vs used: retained = share of the compressed tokens' identity a linear probe decodes from "
      "the compressed slots; recovered with compressed memory as trained and knocked out; mean [95% CI] "
      "over seeds";
  out.header = {"task",          "arm", "retained", "recovered", "recovered, no cmem", "by phase, min - max",
                "mass on source"};
  const auto& p = *v.plan;
  for (const auto& task : v.suite->tasks)
    for (size_t a : shown_arms(p, true, true)) {
      auto m = [&](const char* metric) { return values_of(p, *v.results, a, task, Probe::Score, 0, metric); };
      auto mean = [&](const char* metric) {
        const auto x = m(metric);
        std::vector<double> xs;
        for (const auto& [s, y] : x) xs.push_back(y);
        return xs.empty() ? std::string("-") : format_fixed(stats::summarize(xs).mean, 3);
      };
      out.rows.push_back({task, p.arms[a].name, summary_text(m("retained")), summary_text(m("recovered")),
                          summary_text(m("recovered_no_cmem")),
                          phases(mean("recovered_phase_min"), mean("recovered_phase_max")),
                          mean("source_mass")});
    }
  out.notes.push_back("(per distance bucket: `ctlab export retention --results " + v.root +
                      "`; by query phase and position: `ctlab export readout`)");
  return out;
}

ScoreTable learning_rate_table(const ScorecardView& v) {
  ScoreTable out;
  out.title = "\nlearning rates: each arm's rate chosen by mean recovered on the selection seeds " +
              seeds_text(v.seeds.selection) + "; its scores come from the scored seeds " +
              seeds_text(v.seeds.scored);
  out.header = {"arm", "task"};
  for (const auto& r : v.plan->rates) out.header.push_back(r.empty() ? "suite's lr" : "lr " + r);
  out.header.push_back("chosen");
  for (const auto& [key, means] : v.lr_means) {
    const auto tab = key.find('\t');
    std::vector<std::string> row = {key.substr(0, tab), key.substr(tab + 1)};
    for (double m : means) row.push_back(format_fixed(m, 3));
    const auto c = v.chosen_lr.find(key);
    row.push_back(c == v.chosen_lr.end() ? "(pending)" : c->second.empty() ? "suite's" : c->second);
    out.rows.push_back(row);
  }
  return out;
}

}  // namespace

std::string as_text(const ScoreTable& t) {
  std::vector<size_t> w(t.header.size(), 0);
  for (size_t i = 0; i < t.header.size(); ++i) w[i] = t.header[i].size();
  for (const auto& r : t.rows)
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i)
      s +=
          (i ? "  " : "") + cells[i] + (i + 1 < cells.size() ? std::string(w[i] - cells[i].size(), ' ') : "");
    return s + "\n";
  };
  std::string out = t.title.empty() ? "" : t.title + "\n";
  if (!t.header.empty()) out += line(t.header);
  for (const auto& r : t.rows) out += line(r);
  for (const auto& n : t.notes) out += n + "\n";
  return out;
}

std::string as_markdown(const ScoreTable& t) {
  std::string out = t.title.empty() ? "" : trim(t.title) + "\n\n";
  if (!t.header.empty()) {
    out += "| " + join(t.header, " | ") + " |\n|";
    for (size_t i = 0; i < t.header.size(); ++i) out += "---|";
    out += "\n";
  }
  for (const auto& r : t.rows) out += "| " + join(r, " | ") + " |\n";
  for (const auto& n : t.notes) out += "\n" + n + "\n";
  return out + "\n";
}

ScoreTable recovered_table(const ScorecardView& v) {
  ScoreTable out;
  out.title =
      "\nscorecard: share of the long-range information recovered (0 = none, 1 = ideal), mean [95% CI] "
      "over the scored seeds " +
      seeds_text(v.seeds.scored) + ". Gate: " + kScorecardCeiling +
      " >= " + format_fixed(kScorecardCeilingMin, 3) + " and " + kScorecardFloor +
      " <= " + format_fixed(kScorecardFloorMax, 3) + ", else the task is uninformative";
  out.header = {"arm"};
  std::vector<std::string> gates = {"gate"};
  for (const auto& task : v.suite->tasks) {
    out.header.push_back(task);
    const auto g = gate_of(*v.plan, *v.results, task);
    gates.push_back(g.informative ? "passes" : g.text == "pending" ? "pending" : "uninformative");
    if (!g.informative && g.text != "pending") out.notes.push_back("  " + task + ": " + g.text);
  }
  out.rows.push_back(gates);
  for (size_t a : shown_arms(*v.plan, false)) {
    std::vector<std::string> row = {v.plan->arms[a].name};
    for (const auto& task : v.suite->tasks) {
      const auto by_seed = values_of(*v.plan, *v.results, a, task, Probe::Score);
      const size_t planned = runs_of(*v.plan, a, task, Probe::Score).size();
      row.push_back(summary_text(by_seed) + (!by_seed.empty() && by_seed.size() < planned
                                                 ? " (" + std::to_string(by_seed.size()) + " of " +
                                                       std::to_string(planned) + " seeds)"
                                                 : ""));
    }
    out.rows.push_back(row);
  }
  for (const auto& arm : v.plan->arms)
    if (!arm.same_as.empty() && arm.same_as != arm.name)
      out.notes.push_back("  " + arm.name + " is the same configuration as " + arm.same_as +
                          ": its rows are " + arm.same_as + "'s");
  return out;
}

std::vector<ScoreTable> scorecard_tables(const ScorecardView& v) {
  std::vector<ScoreTable> out = {recovered_table(v)};
  if (v.full) out.push_back(learning_rate_table(v));
  for (const auto& task : v.suite->tasks) {
    const auto t = all_pairs(*v.plan, *v.results, task);
    if (!t.gate.informative) {
      out.push_back({"\n" + task + ": " +
                         (t.gate.text == "pending" ? "(gate pending)" : "(task uninformative: not compared)"),
                     {},
                     {},
                     {}});
      continue;
    }
    out.push_back(ranking_table(v, t));
    out.push_back(pairs_table(t, v.plan->grid.paired));
  }
  if (!v.suite->capacity.empty()) out.push_back(curve_table(v, v.suite->capacity, Probe::Capacity, "load"));
  if (!v.suite->reach.empty()) out.push_back(curve_table(v, v.suite->reach, Probe::Reach, "distance"));
  out.push_back(retention_table(v));
  return out;
}

Table comparisons_table(const ScorecardView& v) {
  Table t;
  t.columns = {"task",
               "a",
               "b",
               "diff",
               "ci_low",
               "ci_high",
               "p_t",
               "p_t_holm",
               "p_exact",
               "p_exact_holm",
               "p_improvement",
               "seeds",
               "scored_seeds",
               "lr_chosen_on_seeds"};
  t.numeric = {false, false, false, true, true, true, true, true, true, true, true, true, false, false};
  for (const auto& task : v.suite->tasks) {
    const auto tt = all_pairs(*v.plan, *v.results, task);
    if (!tt.gate.informative) continue;
    for (const auto& p : tt.pairs)
      t.rows.push_back({task, p.a, p.b, export_number(p.t.diff), export_number(p.t.ci_low),
                        export_number(p.t.ci_high), export_number(p.t.p_value), export_number(p.p_t_holm),
                        export_number(p.exact.p_value), export_number(p.p_exact_holm),
                        export_number(p.improvement), std::to_string(p.seeds), seeds_text(tt.seeds),
                        v.full ? seeds_text(v.seeds.selection) : ""});
  }
  return t;
}

}  // namespace ctlab
