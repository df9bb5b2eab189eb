// Reading a scorecard suite (scorecard_suite.h): one pass over the INI entries into a Suite,
// every refusal naming the file and line.
#include "study/scorecard_suite.h"

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/filesystem.hpp>
#include <cstdlib>
#include <map>

#include "config/option_table.h"
#include "config/options.h"
#include "util/error.h"
#include "util/ini.h"
#include "util/sha256.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {

bool SuiteCurve::runs_on(const std::string& task) const {
  return tasks.empty() || std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

namespace {

// A positive number, or nullopt-like NaN.
double positive_number(const std::string& v) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  return !v.empty() && *end == '\0' && x > 0 ? x : NAN;
}

// One key of a curve section: `dataset` (the tasks it runs on), or a key whose values are
// the levels (the first such key gives the x values, which must ascend).
void add_curve_key(const IniEntry& e, const std::string& where, SuiteCurve& curve) {
  if (e.key == "dataset") {
    curve.tasks = split(e.value, ',');
    return;
  }
  if (!find_option(e.key) || e.key == "seed" || e.key == "experiment" || e.key == "compression" ||
      e.key == "compression_loss")
    throw Error(where + ": [" + curve.name + "] '" + e.key +
                "': expected `dataset = tasks` or a model, data or training key whose values are the levels "
                "(e.g. cmem_rate = 1, 2, 4)");
  const auto values = split(e.value, ',');
  if (values.size() < 2)
    throw Error(where + ": [" + curve.name + "] " + e.key + " = " + e.value +
                ": expected at least two levels");
  if (!curve.keys.empty() && values.size() != curve.levels.size())
    throw Error(where + ": [" + curve.name + "] " + e.key + " has " + std::to_string(values.size()) +
                " levels, " + curve.keys.front() + " has " + std::to_string(curve.levels.size()));
  if (curve.keys.empty()) {
    curve.levels.resize(values.size());
    for (const auto& v : values) {
      const double x = positive_number(v);
      if (!(x > 0) || (!curve.xs.empty() && !(x > curve.xs.back())))
        throw Error(where + ": [" + curve.name + "] " + e.key + " = " + e.value +
                    ": the levels must be positive numbers in ascending order");
      curve.xs.push_back(x);
    }
  }
  curve.keys.push_back(e.key);
  for (size_t i = 0; i < values.size(); ++i) curve.levels[i].push_back(values[i]);
}

void add_learning_rate_key(const IniEntry& e, const std::string& where, Suite& suite) {
  if (e.key == "selection_seeds") {
    char* end = nullptr;
    const long long n = std::strtoll(e.value.c_str(), &end, 10);
    if (e.value.empty() || *end != '\0' || n < 1 || n > 20)
      throw Error(where + ": [learning_rates] selection_seeds = " + e.value +
                  ": expected a count from 1 to 20 (the seeds that choose each arm's rate)");
    suite.selection_seeds = n;
    return;
  }
  if (e.key != "lr")
    throw Error(where + ": [learning_rates] '" + e.key +
                "': expected 'lr = a, b, c' (the sweep of --full) or 'selection_seeds = n'");
  suite.learning_rates = split(e.value, ',');
  for (const auto& lr : suite.learning_rates)
    if (!(positive_number(lr) > 0))
      throw Error(where + ": [learning_rates] lr = " + e.value +
                  ": expected positive learning rates besides the suite's own, e.g. lr = 0.001, 0.01");
}

void add_grid_key(const IniEntry& e, const std::string& where, Suite& suite) {
  if (e.key == "dataset") {
    suite.tasks = split(e.value, ',');
  } else if (e.key == "seeds" || e.key == "seed") {
    suite.seeds.clear();
    for (const auto& v : split(e.value, ',')) {
      char* end = nullptr;
      const long long s = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || s < 0)
        throw Error(where + ": [grid] seeds = " + e.value + ": expected non-negative integers");
      suite.seeds.push_back(s);
    }
  } else if (e.key == "paired") {
    if (e.value != "true" && e.value != "false")
      throw Error(where + ": paired = '" + e.value + "': expected true or false");
    suite.paired = e.value == "true";
  } else {
    throw Error(where + ": [grid] '" + e.key +
                "': a scorecard suite's [grid] holds `dataset` (the tasks), `seeds` and `paired`");
  }
}

