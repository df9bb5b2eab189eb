// A training job: everything a process needs to train one run, as one typed value. `ctlab
// train` builds it from its flags; the grid scheduler writes it as a versioned JSON file
// (runs/<run_id>/job.json) for a worker, the `--nproc` launcher as runs/<run_id>/ranks.json
// for its ranks, and each starts `ctlab <kJobCommand> FILE`, so a worker or a rank
// receives its run as data, not as a command line rebuilt from flag spellings.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "plugin/plugin_host.h"
#include "runtime/distributed.h"

namespace ctlab {

// The (hidden) command that runs a job file: `ctlab run-job <job.json>`.
inline constexpr const char* kJobCommand = "run-job";

struct TrainJob {
  static constexpr int kVersion = 2;
  // The run's configuration: a run file with "key=value" overrides (ctlab train), or the
  // text of an already resolved configuration (workers and ranks).
  std::string config_file;
  std::string config_text;
  std::vector<std::string> overrides;
  // Workers and ranks: the run id the sender resolved. Both sides resolve with the same
  // function, so a difference means the code or a plugin changed in between.
  std::string expect_run_id;
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

}  // namespace ctlab
