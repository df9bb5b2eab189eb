// The model: Algorithm 1's memories, the Transformer-XL and vanilla special cases,
// evaluation with other memory sizes, attention capture, usage statistics and the
// gradient isolation of the content-attention callback.
#include <gtest/gtest.h>

#include "config/plugin_binding.h"
#include "model/factory.h"
#include "model/model.h"
#include "model_stream.h"
#include "plugin/plugin_host.h"
#include "runtime/torch_compat.h"
#include "test_util.h"

using namespace ctlab;

namespace {

// Tiny fixture: vocab 32, d_model 16, 2 heads, 2 layers, seq 8, mem 8, cmem 4, rate 2.
ModelOptions tiny() { return test::tiny_model_options(); }

class Identity : public CompressionFn {
 public:
  torch::Tensor forward(const CompressionInput& in) override { return in.old.clone(); }
};

class MeanPoolLocal : public CompressionFn {
 public:
  torch::Tensor forward(const CompressionInput& in) override {
    return in.old.reshape({in.old.size(0) / in.rate, in.rate, in.old.size(1), in.old.size(2)}).mean(1);
  }
};

// Keeps each block's first slot and records the usage it was given.
class UsageRecorder : public CompressionFn {
 public:
  torch::Tensor forward(const CompressionInput& in) override {
    seen.push_back(in.usage.defined() ? in.usage.clone() : torch::Tensor());
    return in.old.reshape({in.old.size(0) / in.rate, in.rate, in.old.size(1), in.old.size(2)}).select(1, 0);
  }
  std::vector<torch::Tensor> seen;
};

class Linear : public CompressionFn {
 public:
  explicit Linear(int64_t d) { w = register_parameter("w", torch::eye(d) + 0.1 * torch::randn({d, d})); }
  torch::Tensor forward(const CompressionInput& in) override {
    auto m = in.old.reshape({in.old.size(0) / in.rate, in.rate, in.old.size(1), in.old.size(2)}).mean(1);
    return torch::matmul(m, w);
  }
  torch::Tensor w;
};

class ReconstructionLoss : public CompressionLoss {
 public:
  torch::Tensor forward(const LossInput& in) override {
    auto a = in.content_attention(in.h, in.old);
    auto b = in.content_attention(in.h, in.compressed);
    return (a - b).pow(2).mean();
  }
};

template <class Fn, class... Args>
CompressionSetup setup_with(const ModelOptions& o, Args... args) {
  CompressionSetup s;
  s.fn_id = "test@1";
  for (int64_t i = 0; i < o.n_layer; ++i) s.fns.push_back(std::make_shared<Fn>(args...));
  return s;
}

torch::Tensor tokens(int64_t L, int64_t B, int64_t V, int seed) {
  torch::manual_seed(seed);
  return torch::randint(V, {L, B}, torch::kLong);
}

}  // namespace

TEST(Model, RateOneIdentityEqualsTransformerXLWithTheSameTotalMemory) {
  auto ct_opts = tiny();
  ct_opts.cmem_rate = 1;
  ct_opts.same_length = true;
  auto txl_opts = ct_opts;
  txl_opts.mem_len = ct_opts.mem_len + ct_opts.cmem_len;
  txl_opts.cmem_len = 0;
  torch::manual_seed(0);
  CompressiveTransformer ct(ct_opts, setup_with<Identity>(ct_opts));
  torch::manual_seed(0);
  CompressiveTransformer txl(txl_opts, CompressionSetup{});
  for (bool eval : {false, true}) {
    test::ModelStream cs(ct), ts(txl);
    ct->train(!eval);
    txl->train(!eval);
    torch::NoGradGuard g;
    for (int seg = 0; seg < 5; ++seg) {
      auto x = tokens(8, 3, 32, 10 + seg), y = tokens(8, 3, 32, 20 + seg);
      auto a = cs(x, y, {false, true, true}), b = ts(x, y, {false, true, true});
      EXPECT_TRUE(test::tensors_close(a.logits, b.logits, 1e-5, 1e-6))
          << "segment " << seg << " eval " << eval;
      EXPECT_EQ(a.cmem_slots + a.mem_slots, b.mem_slots);
    }
  }
}

