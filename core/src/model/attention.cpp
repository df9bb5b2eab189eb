// Relative multi-head attention, the relative shift, sinusoid positions and masks.
#include "model/attention.h"

#include <torch/nn/functional/linear.h>
#include <torch/nn/functional/padding.h>
#include <torch/nn/init.h>

#include <cmath>

#include "model/fused.h"
#include "plugin/plugin_host.h"
#include "util/error.h"

namespace ctlab {
namespace {
// Attention softmax runs in float32 under reduced precision (and float64 for float64 models).
torch::ScalarType softmax_dtype(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}
}  // namespace

RelMultiHeadAttnImpl::RelMultiHeadAttnImpl(const RelAttentionOptions& o) : options_(o) {
  TORCH_CHECK(o.d_model() % o.n_head() == 0, "d_model ", o.d_model(), " not divisible by n_head ",
              o.n_head());
  d_head_ = o.d_model() / o.n_head();
  scale_ = 1.0 / std::sqrt(static_cast<double>(d_head_));
  const int64_t hd = o.n_head() * d_head_;
  q_net = register_module("q_net", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), hd).bias(false)));
  kv_net =
      register_module("kv_net", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), 2 * hd).bias(false)));
  r_net = register_module("r_net", torch::nn::Linear(torch::nn::LinearOptions(o.d_model(), hd).bias(false)));
  o_net = register_module("o_net", torch::nn::Linear(torch::nn::LinearOptions(hd, o.d_model()).bias(false)));
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
  auto inv_freq =
      1.0 / torch::pow(10000.0, torch::arange(0.0, static_cast<double>(d_model), 2.0, f32) / d_model);
  auto angles = torch::outer(pos, inv_freq);
  return torch::cat({angles.sin(), angles.cos()}, 1).to(options.dtype());
}

torch::Tensor shifted_prefix_keep(int64_t L, int64_t klen, int64_t n_cm,
                                  const torch::TensorOptions& options) {
  auto lopts = options.dtype(torch::kLong);
  auto start = (L - 1) - torch::arange(L, lopts).unsqueeze(1);  // [L, 1]
  auto k = torch::arange(klen, lopts).unsqueeze(0);             // [1, klen]
  return ((k < start) | (k >= start + n_cm)).to(options.dtype());
}

torch::Tensor causal_memory_mask(int64_t L, int64_t mlen, int64_t window, const torch::Device& device) {
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  auto i = torch::arange(L, opts).unsqueeze(1);
  auto j = torch::arange(mlen + L, opts).unsqueeze(0);
  auto hidden = j > (i + mlen);
  if (window > 0) hidden = hidden | (j <= (i + mlen - window));
  return hidden;
}

namespace {
// x W^T for the keys concat(mem, cur): the memory rows get their own product, so the
// backward pass forms an input gradient only for rows that need one (the memory is
// usually detached, and then only W's gradient is formed from it).
torch::Tensor key_product(const torch::Tensor& mem, const torch::Tensor& cur, const torch::Tensor& w) {
  auto c = torch::nn::functional::linear(cur, w);
  return mem.size(0) > 0 ? torch::cat({torch::nn::functional::linear(mem, w), c}, 0) : c;
}

// A batched product's operand in the given order: the permuted view, which the float
// products read in place, or, when `dense` (bf16 under CPU autocast), a dense bf16 copy in
// that order, made once: the bf16 batched product would copy a strided operand itself, in
// the forward pass and again in the backward.
torch::Tensor operand(const torch::Tensor& t, c10::IntArrayRef order, bool dense) {
  auto view = t.permute(order);
  return dense ? view.to(torch::kBFloat16).contiguous() : view;
}
// The map's term for the compressed keys goes into the content term ac's first n_cm
// columns; the table's term for them (in bd) is zeroed before the shift moves it there.
void add_map_term(const CompressedPositions& positions, const torch::Tensor& q, const torch::Tensor& v_bias,
                  const torch::Tensor& w_r, torch::Tensor& ac, torch::Tensor& bd) {
  const int64_t L = ac.size(2), klen = ac.size(3), n_cm = positions.n_cm;
  PositionInput in = positions.input;
  in.q = q;
  in.v_bias = v_bias;
  in.w_r = w_r;
  auto cm = call_plugin(positions.map_id, positions.map_path,
                        "compressed_scores (layer " + std::to_string(in.layer) + ")",
                        [&] { return positions.map->compressed_scores(in); });
  check_position_output(positions.map_id, in, n_cm, cm);
  ac.narrow(-1, 0, n_cm).add_(cm.to(ac.scalar_type()));
  bd = bd * shifted_prefix_keep(L, klen, n_cm, bd.options());
}
}  // namespace

