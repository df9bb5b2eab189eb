// GPU: every compression function and loss found in the build's plugin folder (a new
// plugin is covered by being built), on CUDA against the CPU in fp32: the forward pass, and
// a training step (forward, backward, Adam update, the next loss), alone and inside the
// model through the trainer's own step, with deferred checks summing what per-step checks
// read.
#include <gtest/gtest.h>

#include <set>

#include "builtin_plugins.h"
#include "config/params.h"
#include "config/plugin_binding.h"
#include "cuda_test_util.h"
#include "model/attention.h"
#include "model/factory.h"
#include "plugin/plugin_host.h"
#include "train/step.h"

using namespace ctlab;
using ctlab::test::gpu;
using ctlab::test::near;
using ctlab::test::tensors_close;

namespace {

using test::fn_ids;
using test::host;
using test::loss_ids;
using test::test_name;

constexpr int64_t kD = 16, kB = 3, kHeads = 2, kRate = 2;
constexpr double kLr = 1e-2;

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

std::shared_ptr<CompressionFn> make_fn(const FnEntry& e, int64_t rate) {
  torch::manual_seed(0);
  return host().create(e, context(rate, resolve_plugin_params(e.spec.params, {}, "compression.", e.id)));
}
std::shared_ptr<CompressionLoss> make_loss(const LossEntry& e) {
  torch::manual_seed(0);
  return host().create(e,
                       context(kRate, resolve_plugin_params(e.spec.params, {}, "compression_loss.", e.id)));
}

// Evicted slots [n, B, D] (and their usage when the function wants it), on the CPU.
CompressionInput cpu_input(const FnEntry& e, int64_t n, int64_t rate) {
  CompressionInput in;
  in.old = torch::randn({n, kB, kD});
  in.rate = rate;
  if (e.spec.needs_usage) in.usage = torch::rand({n, kB});  // distinct values: no ties to break
  return in;
}

CompressionInput on(const CompressionInput& in, const torch::Device& device) {
  CompressionInput out = in;
  out.old = in.old.to(device);
  if (in.usage.defined()) out.usage = in.usage.to(device);
  return out;
}

// Gradients of two copies of the same parameters: defined on both or neither, and within
// rtol 1e-4 and 1e-5 of the tensor's largest CPU gradient (fp32 sums in another order on
// the GPU: about 1e-6 of the largest term; a wrong gradient is off by O(1)).
void expect_same_gradients(const torch::OrderedDict<std::string, torch::Tensor>& cpu,
                           const torch::OrderedDict<std::string, torch::Tensor>& dev, double rtol = 1e-4,
                           double atol_of_max = 1e-5) {
  ASSERT_EQ(cpu.size(), dev.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    const auto& name = cpu[i].key();
    const auto& gc = cpu[i].value().grad();
    const auto& gd = dev[i].value().grad();
    ASSERT_EQ(gc.defined(), gd.defined()) << name;
    if (!gc.defined()) continue;
    EXPECT_EQ(gd.device(), gpu()) << name;
    const double scale = gc.abs().max().item<double>();
    EXPECT_TRUE(tensors_close(gd, gc, rtol, atol_of_max * scale + 1e-12)) << "gradient of " << name;
  }
}

// Parameters after an Adam step, given their gradients before it. Adam's first step moves
// an element by lr * g / (|g| + 1e-8), so where |g| is within rounding of 0 the two devices
// may move it differently; elements whose CPU gradient is below 1e-4 of the tensor's
// largest are left out (the next loss shows that they do not matter). The rest agree
// within rtol 1e-5, atol 1e-6: one rounding of p - lr (lr = 1e-2).
void expect_same_update(const torch::OrderedDict<std::string, torch::Tensor>& cpu,
                        const torch::OrderedDict<std::string, torch::Tensor>& dev,
                        const std::vector<torch::Tensor>& cpu_grads) {
  for (size_t i = 0; i < cpu.size(); ++i) {
    const auto& g = cpu_grads[i];
    if (!g.defined()) continue;
    auto keep = g.abs() > 1e-4 * g.abs().max();
    EXPECT_TRUE(tensors_close(dev[i].value().detach().cpu().masked_select(keep),
                              cpu[i].value().detach().masked_select(keep), 1e-5, 1e-6))
        << "parameter " << cpu[i].key() << " after the Adam step ("
        << (keep.numel() - keep.sum().item<int64_t>()) << " near-zero-gradient elements left out)";
  }
}

std::vector<torch::Tensor> gradients_of(const torch::OrderedDict<std::string, torch::Tensor>& params) {
  std::vector<torch::Tensor> g;
  for (const auto& p : params)
    g.push_back(p.value().grad().defined() ? p.value().grad().clone() : torch::Tensor());
  return g;
}

}  // namespace

