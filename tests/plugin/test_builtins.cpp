// The built-in plugins in the model: gradient isolation (plugins/README.md), their invariants,
// and each one training from the command line with its natural loss.
#include <gtest/gtest.h>

#include <algorithm>

#include "config/params.h"
#include "config/plugin_binding.h"
#include "model/factory.h"
#include "store/run_store.h"
#include "test_util.h"

using namespace ctlab;

namespace {

struct Built {
  std::unique_ptr<PluginHost> host;
  RunConfig cfg;
  CompressiveTransformer model{nullptr};
};

Built build(const std::string& fn, const std::string& loss, std::vector<std::string> extra = {}) {
  Built b;
  b.host = std::make_unique<PluginHost>();
  b.host->load_directories({CTLAB_TEST_PLUGIN_DIR});
  std::vector<std::string> sets = {"vocab_size=32", "d_model=16",        "n_head=2",
                                   "n_layer=2",     "d_ff=32",           "seq_len=8",
                                   "mem_len=8",     "cmem_len=4",        "cmem_rate=2",
                                   "dropout=0",     "compression=" + fn, "compression_loss=" + loss};
  sets.insert(sets.end(), extra.begin(), extra.end());
  b.cfg = load_run_config("", sets);
  auto r = resolve_plugins(*b.host, b.cfg);
  torch::manual_seed(0);
  b.model = build_model(b.cfg, *b.host, r);
  return b;
}

torch::Tensor tokens(int seed) {
  torch::manual_seed(seed);
  return torch::randint(32, {8, 2}, torch::kLong);
}

std::vector<torch::Tensor> grads(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> g;
  for (const auto& p : params) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return g;
}

bool contains(const std::string& h, const std::string& n) { return h.find(n) != std::string::npos; }

}  // namespace

TEST(Isolation, TaskLossTrainsTheTransformerAndCompressionLossTrainsFc) {
  auto b = build("conv1d", "attention_reconstruction");
  auto& m = b.model;
  const auto memory = m->forward(tokens(1), tokens(2), {}).memory;  // the next segment compresses
  auto run = [&](bool task, bool comp) {
    m->zero_grad();
    auto out = m->forward(tokens(3), tokens(4), memory);
    torch::Tensor total = torch::zeros({});
    if (task) total = total + out.nll.mean();
    if (comp)
      for (auto& l : m->compression_losses(out.compression)) total = total + l;
    total.backward();
    return std::make_pair(grads(m->transformer_parameters()), grads(m->compression_parameters()));
  };
  auto both = run(true, true), task = run(true, false), comp = run(false, true);
  ASSERT_EQ(both.second.size(), 4u);  // conv weight + bias, two layers
  for (size_t i = 0; i < both.first.size(); ++i)
    EXPECT_TRUE(test::tensors_close(both.first[i], task.first[i], 1e-6, 1e-9))
        << "transformer parameter " << i;
  for (size_t i = 0; i < both.second.size(); ++i) {
    EXPECT_TRUE(test::tensors_close(both.second[i], comp.second[i], 1e-6, 1e-9)) << "f_c parameter " << i;
    EXPECT_EQ(task.second[i].abs().sum().item<double>(), 0.0) << "the task loss reached f_c";
    EXPECT_GT(comp.second[i].abs().sum().item<double>(), 0.0);
  }
}

