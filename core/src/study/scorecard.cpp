#include "study/scorecard.h"

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/filesystem.hpp>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "compare.h"
#include "config/option_table.h"
#include "grid/grid.h"
#include "grid/scheduler.h"
#include "store/results_layout.h"
#include "store/run_store.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/file_io.h"
#include "util/ini.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

// The function under test: one variant per loss that trains it ("candidate-<loss>").
constexpr const char* kCandidate = "candidate";
constexpr const char* kFloor = "txl_same_cost";
constexpr const char* kCeiling = "txl_reach";

// "conv1d@1" -> "conv1d-1": usable as an experiment and folder name.
std::string slug(const std::string& name) {
  std::string s = name;
  for (auto& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) c = '-';
  return s;
}

// The shipped suite: beside an installed ctlab (share/ctlab/experiments/scorecard), else
// in the source tree it was built from.
std::string default_suite() {
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

// The suite's [capacity] section: the keys of each load level, the first being the load.
struct Capacity {
  std::vector<std::string> keys;
  std::vector<std::vector<std::string>> levels;  // [level][key]
  std::vector<double> loads;                     // the first key's value per level, ascending
  std::vector<std::string> learning_rates;       // [learning_rates] lr: the sweep of --full
  bool empty() const { return keys.empty(); }
};

// One key of [capacity]: its values at every level (the first key's are the loads).
void add_capacity_level_key(const IniEntry& e, const std::string& where, Capacity& capacity) {
  if (!find_option(e.key) || e.key == "dataset" || e.key == "seed" || e.key == "experiment" ||
      e.key == "compression" || e.key == "compression_loss")
    throw Error(where + ": [capacity] '" + e.key +
                "': expected a model, data or training key whose values are the load levels "
                "(e.g. cmem_rate = 1, 2, 4)");
  std::vector<std::string> values;
  for (const auto& v : split(e.value, ',')) values.push_back(trim(v));
  if (values.size() < 2)
    throw Error(where + ": [capacity] " + e.key + " = " + e.value + ": expected at least two levels");
  if (!capacity.keys.empty() && values.size() != capacity.levels.size())
    throw Error(where + ": [capacity] " + e.key + " has " + std::to_string(values.size()) + " levels, " +
                capacity.keys.front() + " has " + std::to_string(capacity.levels.size()));
  if (capacity.keys.empty()) {
    capacity.levels.resize(values.size());
    for (const auto& v : values) {
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(x > 0) || (!capacity.loads.empty() && !(x > capacity.loads.back())))
        throw Error(where + ": [capacity] " + e.key + " = " + e.value +
                    ": the load levels must be positive numbers in ascending order");
      capacity.loads.push_back(x);
    }
  }
  capacity.keys.push_back(e.key);
  for (size_t i = 0; i < values.size(); ++i) capacity.levels[i].push_back(values[i]);
}

// The suite's text (without its [capacity] and [learning_rates] sections, which are the
// scorecard's own), refused
// when it sets what the scorecard sets itself.
std::string read_suite(const std::string& path, Capacity& capacity) {
  const std::string text = read_file(path, "scorecard suite");
  for (const auto& e : parse_ini(text, path).entries) {
    const std::string where = "scorecard suite '" + path + "', line " + std::to_string(e.line);
    if (e.section.empty() && e.key == "experiment")
      throw Error(where +
                  ": sets 'experiment'; the scorecard names its experiments itself (remove the line)");
    if (e.section.rfind(std::string("variant ") + kCandidate, 0) == 0)
      throw Error(where + ": defines [" + e.section + "]; variants named " + kCandidate +
                  "* are the ones the scorecard adds (the function under test)");
    if (e.section.rfind("variant ", 0) == 0 && e.section.find_first_of("@~") != std::string::npos)
      throw Error(where + ": [" + e.section +
                  "]: '@' and '~' in a variant name are kept for the capacity curve's levels and the "
                  "learning-rate sweep");
    if (e.section == "learning_rates") {
      if (e.key != "lr")
        throw Error(where + ": [learning_rates] '" + e.key +
                    "': expected 'lr = a, b, c' (the sweep of --full)");
      for (const auto& v : split(e.value, ',')) capacity.learning_rates.push_back(trim(v));
      for (const auto& lr : capacity.learning_rates) {
        char* end = nullptr;
        const double x = std::strtod(lr.c_str(), &end);
        if (lr.empty() || *end != '\0' || !(x > 0))
          throw Error(where + ": [learning_rates] lr = " + e.value +
                      ": expected positive learning rates besides the suite's own, e.g. lr = 0.001, 0.01");
      }
      continue;
    }
    if (e.section == "capacity") add_capacity_level_key(e, where, capacity);
  }
  // The text without [capacity]: every line from its header to the next header.
  std::string out, line;
  std::istringstream in(text);
  bool skipping = false;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (!t.empty() && t.front() == '[') skipping = t == "[capacity]" || t == "[learning_rates]";
    if (!skipping) out += line + "\n";
  }
  return out;
}