TEST(Model, NoMemoryIsAPlainCausalTransformerOverTheSegment) {
  auto o = tiny();
  o.mem_len = 0;
  o.cmem_len = 0;
  torch::manual_seed(0);
  CompressiveTransformer model(o, CompressionSetup{});
  model->eval();
  torch::NoGradGuard g;
  auto x1 = tokens(8, 2, 32, 1), x2 = tokens(8, 2, 32, 2);
  auto first = model->forward(x1, x1, {});
  auto after = model->forward(x2, x2, first.memory, {false, true, true});
  EXPECT_EQ(after.mem_slots + after.cmem_slots, 0);
  auto alone = model->forward(x2, x2, {}, {false, true, true});
  EXPECT_TRUE(test::tensors_close(after.logits, alone.logits, 0, 0)) << "the previous segment leaked in";
  // Causal: changing token p changes no prediction before p.
  auto x3 = x2.clone();
  x3[5][0] = (x3[5][0].item<int64_t>() + 1) % 32;
  auto changed = model->forward(x3, x3, {}, {false, true, true});
  EXPECT_TRUE(test::tensors_close(changed.logits.narrow(0, 0, 5), alone.logits.narrow(0, 0, 5), 0, 0));
  EXPECT_FALSE(test::tensors_close(changed.logits.narrow(0, 5, 1), alone.logits.narrow(0, 5, 1), 1e-6, 1e-6));
}

TEST(Model, MemoriesHoldExactlyTheExpectedSlots) {
  auto o = tiny();  // mem 8, cmem 4, rate 2, seq 8
  PluginHost host;
  host.load_directories({CTLAB_TEST_PLUGIN_DIR});
  RunConfig cfg;
  cfg.model = o;
  auto resolved = resolve_plugins(host, cfg);  // mean_pool + none, the real plugins
  torch::manual_seed(0);
  auto model = build_model(cfg, host, resolved);
  model->eval();
  torch::NoGradGuard g;
  const double scale = std::sqrt(16.0);
  std::vector<torch::Tensor> inputs0;  // layer 0's inputs are the scaled embeddings
  test::ModelStream stream(model);
  for (int seg = 0; seg < 5; ++seg) {
    auto x = tokens(8, 2, 32, seg);
    stream(x, x);
    inputs0.push_back(model->embedding(x) * scale);
    auto all = torch::cat(inputs0, 0);  // [8*(seg+1), 2, 16]
    const int64_t total = all.size(0);
    for (const auto& lm : stream.memory) {
      EXPECT_LE(lm.mem.size(0), o.mem_len);
      EXPECT_FALSE(lm.mem.requires_grad());
      if (lm.cmem.defined()) {
        EXPECT_LE(lm.cmem.size(0), o.cmem_len);
        EXPECT_FALSE(lm.cmem.requires_grad());
      }
    }
    const auto& m0 = stream.memory[0];
    EXPECT_TRUE(test::tensors_close(m0.mem, all.narrow(0, total - 8, 8), 1e-6, 1e-6)) << "segment " << seg;
    const int64_t evicted = total - 8;
    if (evicted == 0) {
      EXPECT_FALSE(m0.cmem.defined() && m0.cmem.size(0) > 0);
      continue;
    }
    auto pooled = all.narrow(0, 0, evicted).reshape({evicted / 2, 2, 2, 16}).mean(1);
    auto expect =
        pooled.narrow(0, std::max<int64_t>(0, pooled.size(0) - 4), std::min<int64_t>(4, pooled.size(0)));
    EXPECT_TRUE(test::tensors_close(m0.cmem, expect, 1e-5, 1e-6)) << "segment " << seg;
  }
}

TEST(Model, ShortLastSegmentCompressesWholeBlocksOnly) {
  auto o = tiny();
  torch::manual_seed(0);
  CompressiveTransformer model(o, setup_with<MeanPoolLocal>(o));
  model->eval();
  torch::NoGradGuard g;
  auto first = model->forward(tokens(8, 2, 32, 1), tokens(8, 2, 32, 2), {});
  auto out =
      model->forward(tokens(5, 2, 32, 3), tokens(5, 2, 32, 4), first.memory);  // evicts 5 slots, rate 2
  ASSERT_EQ(out.compression.size(), 2u);
  EXPECT_EQ(out.compression[0].old.size(0), 4);
  EXPECT_EQ(out.memory[0].cmem.size(0), 2);
  EXPECT_EQ(out.memory[0].mem.size(0), 8);
  EXPECT_EQ(first.memory[0].mem.size(0), 8) << "the memories passed in were changed";
  EXPECT_FALSE(first.memory[0].cmem.defined()) << "the memories passed in were changed";
}

