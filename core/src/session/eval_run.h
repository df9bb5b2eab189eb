// Evaluating a trained run (`ctlab eval`): the run's stored configuration with evaluation
// overrides, resolved through the same pipeline as training; the run is held in the store
// (with a heartbeat) while its checkpoint is evaluated, so no trainer or other evaluator
// writes its folder meanwhile; the analysis group and the metrics are recorded with the
// analysis file's new hash in one transaction.
#pragma once

#include <string>
#include <vector>

#include "plugin/plugin_host.h"

namespace ctlab {

struct EvalRequest {
  std::string run_id;
  std::string split = "test";          // valid | test
  std::vector<std::string> overrides;  // "eval_mem_len=128", ... (run keys)
  std::string results_root = "results";
  PluginSources plugins;
  bool accept_plugin_change = false;
};

struct EvalReport {
  std::string run_id, split, tag, score_name;  // tag: the evaluation settings, e.g. seq64-mem64-...
  int64_t step = 0;
  double score = 0, loss = 0;
  int64_t tokens = 0, segments = 0, full_segments = 0;
  std::string analysis_file, analysis_group;
};

// Throws ctlab::Error for a missing root or run, a config that does not describe the run,
// changed plugins, or a run held by another live process.
EvalReport eval_run(const EvalRequest& request);

}  // namespace ctlab