bool is_candidate(const std::string& variant) { return variant.rfind(kCandidate, 0) == 0; }

// The grid: the references under one experiment shared by every scorecard of the suite
// (so their runs are computed once per results root), the candidates under their own, one
// variant per loss; and for the capacity curve, each of those arms (not the floor or the
// ceiling) again at every load level, as variant "<arm>@<load>" (a level equal to the
// suite's own settings is the same run as the arm, and the grid drops it as a duplicate).
std::string grid_text(const std::string& suite_text, const std::string& suite_path,
                      const std::string& experiment, const std::string& fn,
                      const std::vector<std::string>& losses, const Capacity& capacity, bool full) {
  std::string text = "# ctlab scorecard: the suite " + suite_path + " for " + fn +
                     " (written by ctlab; re-running resumes)\nexperiment = scorecard-references\n" +
                     suite_text;
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> arms;
  for (const auto& loss : losses) {
    const std::string name = std::string(kCandidate) + "-" + loss;
    arms.push_back({name, {{"experiment", experiment}, {"compression", fn}, {"compression_loss", loss}}});
  }
  for (const auto& [name, entries] : arms) {
    text += "\n[variant " + name + "]\n";
    for (const auto& [k, v] : entries) text += k + " = " + v + "\n";
  }
  std::vector<std::string> refs;
  for (const auto& e : parse_ini(suite_text, suite_path).entries)
    if (e.section.rfind("variant ", 0) == 0) {
      const std::string name = trim(e.section.substr(8));
      if (std::find(refs.begin(), refs.end(), name) == refs.end())
        refs.push_back(name), arms.push_back({name, {}});
      for (auto& [n, entries] : arms)
        if (n == name) entries.push_back({e.key, e.value});
    }
  // --full: every arm again at each learning rate of the sweep, as "<arm>~<lr>".
  for (const auto& lr : full ? capacity.learning_rates : std::vector<std::string>{})
    for (const auto& [name, entries] : arms) {
      text += "\n[variant " + name + "~" + lr + "]\n";
      for (const auto& [k, v] : entries)
        if (k != "lr") text += k + " = " + v + "\n";
      text += "lr = " + lr + "\n";
    }
  for (size_t level = 0; level < capacity.levels.size(); ++level)
    for (const auto& [name, entries] : arms) {
      if (name == kFloor || name == kCeiling) continue;
      text += "\n[variant " + name + "@" + capacity.levels[level][0] + "]\n";
      for (const auto& [k, v] : entries)
        if (std::find(capacity.keys.begin(), capacity.keys.end(), k) == capacity.keys.end())
          text += k + " = " + v + "\n";
      for (size_t k = 0; k < capacity.keys.size(); ++k)
        text += capacity.keys[k] + " = " + capacity.levels[level][k] + "\n";
    }
  return text;
}