void add_entry(const IniEntry& e, const std::string& where, Suite& suite,
               std::map<std::string, std::string>& base_set_at) {
  if (e.section == "grid") return add_grid_key(e, where, suite);
  if (e.section == "capacity") return add_curve_key(e, where, suite.capacity);
  if (e.section == "reach") return add_curve_key(e, where, suite.reach);
  if (e.section == "learning_rates") return add_learning_rate_key(e, where, suite);
  if (starts_with(e.section, "variant")) {
    const std::string name = trim(e.section.substr(7));
    if (name.empty()) throw Error(where + ": a variant section needs a name: [variant NAME]");
    auto it = std::find_if(suite.references.begin(), suite.references.end(),
                           [&](const SuiteArm& a) { return a.name == name; });
    if (it == suite.references.end()) it = suite.references.insert(it, SuiteArm{name, {}});
    it->settings.push_back({e.key, e.value, where});
    return;
  }
  const auto key = ini_entry_key(e, where);
  if (key == "experiment")
    throw Error(where + ": sets 'experiment'; the scorecard names its experiment itself (remove the line)");
  check_key_once(base_set_at, key, where);
  suite.base.push_back({key, e.value, where});
  if (key == "cmem_positions") suite.positions = trim(e.value);
}

// What a suite must hold besides what each entry checks.
void check_suite(const Suite& suite) {
  const std::string at = "scorecard suite '" + suite.path + "'";
  if (suite.tasks.empty()) throw Error(at + ": expected a 'dataset' axis in [grid] (the tasks)");
  for (const char* v : {kScorecardFloor, kScorecardCeiling})
    if (std::none_of(suite.references.begin(), suite.references.end(),
                     [&](const SuiteArm& a) { return a.name == v; }))
      throw Error(at + ": expected [variant " + v + "] (" +
                  (std::string(v) == kScorecardFloor
                       ? "a Transformer-XL of the candidate's cost that cannot reach the answer"
                       : "a Transformer-XL that reaches the answer") +
                  ")");
  for (const SuiteCurve* c : {&suite.capacity, &suite.reach})
    for (const auto& t : c->tasks)
      if (std::find(suite.tasks.begin(), suite.tasks.end(), t) == suite.tasks.end())
        throw Error(at + ": [" + c->name + "] dataset = " + t + ": not a task of [grid] dataset (" +
                    join(suite.tasks, ", ") + ")");
  if (suite.seeds.empty()) throw Error(at + ": expected `seeds = 1, 2, ...` in [grid] (the scored seeds)");
}

}  // namespace

Suite read_suite(const std::string& path) {
  Suite suite;
  suite.path = path;
  suite.positions = "slot";
  suite.capacity.name = "capacity";
  suite.reach.name = "reach";
  const IniFile ini = read_ini(path);
  std::map<std::string, std::string> base_set_at;
  std::string canon;  // every entry but the seeds: what decides the runs of each arm
  for (const auto& e : ini.entries) {
    const std::string where = path + ":" + std::to_string(e.line);
    add_entry(e, where, suite, base_set_at);
    if (!(e.section == "grid" && (e.key == "seeds" || e.key == "seed")))
      canon += e.section + "\x1f" + e.key + "\x1f" + trim(e.value) + "\n";
  }
  check_suite(suite);
  suite.text_hash = sha256_hex(canon);
  return suite;
}

std::string default_suite_path() {
  boost::system::error_code ec;
  const auto exe = boost::dll::program_location(ec);
  std::vector<fs::path> candidates;
  if (!ec)
    candidates.push_back(exe.parent_path().parent_path() / "share" / "ctlab" / "experiments" / "scorecard" /
                         "suite.ini");
  candidates.push_back(fs::path(CTLAB_SOURCE_DIR) / "experiments" / "scorecard" / "suite.ini");
  for (const auto& c : candidates)
    if (fs::exists(c)) return c.string();
  throw Error(
      "ctlab scorecard: the suite experiments/scorecard/suite.ini is not installed beside ctlab; "
      "give one with --suite FILE");
}

}  // namespace ctlab
