// A run's rows besides its status: params, metrics, artifacts and events; SQLite's
// integrity check; and merging another results database into this one.
#include <sqlite3.h>

#include "store/run_store.h"
#include "store/run_store_sql.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fault.h"

namespace ctlab {

using sql::kRunColumns;
using sql::Stmt;
using sql::Transaction;

std::vector<std::string> RunStore::merge_from(const std::string& other) {
  { RunStore check(other); }  // opens (and migrates) the other database, or throws naming it
  Stmt attach(db_, "ATTACH DATABASE ? AS src", path_);
  attach.bind(1, other).run();
  std::vector<std::string> taken;
  try {
    Transaction tx(*this, db_, path_);
    Stmt pick(db_,
              "SELECT s.run_id FROM src.runs s LEFT JOIN main.runs d ON d.run_id = s.run_id "
              "WHERE d.run_id IS NULL OR (s.status = ?1 AND d.status <> ?1) "
              "OR (d.status <> ?1 AND s.status <> ?1 AND s.step > d.step)",
              path_);
    pick.bind(1, std::string(to_string(RunStatus::Completed)));
    while (pick.step()) taken.push_back(pick.text(0));
    pick.reset();
    exec("INSERT OR IGNORE INTO main.experiments SELECT name, created FROM src.experiments");
    std::string cols = kRunColumns;
    Stmt copy(
        db_,
        "INSERT OR REPLACE INTO main.runs(" + cols + ") SELECT " + cols + " FROM src.runs WHERE run_id = ?",
        path_);
    for (const auto& id : taken) {
      copy.reset();
      copy.bind(1, id).run();
    }
    exec("INSERT OR IGNORE INTO main.params SELECT run_id, key, value FROM src.params");
    exec("INSERT OR IGNORE INTO main.metrics SELECT run_id, key, step, value, wall_time FROM src.metrics");
    exec("INSERT OR IGNORE INTO main.artifacts SELECT run_id, kind, path, sha256 FROM src.artifacts");
    exec("INSERT OR IGNORE INTO main.events SELECT run_id, time, kind, detail FROM src.events");
    tx.commit();
  } catch (...) {
    sqlite3_exec(db_, "DETACH DATABASE src", nullptr, nullptr, nullptr);
    throw;
  }
  exec("DETACH DATABASE src");
  return taken;
}

void RunStore::add_params(const std::string& run_id,
                          const std::vector<std::pair<std::string, std::string>>& params) {
  Transaction tx(*this, db_, path_);
  Stmt p(db_, "INSERT OR REPLACE INTO params(run_id, key, value) VALUES (?, ?, ?)", path_);
  for (const auto& [k, v] : params) {
    p.reset();
    p.bind(1, run_id).bind(2, k).bind(3, v).run();
  }
  tx.commit();
}

std::vector<ArtifactRow> RunStore::artifacts(const std::string& run_id) {
  Stmt s(db_, "SELECT kind, path, sha256 FROM artifacts WHERE run_id = ? ORDER BY kind, path", path_);
  s.bind(1, run_id);
  std::vector<ArtifactRow> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2)});
  return out;
}

void RunStore::add_event(const std::string& run_id, const std::string& kind, const std::string& detail) {
  Transaction tx(*this, db_, path_);
  Stmt s(db_, "INSERT OR IGNORE INTO events(run_id, time, kind, detail) VALUES (?, ?, ?, ?)", path_);
  s.bind(1, run_id).bind(2, now_utc()).bind(3, kind).bind(4, detail).run();
  tx.commit();
}

std::vector<RunEvent> RunStore::events(const std::string& run_id) {
  Stmt s(db_,
         std::string("SELECT run_id, time, kind, detail FROM events") +
             (run_id.empty() ? "" : " WHERE run_id = ?") + " ORDER BY time, rowid",
         path_);
  if (!run_id.empty()) s.bind(1, run_id);
  std::vector<RunEvent> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2), s.text(3)});
  return out;
}

std::vector<std::string> RunStore::integrity_check() {
  Stmt s(db_, "PRAGMA integrity_check", path_);
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

void RunStore::add_metrics(const std::string& run_id, const std::vector<MetricRow>& rows,
                           const std::vector<ArtifactRow>& files) {
  if (rows.empty() && files.empty()) return;
  Transaction tx(*this, db_, path_);
  Stmt f(db_, "INSERT OR REPLACE INTO artifacts(run_id, kind, path, sha256) VALUES (?, ?, ?, ?)", path_);
  for (const auto& a : files) {
    f.reset();
    f.bind(1, run_id).bind(2, a.kind).bind(3, a.path).bind(4, a.sha256).run();
  }
  Stmt s(db_, "INSERT OR REPLACE INTO metrics(run_id, key, step, value, wall_time) VALUES (?, ?, ?, ?, ?)",
         path_);
  for (const auto& r : rows) {
    s.reset();
    s.bind(1, run_id)
        .bind(2, r.key)
        .bind(3, r.step)
        .bind(4, r.value)
        .bind(5, r.wall_time > 0 ? r.wall_time : unix_seconds())
        .run();
  }
  if (inject_write_fault("sqlite"))  // as SQLite reports a full disk; the transaction rolls back
    throw Error("results database '" + path_ + "': COMMIT failed: database or disk is full", ErrorKind::Run);
  tx.commit();
}

std::vector<MetricRow> RunStore::metrics(const std::string& run_id, const std::string& key_prefix) {
  Stmt s(db_,
         "SELECT key, step, value, wall_time FROM metrics WHERE run_id = ? AND substr(key, 1, ?) = ? "
         "ORDER BY key, step",
         path_);
  s.bind(1, run_id).bind(2, static_cast<int64_t>(key_prefix.size())).bind(3, key_prefix);
  std::vector<MetricRow> out;
  while (s.step()) out.push_back({s.text(0), s.i64(1), s.f64(2), s.f64(3)});
  return out;
}

std::vector<MetricRow> RunStore::metrics_exact(const std::string& run_id,
                                               const std::vector<std::string>& keys) {
  Stmt s(db_, "SELECT key, step, value, wall_time FROM metrics WHERE run_id = ? AND key = ? ORDER BY step",
         path_);
  std::vector<MetricRow> out;
  for (const auto& k : keys) {
    s.reset();
    s.bind(1, run_id).bind(2, k);
    while (s.step()) out.push_back({s.text(0), s.i64(1), s.f64(2), s.f64(3)});
  }
  return out;
}

std::map<std::string, std::string> RunStore::params(const std::string& run_id) {
  Stmt s(db_, "SELECT key, value FROM params WHERE run_id = ?", path_);
  s.bind(1, run_id);
  std::map<std::string, std::string> out;
  while (s.step()) out[s.text(0)] = s.text(1);
  return out;
}

void RunStore::add_artifact(const std::string& run_id, const std::string& kind, const std::string& path,
                            const std::string& sha256) {
  Transaction tx(*this, db_, path_);
  Stmt s(db_, "INSERT OR REPLACE INTO artifacts(run_id, kind, path, sha256) VALUES (?, ?, ?, ?)", path_);
  s.bind(1, run_id).bind(2, kind).bind(3, path).bind(4, sha256).run();
  tx.commit();
}

}  // namespace ctlab