// The losses that train the function: the user's; none for a function without parameters;
// for a trainable one, every auxiliary loss the plugin host has (each is its own arm, so a
// new function is not judged by the loss that suits it least).
std::vector<std::string> losses_for(const ScorecardRequest& q) {
  if (!q.loss.empty()) return {q.loss};
  PluginHost host;
  host.load(q.plugins);
  if (!host.compression_fn(q.function).spec.trainable) return {"none"};
  std::vector<std::string> out;
  for (const auto* l : host.compression_losses())
    if (l->spec.mode == LossMode::Auxiliary && std::find(out.begin(), out.end(), l->spec.name) == out.end())
      out.push_back(l->spec.name);
  if (out.empty())
    throw Error("ctlab scorecard: " + q.function +
                " has parameters but no auxiliary compression loss is "
                "installed to train it; name one with --loss");
  return out;
}

// The suite's shape: a dataset axis (the tasks) and the floor and ceiling variants.
void check_suite_grid(const Grid& grid, const std::string& path) {
  const auto has_axis = [&](const std::string& a) {
    return std::find(grid.axes.begin(), grid.axes.end(), a) != grid.axes.end();
  };
  if (!has_axis("dataset"))
    throw Error("scorecard suite '" + path + "': expected a 'dataset' axis in [grid] (the tasks)");
  for (const char* v : {kFloor, kCeiling}) {
    bool found = false;
    for (const auto& c : grid.cells)
      for (const auto& [k, val] : c.axes) found = found || (k == "variant" && val == v);
    if (!found)
      throw Error("scorecard suite '" + path + "': expected [variant " + v + "] (" +
                  (std::string(v) == kFloor
                       ? "a Transformer-XL of the candidate's cost that cannot reach the answer"
                       : "a Transformer-XL that reaches the answer") +
                  ")");
  }
}

}  // namespace

