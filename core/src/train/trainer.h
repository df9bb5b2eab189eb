// The training loop, the only one in ctlab: TXL-batched segments with memories carried
// per batch chunk, Adam with warmup + cosine, gradient clipping, accumulation, the [CT]
// update-period trick, auxiliary and bptt compression losses, periodic validation,
// divergence detection, checkpoints and resume, and metrics into the run store.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "config/resolve.h"
#include "data/corpus.h"
#include "model/model.h"
#include "store/run_store.h"

namespace ctlab {

struct RunPaths {
  std::string dir;         // results/runs/<run_id>
  std::string checkpoint;  // dir/checkpoint.pt
  std::string log;         // dir/log.txt
  std::string config;      // dir/config.ini
  static RunPaths for_run(const std::string& results_root, const std::string& run_id);
};

struct TrainOutcome {
  std::string status;  // completed | diverged | interrupted | failed
  int64_t step = 0;
  std::string error;
  std::optional<int64_t> diverged_step;
  double valid_loss = 0;  // final validation, when completed
  double valid_score = 0;
  int exit_code() const;
};

// Learning rate at `step` (0-based): linear from lr_start to lr over warmup_steps, then a
// cosine from lr to lr_min at max_steps.
double learning_rate(const TrainOptions& t, int64_t step);

class Progress;

class Trainer {
 public:
  // cfg must be resolved and pinned (plugins by name@version).
  Trainer(const RunConfig& cfg, const PluginHost& host, const ResolvedPlugins& plugins, const Corpus& corpus,
          RunStore& store, const std::string& run_id, const RunPaths& paths);
  // Trains to max_steps, resuming from the checkpoint when there is one. Records status and
  // metrics in the store. Never throws for failures of the run itself: they become
  // status "failed" with the message.
  TrainOutcome run();

 private:
  // Attention by bucket, frequency buckets and compression loss per layer into
  // runs/<run_id>/analysis.h5 (a failure to write it is a warning, not a failed run).
  void write_final_analysis(CompressiveTransformer& model, int64_t step, const torch::Device& device,
                            bool bf16, Progress& progress);

  const RunConfig& cfg_;
  const PluginHost& host_;
  const ResolvedPlugins& plugins_;
  const Corpus& corpus_;
  RunStore& store_;
  std::string run_id_;
  RunPaths paths_;
};

}  // namespace ctlab
