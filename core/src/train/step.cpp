// The training step.
#include "train/step.h"

#include <torch/torch.h>

#include <cmath>

#include "runtime/host_sync.h"
#include "runtime/runtime.h"
#include "util/error.h"

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

std::vector<Memories> TrainStep::empty_memories() const {
  return std::vector<Memories>(t_.accumulate, Memories(n_layer_));
}

void TrainStep::run_chunk(int64_t c, double scale, const std::function<Segment(int64_t)>& segment,
                          Memories& memory, StepStats& stats) {
  const int64_t chunks = t_.accumulate;
  const double per = static_cast<double>(chunks * segments_);
  ForwardOptions fo;
  fo.keep_graph = bptt_;
  torch::Tensor total;
  for (int64_t k = 0; k < segments_; ++k) {
    auto [x, y] = segment(k);
    if (chunks > 1) {
      const int64_t chunk_b = x.size(1) / chunks;  // this rank's streams, split into chunks
      x = x.narrow(1, c * chunk_b, chunk_b);
      y = y.narrow(1, c * chunk_b, chunk_b);
    }
    if (bf16_) set_bf16_autocast(true);
    auto fwd = model_->forward(x, y, memory, fo);
    memory = std::move(fwd.memory);
    auto task = fwd.nll.mean();
    auto closs = model_->compression_losses(fwd.compression);
    if (bf16_) set_bf16_autocast(false);
    auto seg_total = task;
    for (size_t i = 0; i < closs.size(); ++i) {
      seg_total = seg_total + closs[i];
      const int64_t layer = fwd.compression[i].layer;
      if (deferred_)
        step_closs_[layer].add_(closs[i].detach().to(torch::kFloat64) / per);
      else
        stats.closs[layer] += closs[i].item<double>() / per;
    }
    if (deferred_)
      step_loss_.add_(task.detach().to(torch::kFloat64) / per);
    else
      stats.loss += task.item<double>() / per;
    total = total.defined() ? total + seg_total : seg_total;
  }
  (total * scale).backward();
  if (bf16_) clear_autocast_cache();
  if (bptt_) memory = detached(std::move(memory));
}

namespace {

// Gradient-norm clipping as torch::nn::utils::clip_grad_norm_ computes it (the norm of the
// per-parameter norms; grads scaled by min(1, max_norm / (norm + 1e-6))), without reading
// the norm on the host. Returns the norm before clipping (undefined without gradients).
torch::Tensor clip_by_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  std::vector<torch::Tensor> norms, grads;
  for (const auto& p : params)
    if (p.grad().defined()) {
      grads.push_back(p.grad().detach());
      norms.push_back(grads.back().norm(2));
    }
  if (norms.empty()) return {};
  auto total = torch::stack(norms).norm(2);
  auto coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
  for (auto& g : grads) g.mul_(coef);
  return total;
}

}  // namespace

void TrainStep::average_gradients() {
  if (!comm_ || !comm_->distributed()) return;
  // Which parameters have gradients follows from the graph, which is the same on every rank.
  std::vector<torch::Tensor> grads;
  for (const auto* list : {&transformer_params_, &compression_params_})
    for (const auto& p : *list)
      if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return;
  std::vector<torch::Tensor> flat_parts;
  for (const auto& g : grads) flat_parts.push_back(g.reshape(-1));
  auto flat = torch::cat(flat_parts);
  comm_->all_reduce_sum(flat);
  flat.div_(static_cast<double>(comm_->size()));
  int64_t offset = 0;
  for (auto& g : grads) {
    g.copy_(flat.narrow(0, offset, g.numel()).view_as(g));
    offset += g.numel();
  }
}

void TrainStep::average_losses(StepStats& stats) {
  if (!comm_ || !comm_->distributed()) return;
  std::vector<double> v{stats.loss};
  v.insert(v.end(), stats.closs.begin(), stats.closs.end());
  auto t = torch::tensor(v, torch::kFloat64);
  comm_->all_reduce_sum(t);
  t.div_(static_cast<double>(comm_->size()));
  stats.loss = t[0].item<double>();
  for (size_t i = 0; i < stats.closs.size(); ++i) stats.closs[i] = t[1 + i].item<double>();
}

torch::Tensor TrainStep::average_deferred_losses() {
  auto flag = model_->deferred_output_flag();
  if (!comm_ || !comm_->distributed()) return flag;
  auto f = flag.defined() ? flag.to(torch::kFloat64).view(1) : torch::zeros({1}, step_loss_.options());
  auto packed = torch::cat({step_loss_.view(1), step_closs_, f});
  comm_->all_reduce_sum(packed);
  const double w = static_cast<double>(comm_->size());
  step_loss_ = packed[0] / w;
  step_closs_ = packed.narrow(0, 1, n_layer_) / w;
  return packed[1 + n_layer_] > 0;
}

void TrainStep::update(StepStats& stats) {
  average_gradients();
  if (t_.clip > 0) {
    // Transformer and compression parameters are clipped separately, so the compression
    // loss never rescales the transformer's update.
    auto norm = clip_by_norm(transformer_params_, t_.clip);
    if (!compression_params_.empty()) clip_by_norm(compression_params_, t_.clip);
    if (norm.defined()) {
      if (deferred_)
        grad_norm_ = norm.detach();
      else
        stats.grad_norm = norm.item<double>();
    }
  }
  optimizer_.step();
  optimizer_.zero_grad();
  stats.updated = true;
}