namespace {

// One number in a printf format ("%.3f", "%g", ...).
std::string fmt(const char* format, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string num(double v) { return fmt("%.3f", v); }

const Cell* find_cell(const std::vector<Cell>& cells, const std::string& variant, const std::string& task) {
  const AxisValues want = {{"variant", variant}, {"dataset", task}};
  for (const auto& c : cells)
    if (c.axes == want && c.values.count("recovered")) return &c;
  return nullptr;
}

// The gate of a task over the cells finished so far ("pending" until both ends have one).
ScorecardGate gate_of(const std::vector<Cell>& cells, const std::string& task) {
  const Cell* ceiling = find_cell(cells, kCeiling, task);
  const Cell* floor = find_cell(cells, kFloor, task);
  if (!ceiling || !floor) return {false, "pending"};
  return scorecard_gate(stats::summarize(ceiling->values.at("recovered")).mean,
                        stats::summarize(floor->values.at("recovered")).mean);
}

// The variants in grid order: the candidates first, then the references, then the floor
// and the ceiling.
std::vector<std::string> column_order(const Grid& grid) {
  std::vector<std::string> mine, refs;
  for (const auto& c : grid.cells)
    for (const auto& [k, v] : c.axes) {
      auto& list = is_candidate(v) ? mine : refs;
      if (k == "variant" && v != kFloor && v != kCeiling && v.find_first_of("@~") == std::string::npos &&
          std::find(list.begin(), list.end(), v) == list.end())
        list.push_back(v);
    }
  mine.insert(mine.end(), refs.begin(), refs.end());
  mine.push_back(kFloor);
  mine.push_back(kCeiling);
  return mine;
}

// A column's title: "conv1d+autoencoding" for a candidate ("max_pool" with no loss), else
// the variant.
std::string title(const std::string& variant, const std::string& fn) {
  if (!is_candidate(variant)) return variant;
  const std::string loss = variant.substr(std::string(kCandidate).size() + 1);
  return loss == "none" ? fn : fn + "+" + loss;
}

// The widest column title, at least `least` characters: the table stays aligned for long
// plugin and loss names.
int title_width(const Grid& grid, const std::string& fn, size_t least) {
  size_t w = least;
  for (const auto& v : column_order(grid)) w = std::max(w, title(v, fn).size());
  return static_cast<int>(w);
}

std::vector<std::string> tasks_of(const Grid& grid) {
  std::vector<std::string> tasks;
  for (const auto& c : grid.cells)
    for (const auto& [k, v] : c.axes)
      if (k == "dataset" && std::find(tasks.begin(), tasks.end(), v) == tasks.end()) tasks.push_back(v);
  return tasks;
}

bool grid_has_variant(const Grid& grid, const std::string& variant) {
  for (const auto& c : grid.cells)
    for (const auto& [k, v] : c.axes)
      if (k == "variant" && v == variant) return true;
  return false;
}

// A cell's values of a metric ordered by seed (paired across the cells of one grid).
std::vector<double> by_seed(const Cell& c, const std::string& metric) {
  const auto& values = c.values.at(metric);
  const auto& seeds = c.seeds.at(metric);
  std::vector<size_t> order(values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::strtoll(seeds[a].c_str(), nullptr, 10) < std::strtoll(seeds[b].c_str(), nullptr, 10);
  });
  std::vector<double> out;
  for (size_t i : order) out.push_back(values[i]);
  return out;
}

// The arm a variant belongs to and its learning rate ("" = the suite's): "mean_pool~0.01"
// -> ("mean_pool", "0.01").
std::pair<std::string, std::string> arm_and_lr(const std::string& variant) {
  const auto at = variant.find('~');
  return at == std::string::npos ? std::make_pair(variant, std::string())
                                 : std::make_pair(variant.substr(0, at), variant.substr(at + 1));
}

std::string variant_of(const AxisValues& axes) {
  for (const auto& [k, v] : axes)
    if (k == "variant") return v;
  return "";
}

// The cells of the finished runs, each arm at its best learning rate (best_learning_rates);
// `chosen` gets "arm task" -> the rate ("" = the suite's).
std::vector<Cell> scorecard_cells(const Grid& grid, const ResultsLayout& layout,
                                  std::map<std::string, std::string>* chosen = nullptr) {
  RunStore store(layout.database());
  std::vector<RunResult> results;
  for (const auto& c : grid.cells)
    if (auto r = final_result(store, c.run_id, c.axes)) results.push_back(*r);
  return group_cells(best_learning_rates(std::move(results), chosen));
}

void print_recovered_table(const Grid& grid, const std::vector<Cell>& cells, const std::string& fn) {
  const auto columns = column_order(grid);
  std::printf("%-12s %-14s", "task", "gate");
  const int width = title_width(grid, fn, 22);
  for (const auto& v : columns) std::printf(" %-*s", width, title(v, fn).c_str());
  std::printf("\n");
  for (const auto& task : tasks_of(grid)) {
    const auto gate = gate_of(cells, task);
    std::printf("%-12s %-14s", task.c_str(),
                gate.informative         ? "passes"
                : gate.text == "pending" ? "pending"
                                         : "uninformative");
    for (const auto& v : columns) {
      const Cell* c = find_cell(cells, v, task);
      std::printf(" %-*s", width,
                  c ? format_mean_ci(stats::summarize(c->values.at("recovered")), 3).c_str() : "-");
    }
    std::printf("\n");
  }
  for (const auto& task : tasks_of(grid)) {
    const auto g = gate_of(cells, task);
    if (!g.informative && g.text != "pending") std::printf("  %s: %s\n", task.c_str(), g.text.c_str());
  }
}

// One row per task, candidate and reference (every other column but the ceiling).
void print_comparisons(const Grid& grid, const std::vector<Cell>& cells, const ResultsLayout& layout,
                       const std::string& fn) {
  std::printf(
      "\n%s against each reference, per task that passes the gate: difference in recovered [95%% CI]; %s\n",
      fn.c_str(),
      grid.paired ? "p from a paired t-test over seeds, and from an exact sign-flip test (its smallest "
                    "possible p with n seeds is 2^(1-n))"
                  : "p from Welch's t-test over seeds");
  const int width = title_width(grid, fn, 20);
  std::printf("%-12s %-*s %-16s %-24s %-10s %-10s %s\n", "task", width, "arm", "vs", "difference", "p",
              "p exact", "verdict");
  const auto columns = column_order(grid);
  for (const auto& task : tasks_of(grid)) {
    const auto gate = gate_of(cells, task);
    for (const auto& arm : columns) {
      const Cell* mine = is_candidate(arm) ? find_cell(cells, arm, task) : nullptr;
      if (!mine) continue;
      for (const auto& ref : columns) {
        if (is_candidate(ref) || ref == kCeiling) continue;
        for (const auto& r : compare_to_baseline(cells, {{"variant", ref}}, {"recovered"},
                                                 segment_values(layout), grid.paired)) {
          if (r.cell != mine->name) continue;
          if (!gate.informative)
            std::printf("%-12s %-*s %-16s %s\n", task.c_str(), width, title(arm, fn).c_str(), ref.c_str(),
                        gate.text == "pending" ? "(gate pending)" : "(task uninformative: not compared)");
          else
            std::printf("%-12s %-*s %-16s %-24s %-10s %-10s %s\n", task.c_str(), width,
                        title(arm, fn).c_str(), ref.c_str(), format_diff_ci(r.c, 3).c_str(),
                        format_p(r.c.p_value).c_str(), r.exact ? format_p(r.exact->p_value).c_str() : "-",
                        verdict(r).c_str());
        }
      }
    }
  }
}

// "1.55 [1.43, 1.70]", with "< 1" / "> 4" for a threshold beyond the loads measured.
std::string format_threshold(const stats::Threshold& t, const std::vector<double>& loads) {
  auto one = [&](double v) {
    if (std::isnan(v)) return std::string("-");
    if (v == -INFINITY) return "< " + fmt("%g", loads.front());
    if (v == INFINITY) return "> " + fmt("%g", loads.back());
    return fmt("%.2f", v);
  };
  return one(t.estimate) + " [" + one(t.low) + ", " + one(t.high) + "]";
}

// Per task and arm: recovered at each load level (mean over seeds), and the load at which it
// falls to 0.5 with a bootstrap interval over seeds.
void print_capacity(const Grid& grid, const std::vector<Cell>& cells, const std::string& fn,
                    const Capacity& capacity) {
  if (capacity.empty()) return;
  std::string levels;
  for (size_t i = 0; i < capacity.levels.size(); ++i) {
    levels += i ? "; " : "";
    for (size_t k = 0; k < capacity.keys.size(); ++k)
      levels += (k ? " " : "") + capacity.keys[k] + " " + capacity.levels[i][k];
  }
  std::printf(
      "\ncapacity: recovered at each load (%s), mean over seeds, and the load at which it falls to 0.5 "
      "[95%% bootstrap CI over seeds]\n",
      levels.c_str());
  const int width = title_width(grid, fn, 20);
  std::printf("%-12s %-*s", "task", width, "arm");
  size_t w = 9;  // a column per level, as wide as its title
  for (const auto& l : capacity.levels) w = std::max(w, capacity.keys[0].size() + 1 + l[0].size());
  const int cw = static_cast<int>(w);
  for (const auto& l : capacity.levels) std::printf(" %-*s", cw, (capacity.keys[0] + "=" + l[0]).c_str());
  std::printf(" %s\n", "load at 0.5");
  for (const auto& task : tasks_of(grid))
    for (const auto& arm : column_order(grid)) {
      if (arm == kFloor || arm == kCeiling) continue;
      std::vector<double> loads;
      std::vector<std::vector<double>> values;
      std::printf("%-12s %-*s", task.c_str(), width, title(arm, fn).c_str());
      for (size_t i = 0; i < capacity.levels.size(); ++i) {
        // The level's cell: its own variant, or the arm itself when the level is the suite's
        // own setting (the duplicate the grid dropped).
        const Cell* c = find_cell(cells, arm + "@" + capacity.levels[i][0], task);
        if (!c && !grid_has_variant(grid, arm + "@" + capacity.levels[i][0])) c = find_cell(cells, arm, task);
        if (!c) {
          std::printf(" %-*s", cw, "-");
          continue;
        }
        std::printf(" %-*s", cw, num(stats::summarize(c->values.at("recovered")).mean).c_str());
        loads.push_back(capacity.loads[i]);
        values.push_back(by_seed(*c, "recovered"));
      }
      const bool complete = loads.size() == capacity.levels.size();
      std::printf(" %s\n", complete ? format_threshold(stats::load_threshold(loads, values), loads).c_str()
                                    : "(pending)");
    }
}

// Per task and arm with compressed memory: what a linear probe decodes from the compressed
// slots (retained), what the model recovers, and what it recovers with compressed memory
// knocked out (used = the difference).
void print_retention(const Grid& grid, const std::vector<Cell>& cells, const std::string& fn,
                     const std::string& root) {
  std::printf(
      "\nretained vs used: retained = share of the compressed tokens' identity a linear probe decodes from "
      "the compressed slots; recovered with compressed memory as trained and knocked out; mean [95%% CI] "
      "over seeds\n");
  const int width = title_width(grid, fn, 20);
  std::printf("%-12s %-*s %-24s %-24s %-24s %-15s %s\n", "task", width, "arm", "retained", "recovered",
              "recovered, no cmem", "by phase min-max", "mass on source");
  // "0.01-0.75": seed means of one or two metrics.
  auto mean_of = [](const Cell* c, const char* a, const char* b) {
    auto one = [c](const char* m) {
      return c && c->values.count(m) ? num(stats::summarize(c->values.at(m)).mean) : std::string("-");
    };
    return b ? one(a) + "-" + one(b) : one(a);
  };
  auto cell_text = [](const Cell* c, const char* metric) {
    return c && c->values.count(metric) ? format_mean_ci(stats::summarize(c->values.at(metric)), 3)
                                        : std::string("-");
  };
  for (const auto& task : tasks_of(grid))
    for (const auto& arm : column_order(grid)) {
      if (arm == kFloor || arm == kCeiling) continue;
      const Cell* c = find_cell(cells, arm, task);
      std::printf("%-12s %-*s %-24s %-24s %-24s %-15s %s\n", task.c_str(), width, title(arm, fn).c_str(),
                  cell_text(c, "retained").c_str(), cell_text(c, "recovered").c_str(),
                  cell_text(c, "recovered_no_cmem").c_str(),
                  mean_of(c, "recovered_phase_min", "recovered_phase_max").c_str(),
                  mean_of(c, "source_mass", nullptr).c_str());
    }
  std::printf(
      "(per distance bucket: `ctlab export retention --results %s`; by query phase and position, with the "
      "attention mass on the slot holding each source: `ctlab export readout`)\n",
      root.c_str());
}

void print_scorecard(const Grid& grid, const ResultsLayout& layout, const std::string& fn,
                     const std::vector<std::string>& losses, const std::string& candidate_experiment,
                     const Capacity& capacity, bool full) {
  std::map<std::string, std::string> chosen;
  const auto cells = scorecard_cells(grid, layout, &chosen);
  std::printf(
      "\nscorecard: %s trained by %s (one arm each); share of the long-range information recovered (0 = "
      "none, 1 = "
      "ideal), mean [95%% CI] over seeds. Gate: %s >= %s and %s <= %s, else the task is uninformative\n",
      fn.c_str(), join(losses, ", ").c_str(), kCeiling, num(kScorecardCeilingMin).c_str(), kFloor,
      num(kScorecardFloorMax).c_str());
  if (full && !capacity.learning_rates.empty()) {
    // Which learning rate each arm's numbers come from.
    std::string base = "the suite's";
    for (const auto& c : grid.cells)
      if (variant_of(c.axes) == kCeiling) base = fmt("%g", c.cfg.train.lr);
    std::printf("learning rate of each arm, the best of %s and %s by mean recovered on validation:",
                base.c_str(), join(capacity.learning_rates, ", ").c_str());
    for (const auto& [k, lr] : chosen)
      std::printf(" %s %s;", k.c_str(), lr.empty() ? base.c_str() : lr.c_str());
    std::printf("\n");
  }
  print_recovered_table(grid, cells, fn);
  print_comparisons(grid, cells, layout, fn);
  print_capacity(grid, cells, fn, capacity);
  print_retention(grid, cells, fn, layout.root());
  std::printf("(`ctlab report %s --results %s` has every table of the candidate's runs)\n",
              candidate_experiment.c_str(), layout.root().c_str());
}

}  // namespace

