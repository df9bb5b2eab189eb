// The attention core and dropout as autograd functions: ctlab's fused CPU kernels
// (model/kernels.h) for float32/float64/bfloat16 tensors on the CPU, plain LibTorch ops otherwise
// (CUDA, other dtypes) or when the fused kernels are switched off (for comparison).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace ctlab {

// On by default. Off: every call below runs the reference chain of LibTorch ops.
void set_fused_kernels(bool on);
bool fused_kernels();
// "fused CPU kernels (avx512)" or "fused CPU kernels off", for logs.
std::string fused_kernels_summary();
// How many of LibTorch's intra-op threads a parallel loop of `chunks` chunks in this file
// reaches (distinct thread ids): the kernels' own loops are split the same way. One when
// the file was compiled without the OpenMP that LibTorch's inline parallel_for needs.
int fused_parallel_threads(int64_t chunks);

// Attention probabilities from the content term ac and the unshifted position term bd
// (both [B, H, L, klen]; bd may be a permuted view, e.g. of a [H, L, B, klen] product): probs = softmax((ac +
// rel_shift(bd)) * scale, masked by mask [L, klen], true = hidden) in float32 (float64 for float64 inputs).
// Returns dropout(probs, dropatt) (when training), in float32 from the reference chain and in the inputs'
// dtype from the fused kernel (bfloat16 inputs: bfloat16, rounded from the float result; the caller casts
// it for its product either way); *probs_out, when given, receives probs itself (float32 or float64; not
// a differentiable output of the fused version: callers use it for statistics).
at::Tensor attention_probs(const at::Tensor& ac, const at::Tensor& bd, const at::Tensor& mask, double scale,
                           double dropatt, bool training, at::Tensor* probs_out = nullptr);

// Inverted dropout (kept elements scaled by 1/(1-p)); identity unless training and p > 0.
at::Tensor dropout(const at::Tensor& x, double p, bool training);
// dropout(relu(x)) in one pass.
at::Tensor relu_dropout(const at::Tensor& x, double p, bool training);

}  // namespace ctlab
