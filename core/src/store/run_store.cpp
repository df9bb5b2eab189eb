// SQLite access for the run store. Every return code is checked and reported with
// SQLite's own message and the database path.
#include "store/run_store.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>

#include "util/error.h"
#include "util/fault.h"

namespace ctlab {
namespace {

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS experiments (
  name     TEXT PRIMARY KEY,
  created  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  run_id        TEXT PRIMARY KEY,
  experiment    TEXT NOT NULL REFERENCES experiments(name),
  status        TEXT NOT NULL,
  attempt       INTEGER NOT NULL DEFAULT 0,
  host          TEXT,
  device        TEXT,
  threads       INTEGER,
  started       TEXT,
  ended         TEXT,
  heartbeat     TEXT,
  error         TEXT,
  diverged_step INTEGER,
  step          INTEGER NOT NULL DEFAULT 0,
  git_commit    TEXT,
  ctlab_version TEXT,
  torch_version TEXT,
  blas          TEXT,
  config        TEXT NOT NULL,
  owner         TEXT,
  failures      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS params (
  run_id  TEXT NOT NULL REFERENCES runs(run_id),
  key     TEXT NOT NULL,
  value   TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS metrics (
  run_id     TEXT NOT NULL REFERENCES runs(run_id),
  key        TEXT NOT NULL,
  step       INTEGER NOT NULL,
  value      REAL NOT NULL,
  wall_time  REAL NOT NULL,
  PRIMARY KEY (run_id, key, step)
);
CREATE TABLE IF NOT EXISTS artifacts (
  run_id  TEXT NOT NULL REFERENCES runs(run_id),
  kind    TEXT NOT NULL,
  path    TEXT NOT NULL,
  sha256  TEXT NOT NULL,
  PRIMARY KEY (run_id, kind, path)
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment);
)SQL";

// Version 3: the run's history, and failures counted apart from attempts.
const char* kEventsTable = R"SQL(
CREATE TABLE IF NOT EXISTS events (
  run_id  TEXT NOT NULL REFERENCES runs(run_id),
  time    TEXT NOT NULL,
  kind    TEXT NOT NULL,
  detail  TEXT NOT NULL,
  PRIMARY KEY (run_id, time, kind, detail)
);
)SQL";

// A prepared statement with checked binds and steps.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql, const std::string& db_path) : db_(db), path_(db_path) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK) fail("prepare");
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, const std::string& v) {
    ok(sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT), "bind");
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    ok(sqlite3_bind_int64(s_, i, v), "bind");
    return *this;
  }
  Stmt& bind(int i, double v) {
    ok(sqlite3_bind_double(s_, i, v), "bind");
    return *this;
  }
  Stmt& bind(int i, std::optional<int64_t> v) {
    ok(v ? sqlite3_bind_int64(s_, i, *v) : sqlite3_bind_null(s_, i), "bind");
    return *this;
  }
  bool step() {  // true while rows come
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("step");
    return false;
  }
  void run() {
    while (step()) {
    }
    sqlite3_reset(s_);
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string text(int c) const {
    auto p = sqlite3_column_text(s_, c);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double f64(int c) const { return sqlite3_column_double(s_, c); }
  bool null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }

 private:
  void ok(int rc, const char* what) {
    if (rc != SQLITE_OK) fail(what);
  }
  [[noreturn]] void fail(const char* what) {
    throw Error("results database '" + path_ + "': " + what + " failed: " + sqlite3_errmsg(db_),
                ErrorKind::Run);
  }
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  std::string path_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when an exception leaves the scope.
class Transaction {
 public:
  explicit Transaction(RunStore& store, sqlite3* db, const std::string& path) : db_(db), path_(path) {
    run("BEGIN IMMEDIATE");
  }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    run("COMMIT");
    done_ = true;
  }

 private:
  void run(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw Error("results database '" + path_ + "': " + sql + " failed: " + msg, ErrorKind::Run);
    }
  }
  sqlite3* db_;
  std::string path_;
  bool done_ = false;
};

RunRecord read_run(const Stmt& s) {
  RunRecord r;
  int c = 0;
  r.run_id = s.text(c++);
  r.experiment = s.text(c++);
  r.status = parse_run_status(s.text(c++));
  r.attempt = s.i64(c++);
  r.host = s.text(c++);
  r.device = s.text(c++);
  r.threads = s.i64(c++);
  r.started = s.text(c++);
  r.ended = s.text(c++);
  r.heartbeat = s.text(c++);
  r.error = s.text(c++);
  if (!s.null(c)) r.diverged_step = s.i64(c);
  ++c;
  r.step = s.i64(c++);
  r.git_commit = s.text(c++);
  r.ctlab_version = s.text(c++);
  r.torch_version = s.text(c++);
  r.blas = s.text(c++);
  r.config = s.text(c++);
  r.owner = s.text(c++);
  r.failures = s.i64(c++);
  return r;
}

