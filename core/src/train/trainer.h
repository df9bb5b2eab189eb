// The training loop, the only one in ctlab: TXL-batched segments with memories carried per
// batch chunk (train/step.h), periodic validation (train/validation.h), divergence
// detection, checkpoints and resume, stop signals, metrics into a RunSink (the run store,
// through the session layer; flushed at checkpoints, at least every 20 s, at a stop and at
// the end) and the final analyses into runs/<run_id>/analysis.h5. The trainer keeps no
// claim alive: the session's heartbeat thread does (store/heartbeat.h).
#pragma once

#include <optional>
#include <string>

#include "config/plugin_binding.h"
#include "data/corpus.h"
#include "model/model.h"
#include "runtime/distributed.h"
#include "runtime/thread_request.h"
#include "store/results_layout.h"
#include "train/run_sink.h"
#include "train/step.h"

namespace ctlab {

struct TrainOutcome {
  RunStatus status = RunStatus::Failed;  // completed | diverged | interrupted | failed
  int64_t step = 0;
  std::string error;
  std::optional<int64_t> diverged_step;
  double valid_loss = 0;  // final validation, when completed
  double valid_score = 0;
  std::optional<double> recovered;  // generated tasks: final share of the long-range information recovered
  int exit_code() const;
};

// Metric key of layer i's compression loss: "train/compression_loss/layer<i>".
std::string compression_loss_key(int64_t layer);

class Trainer {
 public:
  // cfg must be resolved and pinned (plugins by name@version). Data parallelism: every rank
  // constructs a Trainer with the same configuration and `comm`; rank 0 passes the sink
  // (it alone records the run and writes the checkpoint and the analysis), the others null, and
  // log to runs/<run_id>/rank<r>.log. `device`: this rank's device, resolved once by the
  // caller (session/train_run.cpp: a CUDA rank's is its local rank's).
  Trainer(const RunConfig& cfg, const PluginHost& host, const ResolvedPlugins& plugins, const Corpus& corpus,
          RunSink* sink, const std::string& run_id, const RunPaths& paths, const Comm& comm,
          const torch::Device& device);
  // Trains to max_steps, resuming from the checkpoint when there is one. Records status and
  // metrics through the sink. Never throws for failures of the run itself: they become
  // status "failed" with the message.
  TrainOutcome run();

 private:
  struct Attempt;  // the state of one call of run() (one attempt of the run): model, optimizer, data,
                   // progress
  TrainOutcome train(Attempt& s);
  // Device, model, optimizer, this rank's streams, the checkpoint when there is one.
  void setup(Attempt& s);
  // The log's first line: data, device, threads, BLAS, CPU kernels, rank.
  void note_machine(Attempt& s, int threads);
  void log_window(Attempt& s, const StepStats& stats);
  void after_step(Attempt& s);
  TrainOutcome stop(Attempt& s, int signal);
  // `at`: the 0-based step whose loss was not finite; `what`: which loss.
  TrainOutcome diverge(Attempt& s, int64_t at, const std::string& what);
  // Deferred checks: folds the steps' device-side sums into the logging window. Returns
  // the divergence ({step, what}) when one of the steps had a non-finite loss.
  std::optional<std::pair<int64_t, std::string>> absorb(Attempt& s);
  TrainOutcome complete(Attempt& s);
  // A stop signal that every rank agrees on (any rank's), checked every step, or only at
  // the steps that read the device when checks are deferred.
  int agreed_stop(Attempt& s, bool read_point);
  // Gathers every rank's memories and random state; rank 0 writes the checkpoint.
  void save(Attempt& s);
  // Rank 0: the pending metrics and the step reached into the sink.
  void flush(Attempt& s);
  void finish(Attempt& s, RunStatus status, const std::string& error = "",
              std::optional<int64_t> diverged_at = std::nullopt);
  // Attention by bucket, frequency buckets and compression loss per layer into
  // runs/<run_id>/analysis.h5, recording its hash. A failed write fails the run (the run is
  // not complete without its analysis); the final checkpoint is saved first, so a re-run
  // goes straight to the final evaluation and writes it.
  void write_final_analysis(Attempt& s);

  const RunConfig& cfg_;
  const PluginHost& host_;
  const ResolvedPlugins& plugins_;
  const Corpus& corpus_;
  RunSink* sink_;  // null on ranks other than 0
  std::string run_id_;
  RunPaths paths_;
  ThreadRequest threads_request_;  // more threads when a grid's other cells have finished
  const Comm& comm_;
  torch::Device device_;
};

}  // namespace ctlab
