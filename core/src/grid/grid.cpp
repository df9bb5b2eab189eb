// Grid parsing, expansion and up-front validation.
#include "grid/grid.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "session/resolve.h"
#include "util/conditions.h"
#include "util/error.h"
#include "util/ini.h"
#include "util/text.h"

namespace ctlab {
namespace {

struct Setting {
  std::string key, value, where;
};

struct Axis {
  std::string name;
  std::vector<std::string> values;  // for "variant": the variant names
  std::string where;
};

struct Condition {
  std::string axis, value;
};

// The next combination, the last axis fastest; false after the last one.
bool advance(std::vector<size_t>& pos, const std::vector<Axis>& axes) {
  for (size_t a = axes.size(); a-- > 0;) {
    if (++pos[a] < axes[a].values.size()) return true;
    pos[a] = 0;
  }
  return false;
}

// A parsed grid file: base settings, axes (variant first, seed last), variants, excludes.
struct GridSpec {
  std::vector<Setting> base;
  std::vector<Axis> axes;
  std::map<std::string, std::vector<Setting>> variants;
  std::vector<std::vector<Condition>> excludes;
  std::vector<Condition> baseline;
  std::string baseline_text, baseline_where;
  bool paired = false;
};

// One [grid] axis line; checks that the key exists.
Axis parse_axis(const IniEntry& e, const std::string& where) {
  Axis a{e.key == "seeds" ? "seed" : e.key, {}, where};
  for (const auto& v : split(e.value, ','))
    if (!v.empty()) a.values.push_back(v);
  if (a.values.empty()) throw Error(where + ": grid axis '" + e.key + "' has no values");
  if (a.name != "seed" && !starts_with(a.name, "compression.") && !starts_with(a.name, "compression_loss.")) {
    RunConfig probe;  // the key must exist
    try {
      get_setting(probe, a.name);
    } catch (const Error& err) {
      throw Error(where + ": grid axis: " + err.what());
    }
  }
  return a;
}

std::vector<std::vector<Condition>> parse_excludes(const std::vector<std::string>& rules,
                                                   const std::string& where,
                                                   const std::vector<std::string>& axis_names,
                                                   const std::string& what = "exclude rule") {
  std::vector<std::vector<Condition>> excludes;
  for (const auto& rule : rules) {
    std::vector<Condition> conds;
    for (const auto& [axis, value] : parse_conditions(rule, where, what)) {
      const Condition cond{axis, value};
      if (std::find(axis_names.begin(), axis_names.end(), cond.axis) == axis_names.end())
        throw Error(where + ": " + what + " '" + rule + "' names '" + cond.axis +
                    "', which is not an axis (" + join(axis_names, ", ") + ")");
      conds.push_back(cond);
    }
    excludes.push_back(conds);
  }
  return excludes;
}

GridSpec parse_grid(const IniFile& ini, std::vector<std::string>& axis_names) {
  GridSpec g;
  std::vector<std::string> variant_order, exclude_rules;
  std::string exclude_where;
  std::map<std::string, std::string> base_set_at;  // the base keys: each set once
  Axis seeds{"seed", {}, ""};
  for (const auto& e : ini.entries) {
    const std::string where = ini.path + ":" + std::to_string(e.line);
    if (e.section == "grid" && e.key == "baseline") {
      g.baseline_text = trim(e.value);
      g.baseline_where = where;
    } else if (e.section == "grid" && e.key == "paired") {
      const auto v = trim(e.value);
      if (v != "true" && v != "false") throw Error(where + ": paired = '" + v + "': expected true or false");
      g.paired = v == "true";
    } else if (e.section == "grid" && e.key == "exclude") {
      exclude_where = where;
      for (const auto& rule : split(e.value, ';'))
        if (!rule.empty()) exclude_rules.push_back(rule);
    } else if (e.section == "grid") {
      Axis a = parse_axis(e, where);
      if (a.name == "seed")
        seeds = a;
      else
        g.axes.push_back(a);
    } else if (starts_with(e.section, "variant")) {
      auto name = trim(e.section.substr(7));
      if (name.empty()) throw Error(where + ": a variant section needs a name: [variant NAME]");
      if (!g.variants.count(name)) variant_order.push_back(name);
      g.variants[name].push_back(
          {e.key, e.value, where + " [variant " + name + "]"});  // dotted plugin or run keys
    } else {
      const auto key = ini_entry_key(e, where);
      check_key_once(base_set_at, key, where);
      g.base.push_back({key, e.value, where});
    }
  }
  if (!variant_order.empty()) g.axes.insert(g.axes.begin(), Axis{"variant", variant_order, ""});
  if (!seeds.values.empty()) g.axes.push_back(seeds);
  for (const auto& a : g.axes) axis_names.push_back(a.name);
  g.excludes = parse_excludes(exclude_rules, exclude_where, axis_names);
  if (!g.baseline_text.empty()) {
    g.baseline = parse_excludes({g.baseline_text}, g.baseline_where, axis_names, "baseline").front();
    for (const auto& c : g.baseline)
      if (c.axis == "seed")
        throw Error(g.baseline_where + ": baseline '" + g.baseline_text +
                    "' names the seed axis; a baseline is a cell over all its seeds");
  }
  return g;
}

bool is_excluded(const GridSpec& g, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& conds : g.excludes) {
    bool all = true;
    for (const auto& c : conds)
      for (const auto& [k, v] : values)
        if (k == c.axis && v != c.value) all = false;
    if (all) return true;
  }
  return false;
}

// The configuration of one combination: base, then each axis (a variant's keys, or the
// axis key), then the command line's overrides; validated.
RunConfig cell_config(const GridSpec& g, const std::vector<std::pair<std::string, std::string>>& values,
                      const std::vector<std::string>& overrides) {
  RunConfig cfg;
  for (const auto& s : g.base) apply_setting(cfg, s.key, s.value, s.where);
  for (size_t a = 0; a < g.axes.size(); ++a) {
    if (g.axes[a].name == "variant") {
      for (const auto& s : g.variants.at(values[a].second)) apply_setting(cfg, s.key, s.value, s.where);
    } else {
      apply_setting(cfg, g.axes[a].name, values[a].second,
                    g.axes[a].where + " (axis " + g.axes[a].name + ")");
    }
  }
  for (const auto& o : overrides) apply_override(cfg, o);
  validate_run_config(cfg);
  return cfg;
}

// A command-line override may not change a key that an axis or a variant sets: the cells'
// labels would then describe configurations they did not run (and cells would merge).
void check_overrides(const GridSpec& g, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    const std::string key = trim(o.substr(0, o.find('=')));
    for (const auto& a : g.axes)
      if (a.name == key)
        throw Error("--set " + o + ": '" + key + "' is an axis of the grid (" + a.where +
                    "); change the grid file instead, so every cell's label says what it ran");
    for (const auto& [name, settings] : g.variants)
      for (const auto& s : settings)
        if (s.key == key)
          throw Error("--set " + o + ": variant '" + name + "' sets '" + key + "' (" + s.where +
                      "); overriding it would make the cells labelled variant=" + name +
                      " run something else. Change the grid file instead");
  }
}

