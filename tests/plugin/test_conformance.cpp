// One conformance suite over every registered compression function and loss found in the
// build's plugin folder: a new plugin is covered by being built. Shapes, dtype and
// device, finiteness, determinism, gradients, and a float64 finite-difference check.
#include <gtest/gtest.h>

#include "builtin_plugins.h"
#include "config/params.h"
#include "model/attention.h"
#include "plugin/plugin_host.h"
#include "test_util.h"

using namespace ctlab;

namespace {

using test::fn_ids;
using test::host;
using test::loss_ids;
using test::test_name;

constexpr int64_t kD = 8, kB = 2, kHeads = 2;

PluginContext context(int64_t rate, const PluginParams& params) {
  PluginContext ctx;
  ctx.d_model = kD;
  ctx.n_head = kHeads;
  ctx.d_head = kD / kHeads;
  ctx.rate = rate;
  ctx.n_layer = 2;
  ctx.params = params;
  return ctx;
}

CompressionInput input(const FnEntry& e, int64_t n, int64_t rate, torch::Dtype dtype) {
  CompressionInput in;
  in.old = torch::randn({n, kB, kD}, dtype);
  in.rate = rate;
  if (e.spec.needs_usage) in.usage = torch::rand({n, kB});
  return in;
}

// Central finite differences of f() with respect to every element of x, in float64.
torch::Tensor numeric_grad(const std::function<double()>& f, torch::Tensor x, double eps = 1e-6) {
  auto g = torch::zeros_like(x);
  auto flat = x.view(-1);
  auto gflat = g.view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    double orig = flat[i].item<double>();
    flat[i] = orig + eps;
    double up = f();
    flat[i] = orig - eps;
    double down = f();
    flat[i] = orig;
    gflat[i] = (up - down) / (2 * eps);
  }
  return g;
}

}  // namespace

class FnConformance : public ::testing::TestWithParam<std::string> {
 protected:
  const FnEntry& entry() { return host().compression_fn(GetParam()); }
  PluginParams params() { return resolve_plugin_params(entry().spec.params, {}, "compression.", entry().id); }
  std::shared_ptr<CompressionFn> make(int64_t rate) {
    torch::manual_seed(0);
    return host().create(entry(), context(rate, params()));
  }
};

TEST_P(FnConformance, ShapeDtypeDeviceAndFiniteness) {
  for (int64_t rate : {1, 2, 3}) {
    auto fn = make(rate);
    torch::manual_seed(1);
    auto in = input(entry(), 6 * rate, rate, torch::kFloat32);
    auto out = fn->forward(in);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{6, kB, kD})) << "rate " << rate;
    EXPECT_NO_THROW(check_compression_output(entry().id, in, out));
  }
}

TEST_P(FnConformance, DeterministicForASeed) {
  auto a = make(2), b = make(2);
  torch::manual_seed(3);
  auto in = input(entry(), 8, 2, torch::kFloat32);
  auto first = a->forward(in);
  EXPECT_TRUE(test::tensors_close(first, a->forward(in), 0, 0)) << "same instance, same input";
  EXPECT_TRUE(test::tensors_close(first, b->forward(in), 0, 0)) << "two instances made after the same seed";
}

