// The training step.
#include "train/step.h"

#include <torch/torch.h>

#include <cmath>

#include "runtime/runtime.h"

namespace ctlab {

double learning_rate(const TrainOptions& t, int64_t step) {
  if (step < t.warmup_steps)
    return t.lr_start + (t.lr - t.lr_start) * static_cast<double>(step) / static_cast<double>(t.warmup_steps);
  const double span = static_cast<double>(std::max<int64_t>(1, t.max_steps - t.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - t.warmup_steps) / span);
  return t.lr_min + 0.5 * (t.lr - t.lr_min) * (1.0 + std::cos(M_PI * progress));
}

TrainStep::TrainStep(CompressiveTransformer& model, torch::optim::Adam& optimizer,
                     const TrainOptions& options, bool bf16)
    : model_(model),
      optimizer_(optimizer),
      t_(options),
      bf16_(bf16),
      bptt_(model->compression().loss_mode == LossMode::Bptt && model->options().cmem_len > 0),
      segments_(bptt_ ? options.bptt_segments : 1),
      n_layer_(model->options().n_layer),
      transformer_params_(model->transformer_parameters()),
      compression_params_(model->compression_parameters()) {}

std::vector<std::vector<LayerMemory>> TrainStep::empty_memories() const {
  return std::vector<std::vector<LayerMemory>>(t_.accumulate, std::vector<LayerMemory>(n_layer_));
}

void TrainStep::run_chunk(int64_t c, double scale, const std::function<Segment(int64_t)>& segment,
                          std::vector<LayerMemory>& memory, StepStats& stats) {
  const int64_t chunks = t_.accumulate, chunk_b = t_.batch_size / chunks;
  const double per = static_cast<double>(chunks * segments_);
  model_->set_memory(memory);
  model_->set_keep_graph(bptt_);
  torch::Tensor total;
  for (int64_t k = 0; k < segments_; ++k) {
    auto [x, y] = segment(k);
    if (chunks > 1) {
      x = x.narrow(1, c * chunk_b, chunk_b);
      y = y.narrow(1, c * chunk_b, chunk_b);
    }
    if (bf16_) set_cuda_bf16_autocast(true);
    auto fwd = model_->forward(x, y);
    auto task = fwd.nll.mean();
    auto closs = model_->compression_losses(fwd.compression);
    if (bf16_) set_cuda_bf16_autocast(false);
    auto seg_total = task;
    for (size_t i = 0; i < closs.size(); ++i) {
      seg_total = seg_total + closs[i];
      stats.closs[fwd.compression[i].layer] += closs[i].item<double>() / per;
    }
    stats.loss += task.item<double>() / per;
    total = total.defined() ? total + seg_total : seg_total;
  }
  (total * scale).backward();
  if (bf16_) clear_autocast_cache();
  if (bptt_) {
    model_->detach_memory();
    model_->set_keep_graph(false);
  }
  memory = model_->memory();
}

void TrainStep::update(StepStats& stats) {
  if (t_.clip > 0) {
    // Transformer and compression parameters are clipped separately, so the compression
    // loss never rescales the transformer's update.
    stats.grad_norm = torch::nn::utils::clip_grad_norm_(transformer_params_, t_.clip);
    if (!compression_params_.empty()) torch::nn::utils::clip_grad_norm_(compression_params_, t_.clip);
  }
  optimizer_.step();
  optimizer_.zero_grad();
  stats.updated = true;
}

StepStats TrainStep::run(int64_t step, const std::function<Segment(int64_t)>& segment,
                         std::vector<std::vector<LayerMemory>>& memories) {
  StepStats stats;
  stats.closs.assign(n_layer_, 0.0);
  stats.lr = learning_rate(t_, step);
  for (auto& group : optimizer_.param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(stats.lr);
  const bool periodic = t_.update_period > 1 && step >= t_.update_period_from;
  const double scale =
      1.0 / static_cast<double>(t_.accumulate * segments_ * (periodic ? t_.update_period : 1));
  for (int64_t c = 0; c < t_.accumulate; ++c) run_chunk(c, scale, segment, memories[c], stats);
  double closs_sum = 0;
  for (double v : stats.closs) closs_sum += v;
  stats.finite = std::isfinite(stats.loss) && std::isfinite(closs_sum);
  if (!stats.finite) return stats;
  if (!periodic || (step + 1 - t_.update_period_from) % t_.update_period == 0) update(stats);
  return stats;
}

}  // namespace ctlab