TEST(Model, EvaluatesWithLargerMemoryAndClampLenAfterTraining) {
  auto o = tiny();
  o.dropout = 0.1;
  torch::manual_seed(0);
  CompressiveTransformer model(o, setup_with<MeanPoolLocal>(o));
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  test::ModelStream train(model);
  for (int step = 0; step < 10; ++step) {
    auto x = tokens(8, 4, 32, step);
    auto loss = train(x, x.roll(-1, 0)).nll.mean();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  model->eval();
  const MemoryConfig longer{64, 32, 16, true};
  model->check_memory_config(longer);
  ForwardOptions fo;
  fo.memory_config = &longer;
  torch::NoGradGuard g;
  int64_t seen_mlen = 0;
  Memories memory;
  for (int seg = 0; seg < 18; ++seg) {  // 17 segments fill memory (64) and compressed memory (32 x 2)
    auto x = tokens(8, 4, 32, 100 + seg);
    auto out = model->forward(x, x.roll(-1, 0), memory, fo);
    memory = out.memory;
    ASSERT_TRUE(torch::isfinite(out.nll).all().item<bool>()) << "segment " << seg;
    seen_mlen = out.mem_slots + out.cmem_slots;
  }
  EXPECT_EQ(seen_mlen, 64 + 32);
  // The training settings are untouched: the training stream goes on with its own sizes.
  EXPECT_EQ(model->memory_config().mem_len, 8);
  auto next = train(tokens(8, 4, 32, 200), tokens(8, 4, 32, 201));
  EXPECT_EQ(next.mem_slots + next.cmem_slots, 8 + 4);
  EXPECT_THROW(model->check_memory_config({7, 8, -1, false}), Error);  // 7 % 2 != 0
}

TEST(Model, AttentionCaptureOnlyOnRequest) {
  auto o = tiny();
  torch::manual_seed(0);
  CompressiveTransformer model(o, setup_with<MeanPoolLocal>(o));
  model->eval();
  torch::NoGradGuard g;
  test::ModelStream stream(model);
  for (int seg = 0; seg < 3; ++seg) {
    auto plain = stream(tokens(8, 2, 32, seg), tokens(8, 2, 32, seg + 1), {false, false, false});
    EXPECT_TRUE(plain.attention.empty());
    stream(tokens(8, 2, 32, seg), tokens(8, 2, 32, seg + 1));
  }
  auto out = stream(tokens(8, 2, 32, 9), tokens(8, 2, 32, 8), {true, true, false});
  ASSERT_EQ(out.attention.size(), 2u);
  EXPECT_EQ(out.cmem_slots, 4);
  EXPECT_EQ(out.mem_slots, 8);
  EXPECT_EQ(out.attention[1].sizes(), (std::vector<int64_t>{2, 2, 8, 20}));
  EXPECT_TRUE(test::tensors_close(out.attention[0].sum(-1), torch::ones({2, 2, 8}), 1e-5, 1e-6));
}

TEST(Model, UsageIsTheAttentionMassReceivedInMemory) {
  auto o = tiny();  // mem 8 = seq 8: each slot spends exactly one segment in memory
  torch::manual_seed(0);
  CompressionSetup s;
  s.fn_id = "usage@1";
  s.needs_usage = true;
  std::vector<std::shared_ptr<UsageRecorder>> recs;
  for (int i = 0; i < o.n_layer; ++i) {
    recs.push_back(std::make_shared<UsageRecorder>());
    s.fns.push_back(recs.back());
  }
  CompressiveTransformer model(o, s);
  model->eval();
  torch::NoGradGuard g;
  test::ModelStream stream(model);
  stream(tokens(8, 2, 32, 1), tokens(8, 2, 32, 2));
  auto seg2 = stream(tokens(8, 2, 32, 3), tokens(8, 2, 32, 4), {true, true, false});
  ASSERT_EQ(recs[1]->seen.size(), 1u);  // segment 2 evicted segment 1's slots
  // Slots of segment 1 sat in memory during segment 2 at key positions [0, 8).
  auto expect = seg2.attention[1].narrow(-1, 0, 8).mean({1, 2}).t();  // [8, B]
  EXPECT_TRUE(test::tensors_close(recs[1]->seen[0], expect, 1e-5, 1e-7));
  EXPECT_GT(recs[1]->seen[0].sum().item<float>(), 0.0f);
}

TEST(Model, ContentAttentionGivesNoGradientToTheTransformer) {
  auto o = tiny();
  torch::manual_seed(0);
  CompressionSetup s = setup_with<Linear>(o, o.d_model);
  s.loss_id = "recon@1";
  s.loss_mode = LossMode::Auxiliary;
  for (int i = 0; i < o.n_layer; ++i) s.losses.push_back(std::make_shared<ReconstructionLoss>());
  CompressiveTransformer model(o, s);
  EXPECT_EQ(model->compression_parameters().size(), 2u);
  EXPECT_EQ(model->transformer_parameters().size() + 2, model->parameters().size());
  test::ModelStream stream(model);
  stream(tokens(8, 2, 32, 1), tokens(8, 2, 32, 2));
  auto out = stream(tokens(8, 2, 32, 3), tokens(8, 2, 32, 4));
  ASSERT_EQ(out.compression.size(), 2u);
  auto losses = model->compression_losses(out.compression);
  ASSERT_EQ(losses.size(), 2u);
  model->zero_grad();
  (losses[0] + losses[1]).backward();
  for (const auto& p : model->transformer_parameters()) {
    EXPECT_TRUE(p.requires_grad());
    EXPECT_TRUE(!p.grad().defined() || p.grad().abs().max().item<float>() == 0.0f);
  }
  for (const auto& p : model->compression_parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_GT(p.grad().abs().max().item<float>(), 0.0f);
  }
  // The task loss, in turn, never reaches f_c (its output enters memory detached).
  model->zero_grad();
  auto next = stream(tokens(8, 2, 32, 5), tokens(8, 2, 32, 6));
  next.nll.mean().backward();
  for (const auto& p : model->compression_parameters())
    EXPECT_TRUE(!p.grad().defined() || p.grad().abs().max().item<float>() == 0.0f);
}

TEST(Model, KeepGraphLetsTheTaskLossReachTheCompressionFunction) {
  auto o = tiny();
  torch::manual_seed(0);
  CompressiveTransformer model(o, setup_with<Linear>(o, o.d_model));
  ForwardOptions keep;
  keep.keep_graph = true;
  test::ModelStream stream(model);
  stream(tokens(8, 2, 32, 1), tokens(8, 2, 32, 2), keep);
  stream(tokens(8, 2, 32, 3), tokens(8, 2, 32, 4), keep);  // compresses segment 1
  EXPECT_TRUE(stream.memory[0].cmem.requires_grad());
  auto out = stream(tokens(8, 2, 32, 5), tokens(8, 2, 32, 6), keep);
  out.nll.mean().backward();
  for (const auto& p : model->compression_parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_GT(p.grad().abs().max().item<float>(), 0.0f);
  }
  for (const auto& lm : detached(stream.memory)) EXPECT_FALSE(lm.cmem.requires_grad());
}

TEST(Model, PreNormAndUntiedOutputAndAdaptiveSoftmaxRun) {
  auto o = tiny();
  o.norm = Norm::Pre;
  o.tie_weight = false;
  o.untie_r = false;
  torch::manual_seed(0);
  CompressiveTransformer pre(o, setup_with<MeanPoolLocal>(o));
  auto out = pre->forward(tokens(8, 2, 32, 1), tokens(8, 2, 32, 2), {});
  EXPECT_TRUE(torch::isfinite(out.nll).all().item<bool>());
  EXPECT_TRUE(pre->final_ln);
  o.cutoffs = {8, 16};
  CompressiveTransformer ada(o, setup_with<MeanPoolLocal>(o));
  auto a = ada->forward(tokens(8, 2, 32, 1), tokens(8, 2, 32, 2), {}).nll;
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{8, 2}));
  EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
  EXPECT_GT(a.min().item<float>(), 0.0f);
}

