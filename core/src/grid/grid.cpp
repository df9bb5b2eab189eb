// Grid parsing, expansion and up-front validation.
#include "grid/grid.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "config/resolve.h"
#include "data/corpus.h"
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

Grid expand_grid(const std::string& path, const std::vector<std::string>& plugin_dirs,
                 const std::vector<std::string>& overrides) {
  Grid grid;
  grid.path = path;
  IniFile ini = read_ini(path);
  std::vector<Setting> base;
  std::vector<Axis> axes;
  std::map<std::string, std::vector<Setting>> variants;
  std::vector<std::string> variant_order;
  std::vector<std::vector<Condition>> excludes;
  std::string exclude_where;
  std::vector<std::string> exclude_rules;
  Axis seeds{"seed", {}, ""};

  for (const auto& e : ini.entries) {
    const std::string where = ini.path + ":" + std::to_string(e.line);
    if (e.section == "grid") {
      if (e.key == "exclude") {
        exclude_where = where;
        for (const auto& rule : split(e.value, ';'))
          if (!rule.empty()) exclude_rules.push_back(rule);
        continue;
      }
      Axis a{e.key == "seeds" ? "seed" : e.key, {}, where};
      for (const auto& v : split(e.value, ','))
        if (!v.empty()) a.values.push_back(v);
      if (a.values.empty()) throw Error(where + ": grid axis '" + e.key + "' has no values");
      if (a.name != "seed" && !starts_with(a.name, "compression.") &&
          !starts_with(a.name, "compression_loss.")) {
        RunConfig probe;  // the key must exist
        try {
          get_setting(probe, a.name);
        } catch (const Error& err) {
          throw Error(where + ": grid axis: " + err.what());
        }
      }
      if (a.name == "seed")
        seeds = a;
      else
        axes.push_back(a);
    } else if (starts_with(e.section, "variant")) {
      auto name = trim(e.section.substr(7));
      if (name.empty()) throw Error(where + ": a variant section needs a name: [variant NAME]");
      if (!variants.count(name)) variant_order.push_back(name);
      std::string key = e.key;  // dotted plugin keys or run keys
      variants[name].push_back({key, e.value, where + " [variant " + name + "]"});
    } else {
      base.push_back({ini_entry_key(e, where), e.value, where});
    }
  }
  if (!variant_order.empty()) axes.insert(axes.begin(), Axis{"variant", variant_order, ""});
  if (!seeds.values.empty()) axes.push_back(seeds);
  for (const auto& a : axes) grid.axes.push_back(a.name);
  for (const auto& rule : exclude_rules) {
    std::vector<Condition> conds;
    for (const auto& c : split(rule, '&')) {
      auto eq = c.find('=');
      if (eq == std::string::npos)
        throw Error(exclude_where + ": exclude rule '" + rule +
                    "': expected axis=value conditions joined by '&'");
      Condition cond{trim(c.substr(0, eq)), trim(c.substr(eq + 1))};
      if (std::find(grid.axes.begin(), grid.axes.end(), cond.axis) == grid.axes.end())
        throw Error(exclude_where + ": exclude rule '" + rule + "' names '" + cond.axis +
                    "', which is not an axis (" + join(grid.axes, ", ") + ")");
      conds.push_back(cond);
    }
    excludes.push_back(conds);
  }

  grid.host = std::make_unique<PluginHost>();
  grid.host->load_directories(PluginHost::search_path(plugin_dirs));
  std::map<std::string, Corpus> corpora;  // one load per distinct data configuration
  std::set<std::string> seen_ids;
  std::vector<std::string> problems;

  // Cartesian product, the last axis varying fastest.
  std::vector<size_t> pos(axes.size(), 0);
  int64_t combination = 0;
  do {
    std::vector<std::pair<std::string, std::string>> values;
    for (size_t a = 0; a < axes.size(); ++a) values.emplace_back(axes[a].name, axes[a].values[pos[a]]);
    bool excluded = false;
    for (const auto& conds : excludes) {
      bool all = true;
      for (const auto& c : conds)
        for (const auto& [k, v] : values)
          if (k == c.axis && v != c.value) all = false;
      excluded = excluded || all;
    }
    std::vector<std::string> parts;
    for (const auto& [k, v] : values) parts.push_back(k + "=" + v);
    const std::string name = parts.empty() ? "(single run)" : join(parts, " ");
    if (excluded) {
      grid.excluded++;
    } else {
      try {
        RunConfig cfg;
        for (const auto& s : base) apply_setting(cfg, s.key, s.value, s.where);
        for (size_t a = 0; a < axes.size(); ++a) {
          if (axes[a].name == "variant") {
            for (const auto& s : variants[values[a].second]) apply_setting(cfg, s.key, s.value, s.where);
          } else {
            apply_setting(cfg, axes[a].name, values[a].second,
                          axes[a].where + " (axis " + axes[a].name + ")");
          }
        }
        for (const auto& o : overrides) apply_override(cfg, o);
        if (grid.experiment.empty()) grid.experiment = cfg.experiment;
        validate_run_config(cfg);
        auto data_key = cfg.data.dataset + "\n" + cfg.data.data_path + "\n" + get_setting(cfg, "split") +
                        "\n" + get_setting(cfg, "synthetic_vocab") + "," +
                        get_setting(cfg, "synthetic_period") + "," + get_setting(cfg, "synthetic_tokens");
        auto it = corpora.find(data_key);
        if (it == corpora.end()) it = corpora.emplace(data_key, load_corpus(cfg.data)).first;
        cfg.model.vocab_size = it->second.vocab_size;
        validate_run_config(cfg);
        if (!cfg.model.cutoffs.empty() && cfg.model.cutoffs.back() >= cfg.model.vocab_size)
          throw Error("cutoffs end at " + std::to_string(cfg.model.cutoffs.back()) +
                      " but the vocabulary has " + std::to_string(cfg.model.vocab_size) + " symbols");
        pin_plugins(cfg, resolve_plugins(*grid.host, cfg));
        GridCell cell;
        cell.name = name;
        cell.axes = values;
        cell.run_id = run_id_of(cfg);
        cell.cfg = std::move(cfg);
        if (seen_ids.insert(cell.run_id).second) {
          cell.index = static_cast<int64_t>(grid.cells.size());
          grid.cells.push_back(std::move(cell));
        } else {
          grid.duplicates++;
        }
      } catch (const Error& e) {
        problems.push_back("cell " + std::to_string(combination) + " (" + name + "): " + e.what());
      }
    }
    ++combination;
  } while (advance(pos, axes));
  if (!problems.empty()) {
    std::string msg = "grid '" + path + "': " + std::to_string(problems.size()) + " of " +
                      std::to_string(combination) + " cells are invalid; nothing was run:";
    for (size_t i = 0; i < problems.size() && i < 20; ++i) msg += "\n  " + problems[i];
    if (problems.size() > 20) msg += "\n  ... and " + std::to_string(problems.size() - 20) + " more";
    throw Error(msg);
  }
  if (grid.cells.empty()) throw Error("grid '" + path + "': every combination is excluded; nothing to run");
  return grid;
}

}  // namespace ctlab
