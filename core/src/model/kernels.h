// CPU kernels for the attention core and dropout, on raw contiguous buffers (no torch
// here). fused.cpp wraps them in autograd functions; they replace chains of single torch
// ops that each make a pass over the tensor (add, scale, mask, softmax, dropout, the
// relative shift's pad and copy) with one pass forward and one backward.
#pragma once

#include <cstdint>

namespace ctlab::kernels {

// Dropout decisions from a counter-based hash: element idx of a call is kept iff
// hash(idx, key) >= threshold, so the same key regenerates the same mask in the backward
// pass without storing it. P(drop) = threshold / 2^32 (p rounded to a multiple of 2^-32).
struct DropMask {
  uint32_t k1 = 0, k2 = 0;
  uint32_t threshold = 0;  // 0 = keep everything
  double scale = 1.0;      // 1 / (1 - p)
  static DropMask make(double p, uint64_t seed);
  bool active() const { return threshold != 0; }
};

// bfloat16 storage: the upper 16 bits of a float. The kernels compute in float and round
// to nearest even on the way out (NaN to 0x7FC0), as LibTorch converts.
struct Bf16 {
  uint16_t bits = 0;
};

// Where slice n = b * H + h of a [B, H, L, K] tensor with a contiguous last dimension
// starts, and the distance between its rows.
struct SliceLayout {
  int64_t H, stride_b, stride_h, stride_row;
  int64_t offset(int64_t n) const { return (n / H) * stride_b + (n % H) * stride_h; }
};

// Attention probabilities for one [N, L, K] problem (N = batch x heads; ac, probs and out
// contiguous, bd laid out as bd_layout says):
//   s[n,i,j] = (ac[n,i,j] + shift(bd)[n,i,j]) * scale, -inf where mask[i,j];
//   probs = softmax_j(s); out = dropout(probs)
// where shift(x)[i, j] = x[i, j + L-1-i] is Transformer-XL's relative shift (the general
// pad-and-reshape form, so every entry matches it). mask is [L, K] (1 = hidden). When the
// mask is inactive, out may be null (the caller uses probs). Rows n in [n0, n1).
template <typename T>
void attention_probs_forward(const T* ac, const T* bd, const SliceLayout& bd_layout, const uint8_t* mask,
                             int64_t L, int64_t K, T scale, const DropMask& drop, T* probs, T* out,
                             int64_t n0, int64_t n1);

// The same for bfloat16 ac and bd (autocast): computed in float, probs in float, and out
// (always written: dropout(probs) or probs itself) in bfloat16.
void attention_probs_forward_bf16(const Bf16* ac, const Bf16* bd, const SliceLayout& bd_layout,
                                  const uint8_t* mask, int64_t L, int64_t K, float scale,
                                  const DropMask& drop, float* probs, Bf16* out, int64_t n0, int64_t n1);

// Backward of the above from grad_out [N, L, K] and the saved probs: grad_ac = d s * scale,
// and grad_bd (laid out like bd) = the inverse relative shift of grad_ac (zero where bd was
// not read).
template <typename T>
void attention_probs_backward(const T* grad_out, const T* probs, int64_t L, int64_t K, T scale,
                              const DropMask& drop, T* grad_ac, T* grad_bd, const SliceLayout& bd_layout,
                              int64_t n0, int64_t n1);

// The bfloat16 version's backward: grad_out and the gradients in bfloat16, probs in float.
void attention_probs_backward_bf16(const Bf16* grad_out, const float* probs, int64_t L, int64_t K,
                                   float scale, const DropMask& drop, Bf16* grad_ac, Bf16* grad_bd,
                                   const SliceLayout& bd_layout, int64_t n0, int64_t n1);

// out[i] = (relu ? max(x[i], 0) : x[i]) * keep(i) * scale for i in [i0, i1) (T: float,
// double or Bf16, which is computed in float).
template <typename T>
void dropout_forward(const T* x, bool relu, const DropMask& drop, T* out, int64_t i0, int64_t i1);

// Backward: grad_in = grad * keep * scale; with relu, saved_out (the forward's output)
// stands for both masks: grad_in = saved_out > 0 ? grad * scale : 0.
template <typename T>
void dropout_backward(const T* grad, const T* saved_out, bool relu, const DropMask& drop, T* grad_in,
                      int64_t i0, int64_t i1);

// The instruction set the float kernels run with on this CPU: "avx512", "avx2" or "baseline".
const char* isa_name();

// exp for float, vectorisable (Cody-Waite reduction and a degree-6 polynomial; relative
// error below 2e-7 on [-87, 88], 0 below -87.3). Exposed for its test.
float exp_approx(float x);

}  // namespace ctlab::kernels