// --- compression functions, alone ------------------------------------------------------

class FnOnCuda : public ::testing::TestWithParam<std::string> {
 protected:
  const FnEntry& entry() { return host().compression_fn(GetParam()); }
};

// Tolerance rtol 1e-4, atol 1e-5: pooling and selection are exact; learned functions are
// fp32 matrix products and convolutions whose sums run in another order on the GPU (relative
// error about 1e-6).
TEST_P(FnOnCuda, ForwardMatchesCpuAndPassesTheHostChecksOnTheDevice) {
  CTLAB_SKIP_WITHOUT_CUDA();
  test::strict_fp32();
  for (int64_t rate : {1, 2, 3}) {
    auto cpu = make_fn(entry(), rate), dev = make_fn(entry(), rate);
    dev->to(gpu());
    torch::manual_seed(1);
    const auto in = cpu_input(entry(), 6 * rate, rate);
    const auto din = on(in, gpu());
    torch::NoGradGuard no_grad;
    const auto want = cpu->forward(in);
    const auto got = dev->forward(din);
    ASSERT_EQ(got.device(), gpu()) << "rate " << rate;
    EXPECT_EQ(got.scalar_type(), torch::kFloat32);
    EXPECT_NO_THROW(check_compression_output(entry().id, din, got)) << "rate " << rate;
    torch::Tensor flag;  // the deferred check: a flag on the device, read later
    check_compression_output(entry().id, din, got, &flag);
    ASSERT_TRUE(flag.defined());
    EXPECT_EQ(flag.device(), gpu());
    EXPECT_FALSE(flag.item<bool>()) << "finite output flagged, rate " << rate;
    EXPECT_TRUE(tensors_close(got, want, 1e-4, 1e-5)) << "rate " << rate;
  }
}

// Objective: mean squared distance of f(old) from a fixed random target; Adam (lr 1e-2).
// The loss: rtol 1e-4, atol 1e-6; gradients and the update: see the helpers above; the next
// loss (after the update): rtol 1e-4, atol 1e-6.
TEST_P(FnOnCuda, TrainingStepMatchesCpu) {
  CTLAB_SKIP_WITHOUT_CUDA();
  if (!entry().spec.trainable) GTEST_SKIP() << entry().id << " has no parameters to train";
  test::strict_fp32();
  auto cpu = make_fn(entry(), kRate), dev = make_fn(entry(), kRate);
  dev->to(gpu());
  torch::manual_seed(2);
  const auto in = cpu_input(entry(), 8, kRate);
  const auto target = torch::randn({4, kB, kD});
  const auto din = on(in, gpu());
  const auto dtarget = target.to(gpu());
  torch::optim::Adam opt_cpu(cpu->parameters(), torch::optim::AdamOptions(kLr));
  torch::optim::Adam opt_dev(dev->parameters(), torch::optim::AdamOptions(kLr));
  auto lc = (cpu->forward(in) - target).pow(2).mean();
  auto ld = (dev->forward(din) - dtarget).pow(2).mean();
  EXPECT_TRUE(near(ld.item<double>(), lc.item<double>(), 1e-6, 1e-4))
      << ld.item<double>() << " vs " << lc.item<double>();
  lc.backward();
  ld.backward();
  expect_same_gradients(cpu->named_parameters(), dev->named_parameters());
  const auto grads = gradients_of(cpu->named_parameters());
  opt_cpu.step();
  opt_dev.step();
  expect_same_update(cpu->named_parameters(), dev->named_parameters(), grads);
  torch::NoGradGuard no_grad;
  const double next_cpu = (cpu->forward(in) - target).pow(2).mean().item<double>();
  const double next_dev = (dev->forward(din) - dtarget).pow(2).mean().item<double>();
  EXPECT_LT(next_cpu, lc.item<double>()) << "the step should lower the objective";
  EXPECT_TRUE(near(next_dev, next_cpu, 1e-6, 1e-4)) << next_dev << " vs " << next_cpu;
}