TEST(Isolation, LossesReuseTheForwardProjectionsExactly) {
  // The auxiliary loss gets the forward pass's W_q h and W_k, W_v old; its value and f_c's
  // gradients equal those of the plain callback that recomputes them, post- and pre-LN,
  // while the memory is filling (old includes rows of h) and when it is full.
  for (const char* norm : {"post", "pre"})
    for (const char* mem_len : {"8", "4"}) {  // with 4 the first segment evicts rows of h itself
      auto b = build("conv1d", "attention_reconstruction",
                     {std::string("norm=") + norm, std::string("mem_len=") + mem_len});
      auto& m = b.model;
      m->to(torch::kFloat64);
      int events = 0;
      Memories memory;
      for (int seg = 0; seg < 3; ++seg) {
        auto out = m->forward(tokens(10 + seg), tokens(20 + seg), memory);
        memory = out.memory;
        events += static_cast<int>(out.compression.size());
        auto shared = m->compression_losses(out.compression);
        ASSERT_EQ(shared.size(), out.compression.size());
        for (size_t i = 0; i < shared.size(); ++i) {
          const auto& e = out.compression[i];
          ASSERT_TRUE(e.h_q.defined() && e.old_k.defined() && e.old_v.defined());
          auto plain = m->content_attention(e.layer);
          auto expected = (plain(e.h, e.old) - plain(e.h, e.compressed)).pow(2).mean();
          SCOPED_TRACE(std::string(norm) + " mem_len " + mem_len + " segment " + std::to_string(seg) +
                       " layer " + std::to_string(e.layer));
          EXPECT_TRUE(test::tensors_close(shared[i], expected, 1e-10, 1e-14));
          m->zero_grad();
          shared[i].backward({}, /*retain_graph=*/true);
          auto g_shared = grads(m->compression_parameters());
          m->zero_grad();
          expected.backward({}, true);
          auto g_plain = grads(m->compression_parameters());
          for (size_t j = 0; j < g_plain.size(); ++j)
            EXPECT_TRUE(test::tensors_close(g_shared[j], g_plain[j], 1e-9, 1e-14));
        }
      }
      EXPECT_EQ(events, std::string(mem_len) == "8" ? 4 : 6);  // 2 layers x segments that evicted
    }
}

TEST(Isolation, BpttLetsTheTaskLossReachFc) {
  auto b = build("conv1d", "bptt");
  auto& m = b.model;
  ASSERT_EQ(m->compression().loss_mode, LossMode::Bptt);
  ForwardOptions keep;
  keep.keep_graph = true;
  const auto first = m->forward(tokens(1), tokens(2), {}, keep);
  auto compressing = m->forward(tokens(3), tokens(4), first.memory, keep);
  EXPECT_FALSE(compressing.compression.empty());
  m->zero_grad();
  m->forward(tokens(5), tokens(6), compressing.memory, keep).nll.mean().backward();
  for (const auto& g : grads(m->compression_parameters())) EXPECT_GT(g.abs().sum().item<double>(), 0.0);
}

TEST(Invariants, MaxPoolIsAtLeastMeanPoolAndPoolsOfConstantsAreConstant) {
  PluginHost host;
  host.load_directories({CTLAB_TEST_PLUGIN_DIR});
  PluginContext ctx;
  ctx.d_model = 5;
  auto mx = host.create(host.compression_fn("max_pool"), ctx),
       mean = host.create(host.compression_fn("mean_pool"), ctx);
  torch::manual_seed(0);
  for (int64_t c : {1, 2, 3, 4}) {
    CompressionInput in;
    in.old = torch::randn({12, 3, 5});
    in.rate = c;
    EXPECT_TRUE((mx->forward(in) >= mean->forward(in) - 1e-6).all().item<bool>()) << "rate " << c;
    in.old = torch::full({12, 3, 5}, -0.75);
    EXPECT_TRUE(test::tensors_close(mean->forward(in), torch::full({12 / c, 3, 5}, -0.75)));
    EXPECT_TRUE(test::tensors_close(mx->forward(in), torch::full({12 / c, 3, 5}, -0.75)));
  }
}

TEST(Invariants, Conv1dIsTheStridedConvolutionOfItsWeights) {
  PluginHost host;
  host.load_directories({CTLAB_TEST_PLUGIN_DIR});
  for (int64_t c : {1, 2, 3, 4}) {
    PluginContext ctx;
    ctx.d_model = 5;
    ctx.rate = c;
    auto conv = host.create(host.compression_fn("conv1d"), ctx);
    torch::manual_seed(c);
    CompressionInput in;
    in.old = torch::randn({12, 3, 5});
    in.rate = c;
    auto params = conv->named_parameters();
    auto expected = torch::conv1d(in.old.permute({1, 2, 0}), params["conv.weight"], params["conv.bias"], c)
                        .permute({2, 0, 1});
    EXPECT_TRUE(test::tensors_close(conv->forward(in), expected, 1e-5, 1e-6)) << "rate " << c;
  }
}