torch::Tensor RelMultiHeadAttnImpl::forward(const torch::Tensor& q_src, const torch::Tensor& mem_src,
                                            const torch::Tensor& r, const torch::Tensor& u_in,
                                            const torch::Tensor& v_in, const torch::Tensor& mask,
                                            torch::Tensor* probs_out, AttentionProjections* proj_out,
                                            const CompressedPositions* positions) {
  const int64_t L = q_src.size(0), B = q_src.size(1), klen = mem_src.size(0) + L;
  const int64_t H = options_.n_head(), Dh = d_head_;
  TORCH_CHECK(r.size(0) == klen, "position table has ", r.size(0), " rows, expected klen = ", klen);
  const auto& u = u_in.defined() ? u_in : r_w_bias;
  const auto& v = v_in.defined() ? v_in : r_r_bias;

  // K and V as separate products with the halves of W_kv, each [klen, B, H, Dh]: then every
  // per-head operand below is a strided view that the batched products read in place.
  const auto& w_kv = kv_net->weight;
  auto q = q_net(q_src).view({L, B, H, Dh});
  auto k = key_product(mem_src, q_src, w_kv.narrow(0, 0, H * Dh)).view({klen, B, H, Dh});
  auto val = key_product(mem_src, q_src, w_kv.narrow(0, H * Dh, H * Dh)).view({klen, B, H, Dh});
  auto rk = r_net(r).view({klen, H, Dh});
  if (proj_out) {
    proj_out->q = q.detach().view({L, B, H * Dh});
    proj_out->k = k.detach().view({klen, B, H * Dh});
    proj_out->v = val.detach().view({klen, B, H * Dh});
  }

  const bool dense = q.scalar_type() == torch::kBFloat16 && q.device().is_cpu();
  // (q + u) . k: one [L, Dh] x [Dh, klen] product per batch element and head.
  auto ac = torch::matmul(operand(q + u.view({1, 1, H, Dh}), {1, 2, 0, 3}, dense),
                          operand(k, {1, 2, 0, 3}, dense).transpose(-1, -2));
  // (q + v) . r: the distances are shared by the batch, so one [L*B, Dh] x [Dh, klen] product
  // per head, [H, L, B, klen], viewed as [B, H, L, klen]; the shift happens in attention_probs.
  auto qv = operand((q + v.view({1, 1, H, Dh})).view({L * B, H, Dh}), {1, 0, 2}, dense);
  auto bd = torch::matmul(qv, operand(rk, {1, 0, 2}, dense).transpose(1, 2))
                .view({H, L, B, klen})
                .permute({2, 0, 1, 3});
  if (positions && positions->n_cm > 0) add_map_term(*positions, q, v, r_net->weight, ac, bd);
  // Shift, scale, mask (hidden keys get -inf), softmax in float32 even under reduced
  // precision, and dropout: one fused pass on the CPU (model/fused.h).
  auto probs = attention_probs(ac, bd, mask, scale_, options_.dropatt(), is_training(), probs_out);
  auto vals = operand(val, {1, 2, 0, 3}, dense);
  auto attn = torch::matmul(probs.to(vals.scalar_type()), vals);  // [B, H, L, Dh]
  return o_net(attn.permute({2, 0, 1, 3}).reshape({L, B, H * Dh}));
}

torch::Tensor RelMultiHeadAttnImpl::content_attention(const torch::Tensor& query_src,
                                                      const torch::Tensor& kv_src) const {
  auto [k, v] = content_keys_values(kv_src);
  return content_attention_projected(content_query(query_src), k, v);
}

// detach() gives views that share storage but can never receive gradient; Parameters
// themselves are never detached in place.
torch::Tensor RelMultiHeadAttnImpl::content_query(const torch::Tensor& query_src) const {
  return torch::matmul(query_src, q_net->weight.detach().t());
}

std::pair<torch::Tensor, torch::Tensor> RelMultiHeadAttnImpl::content_keys_values(
    const torch::Tensor& kv_src) const {
  const int64_t hd = options_.n_head() * d_head_;
  auto wkv = kv_net->weight.detach();
  return {torch::matmul(kv_src, wkv.narrow(0, 0, hd).t()), torch::matmul(kv_src, wkv.narrow(0, hd, hd).t())};
}

torch::Tensor RelMultiHeadAttnImpl::content_attention_projected(const torch::Tensor& q_in,
                                                                const torch::Tensor& k_in,
                                                                const torch::Tensor& v_in) const {
  const int64_t L = q_in.size(0), B = q_in.size(1), n = k_in.size(0);
  const int64_t H = options_.n_head(), Dh = d_head_;
  auto q = q_in.reshape({L, B, H, Dh}).permute({1, 2, 0, 3});
  auto k = k_in.reshape({n, B, H, Dh}).permute({1, 2, 3, 0});
  auto val = v_in.reshape({n, B, H, Dh}).permute({1, 2, 0, 3});
  auto score = torch::matmul(q, k) * scale_;
  auto probs = torch::softmax(score.to(softmax_dtype(score)), -1);
  auto out = torch::matmul(probs.to(val.scalar_type()), val);  // [B, H, L, Dh]
  return out.permute({2, 0, 1, 3}).reshape({L, B, H * Dh});
}

}  // namespace ctlab
