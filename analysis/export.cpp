// Long-format exports of the run store and the per-run HDF5 files.
#include "export.h"

#include <boost/filesystem.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "store/run_store.h"
#include "util/error.h"
#include "util/text.h"

namespace ctlab {
namespace {

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return *end == '\0';
}

}  // namespace

int Table::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int>(i);
  return -1;
}

std::string export_number(double v) {
  if (std::isnan(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

Axes varying_params(RunStore& store, const std::vector<std::string>& ids) {
  Axes a;
  std::map<std::string, std::map<std::string, std::string>> params;
  for (const auto& id : ids) params[id] = store.params(id);
  std::map<std::string, std::set<std::string>> values;
  std::vector<std::string> order;
  for (const auto& id : ids)
    for (const auto& [k, v] : params[id]) {
      if (!values.count(k)) order.push_back(k);
      values[k].insert(v);
    }
  for (const auto& id : ids)
    for (const auto& k : order)
      if (!params[id].count(k)) values[k].insert("");
  // Runs started by a grid carry their axes as grid.<axis>: use those when every run has
  // them; otherwise the parameters whose values differ.
  std::vector<std::string> keys;
  bool gridded = true;
  if (!ids.empty() && params[ids[0]].count("grid_axes")) {
    for (const auto& axis : split(params[ids[0]]["grid_axes"], ','))
      if (!axis.empty()) keys.push_back("grid." + axis);  // the grid file's order
  }
  for (const auto& id : ids)
    for (const auto& k : keys) gridded = gridded && params[id].count(k);
  if (keys.empty() || !gridded) {
    keys.clear();
    for (const auto& k : order)
      if (values[k].size() > 1 && k != "vocab_size" && k != "grid_axes" && k != "grid_baseline" &&
          !starts_with(k, "grid.") && !starts_with(k, "derived."))
        keys.push_back(k);
  }
  for (const auto& k : keys) a.names.push_back(starts_with(k, "grid.") ? k.substr(5) : k);
  for (const auto& id : ids) {
    std::vector<std::string> row;
    for (const auto& k : keys) row.push_back(params[id].count(k) ? params[id][k] : "");
    a.values.push_back(row);
  }
  return a;
}

#define CTLAB_EXPORT_TABLE(f) CTLAB_REGISTRY_ENTRY(ExportTableDef, f)
CTLAB_REGISTRY_BEGIN(ExportTableDef, export_tables, "table")
#include "builtin_tables.def"
CTLAB_REGISTRY_END
#undef CTLAB_EXPORT_TABLE

void ExportContext::columns(Table& t, const std::vector<std::pair<std::string, bool>>& before,
                            const std::vector<std::pair<std::string, bool>>& after) const {
  for (auto& [c, n] : before) t.columns.push_back(c), t.numeric.push_back(n);
  for (size_t i = 0; i < axes.names.size(); ++i) {
    bool numeric = true;
    for (const auto& v : axes.values) numeric = numeric && looks_numeric(v[i]);
    t.columns.push_back(axes.names[i]);
    t.numeric.push_back(numeric);
  }
  for (auto& [c, n] : after) t.columns.push_back(c), t.numeric.push_back(n);
}

std::vector<std::string> ExportContext::prefix(size_t i) const {
  std::vector<std::string> row = {runs[i].run_id, runs[i].experiment};
  row.insert(row.end(), axes.values[i].begin(), axes.values[i].end());
  return row;
}

Table export_table(const std::string& what, const ResultsLayout& layout, const ExportFilter& f) {
  const std::string db = layout.database();
  if (!boost::filesystem::exists(db)) throw Error("no results database at '" + db + "' (use --results)");
  const ExportTableDef& def = export_tables().get(what);
  RunStore store(db);
  ExportContext ctx{layout, store, f, {}, {}};
  for (auto& r : store.runs(f.experiment))
    if (f.run.empty() || r.run_id == f.run) ctx.runs.push_back(r);
  if (ctx.runs.empty())
    throw Error("no runs" + (f.experiment.empty() ? std::string() : " in experiment '" + f.experiment + "'") +
                (f.run.empty() ? std::string() : " with run_id '" + f.run + "'") + " in " + db);
  std::vector<std::string> ids;
  for (const auto& r : ctx.runs) ids.push_back(r.run_id);
  ctx.axes = varying_params(store, ids);
  return def.build(ctx);
}

void write_csv(const Table& t, std::ostream& out) {
  auto cell = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (size_t i = 0; i < t.columns.size(); ++i) out << (i ? "," : "") << cell(t.columns[i]);
  out << "\n";
  for (const auto& r : t.rows) {
    for (size_t i = 0; i < r.size(); ++i) out << (i ? "," : "") << cell(r[i]);
    out << "\n";
  }
}

void write_json(const Table& t, std::ostream& out) {
  // nlohmann::json writes valid JSON: strings escaped, non-finite numbers as null.
  out << "[";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    nlohmann::ordered_json row = nlohmann::ordered_json::object();
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const auto& v = t.rows[r][c];
      auto& cell = row[t.columns[c]];
      if (!t.numeric[c] || !looks_numeric(v)) {
        if (t.numeric[c] && v.empty())
          cell = nullptr;
        else
          cell = v;
      } else if (v.find_first_of(".eEnN") == std::string::npos) {
        cell = std::strtoll(v.c_str(), nullptr, 10);
      } else {
        const double x = std::strtod(v.c_str(), nullptr);
        if (std::isfinite(x))
          cell = x;
        else
          cell = nullptr;
      }
    }
    out << (r ? ",\n " : "\n ") << row.dump();
  }
  out << (t.rows.empty() ? "]\n" : "\n]\n");
}

}  // namespace ctlab