INSTANTIATE_TEST_SUITE_P(Builtin, FnOnCuda, ::testing::ValuesIn(fn_ids()), test_name);

// --- compression losses, alone ---------------------------------------------------------

namespace {

// One side of a loss comparison: a layer's attention (for content_attention), a trainable
// compression function, the loss, a segment and evicted slots, all on one device.
struct LossSide {
  RelMultiHeadAttn attn{nullptr};
  std::shared_ptr<CompressionFn> fn;
  std::shared_ptr<CompressionLoss> loss;
  torch::Tensor h, old, usage;
  std::unique_ptr<torch::optim::Adam> opt;

  LossSide(const LossEntry& le, const FnEntry& fe, const torch::Device& device) {
    torch::manual_seed(6);
    attn = RelMultiHeadAttn(RelAttentionOptions(kD, kHeads).init_std(0.5));
    fn = make_fn(fe, kRate);
    loss = make_loss(le);
    torch::manual_seed(7);
    h = torch::randn({4, kB, kD});
    old = torch::randn({8, kB, kD});
    if (fe.spec.needs_usage) usage = torch::rand({8, kB});
    attn->to(device);
    fn->to(device);
    loss->to(device);
    h = h.to(device);
    old = old.to(device);
    if (usage.defined()) usage = usage.to(device);
    std::vector<torch::Tensor> params = fn->parameters();
    for (const auto& p : loss->parameters()) params.push_back(p);
    opt = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(kLr));
  }
  torch::Tensor value() {
    CompressionInput ci;
    ci.old = old;
    ci.rate = kRate;
    ci.usage = usage;
    LossInput in;
    in.h = h;
    in.old = old;
    in.compressed = fn->forward(ci);
    in.rate = kRate;
    auto a = attn;
    in.content_attention = [a](const torch::Tensor& x, const torch::Tensor& y) {
      return a->content_attention(x, y);
    };
    return loss->forward(in);
  }
  // The function's parameters, then the loss's own.
  torch::OrderedDict<std::string, torch::Tensor> params() const {
    torch::OrderedDict<std::string, torch::Tensor> all;
    for (const auto& p : fn->named_parameters()) all.insert("fn." + p.key(), p.value());
    for (const auto& p : loss->named_parameters()) all.insert("loss." + p.key(), p.value());
    return all;
  }
};

const FnEntry* first_trainable_fn() {
  for (const auto* e : host().compression_fns())
    if (e->spec.trainable) return e;
  return nullptr;
}

}  // namespace

class LossOnCuda : public ::testing::TestWithParam<std::string> {
 protected:
  const LossEntry& entry() { return host().compression_loss(GetParam()); }
};

// The loss trains the first trainable compression function (and its own parameters);
// Adam (lr 1e-2). The loss: rtol 1e-4, atol 1e-6 (fp32 attention and products in another
// order); gradients and the update: see the helpers above; the next loss likewise.
TEST_P(LossOnCuda, ForwardAndTrainingStepMatchCpu) {
  CTLAB_SKIP_WITHOUT_CUDA();
  if (entry().spec.mode != LossMode::Auxiliary)
    GTEST_SKIP() << entry().id << " has no auxiliary term (mode " << loss_mode_name(entry().spec.mode)
                 << "); ModelStepOnCuda trains it inside the model";
  const FnEntry* fe = first_trainable_fn();
  if (!fe) GTEST_SKIP() << "no trainable compression function is built";
  test::strict_fp32();
  LossSide cpu(entry(), *fe, torch::kCPU), dev(entry(), *fe, gpu());
  auto lc = cpu.value(), ld = dev.value();
  ASSERT_EQ(ld.device(), gpu());
  ASSERT_EQ(ld.numel(), 1);
  EXPECT_TRUE(near(ld.item<double>(), lc.item<double>(), 1e-6, 1e-4))
      << ld.item<double>() << " vs " << lc.item<double>();
  lc.backward();
  ld.backward();
  expect_same_gradients(cpu.params(), dev.params());
  for (const auto& p : cpu.attn->parameters()) EXPECT_FALSE(p.grad().defined()) << "the layer got gradient";
  const auto grads = gradients_of(cpu.params());
  cpu.opt->step();
  dev.opt->step();
  expect_same_update(cpu.params(), dev.params(), grads);
  torch::NoGradGuard no_grad;
  const double next_cpu = cpu.value().item<double>(), next_dev = dev.value().item<double>();
  EXPECT_LT(next_cpu, lc.item<double>()) << "the step should lower the loss";
  EXPECT_TRUE(near(next_dev, next_cpu, 1e-6, 1e-4)) << next_dev << " vs " << next_cpu;
}