// The baseline conditions must select at least one cell.
void check_baseline(const GridSpec& spec, Grid& grid) {
  if (spec.baseline.empty()) return;
  for (const auto& c : spec.baseline) grid.baseline.emplace_back(c.axis, c.value);
  grid.baseline_text = spec.baseline_text;
  for (const auto& cell : grid.cells) {
    bool all = true;
    for (const auto& c : spec.baseline) {
      bool hit = false;
      for (const auto& [k, v] : cell.axes) hit = hit || (k == c.axis && v == c.value);
      all = all && hit;
    }
    if (all) return;
  }
  throw Error(spec.baseline_where + ": baseline '" + spec.baseline_text + "' matches no cell of the grid");
}

std::string problems_message(const std::string& path, const std::vector<std::string>& problems,
                             int64_t total) {
  std::string msg = "grid '" + path + "': " + std::to_string(problems.size()) + " of " +
                    std::to_string(total) + " cells are invalid; nothing was run:";
  for (size_t i = 0; i < problems.size() && i < 20; ++i) msg += "\n  " + problems[i];
  if (problems.size() > 20) msg += "\n  ... and " + std::to_string(problems.size() - 20) + " more";
  return msg;
}

}  // namespace

std::pair<int64_t, int64_t> parse_shard(const std::string& spec) {
  std::string s = spec;
  if (s.empty()) {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (!id || !count) return {0, 1};
    s = std::string(id) + "/" + count;
  }
  auto slash = s.find('/');
  char* end = nullptr;
  long long i = -1, n = -1;
  if (slash != std::string::npos) {
    i = std::strtoll(s.substr(0, slash).c_str(), &end, 10);
    if (*end != '\0') i = -1;
    n = std::strtoll(s.substr(slash + 1).c_str(), &end, 10);
    if (*end != '\0') n = -1;
  }
  if (slash == std::string::npos || n < 1 || i < 0 || i >= n)
    throw Error("shard '" + s +
                "': expected i/N with 0 <= i < N (e.g. --shard 0/4), or SLURM_ARRAY_TASK_ID and "
                "SLURM_ARRAY_TASK_COUNT");
  return {i, n};
}

