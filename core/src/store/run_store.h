// The SQLite run store (results/ctlab.sqlite): experiments, runs with their status and
// metadata, params, metrics and artifacts. WAL mode, a busy timeout and BEGIN IMMEDIATE
// transactions make concurrent writers from several processes safe; every statement is
// prepared; metric rows are keyed (run_id, key, step) so a resumed run rewrites rows
// instead of duplicating them. Schema version in PRAGMA user_version.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "util/space_reserve.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ctlab {

constexpr int kStoreSchemaVersion = 3;

// A run's state. The store keeps it as text (the spelling of to_string); these two
// functions are the only place that maps one to the other.
enum class RunStatus { Pending, Running, Completed, Failed, Diverged, Interrupted };
const char* to_string(RunStatus s);
// Throws ctlab::Error for text that names no status.
RunStatus parse_run_status(const std::string& text);
inline std::ostream& operator<<(std::ostream& os, RunStatus s) { return os << to_string(s); }

struct RunRecord {
  std::string run_id;
  std::string experiment;
  RunStatus status = RunStatus::Pending;
  int64_t attempt = 0;   // times the run was started
  int64_t failures = 0;  // attempts that ended failed (interruptions are not failures)
  std::string host, device;
  int64_t threads = 0;
  std::string started, ended, heartbeat;  // UTC, ISO 8601
  std::string error;
  std::optional<int64_t> diverged_step;
  int64_t step = 0;  // last completed training step
  std::string git_commit, ctlab_version, torch_version, blas;
  std::string config;  // the resolved config.ini text
  std::string owner;   // the claimant: "host:pid:start" of the process training or evaluating it
};

// One line of a run's history: starts, takeovers, accepted plugin changes, failures.
struct RunEvent {
  std::string run_id;
  std::string time;  // UTC, ISO 8601
  std::string kind;  // start, takeover, plugin_change, ...
  std::string detail;
};

struct ArtifactRow {
  std::string kind, path, sha256;
};

struct MetricRow {
  std::string key;
  int64_t step = 0;
  double value = 0;
  double wall_time = 0;  // seconds since the Unix epoch
};

class RunStore {
 public:
  // Opens (creating if needed) the database; throws ctlab::Error naming the file.
  explicit RunStore(const std::string& path);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const { return path_; }

  std::optional<RunRecord> find_run(const std::string& run_id);
  std::vector<RunRecord> runs(const std::string& experiment = "");

  // Inserts or updates the run as `running`, attempt + 1, with its metadata and params,
  // in one transaction. Returns the attempt number.
  int64_t start_run(const RunRecord& meta, const std::vector<std::pair<std::string, std::string>>& params);
  // Holds `bytes` of disk space in a file at `path` (on the database's filesystem) for
  // finish_run. Returns false when the disk cannot hold it (the run goes on without).
  bool reserve_space(const std::string& path, int64_t bytes = 1 << 20);
  // The step the run has reached (never lower than recorded: a resumed attempt repeats
  // steps after its checkpoint), with the time (at the trainer's flushes). A run's claim
  // is kept alive by store/heartbeat.h's thread, not by this.
  void record_progress(const std::string& run_id, int64_t step);
  // Refreshes the heartbeat time only, and only while `owner` holds the run's claim.
  void touch(const std::string& run_id, const std::string& owner);
  // Atomically: when eligible(record) says so, gives `owner` the run's claim without
  // changing its status (an evaluation claims a run this way). Returns whether it did.
  bool claim_for_eval(const std::string& run_id, const std::string& owner,
                      const std::function<bool(const std::optional<RunRecord>&)>& eligible);
  // Clears the claim when `owner` still holds it.
  void release_eval_claim(const std::string& run_id, const std::string& owner);
  // Adds or replaces params rows (e.g. a grid cell's axis values as grid.<axis>).
  void add_params(const std::string& run_id, const std::vector<std::pair<std::string, std::string>>& params);
  // Atomically (one BEGIN IMMEDIATE transaction): reads the run's record, and when
  // eligible(record) says so, marks it running by `owner` (creating the row if needed,
  // attempt unchanged). Returns whether this caller now owns the run. This is how
  // concurrent grid schedulers never start the same cell twice.
  bool claim_run(const RunRecord& meta, const std::string& owner,
                 const std::function<bool(const std::optional<RunRecord>&)>& eligible);
  // Sets the final status (completed, failed, diverged, interrupted) and ended time, and
  // clears the claim; a failed status also counts one failure. The recorded step never
  // goes down (a re-run that fails before it resumes keeps the step reached before). When
  // the commit fails (a full disk) and this store holds a reserve (reserve_space), the
  // reserve is freed and the write tried once more.
  void finish_run(const std::string& run_id, RunStatus status, int64_t step, const std::string& error = "",
                  std::optional<int64_t> diverged_step = std::nullopt);

  // One transaction; rows with an existing (run_id, key, step) are replaced. `files` are
  // recorded in the same transaction (a command that rewrote a run's file, such as `ctlab
  // eval` its analysis.h5, records the new hash with the metrics it computed from it).
  void add_metrics(const std::string& run_id, const std::vector<MetricRow>& rows,
                   const std::vector<ArtifactRow>& files = {});
  std::vector<MetricRow> metrics(const std::string& run_id, const std::string& key_prefix = "");
  // The rows of exactly these keys, in key then step order.
  std::vector<MetricRow> metrics_exact(const std::string& run_id, const std::vector<std::string>& keys);
  // Every params row of the run (key -> value).
  std::map<std::string, std::string> params(const std::string& run_id);
  void add_artifact(const std::string& run_id, const std::string& kind, const std::string& path,
                    const std::string& sha256);
  std::vector<ArtifactRow> artifacts(const std::string& run_id);
  void add_event(const std::string& run_id, const std::string& kind, const std::string& detail);
  // The history of one run, or of every run when run_id is empty, oldest first.
  std::vector<RunEvent> events(const std::string& run_id = "");
  // SQLite's own consistency check ("ok" or its findings).
  std::vector<std::string> integrity_check();

  // Merges another results database into this one, idempotently: runs this store lacks
  // are added; a run present in both is replaced when the other copy is completed and
  // this one is not, or neither is and the other got further. Params, metrics and
  // artifacts are added where missing. Returns the run ids whose row came from `other`
  // (their run folders should be copied too).
  std::vector<std::string> merge_from(const std::string& other_path);

  static std::string now_utc();

 private:
  void exec(const std::string& sql);
  void check(int rc, const std::string& what);
  void migrate();

  std::string path_;
  sqlite3* db_ = nullptr;
  SpaceReserve reserve_;
};

}  // namespace ctlab