TEST_P(FnConformance, TrainableDeclarationMatchesParametersAndGradientsFlow) {
  auto fn = make(2);
  EXPECT_EQ(entry().spec.trainable, !fn->parameters().empty());
  EXPECT_EQ(entry().spec.trainable, fn->trainable());
  if (!entry().spec.trainable) return;
  torch::manual_seed(4);
  auto in = input(entry(), 8, 2, torch::kFloat32);
  fn->forward(in).pow(2).sum().backward();
  for (const auto& p : fn->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST_P(FnConformance, FiniteDifferenceGradientInFloat64) {
  auto fn = make(2);
  fn->to(torch::kFloat64);
  torch::manual_seed(5);
  auto in = input(entry(), 6, 2, torch::kFloat64);
  auto weights = torch::randn({3, kB, kD}, torch::kFloat64);
  auto objective = [&] {
    torch::NoGradGuard g;
    return (fn->forward(in) * weights).sum().item<double>();
  };
  in.old.requires_grad_(true);
  fn->zero_grad();
  (fn->forward(in) * weights).sum().backward();
  auto analytic = in.old.grad().clone();
  in.old = in.old.detach();
  EXPECT_TRUE(test::tensors_close(analytic, numeric_grad(objective, in.old), 1e-5, 1e-7)) << "d/d old";
  for (auto& p : fn->parameters()) {
    auto pa = p.grad().clone();
    auto numeric = numeric_grad(objective, p.data());
    EXPECT_TRUE(test::tensors_close(pa, numeric, 1e-5, 1e-7)) << "d/d parameter " << p.sizes();
  }
}

INSTANTIATE_TEST_SUITE_P(Builtin, FnConformance, ::testing::ValuesIn(fn_ids()), test_name);

class LossConformance : public ::testing::TestWithParam<std::string> {
 protected:
  const LossEntry& entry() { return host().compression_loss(GetParam()); }
  std::shared_ptr<CompressionLoss> make(torch::Dtype dtype = torch::kFloat32) {
    torch::manual_seed(0);
    auto p = resolve_plugin_params(entry().spec.params, {}, "compression_loss.", entry().id);
    auto loss = host().create(entry(), context(2, p));
    if (loss) loss->to(dtype);
    return loss;
  }
  // A layer's attention (for content_attention) and inputs of one segment.
  struct Case {
    RelMultiHeadAttn attn{nullptr};
    LossInput in;
  };
  Case inputs(torch::Dtype dtype) {
    torch::manual_seed(6);
    Case c;
    c.attn = RelMultiHeadAttn(RelAttentionOptions(kD, kHeads).init_std(0.5));
    c.attn->to(dtype);
    auto attn = c.attn;
    c.in.h = torch::randn({4, kB, kD}, dtype);
    c.in.old = torch::randn({6, kB, kD}, dtype);
    c.in.compressed = c.in.old.reshape({3, 2, kB, kD}).mean(1).clone().requires_grad_(true);
    c.in.rate = 2;
    c.in.content_attention = [attn](const torch::Tensor& x, const torch::Tensor& y) {
      return attn->content_attention(x, y);
    };
    return c;
  }
};

TEST_P(LossConformance, ModeAndFactoryAgree) {
  auto loss = make();
  if (entry().spec.mode == LossMode::Auxiliary) {
    EXPECT_TRUE(loss) << "auxiliary losses must create an object";
  }
}

TEST_P(LossConformance, ScalarFiniteDeterministicAndGradientOnlyToCompressed) {
  if (entry().spec.mode != LossMode::Auxiliary) GTEST_SKIP() << "no auxiliary term";
  auto loss = make();
  auto c = inputs(torch::kFloat32);
  auto value = loss->forward(c.in);
  EXPECT_EQ(value.numel(), 1);
  EXPECT_TRUE(std::isfinite(value.item<double>()));
  EXPECT_GE(value.item<double>(), 0.0);
  EXPECT_EQ(value.item<double>(), make()->forward(c.in).item<double>());
  value.backward();
  ASSERT_TRUE(c.in.compressed.grad().defined());
  EXPECT_GT(c.in.compressed.grad().abs().sum().item<double>(), 0.0);
  for (const auto& p : c.attn->parameters())
    EXPECT_FALSE(p.grad().defined()) << "the layer's weights got gradient";
  for (const auto& p : loss->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << "the loss's own parameter " << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST_P(LossConformance, FiniteDifferenceGradientInFloat64) {
  if (entry().spec.mode != LossMode::Auxiliary) GTEST_SKIP() << "no auxiliary term";
  auto loss = make(torch::kFloat64);
  auto c = inputs(torch::kFloat64);
  loss->forward(c.in).backward();
  auto analytic = c.in.compressed.grad().clone();
  c.in.compressed = c.in.compressed.detach();
  auto objective = [&] {
    torch::NoGradGuard g;
    return loss->forward(c.in).item<double>();
  };
  EXPECT_TRUE(test::tensors_close(analytic, numeric_grad(objective, c.in.compressed), 1e-5, 1e-8));
}

INSTANTIATE_TEST_SUITE_P(Builtin, LossConformance, ::testing::ValuesIn(loss_ids()), test_name);