std::vector<const GridCell*> shard_cells(const Grid& grid, int64_t shard, int64_t shards) {
  std::vector<const GridCell*> out;
  for (const auto& c : grid.cells)
    if (c.index % shards == shard) out.push_back(&c);
  return out;
}

namespace {

// Resolves one cell through the session's pipeline (the same settings give the same run id
// as `ctlab train`) and adds it, unless it is the same run as an earlier cell. Returns its run id.
std::string add_cell(Grid& grid, std::string name, std::vector<std::pair<std::string, std::string>> values,
                     RunConfig cfg, CorpusCache& corpora, std::set<std::string>& seen_ids) {
  auto run = resolve_config(std::move(cfg), grid.host, &corpora);
  if (grid.experiment.empty()) grid.experiment = run.cfg.experiment;
  if (!seen_ids.insert(run.run_id).second) {
    grid.duplicates++;
    return run.run_id;
  }
  const auto index = static_cast<int64_t>(grid.cells.size());
  grid.cells.push_back(GridCell{index, std::move(name), std::move(values), std::move(run.cfg), run.run_id});
  return grid.cells.back().run_id;
}

std::string cell_name(const std::vector<std::pair<std::string, std::string>>& values) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : values) parts.push_back(k + "=" + v);
  return parts.empty() ? "(single run)" : join(parts, " ");
}

}  // namespace

Grid build_grid(const std::string& name, const std::vector<CellSpec>& cells, const PluginSources& plugins,
                bool paired, std::vector<std::string>* run_ids) {
  Grid grid;
  grid.path = name;
  grid.paired = paired;
  grid.host = load_plugins(plugins);
  CorpusCache corpora;
  std::set<std::string> seen_ids;
  std::vector<std::string> problems;
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string label = cell_name(cells[i].axes);
    try {
      validate_run_config(cells[i].cfg);
      const auto id = add_cell(grid, label, cells[i].axes, cells[i].cfg, corpora, seen_ids);
      if (run_ids) run_ids->push_back(id);
    } catch (const Error& e) {
      problems.push_back("cell " + std::to_string(i) + " (" + label + "): " + e.what());
    }
  }
  if (!problems.empty()) throw Error(problems_message(name, problems, static_cast<int64_t>(cells.size())));
  if (grid.cells.empty()) throw Error("grid '" + name + "': no cells; nothing to run");
  return grid;
}

Grid expand_grid(const std::string& path, const PluginSources& plugins,
                 const std::vector<std::string>& overrides) {
  Grid grid;
  grid.path = path;
  const GridSpec spec = parse_grid(read_ini(path), grid.axes);
  check_overrides(spec, overrides);
  grid.host = load_plugins(plugins);
  CorpusCache corpora;  // one load per distinct data configuration
  std::set<std::string> seen_ids;
  std::vector<std::string> problems;
  std::vector<size_t> pos(spec.axes.size(), 0);  // the cartesian product, the last axis fastest
  int64_t combination = 0;
  do {
    std::vector<std::pair<std::string, std::string>> values;
    for (size_t a = 0; a < spec.axes.size(); ++a)
      values.emplace_back(spec.axes[a].name, spec.axes[a].values[pos[a]]);
    const std::string name = cell_name(values);
    if (is_excluded(spec, values)) {
      grid.excluded++;
    } else {
      try {
        add_cell(grid, name, values, cell_config(spec, values, overrides), corpora, seen_ids);
      } catch (const Error& e) {
        problems.push_back("cell " + std::to_string(combination) + " (" + name + "): " + e.what());
      }
    }
    ++combination;
  } while (advance(pos, spec.axes));
  if (!problems.empty()) throw Error(problems_message(path, problems, combination));
  if (grid.cells.empty()) throw Error("grid '" + path + "': every combination is excluded; nothing to run");
  check_baseline(spec, grid);
  grid.paired = spec.paired;
  return grid;
}

}  // namespace ctlab
