// The layer: attention and feed-forward with residuals, dropout and LayerNorm.
#include "model/block.h"

#include <torch/nn/functional/activation.h>

#include "model/fused.h"
#include "runtime/torch_compat.h"

namespace ctlab {

namespace {
// The module's forward (the C++ frontend's linear) adds the bias in place after the
// product; under bf16 autocast that adds a float32 bias into the bf16 product, a slow
// mixed-dtype pass on the CPU. There the bias is cast to the product's dtype first.
torch::Tensor linear_layer(torch::nn::Linear& m, const torch::Tensor& x) {
  if (!compat::autocast_enabled(x.device().type())) return m->forward(x);
  auto y = torch::matmul(x, m->weight.t());
  return y.add_(m->bias.to(y.scalar_type()));
}
}  // namespace

BlockImpl::BlockImpl(const BlockOptions& o) : pre_norm_(o.pre_norm()), dropout_(o.dropout()) {
  attn = register_module("attn", RelMultiHeadAttn(RelAttentionOptions(o.d_model(), o.n_head())
                                                      .dropatt(o.dropatt())
                                                      .own_biases(o.own_biases())
                                                      .init_std(o.init_std())));
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model()})));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model()})));
  ff1 = register_module("ff1", torch::nn::Linear(o.d_model(), o.d_ff()));
  ff2 = register_module("ff2", torch::nn::Linear(o.d_ff(), o.d_model()));
  torch::NoGradGuard no_grad;
  for (auto* lin : {ff1.get(), ff2.get()}) {
    lin->weight.normal_(0.0, o.init_std());
    lin->bias.zero_();
  }
}

torch::Tensor BlockImpl::forward(const torch::Tensor& h, const torch::Tensor& memories,
                                 const torch::Tensor& r, const torch::Tensor& u, const torch::Tensor& v,
                                 const torch::Tensor& mask, torch::Tensor* probs_out,
                                 AttentionProjections* proj_out, const CompressedPositions* positions) {
  const bool train = is_training();
  auto drop = [&](const torch::Tensor& x) { return ctlab::dropout(x, dropout_, train); };
  auto ff = [&](const torch::Tensor& x) {
    return linear_layer(ff2, relu_dropout(linear_layer(ff1, x), dropout_, train));
  };
  if (pre_norm_) {
    auto hn = ln1(h);
    auto mn = memories.size(0) > 0 ? ln1(memories) : memories;
    auto a = h + drop(attn(hn, mn, r, u, v, mask, probs_out, proj_out, positions));
    return a + drop(ff(ln2(a)));
  }
  auto a = ln1(h + drop(attn(h, memories, r, u, v, mask, probs_out, proj_out, positions)));
  return ln2(a + drop(ff(a)));
}

}  // namespace ctlab