std::vector<RunResult> best_learning_rates(std::vector<RunResult> results,
                                           std::map<std::string, std::string>* chosen) {
  // "arm axis values..." without the variant and the seed: the cell an arm's rates compete in.
  auto key_of = [](const AxisValues& axes, const std::string& arm) {
    std::string k = arm;
    for (const auto& [a, v] : axes)
      if (a != "variant" && a != "seed") k += " " + v;
    return k;
  };
  std::map<std::string, std::pair<double, std::string>> best;  // key -> (mean recovered, lr)
  for (const auto& c : group_cells(results)) {
    const auto [arm, lr] = arm_and_lr(variant_of(c.axes));
    if (!c.values.count("recovered") || arm.find('@') != std::string::npos) continue;
    const double m = stats::summarize(c.values.at("recovered")).mean;
    const auto it = best.find(key_of(c.axes, arm));
    if (it == best.end() || m > it->second.first) best[key_of(c.axes, arm)] = {m, lr};  // ties: first seen
  }
  for (auto& r : results)
    for (auto& [a, v] : r.axes) {
      if (a != "variant" || v.find('@') != std::string::npos) continue;
      const auto [arm, lr] = arm_and_lr(v);
      const auto it = best.find(key_of(r.axes, arm));
      v = it != best.end() && it->second.second != lr ? "" : arm;  // "": not the chosen rate, dropped
    }
  results.erase(std::remove_if(results.begin(), results.end(),
                               [](const RunResult& r) { return variant_of(r.axes).empty(); }),
                results.end());
  if (chosen)
    for (const auto& [k, b] : best) (*chosen)[k] = b.second;
  return results;
}