INSTANTIATE_TEST_SUITE_P(Builtin, LossOnCuda, ::testing::ValuesIn(loss_ids()), test_name);

// --- inside the model, through the trainer's step --------------------------------------

namespace {

// "function|loss" pairs that cover every function and every loss with a partner the
// configuration accepts: a trainable function with an auxiliary loss (else bptt), a
// parameter-free one with a loss of mode none; an auxiliary or bptt loss with the first
// trainable function, a loss of mode none with the first parameter-free one.
std::vector<std::string> model_pairs() {
  const FnEntry *trainable = nullptr, *fixed = nullptr;
  for (const auto* e : host().compression_fns()) {
    auto& slot = e->spec.trainable ? trainable : fixed;
    if (!slot) slot = e;
  }
  const LossEntry *aux = nullptr, *bptt = nullptr, *none = nullptr;
  for (const auto* e : host().compression_losses()) {
    auto& slot = e->spec.mode == LossMode::Auxiliary ? aux : e->spec.mode == LossMode::Bptt ? bptt : none;
    if (!slot) slot = e;
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const FnEntry* f, const LossEntry* l) {
    if (f && l && seen.insert(f->id + "|" + l->id).second) out.push_back(f->id + "|" + l->id);
  };
  for (const auto* f : host().compression_fns()) add(f, f->spec.trainable ? (aux ? aux : bptt) : none);
  for (const auto* l : host().compression_losses())
    add(l->spec.mode == LossMode::None ? fixed : trainable, l);
  return out;
}

struct ModelSide {
  CompressiveTransformer model{nullptr};
  std::unique_ptr<torch::optim::Adam> opt;
  std::unique_ptr<TrainStep> step;
  std::vector<std::vector<LayerMemory>> memories;
  torch::Device device;

  ModelSide(const RunConfig& cfg, const ResolvedPlugins& plugins, const torch::Device& d, bool deferred)
      : device(d) {
    torch::manual_seed(0);
    model = build_model(cfg, host(), plugins);
    model->to(device);
    opt = std::make_unique<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(cfg.train.lr));
    step = std::make_unique<TrainStep>(model, *opt, cfg.train, /*bf16=*/false);
    step->set_deferred(deferred);
    memories = step->empty_memories();
  }
  StepStats run(int64_t s, const torch::Tensor& tokens, int64_t seq_len) {
    const int64_t first = s * step->segments();
    return step->run(
        s,
        [&](int64_t k) {
          const int64_t t = (first + k) * seq_len;
          return TrainStep::Segment{tokens.narrow(0, t, seq_len).to(device),
                                    tokens.narrow(0, t + 1, seq_len).to(device)};
        },
        memories);
  }
};

}  // namespace

class ModelStepOnCuda : public ::testing::TestWithParam<std::string> {};

