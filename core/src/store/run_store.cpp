// The run store: its schema and migrations, and the runs table with each run's lifecycle
// (start, claim, hold, progress, finish). Every return code is checked and reported with
// SQLite's own message and the database path.
#include "store/run_store.h"

#include <sqlite3.h>

#include <ctime>

#include "store/run_store_sql.h"
#include "util/error.h"

namespace ctlab {

using sql::kRunColumns;
using sql::Stmt;
using sql::Transaction;

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

bool RunStore::claim_for_eval(const std::string& run_id, const std::string& owner,
                              const std::function<bool(const std::optional<RunRecord>&)>& eligible) {
  Transaction tx(*this, db_, path_);
  auto current = find_run(run_id);
  if (!current || !eligible(current)) return false;
  Stmt u(db_, "UPDATE runs SET owner = ?, heartbeat = ? WHERE run_id = ?", path_);
  u.bind(1, owner).bind(2, now_utc()).bind(3, run_id).run();
  tx.commit();
  return true;
}

void RunStore::release_eval_claim(const std::string& run_id, const std::string& owner) {
  Transaction tx(*this, db_, path_);
  Stmt u(db_, "UPDATE runs SET owner = NULL WHERE run_id = ? AND owner = ?", path_);
  u.bind(1, run_id).bind(2, owner).run();
  tx.commit();
}

}  // namespace ctlab
