// The run store's SQL plumbing, shared by run_store.cpp (the schema, the runs table and a
// run's lifecycle) and run_rows.cpp (params, metrics, artifacts, events, merging): checked
// prepared statements, BEGIN IMMEDIATE transactions, and the runs table's columns.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>

#include "store/run_store.h"
#include "util/error.h"

namespace ctlab::sql {

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
  Transaction(RunStore& /*store*/, sqlite3* db, const std::string& path) : db_(db), path_(path) {
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

// Every column of runs, in the order read_run reads them.
inline constexpr const char* kRunColumns =
    "run_id, experiment, status, attempt, host, device, threads, started, ended, heartbeat, error, "
    "diverged_step, step, git_commit, ctlab_version, torch_version, blas, config, owner, failures";

}  // namespace ctlab::sql