const char* kRunColumns =
    "run_id, experiment, status, attempt, host, device, threads, started, ended, heartbeat, error, "
    "diverged_step, step, git_commit, ctlab_version, torch_version, blas, config, owner, failures";

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

const char* to_string(RunStatus s) {
  switch (s) {
    case RunStatus::Pending:
      return "pending";
    case RunStatus::Running:
      return "running";
    case RunStatus::Completed:
      return "completed";
    case RunStatus::Failed:
      return "failed";
    case RunStatus::Diverged:
      return "diverged";
    case RunStatus::Interrupted:
      return "interrupted";
  }
  return "?";
}

RunStatus parse_run_status(const std::string& text) {
  for (auto s : {RunStatus::Pending, RunStatus::Running, RunStatus::Completed, RunStatus::Failed,
                 RunStatus::Diverged, RunStatus::Interrupted})
    if (text == to_string(s)) return s;
  throw Error("unknown run status '" + text + "' in the results database", ErrorKind::Run);
}

std::string RunStore::now_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

RunStore::RunStore(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("cannot open results database '" + path + "': " + msg);
  }
  check(sqlite3_busy_timeout(db_, 60000), "set busy_timeout");
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec("PRAGMA foreign_keys=ON");
  migrate();
}

RunStore::~RunStore() { sqlite3_close(db_); }

void RunStore::check(int rc, const std::string& what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw Error("results database '" + path_ + "': " + what + " failed: " + sqlite3_errmsg(db_),
                ErrorKind::Run);
}

void RunStore::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw Error("results database '" + path_ + "': '" + sql.substr(0, 60) + "' failed: " + msg,
                ErrorKind::Run);
  }
}

void RunStore::migrate() {
  Transaction tx(*this, db_, path_);
  Stmt v(db_, "PRAGMA user_version", path_);
  int64_t version = v.step() ? v.i64(0) : 0;
  v.reset();
  if (version > kStoreSchemaVersion)
    throw Error("results database '" + path_ + "' has schema version " + std::to_string(version) +
                ", newer than this ctlab's " + std::to_string(kStoreSchemaVersion) + ": use a newer ctlab");
  if (version == 0) exec(kSchema);
  if (version == 1) exec("ALTER TABLE runs ADD COLUMN owner TEXT");  // 1 -> 2: who runs it
  if (version >= 1 && version < 3) {                                 // 2 -> 3: failures apart from attempts
    exec("ALTER TABLE runs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0");
    exec("UPDATE runs SET failures = attempt WHERE status = 'failed'");
  }
  exec(kEventsTable);
  if (version < kStoreSchemaVersion) exec("PRAGMA user_version = " + std::to_string(kStoreSchemaVersion));
  tx.commit();
}

