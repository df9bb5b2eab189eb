// ctlab's fused CPU kernels (model/fused.h) against the reference chain of LibTorch ops:
// values and gradients of the attention core (shift, scale, mask, softmax, dropout) in
// float64 and float32 and for both layouts of the position term, the dropout masks'
// statistics, their regeneration in the backward pass and their reproducibility.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "model/attention.h"
#include "model/fused.h"
#include "model/kernels.h"
#include "runtime/runtime.h"
#include "test_util.h"

using namespace ctlab;

namespace {

// Restores the fused-kernel switch however a test ends.
struct FusedSwitch {
  explicit FusedSwitch(bool on) : before(fused_kernels()) { set_fused_kernels(on); }
  ~FusedSwitch() { set_fused_kernels(before); }
  bool before;
};

struct CoreResult {
  torch::Tensor out, probs, grad_ac, grad_bd;
};

// Runs the attention core with the given switch; bd comes either as a contiguous
// [B, H, L, K] tensor or as the [B, H, L, K] view of a [H, L, B, K] product.
CoreResult run_core(bool fused, const torch::Tensor& ac0, const torch::Tensor& bd_hlbk0,
                    const torch::Tensor& mask, double p, bool permuted_bd, const torch::Tensor& grad) {
  FusedSwitch sw(fused);
  auto ac = ac0.clone().requires_grad_();
  auto bd_hlbk = bd_hlbk0.clone().requires_grad_();
  auto bd = bd_hlbk.permute({2, 0, 1, 3});
  if (!permuted_bd) bd = bd.contiguous();
  CoreResult r;
  r.out = attention_probs(ac, bd, mask, 0.3, p, true, &r.probs);
  r.out.backward(grad);
  r.grad_ac = ac.grad();
  r.grad_bd = bd_hlbk.grad();
  return r;
}

}  // namespace