ScorecardGate scorecard_gate(double ceiling, double floor) {
  if (!(ceiling >= kScorecardCeilingMin))
    return {false, std::string("uninformative: ") + kCeiling + " recovers " + num(ceiling) + " < " +
                       num(kScorecardCeilingMin) + " (not learned within the suite's budget)"};
  if (!(floor <= kScorecardFloorMax))
    return {false, std::string("uninformative: ") + kFloor + " recovers " + num(floor) + " > " +
                       num(kScorecardFloorMax) + " (the answer is within its reach)"};
  return {true, "passes"};
}

int run_scorecard(const ScorecardRequest& q) {
  const std::string& fn = q.function;
  const auto losses = losses_for(q);
  const std::string suite = q.suite.empty() ? default_suite() : q.suite;
  Capacity capacity;
  const std::string suite_text = read_suite(suite, capacity);
  const ResultsLayout layout(q.results_root);
  const std::string experiment = "scorecard-" + slug(fn) + (!q.loss.empty() ? "-" + slug(q.loss) : "");
  const std::string dir = layout.root() + "/scorecards/" + experiment;
  if (q.full && capacity.learning_rates.empty())
    throw Error("ctlab scorecard --full: the suite '" + suite +
                "' has no [learning_rates] section (lr = a, b, c) to sweep");
  const std::string text = grid_text(suite_text, suite, experiment, fn, losses, capacity, q.full);
  // Validate before anything is written: expand a temporary copy first.
  const fs::path tmp = fs::temp_directory_path() / fs::unique_path("ctlab-scorecard-%%%%%%%%.ini");
  write_file_atomic(tmp.string(), text);
  Grid grid;
  try {
    grid = expand_grid(tmp.string(), q.plugins, q.sets);
    check_suite_grid(grid, suite);
  } catch (...) {
    fs::remove(tmp);
    throw;
  }
  fs::remove(tmp);
  fs::create_directories(dir);
  write_file_atomic(dir + "/grid.ini", text);
  grid.path = dir + "/grid.ini";
  GridRunOptions o;
  o.jobs = q.jobs;
  o.results_root = layout.root();
  o.plugins = q.plugins;
  o.on_finished = [&](const GridCell&) { print_recovered_table(grid, scorecard_cells(grid, layout), fn); };
  const int rc = run_grid(grid, o);
  print_scorecard(grid, layout, fn, losses, experiment, capacity, q.full);
  return rc;
}

}  // namespace ctlab
