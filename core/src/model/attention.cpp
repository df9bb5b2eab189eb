// Relative multi-head attention, the relative shift, sinusoid positions and masks.
#include "model/attention.h"

#include <cmath>

#include <torch/nn/functional/padding.h>
#include <torch/nn/init.h>

namespace ctlab {
namespace {
// Attention softmax runs in float32 under reduced precision (and float64 for float64 models).
torch::ScalarType softmax_dtype(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}
}  // namespace

RelMultiHeadAttnImpl::RelMultiHeadAttnImpl(const RelAttentionOptions& o) : options_(o) {
  TORCH_CHECK(o.d_model() % o.n_head() == 0, "d_model ", o.d_model(), " not divisible by n_head ", o.n_head());
  d_head_ = o.d_model() / o.n_head();
  scale_ = 1.0 / std::sqrt(static_cast<double>(d_head_));
  const int64_t hd = o.n_head() * d_head_;
  q_net = register_module("q_net", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), hd).bias(false)));
  kv_net = register_module("kv_net", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), 2 * hd).bias(false)));
  r_net = register_module("r_net", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), hd).bias(false)));
  o_net = register_module("o_net", torch::nn::Linear(torch::nn::LinearOptions(hd, o.d_model()).bias(false)));
  drop_att = register_module("drop_att", torch::nn::Dropout(o.dropatt()));
  if (o.own_biases()) {
    r_w_bias = register_parameter("r_w_bias", torch::zeros({o.n_head(), d_head_}));
    r_r_bias = register_parameter("r_r_bias", torch::zeros({o.n_head(), d_head_}));
  }
  torch::NoGradGuard no_grad;
  for (auto& p : parameters()) p.normal_(0.0, o.init_std());
}

torch::Tensor rel_shift(const torch::Tensor& x) {
  // Pad one zero column on the left, view as [klen+1, L], drop the first row, view back.
  const auto L = x.size(-2), klen = x.size(-1);
  auto lead = x.sizes().slice(0, x.dim() - 2).vec();
  auto padded = torch::nn::functional::pad(x, torch::nn::functional::PadFuncOptions({1, 0}));
  auto v = lead;
  v.push_back(klen + 1);
  v.push_back(L);
  auto shifted = padded.view(v).narrow(-2, 1, klen);
  auto out = lead;
  out.push_back(L);
  out.push_back(klen);
  return shifted.reshape(out);
}

torch::Tensor sinusoid_positions(int64_t klen, int64_t d_model, int64_t clamp_len,
                                 const torch::TensorOptions& options) {
  // float32 at least (float64 for a float64 model), whatever the model's compute dtype.
  auto f32 = options.dtype(options.dtype() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32);
  auto pos = torch::arange(klen - 1, -1, -1.0, f32);
  if (clamp_len >= 0) pos = pos.clamp_max(static_cast<double>(clamp_len));
  auto inv_freq = 1.0 / torch::pow(10000.0, torch::arange(0.0, static_cast<double>(d_model), 2.0, f32) / d_model);
  auto angles = torch::outer(pos, inv_freq);
  return torch::cat({angles.sin(), angles.cos()}, 1).to(options.dtype());
}

torch::Tensor causal_memory_mask(int64_t L, int64_t mlen, int64_t window, const torch::Device& device) {
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  auto i = torch::arange(L, opts).unsqueeze(1);
  auto j = torch::arange(mlen + L, opts).unsqueeze(0);
  auto hidden = j > (i + mlen);
  if (window > 0) hidden = hidden | (j <= (i + mlen - window));
  return hidden;
}

torch::Tensor RelMultiHeadAttnImpl::forward(const torch::Tensor& q_src, const torch::Tensor& kv_src,
                                            const torch::Tensor& r, const torch::Tensor& u_in,
                                            const torch::Tensor& v_in, const torch::Tensor& mask,
                                            torch::Tensor* probs_out) {
  const int64_t L = q_src.size(0), B = q_src.size(1), klen = kv_src.size(0);
  const int64_t H = options_.n_head(), Dh = d_head_;
  TORCH_CHECK(r.size(0) == klen, "position table has ", r.size(0), " rows, expected klen = ", klen);
  const auto& u = u_in.defined() ? u_in : r_w_bias;
  const auto& v = v_in.defined() ? v_in : r_r_bias;

  auto q = q_net(q_src).view({L, B, H, Dh}).permute({1, 2, 0, 3});         // [B, H, L, Dh]
  auto kv = kv_net(kv_src).view({klen, B, 2, H, Dh}).permute({2, 1, 3, 0, 4});  // [2, B, H, klen, Dh]
  auto kv_parts = kv.unbind(0);  // one UnbindBackward instead of two full-size SelectBackwards
  auto k = kv_parts[0], val = kv_parts[1];
  auto rk = r_net(r).view({klen, H, Dh}).permute({1, 2, 0});              // [H, Dh, klen]

  // (q + u) . k and (q + v) . r, the latter shifted so that column j holds distance mlen+i-j.
  auto ac = torch::matmul(q + u.view({1, H, 1, Dh}), k.transpose(-1, -2));  // [B, H, L, klen]
  auto bd = rel_shift(torch::matmul(q + v.view({1, H, 1, Dh}), rk));         // [B, H, L, klen]
  auto score = (ac + bd).mul_(scale_);
  // Softmax in float32 even under reduced precision; hidden keys get -inf.
  auto probs = torch::softmax(score.to(softmax_dtype(score)).masked_fill(mask, -INFINITY), -1);
  if (probs_out) *probs_out = probs;
  auto attn = torch::matmul(drop_att(probs).to(val.scalar_type()), val);  // [B, H, L, Dh]
  return o_net(attn.permute({2, 0, 1, 3}).reshape({L, B, H * Dh}));
}

torch::Tensor RelMultiHeadAttnImpl::content_attention(const torch::Tensor& query_src,
                                                      const torch::Tensor& kv_src) const {
  const int64_t L = query_src.size(0), B = query_src.size(1), n = kv_src.size(0);
  const int64_t H = options_.n_head(), Dh = d_head_;
  // detach() gives views that share storage but can never receive gradient; Parameters
  // themselves are never detached in place.
  auto wq = q_net->weight.detach();
  auto wkv = kv_net->weight.detach();
  auto q = torch::matmul(query_src, wq.t()).view({L, B, H, Dh}).permute({1, 2, 0, 3});
  auto kv = torch::matmul(kv_src, wkv.t()).view({n, B, 2, H, Dh}).permute({2, 1, 3, 0, 4});
  auto score = torch::matmul(q, kv[0].transpose(-1, -2)) * scale_;
  auto probs = torch::softmax(score.to(softmax_dtype(score)), -1);
  auto out = torch::matmul(probs.to(kv.scalar_type()), kv[1]);  // [B, H, L, Dh]
  return out.permute({2, 0, 1, 3}).reshape({L, B, H * Dh});
}

}  // namespace ctlab