TEST(Model, BadCompressionOutputFailsNamingPluginAndLayer) {
  class Bad : public CompressionFn {
   public:
    torch::Tensor forward(const CompressionInput& in) override { return in.old; }
  };
  auto o = tiny();
  CompressiveTransformer model(o, setup_with<Bad>(o));
  torch::NoGradGuard g;
  const auto first = model->forward(tokens(8, 2, 32, 1), tokens(8, 2, 32, 2), {});
  try {
    model->forward(tokens(8, 2, 32, 3), tokens(8, 2, 32, 4), first.memory);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("compression function test@1 at layer 0 returned the wrong shape"),
              std::string::npos)
        << e.what();
  }
}

// bf16 autocast (on CUDA in practice; on the CPU here, where LibTorch has the same
// autocast): a learned function's products come back in bf16 while memory is fp32; the
// compressed memory keeps fp32, so the host's dtype check passes and no error is raised.
TEST(Model, LearnedCompressionUnderBf16AutocastKeepsTheMemoryDtype) {
  auto o = tiny();
  PluginHost host;
  host.load_directories({CTLAB_TEST_PLUGIN_DIR});
  RunConfig cfg;
  cfg.model = o;
  cfg.compression.name = "conv1d";
  cfg.compression_loss.name = "attention_reconstruction";
  auto resolved = resolve_plugins(host, cfg);
  torch::manual_seed(0);
  auto model = build_model(cfg, host, resolved);
  compat::set_autocast(at::kCPU, true, at::kBFloat16);
  test::ModelStream stream(model);
  for (int seg = 0; seg < 3; ++seg) {
    auto x = tokens(8, 2, 32, seg);
    auto out = stream(x, x);
    EXPECT_TRUE(torch::isfinite(out.nll).all().item<bool>()) << "segment " << seg;
  }
  compat::set_autocast(at::kCPU, false, at::kBFloat16);
  at::autocast::clear_cache();
  const auto& m0 = stream.memory[0];
  ASSERT_TRUE(m0.cmem.defined());
  EXPECT_EQ(m0.cmem.scalar_type(), torch::kFloat32);
  EXPECT_EQ(m0.cmem.size(0), 4);
}

