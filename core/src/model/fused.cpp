// Autograd wrappers and dispatch for the fused CPU kernels.
#include "model/fused.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <type_traits>
#include <vector>

#include "model/attention.h"
#include "model/kernels.h"

namespace ctlab {
namespace {

std::atomic<bool> g_fused{true};

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One 64-bit key per dropout call from LibTorch's default CPU generator, so torch::manual_seed
// and a checkpointed generator state reproduce every mask.
int64_t draw_seed() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return static_cast<int64_t>(gen.get<at::CPUGeneratorImpl>()->random64());
}

bool fusable(const at::Tensor& t) {
  const auto st = t.scalar_type();
  return g_fused.load(std::memory_order_relaxed) && t.device().is_cpu() && !t.is_sparse() &&
         (st == torch::kFloat32 || st == torch::kFloat64 || st == torch::kBFloat16) &&
         t.numel() < (int64_t{1} << 32);  // the mask hash counts elements in 32 bits
}

// The kernels' storage type for a tensor's dtype (bfloat16 as kernels::Bf16, same bits).
template <typename F>
void for_each_dtype(torch::ScalarType st, F&& f) {
  if (st == torch::kFloat32)
    f(float{});
  else if (st == torch::kBFloat16)
    f(kernels::Bf16{});
  else
    f(double{});
}

template <typename T>
T* data_of(const at::Tensor& t) {
  if constexpr (std::is_same_v<T, kernels::Bf16>)
    return reinterpret_cast<T*>(t.data_ptr<at::BFloat16>());
  else
    return t.data_ptr<T>();
}

// probs are computed and kept in float for bfloat16 inputs, in the inputs' dtype otherwise.
torch::ScalarType probs_dtype(torch::ScalarType st) { return st == torch::kBFloat16 ? torch::kFloat32 : st; }

struct AttentionProbsFn : public torch::autograd::Function<AttentionProbsFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& ac_in, const at::Tensor& bd_in,
                            const at::Tensor& mask_in, double scale, double p, int64_t seed,
                            at::Tensor* probs_out) {
    // bd may be any dense layout with a contiguous last dimension (the position term comes
    // out of one product per head, [H, L, B, K]); its gradient gets the same layout.
    auto ac = ac_in.contiguous(), mask = mask_in.contiguous();
    auto bd = bd_in.stride(3) == 1 && bd_in.is_non_overlapping_and_dense() ? bd_in : bd_in.contiguous();
    const int64_t K = ac.size(-1), L = ac.size(-2), N = ac.numel() / std::max<int64_t>(1, L * K);
    const kernels::SliceLayout layout{ac.size(1), bd.stride(0), bd.stride(1), bd.stride(2)};
    const auto drop = kernels::DropMask::make(p, static_cast<uint64_t>(seed));
    const bool bf16 = ac.scalar_type() == torch::kBFloat16;
    auto probs = torch::empty(ac.sizes(), ac.options().dtype(probs_dtype(ac.scalar_type())));
    auto out = drop.active() || bf16 ? torch::empty_like(ac, at::MemoryFormat::Contiguous) : probs;
    const auto* m = reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>());
    for_each_dtype(ac.scalar_type(), [&](auto zero) {
      using S = decltype(zero);
      const S* a = data_of<S>(ac);
      const S* b = data_of<S>(bd);
      S* o = drop.active() || bf16 ? data_of<S>(out) : nullptr;
      at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
        if constexpr (std::is_same_v<S, kernels::Bf16>)
          kernels::attention_probs_forward_bf16(a, b, layout, m, L, K, static_cast<float>(scale), drop,
                                                probs.data_ptr<float>(), o, n0, n1);
        else
          kernels::attention_probs_forward<S>(a, b, layout, m, L, K, static_cast<S>(scale), drop,
                                              probs.data_ptr<S>(), o, n0, n1);
      });
    });
    ctx->save_for_backward({probs});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["bd_strides"] = bd.strides().vec();
    ctx->saved_data["dtype"] = static_cast<int64_t>(ac.scalar_type());
    if (probs_out) *probs_out = probs;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto probs = ctx->get_saved_variables()[0];
    const double scale = ctx->saved_data["scale"].toDouble();
    const auto drop = kernels::DropMask::make(ctx->saved_data["p"].toDouble(),
                                              static_cast<uint64_t>(ctx->saved_data["seed"].toInt()));
    const auto in_dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    auto go = grads[0].to(in_dtype).contiguous();
    const auto bd_strides = ctx->saved_data["bd_strides"].toIntVector();
    const auto opts = probs.options().dtype(in_dtype);
    auto ga = torch::empty(probs.sizes(), opts), gb = torch::empty_strided(probs.sizes(), bd_strides, opts);
    const int64_t K = probs.size(-1), L = probs.size(-2), N = probs.numel() / std::max<int64_t>(1, L * K);
    const kernels::SliceLayout layout{probs.size(1), bd_strides[0], bd_strides[1], bd_strides[2]};
    for_each_dtype(in_dtype, [&](auto zero) {
      using S = decltype(zero);
      const S* g = data_of<S>(go);
      S* a = data_of<S>(ga);
      S* b = data_of<S>(gb);
      at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
        if constexpr (std::is_same_v<S, kernels::Bf16>)
          kernels::attention_probs_backward_bf16(g, probs.data_ptr<float>(), L, K, static_cast<float>(scale),
                                                 drop, a, b, layout, n0, n1);
        else
          kernels::attention_probs_backward<S>(g, probs.data_ptr<S>(), L, K, static_cast<S>(scale), drop, a,
                                               b, layout, n0, n1);
      });
    });
    return {ga, gb, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

constexpr int64_t kGrain = 32768;

struct DropoutFn : public torch::autograd::Function<DropoutFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, double p, int64_t seed, bool relu) {
    auto x = x_in.contiguous();
    auto out = torch::empty_like(x, at::MemoryFormat::Contiguous);
    const auto drop = kernels::DropMask::make(p, static_cast<uint64_t>(seed));
    for_each_dtype(x.scalar_type(), [&](auto zero) {
      using T = decltype(zero);
      const T* xs = data_of<T>(x);
      T* o = data_of<T>(out);
      at::parallel_for(0, x.numel(), kGrain, [&](int64_t i0, int64_t i1) {
        kernels::dropout_forward<T>(xs, relu, drop, o, i0, i1);
      });
    });
    if (relu) ctx->save_for_backward({out});
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["relu"] = relu;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const bool relu = ctx->saved_data["relu"].toBool();
    const auto drop = kernels::DropMask::make(ctx->saved_data["p"].toDouble(),
                                              static_cast<uint64_t>(ctx->saved_data["seed"].toInt()));
    auto g = grads[0].contiguous();
    at::Tensor saved = relu ? ctx->get_saved_variables()[0] : at::Tensor();
    auto gi = torch::empty_like(g, at::MemoryFormat::Contiguous);
    for_each_dtype(g.scalar_type(), [&](auto zero) {
      using T = decltype(zero);
      const T* gs = data_of<T>(g);
      const T* so = relu ? data_of<T>(saved) : nullptr;
      T* o = data_of<T>(gi);
      at::parallel_for(0, g.numel(), kGrain, [&](int64_t i0, int64_t i1) {
        kernels::dropout_backward<T>(gs, so, relu, drop, o, i0, i1);
      });
    });
    return {gi, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

void set_fused_kernels(bool on) { g_fused.store(on); }
bool fused_kernels() { return g_fused.load(); }
int fused_parallel_threads(int64_t chunks) {
  std::mutex m;
  std::vector<int> seen;
  at::parallel_for(0, chunks, 1, [&](int64_t, int64_t) {
    const int id = at::get_thread_num();
    std::lock_guard<std::mutex> lock(m);
    if (std::find(seen.begin(), seen.end(), id) == seen.end()) seen.push_back(id);
  });
  return static_cast<int>(seen.size());
}

std::string fused_kernels_summary() {
  return fused_kernels() ? std::string("fused CPU kernels (") + kernels::isa_name() + ")"
                         : "fused CPU kernels off";
}

at::Tensor attention_probs(const at::Tensor& ac, const at::Tensor& bd, const at::Tensor& mask, double scale,
                           double dropatt, bool training, at::Tensor* probs_out) {
  const double p = training ? dropatt : 0.0;
  const int64_t L = ac.size(-2), K = ac.size(-1);
  const bool fused = fusable(ac) && ac.dim() == 4 && bd.sizes() == ac.sizes() &&
                     bd.scalar_type() == ac.scalar_type() && bd.device() == ac.device() &&
                     mask.scalar_type() == torch::kBool && mask.device().is_cpu() && mask.dim() == 2 &&
                     mask.size(0) == L && mask.size(1) == K && p < 1.0;
  if (fused) {
    RECORD_FUNCTION("ctlab::attention_probs", std::vector<c10::IValue>());
    return AttentionProbsFn::apply(ac, bd, mask, scale, p, p > 0 ? draw_seed() : int64_t{0}, probs_out);
  }
  // Reference chain: the relative shift, scale, mask, softmax (float32 at least), dropout.
  auto score = (ac + rel_shift(bd)).mul_(scale);
  const auto sdt = score.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto probs = torch::softmax(score.to(sdt).masked_fill(mask, -std::numeric_limits<double>::infinity()), -1);
  if (probs_out) *probs_out = probs;
  return p > 0 ? torch::dropout(probs, p, true) : probs;
}

at::Tensor dropout(const at::Tensor& x, double p, bool training) {
  if (!training || p <= 0) return x;
  if (fusable(x) && p < 1.0) {
    RECORD_FUNCTION("ctlab::dropout", std::vector<c10::IValue>());
    return DropoutFn::apply(x, p, draw_seed(), false);
  }
  return torch::dropout(x, p, true);
}

at::Tensor relu_dropout(const at::Tensor& x, double p, bool training) {
  if (!training || p <= 0) return torch::relu(x);
  if (fusable(x) && p < 1.0) {
    RECORD_FUNCTION("ctlab::relu_dropout", std::vector<c10::IValue>());
    return DropoutFn::apply(x, p, draw_seed(), true);
  }
  return torch::dropout(torch::relu(x), p, true);
}

}  // namespace ctlab
