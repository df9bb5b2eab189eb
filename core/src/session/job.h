// A training job: everything a process needs to train one run, as one typed value. `ctlab
// train` builds it from its flags; the grid scheduler asks start_job to run it in a worker
// process (written to runs/<run_id>/job.json), and the `--nproc` launcher writes its ranks'
// job to runs/<run_id>/ranks.json; either way the child runs `ctlab <kJobCommand> FILE`
// (job_command), so a worker or a rank receives its run as data, not as a command line
// rebuilt from flag spellings.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plugin/plugin_host.h"
#include "runtime/distributed.h"

namespace ctlab {

// The (hidden) command that runs a job file: `ctlab run-job <job.json>`.
inline constexpr const char* kJobCommand = "run-job";

struct TrainJob {
  static constexpr int kVersion = 3;
  // The run's configuration: a run file with "key=value" overrides (ctlab train), or the
  // text of an already resolved configuration (workers and ranks).
  std::string config_file;
  std::string config_text;
  std::vector<std::string> overrides;
  // Workers and ranks: the run id the sender resolved. Both sides resolve with the same
  // function, so a difference means the code or a plugin changed in between.
  std::string expect_run_id;
  // Operational settings the sender decides for this process, in place of the
  // configuration's `threads` and `device` (neither is part of the run's identity): a grid
  // worker's share of the cores and its device, a rank's share of the cores. Unset: the
  // configuration's.
  std::optional<int64_t> threads;     // >= 0 (0: every core this process may use)
  std::optional<std::string> device;  // auto | cpu | cuda | cuda:N
  std::string results_root = "results";
  // The run's hyperparameters as TensorBoard shows them: a grid cell's axes, or the keys
  // `ctlab train --set` gave.
  std::vector<std::pair<std::string, std::string>> hparams;
  PluginSources plugins;
  bool accept_plugin_change = false;
  bool check_memory = true;
  int nproc = 1;  // > 1: start this many local ranks (the launcher); 1: train in this process
  DistBackend backend = DistBackend::Auto;
  int dist_timeout_s = 300;
};

// JSON with a "ctlab_job" version field; reading checks it and every field's type, and
// throws ctlab::Error naming the file and the field.
std::string job_to_json(const TrainJob& job);
TrainJob job_from_json(const std::string& text, const std::string& path_for_errors);
// Writes the job atomically to `path`; reads one back.
void write_job(const std::string& path, const TrainJob& job);
TrainJob read_job(const std::string& path);
// The command line that runs a job file in a new process of this program.
std::vector<std::string> job_command(const std::string& job_file);

// How start_job starts a job's process, beyond what the job itself says.
struct JobStart {
  std::string output;                                    // append stdout and stderr here ("" = inherit)
  std::vector<std::pair<std::string, std::string>> env;  // more of the child's environment
};

// Writes `job` to `job_file` (atomically) and starts it in a child process of this program
// (util/spawn.h: it ignores Ctrl-C and gets SIGTERM when this process dies), its BLAS and
// OpenMP pools sized to the job's `threads` when the job sets them. Returns the child's pid;
// throws ctlab::Error (kind Run) when it cannot be started.
pid_t start_job(const TrainJob& job, const std::string& job_file, const JobStart& how = {});

}  // namespace ctlab