void TrainStep::set_deferred(bool deferred) {
  deferred_ = deferred;
  model_->set_deferred_output_checks(deferred);
  pending_steps_ = 0;
  loss_sum_ = closs_sum_ = bad_task_ = bad_closs_ = bad_output_ = grad_norm_ = torch::Tensor();
}

void TrainStep::note_deferred(int64_t step, const torch::Tensor& flag) {
  if (!loss_sum_.defined()) {
    loss_sum_ = torch::zeros_like(step_loss_);
    closs_sum_ = torch::zeros_like(step_closs_);
    bad_task_ = torch::full({}, -1.0, step_loss_.options());
    bad_closs_ = torch::full({}, -1.0, step_loss_.options());
    bad_output_ = torch::full({}, -1.0, step_loss_.options());
  }
  loss_sum_.add_(step_loss_);
  closs_sum_.add_(step_closs_);
  const auto here = torch::full({}, static_cast<double>(step), step_loss_.options());
  auto first = [&](torch::Tensor& slot, const torch::Tensor& value) {
    slot = torch::where(torch::isfinite(value).logical_not().logical_and(slot < 0), here, slot);
  };
  first(bad_task_, step_loss_);
  first(bad_closs_, step_closs_.sum());
  if (flag.defined())  // NaN stands for "not finite"
    first(bad_output_,
          torch::where(flag, torch::full({}, NAN, step_loss_.options()), torch::zeros_like(here)));
  ++pending_steps_;
}

CollectedSteps TrainStep::collect() {
  CollectedSteps c;
  c.closs.assign(n_layer_, 0.0);
  if (!deferred_) return c;
  c.steps = pending_steps_;
  int64_t bad_output = -1;
  if (pending_steps_ > 0) {
    auto nan = torch::full({1}, NAN, loss_sum_.options());
    auto packed = to_host(  // the one host sync of the interval
        torch::cat({loss_sum_.view(1), bad_task_.view(1), bad_closs_.view(1), bad_output_.view(1),
                    grad_norm_.defined() ? grad_norm_.to(torch::kFloat64).view(1) : nan, closs_sum_}),
        torch::kFloat64);
    auto v = packed.accessor<double, 1>();
    c.loss = v[0];
    if (v[1] >= 0) c.nonfinite_task = static_cast<int64_t>(v[1]);
    if (v[2] >= 0) c.nonfinite_closs = static_cast<int64_t>(v[2]);
    if (v[3] >= 0) bad_output = static_cast<int64_t>(v[3]);
    c.grad_norm = v[4];
    for (int64_t i = 0; i < n_layer_; ++i) c.closs[i] = v[5 + i];
  }
  pending_steps_ = 0;
  loss_sum_ = closs_sum_ = bad_task_ = bad_closs_ = bad_output_ = grad_norm_ = torch::Tensor();
  // The earliest problem is the cause (an update with non-finite gradients spoils what
  // follows); within one step a bad plugin output comes before the losses it spoils, and a
  // compression loss before the task loss its update spoils.
  const auto no_later = [](int64_t at, const std::optional<int64_t>& loss) { return !loss || at <= *loss; };
  const bool output_first =
      bad_output >= 0 && no_later(bad_output, c.nonfinite_task) && no_later(bad_output, c.nonfinite_closs);
  if (output_first) {
    c.nonfinite_task.reset();
    c.nonfinite_closs.reset();
  } else if (c.nonfinite_closs && no_later(*c.nonfinite_closs, c.nonfinite_task)) {
    c.nonfinite_task.reset();
  } else {
    c.nonfinite_closs.reset();
  }
  model_->check_deferred_outputs(output_first);  // throws naming the plugin and the layer
  if (output_first)  // flagged on another rank, which reports the plugin and the layer
    throw Error("a compression function returned non-finite values on another rank at step " +
                    std::to_string(bad_output) + " (found by the deferred check)",
                ErrorKind::Run);
  return c;
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
  if (deferred_) {
    const auto opts =
        torch::TensorOptions().dtype(torch::kFloat64).device(transformer_params_.front().device());
    step_loss_ = torch::zeros({}, opts);
    step_closs_ = torch::zeros({n_layer_}, opts);
  }
  for (int64_t c = 0; c < t_.accumulate; ++c) run_chunk(c, scale, segment, memories[c], stats);
  if (deferred_) {
    note_deferred(step, average_deferred_losses());
    if (!periodic || (step + 1 - t_.update_period_from) % t_.update_period == 0) update(stats);
    return stats;
  }
  average_losses(stats);
  double closs_sum = 0;
  for (double v : stats.closs) closs_sum += v;
  stats.finite = std::isfinite(stats.loss) && std::isfinite(closs_sum);
  if (!stats.finite) return stats;
  if (!periodic || (step + 1 - t_.update_period_from) % t_.update_period == 0) update(stats);
  return stats;
}

}  // namespace ctlab
