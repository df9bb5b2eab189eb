// Long-format exports of the run store and the per-run HDF5 files.
#include "export.h"

#include <sqlite3.h>

#include <boost/filesystem.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "store/analysis_file.h"
#include "store/run_store.h"
#include "util/error.h"
#include "util/text.h"

namespace ctlab {
namespace {

std::string num(double v) {
  if (std::isnan(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return *end == '\0';
}

// Reads params of the given runs straight from SQLite (read-only).
std::map<std::string, std::map<std::string, std::string>> params_of(const std::string& db,
                                                                    const std::vector<std::string>& ids) {
  std::map<std::string, std::map<std::string, std::string>> out;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string msg = h ? sqlite3_errmsg(h) : "cannot open";
    sqlite3_close(h);
    throw Error("cannot read results database '" + db + "': " + msg);
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, "SELECT key, value FROM params WHERE run_id = ?", -1, &st, nullptr) !=
      SQLITE_OK) {
    std::string msg = sqlite3_errmsg(h);
    sqlite3_close(h);
    throw Error("results database '" + db + "': " + msg);
  }
  for (const auto& id : ids) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW)
      out[id][reinterpret_cast<const char*>(sqlite3_column_text(st, 0))] =
          reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\t':
        o += "\\t";
        break;
      case '\r':
        o += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  return o;
}

}  // namespace

int Table::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int>(i);
  return -1;
}