TEST(FusedKernels, ExpApproximationIsAccurateAndSaturates) {
  double worst = 0;
  for (double x = -87.0; x <= 88.0; x += 0.001953125) {
    const double ref = std::exp(x);
    worst = std::max(worst, std::abs(kernels::exp_approx(static_cast<float>(x)) - ref) / ref);
  }
  EXPECT_LT(worst, 3e-7);
  EXPECT_EQ(kernels::exp_approx(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(kernels::exp_approx(-100.0f), 0.0f);
  EXPECT_EQ(kernels::exp_approx(0.0f), 1.0f);
  EXPECT_TRUE(std::isnan(kernels::exp_approx(std::numeric_limits<float>::quiet_NaN())));
}

TEST(FusedKernels, AttentionCoreMatchesReferenceValuesAndGradients) {
  struct Case {
    int64_t B, H, L, mlen, window;
    torch::Dtype dtype;
  };
  for (const auto& c : {Case{2, 3, 5, 7, 0, torch::kFloat64}, Case{1, 2, 6, 0, 0, torch::kFloat64},
                        Case{3, 2, 4, 6, 5, torch::kFloat64}, Case{2, 4, 16, 32, 0, torch::kFloat32},
                        Case{1, 1, 1, 9, 0, torch::kFloat32}}) {
    const int64_t K = c.L + c.mlen;
    torch::manual_seed(7);
    auto opts = torch::TensorOptions().dtype(c.dtype);
    auto ac = torch::randn({c.B, c.H, c.L, K}, opts), bd = torch::randn({c.H, c.L, c.B, K}, opts) * 2;
    auto grad = torch::randn({c.B, c.H, c.L, K}, opts);
    auto mask = causal_memory_mask(c.L, c.mlen, c.window, torch::kCPU);
    const double tol = c.dtype == torch::kFloat64 ? 1e-12 : 2e-6;
    auto ref = run_core(false, ac, bd, mask, 0.0, false, grad);
    for (bool permuted : {false, true}) {
      SCOPED_TRACE("B=" + std::to_string(c.B) + " L=" + std::to_string(c.L) +
                   " mlen=" + std::to_string(c.mlen) + " window=" + std::to_string(c.window) +
                   (permuted ? " permuted bd" : " contiguous bd"));
      auto got = run_core(true, ac, bd, mask, 0.0, permuted, grad);
      EXPECT_TRUE(test::tensors_close(got.out, ref.out, tol, tol));
      EXPECT_TRUE(test::tensors_close(got.probs, ref.probs, tol, tol));
      EXPECT_TRUE(test::tensors_close(got.grad_ac, ref.grad_ac, tol, tol));
      EXPECT_TRUE(test::tensors_close(got.grad_bd, ref.grad_bd, tol, tol));
      // Hidden keys get exactly zero probability and zero gradient.
      auto hidden = mask.expand_as(got.probs);
      EXPECT_EQ(got.probs.masked_select(hidden).abs().sum().item<double>(), 0.0);
      EXPECT_EQ(got.grad_ac.masked_select(hidden).abs().sum().item<double>(), 0.0);
    }
  }
}

TEST(FusedKernels, AttentionDropoutKeepsScalesAndRegeneratesItsMask) {
  const int64_t B = 4, H = 2, L = 32, K = 96;
  const double p = 0.25;
  torch::manual_seed(3);
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto ac = torch::randn({B, H, L, K}, opts), bd = torch::randn({H, L, B, K}, opts);
  auto grad = torch::randn({B, H, L, K}, opts);
  auto mask = causal_memory_mask(L, K - L, 0, torch::kCPU);
  auto got = run_core(true, ac, bd, mask, p, true, grad);
  // out = probs * keep / (1 - p) with about a fraction p of the visible entries dropped.
  auto visible = mask.logical_not().expand_as(got.probs);
  auto kept = got.out.ne(0) & visible;
  const double n = visible.sum().item<double>(), dropped = (n - kept.sum().item<double>()) / n;
  EXPECT_NEAR(dropped, p, 4 * std::sqrt(p * (1 - p) / n));
  EXPECT_TRUE(test::tensors_close(got.out, got.probs * kept.to(torch::kFloat64) / (1 - p), 1e-12, 1e-12));
  // The backward used the same mask: reference chain with that mask applied by hand.
  auto ac_r = ac.clone().requires_grad_(), bd_r = bd.clone().requires_grad_();
  auto score = (ac_r + rel_shift(bd_r.permute({2, 0, 1, 3}))) * 0.3;
  auto probs = torch::softmax(score.masked_fill(mask, -INFINITY), -1);
  (probs * kept.to(torch::kFloat64) / (1 - p)).backward(grad);
  EXPECT_TRUE(test::tensors_close(got.grad_ac, ac_r.grad(), 1e-12, 1e-12));
  EXPECT_TRUE(test::tensors_close(got.grad_bd, bd_r.grad(), 1e-12, 1e-12));
  // Not training: no dropout, and the same probabilities.
  FusedSwitch sw(true);
  auto eval = attention_probs(ac, bd.permute({2, 0, 1, 3}), mask, 0.3, p, false);
  EXPECT_TRUE(test::tensors_close(eval, got.probs, 1e-12, 1e-12));
}

TEST(FusedKernels, DropoutAndReluDropoutMatchTheirDefinitions) {
  FusedSwitch sw(true);
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (bool relu : {false, true}) {
      SCOPED_TRACE(std::string(relu ? "relu_dropout " : "dropout ") +
                   (dtype == torch::kFloat32 ? "float32" : "float64"));
      const double p = 0.1;
      torch::manual_seed(11);
      auto x = torch::randn({64, 8, 300}, torch::TensorOptions().dtype(dtype)).requires_grad_();
      auto g = torch::randn_like(x);
      auto y = relu ? relu_dropout(x, p, true) : ctlab::dropout(x, p, true);
      y.backward(g);
      auto base = relu ? torch::relu(x.detach()) : x.detach();
      // Dropped where the output is 0 but the input (after relu) was not; the rate is
      // measured over the nonzero inputs.
      auto kept = y.detach().ne(0) | base.eq(0);
      auto live = base.ne(0);
      const double n = live.sum().item<double>(),
                   dropped = (live & y.detach().eq(0)).sum().item<double>() / n;
      EXPECT_NEAR(dropped, p, 4 * std::sqrt(p * (1 - p) / n));
      auto keepf = kept.to(dtype);
      EXPECT_TRUE(test::tensors_close(y.detach(), base * keepf / (1 - p), 1e-6, 1e-12));
      auto expected_grad = g * keepf / (1 - p);
      if (relu) expected_grad = expected_grad * x.detach().gt(0).to(dtype);
      EXPECT_TRUE(test::tensors_close(x.grad(), expected_grad, 1e-6, 1e-12));
      // Identity (or relu) when not training.
      EXPECT_TRUE(test::tensors_close(relu ? relu_dropout(x, p, false) : ctlab::dropout(x, p, false), base));
    }
  }
}

TEST(FusedKernels, DropoutMasksFollowTheTorchSeedAndDifferPerCall) {
  FusedSwitch sw(true);
  auto x = torch::ones({4096});
  torch::manual_seed(5);
  auto a1 = ctlab::dropout(x, 0.5, true), a2 = ctlab::dropout(x, 0.5, true);
  torch::manual_seed(5);
  auto b1 = ctlab::dropout(x, 0.5, true);
  EXPECT_TRUE(torch::equal(a1, b1));
  EXPECT_FALSE(torch::equal(a1, a2));
  // About half of the decisions differ between two calls (independent masks).
  const double differ = a1.ne(a2).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(differ, 0.5, 0.05);
}

TEST(FusedKernels, SwitchedOffOrOffCpuTheReferenceOpsRun) {
  // A float16 tensor is not fused: it takes LibTorch's dropout, which still drops.
  FusedSwitch sw(true);
  torch::manual_seed(1);
  auto x = torch::ones({2000}, torch::TensorOptions().dtype(torch::kFloat64));
  set_fused_kernels(false);
  auto y = ctlab::dropout(x, 0.5, true);
  const double kept = y.ne(0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(kept, 0.5, 0.06);
  EXPECT_TRUE(test::tensors_close(y.masked_select(y.ne(0)),
                                  torch::full({y.ne(0).sum().item<int64_t>()}, 2.0, torch::kFloat64)));
}

// The kernels are split with at::parallel_for, which in an OpenMP build of LibTorch is an
// OpenMP region in ctlab's own code: without -fopenmp on fused.cpp it quietly runs on one
// thread (core/CMakeLists.txt). Two intra-op threads must both get work.
TEST(FusedKernels, LoopsAreSplitOverTheIntraOpThreads) {
  if (available_cpus() < 2) GTEST_SKIP() << "one CPU available";
  const int before = at::get_num_threads();
  at::set_num_threads(2);
  const int used = fused_parallel_threads(64);
  at::set_num_threads(before);
  EXPECT_EQ(used, 2) << "fused.cpp's parallel loops ran on " << used << " thread(s) with 2 intra-op threads";
}

// bfloat16 inputs (CPU autocast): the kernel computes in float from the bfloat16 values,
// keeps probs in float and returns out and the gradients in bfloat16, rounded from the
// float results (the reference chain would return float; the dtypes show the kernel ran).
TEST(FusedKernels, Bfloat16AttentionCoreComputesInFloatAndRounds) {
  const int64_t B = 2, H = 3, L = 8, mlen = 12, K = L + mlen;
  torch::manual_seed(11);
  const auto bf = torch::kBFloat16, f32 = torch::kFloat32;
  auto ac16 = torch::randn({B, H, L, K}).to(bf), bd16 = (torch::randn({H, L, B, K}) * 2).to(bf);
  auto grad16 = torch::randn({B, H, L, K}).to(bf);
  auto mask = causal_memory_mask(L, mlen, 0, torch::kCPU);
  for (double p : {0.0, 0.3}) {
    SCOPED_TRACE("dropatt " + std::to_string(p));
    FusedSwitch sw(true);
    auto ac = ac16.clone().requires_grad_(), bd = bd16.clone().requires_grad_();
    torch::Tensor probs;
    auto out = attention_probs(ac, bd.permute({2, 0, 1, 3}), mask, 0.3, p, true, &probs);
    out.backward(grad16);
    ASSERT_EQ(out.scalar_type(), bf);
    ASSERT_EQ(probs.scalar_type(), f32);
    ASSERT_EQ(ac.grad().scalar_type(), bf);
    ASSERT_EQ(bd.grad().scalar_type(), bf);
    // The float reference on the same values, with the kernel's dropout mask.
    auto ac_r = ac16.to(f32).requires_grad_(), bd_r = bd16.to(f32).requires_grad_();
    auto score = (ac_r + rel_shift(bd_r.permute({2, 0, 1, 3}))) * 0.3;
    auto probs_r = torch::softmax(score.masked_fill(mask, -INFINITY), -1);
    auto kept = p > 0 ? out.ne(0).to(f32) : torch::ones_like(probs_r);
    auto out_r = probs_r * kept * static_cast<float>(1.0 / (1.0 - p));
    out_r.backward(grad16.to(f32));
    EXPECT_TRUE(test::tensors_close(probs, probs_r, 2e-6, 2e-6));
    // One bfloat16 rounding apart at most (relative 2^-8).
    EXPECT_TRUE(test::tensors_close(out.to(f32), out_r.detach(), 4e-3, 1e-6));
    EXPECT_TRUE(test::tensors_close(ac.grad().to(f32), ac_r.grad(), 8e-3, 1e-4));
    EXPECT_TRUE(test::tensors_close(bd.grad().to(f32), bd_r.grad(), 8e-3, 1e-4));
    auto hidden = mask.expand_as(probs);
    EXPECT_EQ(probs.masked_select(hidden).abs().sum().item<double>(), 0.0);
    EXPECT_EQ(ac.grad().masked_select(hidden).to(f32).abs().sum().item<double>(), 0.0);
  }
}

// bfloat16 dropout and relu + dropout: the float result x * keep / (1 - p), rounded once.
TEST(FusedKernels, Bfloat16DropoutRoundsTheFloatResult) {
  torch::manual_seed(13);
  const auto bf = torch::kBFloat16, f32 = torch::kFloat32;
  const double p = 0.25;
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  auto x0 = torch::randn({64, 33}).to(bf);
  auto g = torch::randn({64, 33}).to(bf);
  for (bool relu : {false, true}) {
    SCOPED_TRACE(relu ? "relu + dropout" : "dropout");
    FusedSwitch sw(true);
    auto x = x0.clone().requires_grad_();
    auto y = relu ? ctlab::relu_dropout(x, p, true) : ctlab::dropout(x, p, true);
    ASSERT_EQ(y.scalar_type(), bf);
    auto base = relu ? x0.to(f32).clamp_min(0) : x0.to(f32);
    auto kept = y.ne(0) | base.eq(0);  // an element kept at 0 reads as 0 either way
    auto want = (base * kept.to(f32) * scale).to(bf);
    EXPECT_TRUE(torch::equal(y, want));
    const double dropped = 1.0 - y.ne(0).sum().item<double>() / base.ne(0).sum().item<double>();
    EXPECT_NEAR(dropped, p, 0.06);
    y.backward(g);
    auto gwant = (g.to(f32) * (y.ne(0)).to(f32) * scale).to(bf);
    if (!relu) gwant = (g.to(f32) * kept.to(f32) * scale).to(bf);
    EXPECT_TRUE(torch::equal(x.grad(), gwant));
  }
}
