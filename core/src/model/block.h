// One Transformer-XL / Compressive Transformer layer: relative attention over
// concat(cm, m, h) and a position-wise feed-forward block, post-LN by default.
#pragma once

#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "model/attention.h"

namespace ctlab {

struct BlockOptions {
  BlockOptions(int64_t d_model, int64_t n_head, int64_t d_ff)
      : d_model_(d_model), n_head_(n_head), d_ff_(d_ff) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_head);
  TORCH_ARG(int64_t, d_ff);
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(double, dropatt) = 0.0;
  TORCH_ARG(bool, pre_norm) = false;
  TORCH_ARG(bool, own_biases) = true;
  TORCH_ARG(double, init_std) = 0.02;
};

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const BlockOptions& options);

  // h [L, B, D] the layer input; memories [mlen, B, D] = concat(cm, m) (may have 0 rows);
  // r [klen, D]; u, v as for RelMultiHeadAttn; mask [L, klen]. Returns [L, B, D].
  // post-LN: a = LN1(h + Drop(Attn(h))), out = LN2(a + Drop(FF(a))).
  // pre-LN:  a = h + Drop(Attn(LN1(h), LN1(memories))), out = a + Drop(FF(LN2(a))).
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& memories, const torch::Tensor& r,
                        const torch::Tensor& u, const torch::Tensor& v, const torch::Tensor& mask,
                        torch::Tensor* probs_out = nullptr, AttentionProjections* proj_out = nullptr,
                        const CompressedPositions* positions = nullptr);

  RelMultiHeadAttn attn{nullptr};
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  torch::nn::Linear ff1{nullptr}, ff2{nullptr};

 private:
  bool pre_norm_;
  double dropout_;
};
TORCH_MODULE(Block);

}  // namespace ctlab