std::optional<RunRecord> RunStore::find_run(const std::string& run_id) {
  Stmt s(db_, std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id = ?", path_);
  s.bind(1, run_id);
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

std::vector<RunRecord> RunStore::runs(const std::string& experiment) {
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs" +
                    (experiment.empty() ? "" : " WHERE experiment = ?") + " ORDER BY experiment, run_id";
  Stmt s(db_, sql, path_);
  if (!experiment.empty()) s.bind(1, experiment);
  std::vector<RunRecord> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

int64_t RunStore::start_run(const RunRecord& m,
                            const std::vector<std::pair<std::string, std::string>>& params) {
  Transaction tx(*this, db_, path_);
  Stmt e(db_, "INSERT OR IGNORE INTO experiments(name, created) VALUES (?, ?)", path_);
  e.bind(1, m.experiment).bind(2, now_utc()).run();
  Stmt a(db_, "SELECT attempt FROM runs WHERE run_id = ?", path_);
  a.bind(1, m.run_id);
  int64_t attempt = (a.step() ? a.i64(0) : 0) + 1;
  a.reset();
  Stmt r(
      db_,
      "INSERT INTO runs(run_id, experiment, status, attempt, host, device, threads, started, heartbeat, "
      "step, "
      "git_commit, ctlab_version, torch_version, blas, config, owner) VALUES (?1, ?2, ?16, ?3, ?4, ?5, ?6, "
      "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT(run_id) DO UPDATE SET status = ?16, attempt = "
      "excluded.attempt, "
      "owner = excluded.owner, host = "
      "excluded.host, device = excluded.device, threads = excluded.threads, started = excluded.started, "
      "heartbeat = excluded.heartbeat, ended = NULL, error = NULL, diverged_step = NULL, git_commit = "
      "excluded.git_commit, ctlab_version = excluded.ctlab_version, torch_version = excluded.torch_version, "
      "blas = excluded.blas, config = excluded.config",
      path_);
  auto now = now_utc();
  r.bind(1, m.run_id)
      .bind(2, m.experiment)
      .bind(3, attempt)
      .bind(4, m.host)
      .bind(5, m.device)
      .bind(6, m.threads);
  r.bind(7, now).bind(8, now).bind(9, m.step).bind(10, m.git_commit).bind(11, m.ctlab_version);
  r.bind(12, m.torch_version).bind(13, m.blas).bind(14, m.config).bind(15, m.owner);
  r.bind(16, std::string(to_string(RunStatus::Running))).run();
  Stmt p(db_, "INSERT OR REPLACE INTO params(run_id, key, value) VALUES (?, ?, ?)", path_);
  for (const auto& [k, v] : params) {
    p.reset();
    p.bind(1, m.run_id).bind(2, k).bind(3, v).run();
  }
  tx.commit();
  return attempt;
}

bool RunStore::claim_run(const RunRecord& meta, const std::string& owner,
                         const std::function<bool(const std::optional<RunRecord>&)>& eligible) {
  Transaction tx(*this, db_, path_);
  auto current = find_run(meta.run_id);
  if (!eligible(current)) return false;  // the transaction rolls back
  Stmt e(db_, "INSERT OR IGNORE INTO experiments(name, created) VALUES (?, ?)", path_);
  e.bind(1, meta.experiment).bind(2, now_utc()).run();
  auto now = now_utc();
  if (!current) {
    Stmt i(db_,
           "INSERT INTO runs(run_id, experiment, status, attempt, heartbeat, config, owner) "
           "VALUES (?, ?, ?, 0, ?, ?, ?)",
           path_);
    i.bind(1, meta.run_id).bind(2, meta.experiment).bind(3, std::string(to_string(RunStatus::Running)));
    i.bind(4, now).bind(5, meta.config).bind(6, owner).run();
  } else {
    Stmt u(db_, "UPDATE runs SET status = ?, heartbeat = ?, owner = ? WHERE run_id = ?", path_);
    u.bind(1, std::string(to_string(RunStatus::Running)))
        .bind(2, now)
        .bind(3, owner)
        .bind(4, meta.run_id)
        .run();
  }
  tx.commit();
  return true;
}

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

bool RunStore::reserve_space(const std::string& path, int64_t bytes) { return reserve_.hold(path, bytes); }

void RunStore::record_progress(const std::string& run_id, int64_t step) {
  Transaction tx(*this, db_, path_);
  Stmt s(db_, "UPDATE runs SET heartbeat = ?, step = MAX(step, ?) WHERE run_id = ?", path_);
  s.bind(1, now_utc()).bind(2, step).bind(3, run_id).run();
  tx.commit();
}

void RunStore::finish_run(const std::string& run_id, RunStatus status, int64_t step, const std::string& error,
                          std::optional<int64_t> diverged_step) {
  auto write = [&] {
    Transaction tx(*this, db_, path_);
    Stmt s(db_,
           "UPDATE runs SET status = ?, step = MAX(step, ?), ended = ?, heartbeat = ?, error = ?, "
           "diverged_step = ?, owner = NULL, failures = failures + ?8 WHERE run_id = ?7",
           path_);
    auto now = now_utc();
    s.bind(1, std::string(to_string(status)))
        .bind(2, step)
        .bind(3, now)
        .bind(4, now)
        .bind(5, error)
        .bind(6, diverged_step)
        .bind(7, run_id)
        .bind(8, static_cast<int64_t>(status == RunStatus::Failed))
        .run();
    tx.commit();
  };
  try {
    write();
  } catch (const Error&) {
    // A full disk (often filled by this database): the reserve's blocks make room for
    // this one transaction.
    if (!reserve_.release()) throw;
    write();
  }
  reserve_.release();
}

void RunStore::touch(const std::string& run_id, const std::string& owner) {
  Transaction tx(*this, db_, path_);
  Stmt s(db_, "UPDATE runs SET heartbeat = ? WHERE run_id = ? AND owner = ?", path_);
  s.bind(1, now_utc()).bind(2, run_id).bind(3, owner).run();
  tx.commit();
}

bool RunStore::hold_run(const std::string& run_id, const std::string& owner,
                        const std::function<bool(const std::optional<RunRecord>&)>& eligible) {
  Transaction tx(*this, db_, path_);
  auto current = find_run(run_id);
  if (!current || !eligible(current)) return false;
  Stmt u(db_, "UPDATE runs SET owner = ?, heartbeat = ? WHERE run_id = ?", path_);
  u.bind(1, owner).bind(2, now_utc()).bind(3, run_id).run();
  tx.commit();
  return true;
}

void RunStore::release_run(const std::string& run_id, const std::string& owner) {
  Transaction tx(*this, db_, path_);
  Stmt u(db_, "UPDATE runs SET owner = NULL WHERE run_id = ? AND owner = ?", path_);
  u.bind(1, run_id).bind(2, owner).run();
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
        .bind(5, r.wall_time > 0 ? r.wall_time : unix_now())
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