TEST(Invariants, AttentionReconstructionIsZeroForRateOneIdentity) {
  // At rate 1, mean pooling is the identity: f_c(old) = old, so nothing is lost.
  auto b = build("mean_pool", "none", {"cmem_rate=1"});
  auto host = std::move(b.host);
  const auto& loss_entry = host->compression_loss("attention_reconstruction");
  PluginContext ctx;
  ctx.params = resolve_plugin_params(loss_entry.spec.params, {}, "compression_loss.", loss_entry.id);
  auto loss = host->create(loss_entry, ctx);
  auto& m = b.model;
  auto out = m->forward(tokens(3), tokens(4), m->forward(tokens(1), tokens(2), {}).memory);
  ASSERT_FALSE(out.compression.empty());
  for (const auto& e : out.compression) {
    LossInput in;
    in.h = e.h;
    in.old = e.old;
    in.compressed = e.compressed;
    in.rate = 1;
    in.content_attention = m->content_attention(e.layer);
    EXPECT_EQ(loss->forward(in).item<double>(), 0.0) << "layer " << e.layer;
    // ...and positive once information is lost.
    in.compressed = e.compressed * 0.5;
    EXPECT_GT(loss->forward(in).item<double>(), 0.0);
  }
}

TEST(Invariants, MostUsedKeepsTheMostAttendedSlotsInTimeOrder) {
  PluginHost host;
  host.load_directories({CTLAB_TEST_PLUGIN_DIR});
  auto fn = host.create(host.compression_fn("most_used"), PluginContext{});
  CompressionInput in;
  in.old = torch::arange(6 * 2 * 1, torch::kFloat32).view({6, 2, 1});  // slot value = 2*t + b
  in.rate = 2;
  in.usage =
      torch::tensor({{0.1f, 0.9f}, {0.8f, 0.1f}, {0.2f, 0.3f}, {0.7f, 0.8f}, {0.3f, 0.2f}, {0.6f, 0.3f}});
  auto out = fn->forward(in);
  // stream 0: most used t = 1, 3, 5; stream 1: t = 0, 3, then the older of the tied 0.3s (t = 2).
  auto expect = torch::tensor({{2.f, 1.f}, {6.f, 5.f}, {10.f, 7.f}}).view({3, 2, 1});
  EXPECT_TRUE(test::tensors_close(out, expect, 0, 0)) << out.view({3, 2});
}

TEST(Invariants, BadPluginParametersAreConfigurationErrors) {
  PluginHost host;
  host.load_directories({CTLAB_TEST_PLUGIN_DIR});
  auto err = [&](std::vector<std::string> sets) {
    return test::error_of([&] {
      auto cfg = load_run_config("", sets);
      resolve_plugins(host, cfg);
    });
  };
  EXPECT_NE(
      err({"compression=dilated_conv@1", "compression_loss=attention_reconstruction", "compression.kernel=4"})
          .find("kernel = 4 must be odd"),
      std::string::npos);
  EXPECT_NE(
      err({"compression=conv1d", "compression_loss=attention_reconstruction", "compression_loss.reduce=l1"})
          .find("bad value for 'compression_loss.reduce' = 'l1': plugin attention_reconstruction@1 expects "
                "one of mse, l2"),
      std::string::npos);
  EXPECT_NE(
      err({"compression=conv1d", "compression_loss=none"}).find("set allow_untrained_compression = true"),
      std::string::npos);
  EXPECT_EQ(err({"compression=conv1d", "compression_loss=none", "allow_untrained_compression=true"}),
            "<no error>");
  EXPECT_NE(
      err({"compression=max_pool", "compression_loss=autoencoding"}).find("expected compression_loss = none"),
      std::string::npos);
  // A position map that does not exist is named with its key, and the maps that do are listed.
  const auto bad_map = err({"compression=mean_pool", "cmem_positions=true_distanse"});
  EXPECT_NE(bad_map.find("key 'cmem_positions' = 'true_distanse': no position map 'true_distanse'"),
            std::string::npos)
      << bad_map;
  EXPECT_NE(bad_map.find("true_distance@1"), std::string::npos) << bad_map;
}

