// One training step, the only one in ctlab: the trainer runs it, and ctlab_bench times it.
// A step covers `segments()` consecutive segments of the batch (2+ under the bptt loss,
// which unrolls them in one graph), split into `accumulate` chunks of streams, each chunk
// with its own memories; then the divergence check, clipping (transformer and compression
// parameters separately) and the Adam update, every `update_period` steps once
// `update_period_from` is reached ([CT] sec. 4).
#pragma once

#include <torch/optim/adam.h>

#include <cmath>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "config/options.h"
#include "model/model.h"
#include "runtime/distributed.h"

namespace ctlab {

// Learning rate at `step` (0-based): linear from lr_start to lr over warmup_steps, then a
// cosine from lr to lr_min at max_steps.
double learning_rate(const TrainOptions& t, int64_t step);

// What one step reports. With deferred checks (TrainStep::set_deferred) the loss fields are
// 0, `finite` is true and `grad_norm` NaN: the values accumulate on the device and come
// from TrainStep::collect().
struct StepStats {
  double loss = 0;            // task loss (mean NLL, nats), mean over chunks and segments
  std::vector<double> closs;  // compression loss per layer, mean over chunks and segments
  double lr = 0;
  bool finite = true;    // false: the step diverged and nothing was updated
  bool updated = false;  // the optimizer stepped
  double grad_norm = 0;  // the transformer parameters' norm before clipping (when clipped)
};

// The sums of the steps run since the last collect() (deferred checks).
struct CollectedSteps {
  int64_t steps = 0;
  double loss = 0;                                         // sum over the steps of each step's task loss
  std::vector<double> closs;                               // per layer, sum over the steps
  double grad_norm = NAN;                                  // of the last step that clipped
  std::optional<int64_t> nonfinite_task, nonfinite_closs;  // the first step (0-based) with such a loss
};

// Whether a step on `device` defers its checks under `checks` (auto: on CUDA).
inline bool defers_checks(CheckTiming checks, const torch::Device& device) {
  return checks == CheckTiming::Deferred || (checks == CheckTiming::Auto && device.is_cuda());
}

class TrainStep {
 public:
  // A segment of the full batch: inputs and targets [seq_len, batch_size] on the device.
  using Segment = std::pair<torch::Tensor, torch::Tensor>;

  TrainStep(CompressiveTransformer& model, torch::optim::Adam& optimizer, const TrainOptions& options,
            bool bf16);
  // Segments one step consumes: bptt_segments under the bptt loss, else 1.
  int64_t segments() const { return segments_; }
  // Empty memories for every chunk, [accumulate][n_layer].
  std::vector<Memories> empty_memories() const;
  // Runs step `step` on segment(0) ... segment(segments() - 1), carrying each chunk's
  // memories in `memories` (as returned by empty_memories() or a previous step).
  StepStats run(int64_t step, const std::function<Segment(int64_t)>& segment,
                std::vector<Memories>& memories);

  // Deferred checks (the default on CUDA): no host sync inside a step. Losses, the
  // divergence check, the grad norm and the compression functions' output checks
  // accumulate on the device; collect() reads them (one sync) and resets them. A step
  // whose loss is not finite is then only found at collect(), after its update.
  void set_deferred(bool deferred);
  bool deferred() const { return deferred_; }
  // Throws ctlab::Error naming the plugin when a compression output was not finite (and no
  // step diverged, which would be the cause).
  CollectedSteps collect();

  // Data parallelism: the segments hold this rank's streams only (batch_size / size()).
  // Gradients are averaged over ranks before clipping, and the reported losses and
  // divergence flags are those of the whole batch, so every rank takes the same update and
  // the same decisions as one process over all the streams.
  void set_comm(const Comm* comm) { comm_ = comm; }

 private:
  // Forward and backward of one chunk over the step's segments; adds to `stats`.
  void run_chunk(int64_t chunk, double scale, const std::function<Segment(int64_t)>& segment,
                 Memories& memory, StepStats& stats);
  void update(StepStats& stats);
  // The mean over ranks of every parameter's gradient, in one collective.
  void average_gradients();
  // The whole batch's losses from every rank's (non-deferred: on the host).
  void average_losses(StepStats& stats);
  // Deferred: the same on the device, with the plugin-output flag; returns the flag.
  torch::Tensor average_deferred_losses();
  // Deferred: adds this step's sums and divergence flags to the pending ones.
  void note_deferred(int64_t step, const torch::Tensor& output_flag);

  CompressiveTransformer& model_;
  torch::optim::Adam& optimizer_;
  const TrainOptions& t_;
  bool bf16_, bptt_;
  int64_t segments_, n_layer_;
  std::vector<torch::Tensor> transformer_params_, compression_params_;
  bool deferred_ = false;
  const Comm* comm_ = nullptr;
  // Deferred sums on the device (float64): task loss, per-layer compression loss, the first
  // non-finite steps (int64, -1 = none), the last grad norm.
  int64_t pending_steps_ = 0;
  torch::Tensor loss_sum_, closs_sum_, bad_task_, bad_closs_, bad_output_, grad_norm_;
  torch::Tensor step_loss_, step_closs_;  // this step's, while it runs
};

}  // namespace ctlab