// Under bf16 autocast the feed-forward and output biases stay in the computation (the
// feed-forward casts them to the product's dtype, the output head adds its bias in float32)
// and get gradients: logits and bias gradients track fp32 within bf16's rounding, and far
// closer than the biases' own size, for the tied output (out_bias) and the untied one.
TEST(Model, Bf16AutocastKeepsTheBiasesOfFeedForwardAndOutput) {
  for (bool tied : {true, false}) {
    auto o = tiny();
    o.tie_weight = tied;
    torch::manual_seed(0);
    CompressiveTransformer model(o, setup_with<MeanPoolLocal>(o));
    model->eval();
    std::vector<torch::Tensor> biases;
    {
      torch::NoGradGuard g;
      for (auto& p : model->named_parameters()) {
        const auto& name = p.key();
        if (name.find("ff1.bias") != std::string::npos || name.find("ff2.bias") != std::string::npos ||
            name == "out_bias" || name == "out.bias") {
          p.value().normal_(0.0, 0.5);
          biases.push_back(p.value());
        }
      }
    }
    ASSERT_EQ(biases.size(), static_cast<size_t>(2 * o.n_layer + 1)) << "tied " << tied;
    ForwardOptions fo;
    fo.want_logits = true;
    auto run = [&](bool bf16) {
      model->zero_grad();
      compat::set_autocast(at::kCPU, bf16, at::kBFloat16);
      auto out = model->forward(tokens(8, 2, 32, 1), tokens(8, 2, 32, 2), {}, fo);
      compat::set_autocast(at::kCPU, false, at::kBFloat16);
      at::autocast::clear_cache();
      out.nll.mean().backward();
      std::vector<torch::Tensor> grads;
      for (const auto& b : biases) {
        EXPECT_TRUE(b.grad().defined()) << "tied " << tied;
        grads.push_back(b.grad().defined() ? b.grad().clone() : torch::zeros_like(b));
      }
      return std::make_pair(out.logits.detach(), grads);
    };
    const auto [l32, g32] = run(false);
    const auto [l16, g16] = run(true);
    EXPECT_EQ(l16.scalar_type(), torch::kFloat32) << "tied " << tied;
    EXPECT_LT((l16 - l32).abs().max().item<double>(), 0.1) << "tied " << tied;
    EXPECT_GT((l16 - l32).abs().max().item<double>(), 0.0) << "autocast did not run";
    for (size_t i = 0; i < g32.size(); ++i) {
      const double scale = g32[i].abs().max().item<double>();
      EXPECT_GT(scale, 0.0) << "bias " << i;
      EXPECT_LT((g16[i] - g32[i]).abs().max().item<double>(), 0.1 * scale + 1e-4)
          << "tied " << tied << " bias " << i;
    }
  }
}