// Each built-in function trains from the command line on the default corpus with its
// natural loss; an auxiliary compression loss decreases.
class TrainsFromCli : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(TrainsFromCli, TaskLossAndCompressionLossDecrease) {
  const auto& [fn, loss] = GetParam();
  test::TempDir dir;
  auto ini = dir.file("run.ini",
                      "experiment = builtins\n[model]\nn_layer = 2\nd_model = 32\nn_head = 2\nd_ff = 64\n"
                      "seq_len = 16\nmem_len = 16\ncmem_len = 8\ncmem_rate = 2\ndropout = 0\n"
                      "[train]\nbatch_size = 4\nmax_steps = 80\nwarmup_steps = 5\nlr = 0.003\n"
                      "log_every = 10\ncheckpoint_every = 1000\nthreads = 1\n[eval]\neval_segments = 5\n");
  auto r = test::run_ctlab("train " + ini + " --results " + dir.path() + " --set compression=" + fn +
                           " --set compression_loss=" + loss);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  RunStore s(dir.path() + "/ctlab.sqlite");
  auto runs = s.runs();
  ASSERT_EQ(runs.size(), 1u);
  // An unversioned name resolves to the highest version found.
  const std::string id = fn.find('@') != std::string::npos ? fn
                         : fn == "dilated_conv"            ? fn + "@2"
                                                           : fn + "@1";
  EXPECT_TRUE(contains(runs[0].config, "compression = " + id)) << runs[0].config;
  auto task = s.metrics(runs[0].run_id, "train/loss");
  ASSERT_GE(task.size(), 8u);
  EXPECT_LT(task.back().value, task.front().value - 0.5) << fn << " + " << loss;
  auto closs = s.metrics(runs[0].run_id, "train/compression_loss");
  std::vector<MetricRow> total;
  for (const auto& m : closs)
    if (m.key == "train/compression_loss") total.push_back(m);
  if (loss == "attention_reconstruction" || loss == "autoencoding") {
    // The transformer's attention changes while f_c learns, so single windows are noisy:
    // compare the mean of the first half of the run with the mean of the second.
    ASSERT_GE(total.size(), 8u);
    double first = 0, second = 0;
    const size_t half = total.size() / 2;
    for (size_t i = 0; i < total.size(); ++i) (i < half ? first : second) += total[i].value;
    first /= half;
    second /= total.size() - half;
    EXPECT_LT(second, first) << fn << " + " << loss << ": compression loss did not decrease";
    EXPECT_EQ(closs.size(), 3 * total.size());  // the total and one row per layer
  } else {
    EXPECT_TRUE(total.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Builtin, TrainsFromCli,
                         ::testing::Values(std::make_pair("mean_pool", "none"),
                                           std::make_pair("max_pool", "none"),
                                           std::make_pair("most_used", "none"),
                                           std::make_pair("conv1d", "attention_reconstruction"),
                                           std::make_pair("dilated_conv@1", "attention_reconstruction"),
                                           std::make_pair("dilated_conv", "attention_reconstruction"),
                                           std::make_pair("conv1d", "autoencoding"),
                                           std::make_pair("conv1d", "bptt")),
                         [](const auto& info) {
                           auto name = info.param.first + "_" + info.param.second;
                           std::replace(name.begin(), name.end(), '@', '_');
                           return name;
                         });