Axes varying_params(const std::string& root, const std::vector<std::string>& ids) {
  Axes a;
  auto params = params_of(root + "/ctlab.sqlite", ids);
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
      if (values[k].size() > 1 && k != "vocab_size" && k != "grid_axes" && !starts_with(k, "grid."))
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

Table export_table(const std::string& what, const std::string& root, const ExportFilter& f) {
  const std::string db = root + "/ctlab.sqlite";
  if (!boost::filesystem::exists(db)) throw Error("no results database at '" + db + "' (use --results)");
  if (what != "runs" && what != "metrics" && what != "attention" && what != "frequency")
    throw Error("ctlab export: unknown table '" + what + "'; expected runs, metrics, attention or frequency");
  RunStore store(db);
  std::vector<RunRecord> runs;
  for (auto& r : store.runs(f.experiment))
    if (f.run.empty() || r.run_id == f.run) runs.push_back(r);
  if (runs.empty())
    throw Error("no runs" + (f.experiment.empty() ? std::string() : " in experiment '" + f.experiment + "'") +
                (f.run.empty() ? std::string() : " with run_id '" + f.run + "'") + " in " + db);
  std::vector<std::string> ids;
  for (const auto& r : runs) ids.push_back(r.run_id);
  auto axes = varying_params(root, ids);

  Table t;
  auto head = [&](std::vector<std::pair<std::string, bool>> before,
                  std::vector<std::pair<std::string, bool>> after) {
    for (auto& [c, n] : before) t.columns.push_back(c), t.numeric.push_back(n);
    for (size_t i = 0; i < axes.names.size(); ++i) {
      bool numeric = true;
      for (const auto& v : axes.values) numeric = numeric && looks_numeric(v[i]);
      t.columns.push_back(axes.names[i]);
      t.numeric.push_back(numeric);
    }
    for (auto& [c, n] : after) t.columns.push_back(c), t.numeric.push_back(n);
  };
  auto prefix = [&](size_t i) {
    std::vector<std::string> row = {runs[i].run_id, runs[i].experiment};
    row.insert(row.end(), axes.values[i].begin(), axes.values[i].end());
    return row;
  };

  if (what == "runs") {
    head({{"run_id", false}, {"experiment", false}}, {{"status", false},
                                                      {"attempt", true},
                                                      {"step", true},
                                                      {"valid_loss", true},
                                                      {"score_name", false},
                                                      {"valid_score", true},
                                                      {"diverged_step", true},
                                                      {"error", false},
                                                      {"host", false},
                                                      {"device", false},
                                                      {"started", false},
                                                      {"ended", false}});
    for (size_t i = 0; i < runs.size(); ++i) {
      const auto& r = runs[i];
      double loss = NAN, score = NAN;
      std::string name;
      for (const auto& m : store.metrics(r.run_id, "valid/")) {
        if (m.key == "valid/loss")
          loss = m.value;
        else {
          name = m.key.substr(6);
          score = m.value;
        }
      }
      auto row = prefix(i);
      for (auto v : {r.status, std::to_string(r.attempt), std::to_string(r.step), num(loss), name, num(score),
                     r.diverged_step ? std::to_string(*r.diverged_step) : std::string(), r.error, r.host,
                     r.device, r.started, r.ended})
        row.push_back(v);
      t.rows.push_back(row);
    }
  } else if (what == "metrics") {
    head({{"run_id", false}, {"experiment", false}},
         {{"key", false}, {"step", true}, {"value", true}, {"wall_time", true}});
    for (size_t i = 0; i < runs.size(); ++i)
      for (const auto& m : store.metrics(runs[i].run_id, f.key)) {
        auto row = prefix(i);
        for (auto v : {m.key, std::to_string(m.step), num(m.value), num(m.wall_time)}) row.push_back(v);
        t.rows.push_back(row);
      }
  } else if (what == "attention") {
    head({{"run_id", false}, {"experiment", false}}, {{"layer", false},
                                                      {"head", false},
                                                      {"bucket", true},
                                                      {"region", false},
                                                      {"slot_lo", true},
                                                      {"slot_hi", true},
                                                      {"mass", true},
                                                      {"mass_se", true},
                                                      {"slot_mean", true},
                                                      {"slot_mean_se", true},
                                                      {"samples", true},
                                                      {"sequences", true}});
    for (size_t i = 0; i < runs.size(); ++i) {
      AttentionRecord a;
      if (!read_attention(root + "/runs/" + runs[i].run_id + "/analysis.h5", "", a)) continue;
      const int64_t nb = static_cast<int64_t>(a.region_of.size());
      auto se = [&](double mean, double sq) {
        double var = std::max(0.0, sq - mean * mean);
        return a.samples > 1 ? std::sqrt(var * a.samples / (a.samples - 1) / a.samples) : NAN;
      };
      auto emit = [&](const std::string& layer, const std::string& head, int64_t b, double m, double msq,
                      double s, double ssq) {
        auto row = prefix(i);
        for (auto v : {layer, head, std::to_string(b), a.regions.at(a.region_of[b]),
                       std::to_string(a.edges[b]), std::to_string(a.edges[b + 1]), num(m), num(se(m, msq)),
                       num(s), num(std::isnan(ssq) ? NAN : se(s, ssq)), std::to_string(a.samples),
                       std::to_string(a.sequences)})
          row.push_back(v);
        t.rows.push_back(row);
      };
      for (int64_t l = 0; l < a.n_layer; ++l)
        for (int64_t h = 0; h < a.n_head; ++h)
          for (int64_t b = 0; b < nb; ++b) {
            size_t k = static_cast<size_t>((l * a.n_head + h) * nb + b);
            emit(std::to_string(l), std::to_string(h), b, a.mass[k], a.mass_sq[k], a.slot[k], a.slot_sq[k]);
          }
      for (int64_t b = 0; b < nb; ++b) {
        double size = static_cast<double>(a.edges[b + 1] - a.edges[b]);
        emit("all", "all", b, a.all[b], a.all_sq[b], a.all[b] / size, NAN);
      }
    }
  } else {
    head({{"run_id", false}, {"experiment", false}}, {{"bucket", true},
                                                      {"label", false},
                                                      {"types", true},
                                                      {"tokens", true},
                                                      {"loss", true},
                                                      {"ppl", true}});
    for (size_t i = 0; i < runs.size(); ++i) {
      FrequencyRecord fr;
      if (!read_frequency(root + "/runs/" + runs[i].run_id + "/analysis.h5", "", fr)) continue;
      double all_nll = 0;
      int64_t all_n = 0;
      for (size_t b = 0; b < fr.labels.size(); ++b) {
        double loss = fr.count[b] ? fr.nll_sum[b] / fr.count[b] : NAN;
        auto row = prefix(i);
        for (auto v : {std::to_string(b), fr.labels[b], std::to_string(fr.types[b]),
                       std::to_string(fr.count[b]), num(loss), num(std::exp(loss))})
          row.push_back(v);
        t.rows.push_back(row);
        all_nll += fr.nll_sum[b];
        all_n += fr.count[b];
      }
      double loss = all_n ? all_nll / all_n : NAN;
      auto row = prefix(i);
      int64_t types = 0;
      for (auto x : fr.types) types += x;
      for (auto v : {std::string(""), std::string("all"), std::to_string(types), std::to_string(all_n),
                     num(loss), num(std::exp(loss))})
        row.push_back(v);
      t.rows.push_back(row);
    }
  }
  return t;
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
  out << "[";
  for (size_t r = 0; r < t.rows.size(); ++r) {
    out << (r ? ",\n " : "\n ") << "{";
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const auto& v = t.rows[r][c];
      out << (c ? ", " : "") << "\"" << json_escape(t.columns[c]) << "\": ";
      if (t.numeric[c] && looks_numeric(v))
        out << v;
      else if (t.numeric[c] && v.empty())
        out << "null";
      else
        out << "\"" << json_escape(v) << "\"";
    }
    out << "}";
  }
  out << (t.rows.empty() ? "]\n" : "\n]\n");
}

}  // namespace ctlab
