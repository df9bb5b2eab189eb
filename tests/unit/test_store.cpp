// The SQLite run store: schema, round trips, idempotent metric rows and two processes
// writing to one database at once.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/run_store.h"
#include "test_util.h"
#include "util/error.h"

using namespace ctlab;

namespace {
RunRecord record(const std::string& id, const std::string& exp = "e") {
  RunRecord r;
  r.run_id = id;
  r.experiment = exp;
  r.host = "h";
  r.device = "cpu";
  r.threads = 2;
  r.config = "[model]\nmem_len = 8\n";
  return r;
}
}  // namespace

TEST(RunStore, RoundTripAndSchemaVersion) {
  test::TempDir dir;
  auto path = dir.path() + "/ctlab.sqlite";
  {
    RunStore s(path);
    EXPECT_EQ(s.start_run(record("r1"), {{"mem_len", "8"}, {"compression", "mean_pool@1"}}), 1);
    s.add_metrics("r1", {{"train/loss", 10, 2.5, 0}, {"train/loss", 20, 2.0, 0}});
    s.add_artifact("r1", "plugin", "/p.so", "abc");
    s.finish_run("r1", RunStatus::Completed, 20);
  }
  RunStore s(path);
  auto r = s.find_run("r1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, RunStatus::Completed);
  EXPECT_EQ(r->step, 20);
  EXPECT_EQ(r->attempt, 1);
  EXPECT_EQ(r->config, "[model]\nmem_len = 8\n");
  EXPECT_FALSE(r->ended.empty());
  auto m = s.metrics("r1", "train/");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_DOUBLE_EQ(m[1].value, 2.0);
  EXPECT_GT(m[1].wall_time, 1.7e9);
  EXPECT_EQ(s.start_run(record("r1"), {}), 2);  // a retry counts attempts
  EXPECT_EQ(s.find_run("r1")->status, RunStatus::Running);
  EXPECT_FALSE(s.find_run("nope"));
  sqlite3* db;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), kStoreSchemaVersion);
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(RunStore, MetricRowsAreReplacedNotDuplicated) {
  test::TempDir dir;
  RunStore s(dir.path() + "/db.sqlite");
  s.start_run(record("r"), {});
  s.add_metrics("r", {{"valid/bpc", 100, 1.5, 0}});
  s.add_metrics("r", {{"valid/bpc", 100, 1.25, 0}});
  auto m = s.metrics("r");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_DOUBLE_EQ(m[0].value, 1.25);
}

TEST(RunStore, NewerSchemaIsRefused) {
  test::TempDir dir;
  auto path = dir.path() + "/db.sqlite";
  { RunStore s(path); }
  sqlite3* db;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    RunStore s(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99, newer than this ctlab's " +
                                         std::to_string(kStoreSchemaVersion)),
              std::string::npos);
  }
}

TEST(RunStore, VersionOneDatabasesGainTheOwnerColumn) {
  test::TempDir dir;
  auto path = dir.path() + "/v1.sqlite";
  sqlite3* db;
  sqlite3_open(path.c_str(), &db);
  ASSERT_EQ(
      sqlite3_exec(
          db,
          "CREATE TABLE experiments(name TEXT PRIMARY KEY, created TEXT NOT NULL);"
          "CREATE TABLE runs(run_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, status TEXT NOT NULL,"
          " attempt INTEGER NOT NULL DEFAULT 0, host TEXT, device TEXT, threads INTEGER, started TEXT,"
          " ended TEXT, heartbeat TEXT, error TEXT, diverged_step INTEGER, step INTEGER NOT NULL DEFAULT 0,"
          " git_commit TEXT, ctlab_version TEXT, torch_version TEXT, blas TEXT, config TEXT NOT NULL);"
          "CREATE TABLE params(run_id TEXT, key TEXT, value TEXT, PRIMARY KEY(run_id, key));"
          "CREATE TABLE metrics(run_id TEXT, key TEXT, step INTEGER, value REAL, wall_time REAL,"
          " PRIMARY KEY(run_id, key, step));"
          "CREATE TABLE artifacts(run_id TEXT, kind TEXT, path TEXT, sha256 TEXT,"
          " PRIMARY KEY(run_id, kind, path));"
          "INSERT INTO experiments VALUES ('old', 'then');"
          "INSERT INTO runs(run_id, experiment, status, config) VALUES ('r0', 'old', 'completed', 'x');"
          "PRAGMA user_version = 1;",
          nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  RunStore s(path);
  auto r = s.find_run("r0");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, RunStatus::Completed);
  EXPECT_EQ(r->owner, "");
  auto rec = record("r1");
  rec.owner = "host:1";
  s.start_run(rec, {});
  EXPECT_EQ(s.find_run("r1")->owner, "host:1");
}

TEST(RunStore, TwoProcessesWritingAtOnceLoseNothing) {
  test::TempDir dir;
  auto path = dir.path() + "/shared.sqlite";
  { RunStore s(path); }
  const int kBatches = 40, kRows = 25;
  std::vector<pid_t> kids;
  for (int p = 0; p < 2; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        RunStore s(path);
        auto id = "run" + std::to_string(p);
        s.start_run(record(id, "shared"), {{"p", std::to_string(p)}});
        for (int b = 0; b < kBatches; ++b) {
          std::vector<MetricRow> rows;
          for (int i = 0; i < kRows; ++i) rows.push_back({"m", b * kRows + i, static_cast<double>(p), 0});
          s.add_metrics(id, rows);
          s.record_progress(id, b);
        }
        s.finish_run(id, RunStatus::Completed, kBatches);
      } catch (...) {
        rc = 1;
      }
      _exit(rc);
    }
    kids.push_back(pid);
  }
  for (auto pid : kids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  RunStore s(path);
  EXPECT_EQ(s.runs("shared").size(), 2u);
  for (auto id : {"run0", "run1"}) {
    EXPECT_EQ(s.metrics(id).size(), static_cast<size_t>(kBatches * kRows)) << id;
    EXPECT_EQ(s.find_run(id)->status, RunStatus::Completed);
  }
}