// Two layers (d_model 16, segments and memory of 8, 4 compressed slots at rate 2, no
// dropout), batch 4, init_std 0.3 (with the default 0.02 attention is uniform to about 1e-5,
// so most_used would choose between slots whose usage differs by rounding), Adam at lr 1e-3, clipping at 0.1,
// weights updated every 4th step (update_period), so the gradients of steps 0-2 (compression from step 1 on;
// bptt unrolls 2 segments) can be compared before the update of step 3, and step 4's loss is the next loss
// after it. Tolerances: losses and compression losses rtol 1e-4, atol 1e-5 (fp32 forward, as in
// ModelMatchesCpuOverSegmentsWithFullMemories); gradients rtol 1e-3, atol 1e-4 of each
// tensor's largest (three backward passes through two layers accumulate more rounding than
// one plugin; a wrong gradient is off by O(1)); the grad norm rtol 1e-4. Deferred checks on
// the device: the sums over the 5 steps equal the CPU's per-step values summed, rtol 1e-4.
TEST_P(ModelStepOnCuda, GradientsStepsAndDeferredSumsMatchCpu) {
  CTLAB_SKIP_WITHOUT_CUDA();
  test::strict_fp32();
  const auto bar = GetParam().find('|');
  const std::string fn = GetParam().substr(0, bar), loss = GetParam().substr(bar + 1);
  const RunConfig cfg =
      load_run_config("", {"vocab_size=32", "d_model=16", "n_head=2", "n_layer=2", "d_ff=32", "seq_len=8",
                           "mem_len=8", "cmem_len=4", "cmem_rate=2", "dropout=0", "init_std=0.3",
                           "batch_size=4", "lr=0.001", "warmup_steps=0", "max_steps=100", "update_period=4",
                           "compression=" + fn, "compression_loss=" + loss});
  const auto plugins = resolve_plugins(host(), cfg);
  ModelSide cpu(cfg, plugins, torch::kCPU, false), dev(cfg, plugins, gpu(), false),
      deferred(cfg, plugins, gpu(), true);
  const int64_t steps = 5, segments = cpu.step->segments();
  torch::manual_seed(8);
  const auto tokens = torch::randint(32, {steps * segments * 8 + 1, 4}, torch::kLong);
  double loss_sum = 0;
  std::vector<double> closs_sum(2, 0.0);
  double last_norm = NAN;
  for (int64_t s = 0; s < steps; ++s) {
    const auto a = cpu.run(s, tokens, 8), b = dev.run(s, tokens, 8);
    deferred.run(s, tokens, 8);
    EXPECT_TRUE(a.finite && b.finite) << "step " << s;
    EXPECT_EQ(a.updated, s == 3) << "step " << s;
    EXPECT_EQ(b.updated, a.updated) << "step " << s;
    EXPECT_TRUE(near(b.loss, a.loss, 1e-5, 1e-4))
        << "task loss at step " << s << ": " << b.loss << " vs " << a.loss;
    for (size_t l = 0; l < a.closs.size(); ++l)
      EXPECT_TRUE(near(b.closs[l], a.closs[l], 1e-5, 1e-4))
          << "compression loss of layer " << l << " at step " << s << ": " << b.closs[l] << " vs "
          << a.closs[l];
    if (a.updated) {
      EXPECT_TRUE(near(b.grad_norm, a.grad_norm, 0, 1e-4)) << b.grad_norm << " vs " << a.grad_norm;
      last_norm = a.grad_norm;
    }
    loss_sum += a.loss;
    for (size_t l = 0; l < a.closs.size(); ++l) closs_sum[l] += a.closs[l];
    if (s == 2) {  // three steps' gradients, before the update
      expect_same_gradients(cpu.model->named_parameters(), dev.model->named_parameters(), 1e-3, 1e-4);
      expect_same_gradients(cpu.model->named_parameters(), deferred.model->named_parameters(), 1e-3, 1e-4);
      bool trained = false;
      for (const auto& p : cpu.model->compression_parameters())
        trained = trained || (p.grad().defined() && p.grad().abs().sum().item<double>() > 0);
      EXPECT_EQ(trained, !cpu.model->compression_parameters().empty())
          << "the compression function's parameters got no gradient";
    }
  }
  const auto c = deferred.step->collect();
  EXPECT_EQ(c.steps, steps);
  EXPECT_FALSE(c.nonfinite_task.has_value());
  EXPECT_FALSE(c.nonfinite_closs.has_value());
  EXPECT_TRUE(near(c.loss, loss_sum, 1e-5, 1e-4)) << c.loss << " vs " << loss_sum;
  for (size_t l = 0; l < closs_sum.size(); ++l)
    EXPECT_TRUE(near(c.closs[l], closs_sum[l], 1e-5, 1e-4))
        << "layer " << l << ": " << c.closs[l] << " vs " << closs_sum[l];
  EXPECT_TRUE(near(c.grad_norm, last_norm, 0, 1e-4)) << c.grad_norm << " vs " << last_norm;
}

INSTANTIATE_TEST_SUITE_P(Builtin, ModelStepOnCuda, ::testing::ValuesIn(model_pairs()), test_name);
