// Relative multi-head attention of Transformer-XL ([TXL] sec. 3.3) over the key sequence
// concat(compressed memory, memory, current segment), time-major.
#pragma once

#include <ctlab/plugin_api.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>

namespace ctlab {

// Detached projections of one forward pass, for compression losses that need the same
// products (model.cpp): q [L, B, H*d_head] of the segment, k and v [klen, B, H*d_head] of
// all keys.
struct AttentionProjections {
  torch::Tensor q, k, v;
};

// A position map's inputs for one layer and segment, when compressed slots are placed by a
// map other than the contiguous `slot` (model.cpp). The attention adds the map's term for
// the first n_cm keys and gives memory and segment keys Transformer-XL's term.
struct CompressedPositions {
  PositionMap* map = nullptr;
  std::string map_id, map_path;  // for errors: name@version and library
  int64_t n_cm = 0;
  // What the map is given: times, mem_slots, rate, clamp_len and layer; the attention
  // fills in the layer's q, v_bias and W_r.
  PositionInput input;
};

struct RelAttentionOptions {
  RelAttentionOptions(int64_t d_model, int64_t n_head) : d_model_(d_model), n_head_(n_head) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_head);
  TORCH_ARG(double, dropatt) = 0.0;
  TORCH_ARG(bool, own_biases) = true;  // u, v per layer (untie_r); else passed in by the model
  TORCH_ARG(double, init_std) = 0.02;
};

class RelMultiHeadAttnImpl : public torch::nn::Module {
 public:
  explicit RelMultiHeadAttnImpl(const RelAttentionOptions& options);

  // q_src [L, B, D]: the (normalised) current segment; mem_src [mlen, B, D]: the
  // (normalised) concat(cm, m), possibly 0 rows. The keys and values are those of
  // concat(mem_src, q_src), klen = mlen + L rows; r [klen, D]: sinusoid
  // embeddings of distances klen-1 .. 0 (already clamped and dropped out); u, v [H, d_head]
  // (undefined: use this layer's own); mask [L, klen] bool, true = hidden.
  // Returns the attention output [L, B, D] after W_o. When probs_out is given, it receives
  // the attention probabilities [B, H, L, klen] in float32 (float64 for a float64
  // model), before attention dropout; for statistics, not for differentiation.
  // When proj_out is given, it receives the detached q, k, v of this pass. With positions
  // given (and positions->n_cm > 0), the first n_cm keys get positions->map's term instead
  // of the table's.
  torch::Tensor forward(const torch::Tensor& q_src, const torch::Tensor& mem_src, const torch::Tensor& r,
                        const torch::Tensor& u, const torch::Tensor& v, const torch::Tensor& mask,
                        torch::Tensor* probs_out = nullptr, AttentionProjections* proj_out = nullptr,
                        const CompressedPositions* positions = nullptr);

  // Content-only attention for compression losses ([CT] sec. 3.2): query_src [L, B, D],
  // kv_src [n, B, D] -> [L, B, D] with heads concatenated, before W_o. Uses detached views
  // of W_q, W_k, W_v, so no gradient reaches them; no positional terms, no u/v, no mask.
  torch::Tensor content_attention(const torch::Tensor& query_src, const torch::Tensor& kv_src) const;
  // The same in two steps: the query projection x W_q [L, B, H*d_head], the key and value
  // projections y W_k, y W_v [n, B, H*d_head], then the attention over them. Lets a caller
  // reuse projections it already has (the forward pass's, or one query for two key sets).
  torch::Tensor content_query(const torch::Tensor& query_src) const;
  std::pair<torch::Tensor, torch::Tensor> content_keys_values(const torch::Tensor& kv_src) const;
  torch::Tensor content_attention_projected(const torch::Tensor& q, const torch::Tensor& k,
                                            const torch::Tensor& v) const;

  const RelAttentionOptions& options() const { return options_; }

  torch::nn::Linear q_net{nullptr};   // W_q: D -> H*d_head, no bias
  torch::nn::Linear kv_net{nullptr};  // [W_k; W_v]: D -> 2*H*d_head, no bias
  torch::nn::Linear r_net{nullptr};   // W_r: D -> H*d_head, no bias
  torch::nn::Linear o_net{nullptr};   // W_o: H*d_head -> D, no bias
  torch::Tensor r_w_bias, r_r_bias;   // u, v [H, d_head] when own_biases

 private:
  RelAttentionOptions options_;
  int64_t d_head_;
  double scale_;
};
TORCH_MODULE(RelMultiHeadAttn);

// The relative shift: x [..., L, klen] holds the position term for query i and the
// distance of column k (distance klen-1-k). Returns y with y[..., i, j] = x[..., i, j + L-1-i],
// i.e. the term for distance mlen + i - j, valid wherever j <= mlen + i.
torch::Tensor rel_shift(const torch::Tensor& x);

// [L, klen] 0/1 in `options`' dtype: 0 where rel_shift moves an unshifted column into one
// of the first n_cm (compressed) columns, i.e. column k of row i with L-1-i <= k < L-1-i+n_cm.
torch::Tensor shifted_prefix_keep(int64_t L, int64_t klen, int64_t n_cm, const torch::TensorOptions& options);

// Sinusoid position embeddings [klen, D] for distances klen-1 .. 0, clamped at clamp_len
// when clamp_len >= 0: sines in the first D/2 columns, cosines in the rest.
torch::Tensor sinusoid_positions(int64_t klen, int64_t d_model, int64_t clamp_len,
                                 const torch::TensorOptions& options);

// [L, klen] bool mask, true = hidden: key j is hidden from query i iff j > mlen + i, and,
// when same_length_window > 0, also iff j <= mlen + i - same_length_window.
torch::Tensor causal_memory_mask(int64_t L, int64_t mlen, int64_t same_length_window,
                                 const torch::Device& device);

}  // namespace ctlab
