// Position maps (the third plugin kind) and slot timestamps: every built-in map against a
// float64 loop over queries and keys, `slot`'s written-out term against the host's
// contiguous path, gradients against central differences, timestamps through the memory
// update, and a plugin built against plugin API 1 under every map.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "builtin_plugins.h"
#include "config/plugin_binding.h"
#include "model/attention.h"
#include "model/model.h"
#include "model_stream.h"
#include "test_util.h"

using namespace ctlab;

namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

struct Case {
  int64_t L, n_cm, mem, B, H, D, rate, clamp;
};

// The position term's distance and weights for compressed key j of query i, stream b.
struct CmTerm {
  std::function<double(int64_t i, int64_t j, int64_t b)> distance;
  torch::Tensor w_r;     // [H*Dh, D]
  torch::Tensor v_bias;  // [H, Dh]
};

std::vector<double> sinusoid(double d, int64_t D, int64_t clamp) {
  if (clamp >= 0) d = std::min(d, static_cast<double>(clamp));
  std::vector<double> R(D);
  for (int64_t c = 0; c < D / 2; ++c) {
    const double f = std::pow(10000.0, -2.0 * c / D);
    R[c] = std::sin(d * f);
    R[c + D / 2] = std::cos(d * f);
  }
  return R;
}

// Attention written out as loops: (q+u).k for every key; (q+v).W_r R(mlen + i - j) for
// memory and segment keys, and the map's term for the first n_cm keys.
torch::Tensor naive(RelMultiHeadAttnImpl& a, const torch::Tensor& h, const torch::Tensor& kv, int64_t n_cm,
                    int64_t clamp, const CmTerm& cm) {
  const int64_t L = h.size(0), B = h.size(1), D = h.size(2), klen = kv.size(0), mlen = klen - L;
  const int64_t H = a.options().n_head(), Dh = D / H;
  auto Wkv = a.kv_net->weight;
  auto Wk = Wkv.narrow(0, 0, H * Dh), Wv = Wkv.narrow(0, H * Dh, H * Dh);
  auto out = torch::zeros({L, B, H * Dh}, kF64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t hd = 0; hd < H; ++hd) {
      auto sl = [&](const torch::Tensor& W) { return W.narrow(0, hd * Dh, Dh); };
      for (int64_t i = 0; i < L; ++i) {
        auto q = torch::mv(sl(a.q_net->weight), h[i][b]);
        std::vector<double> score(klen, -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j <= mlen + i; ++j) {
          const bool compressed = j < n_cm;
          const double d = compressed ? cm.distance(i, j, b) : static_cast<double>(mlen + i - j);
          auto R = torch::tensor(sinusoid(d, D, clamp), kF64);
          auto r = torch::mv(sl(compressed ? cm.w_r : a.r_net->weight), R);
          auto v = compressed ? cm.v_bias[hd] : a.r_r_bias[hd];
          auto k = torch::mv(sl(Wk), kv[j][b]);
          score[j] = ((q + a.r_w_bias[hd]).dot(k) + (q + v).dot(r)).item<double>() / std::sqrt(double(Dh));
          mx = std::max(mx, score[j]);
        }
        double z = 0;
        for (double s : score) z += std::isinf(s) ? 0 : std::exp(s - mx);
        auto acc = torch::zeros({Dh}, kF64);
        for (int64_t j = 0; j < klen; ++j)
          if (!std::isinf(score[j])) acc += std::exp(score[j] - mx) / z * torch::mv(sl(Wv), kv[j][b]);
        out[i][b].narrow(0, hd * Dh, Dh).copy_(acc);
      }
    }
  return torch::matmul(out, a.o_net->weight.t());
}

std::shared_ptr<PositionMap> make_map(const std::string& name, const Case& c) {
  PluginContext ctx;
  ctx.d_model = c.D;
  ctx.n_head = c.H;
  ctx.d_head = c.D / c.H;
  ctx.rate = c.rate;
  auto map = test::host().create(test::host().position_map(name), ctx);
  map->to(torch::kFloat64);
  return map;
}

struct Inputs {
  RelMultiHeadAttn attn{nullptr};
  torch::Tensor h, mem, kv, r, mask;  // kv = concat(mem, h)
  CompressedPositions pos;
};

// Random float64 attention over n_cm compressed + mem memory keys + the segment, with
// stream times: the segment starts at 1000 + 37 b, memory just before it, compressed slots
// spread over the c tokens before memory with a per-stream jitter (as most_used gives).
Inputs make_inputs(const Case& c, PositionMap* map, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  Inputs in;
  in.attn = RelMultiHeadAttn(RelAttentionOptions(c.D, c.H).init_std(0.3));
  in.attn->to(torch::kFloat64);
  in.attn->eval();
  {
    torch::NoGradGuard g;
    in.attn->r_w_bias.normal_(0, 0.5);
    in.attn->r_r_bias.normal_(0, 0.5);
    for (auto& p : map->parameters()) p.normal_(0, 0.3);
  }
  const int64_t mlen = c.n_cm + c.mem, klen = mlen + c.L;
  in.h = torch::randn({c.L, c.B, c.D}, kF64);
  in.mem = torch::randn({mlen, c.B, c.D}, kF64);
  in.kv = torch::cat({in.mem, in.h}, 0);
  in.r = sinusoid_positions(klen, c.D, c.clamp, kF64);
  in.mask = causal_memory_mask(c.L, mlen, 0, torch::kCPU);
  auto start = 1000.0 + 37.0 * torch::arange(c.B, kF64);
  in.pos.map = map;
  in.pos.input.t_query = start.unsqueeze(0) + torch::arange(c.L, kF64).unsqueeze(1);
  auto block = torch::arange(c.n_cm, kF64).unsqueeze(1) * c.rate - c.rate * c.n_cm - c.mem;
  auto jitter = torch::randint(c.rate, {c.n_cm, c.B}, kF64);
  in.pos.input.t_slot = start.unsqueeze(0) + block + jitter;
  in.pos.n_cm = c.n_cm;
  in.pos.input.mem_slots = c.mem;
  in.pos.input.rate = c.rate;
  in.pos.input.clamp_len = c.clamp;
  return in;
}

CmTerm reference_term(const std::string& name, const Inputs& in, PositionMap* map) {
  const auto tq = in.pos.input.t_query, ts = in.pos.input.t_slot;
  const double c = static_cast<double>(in.pos.input.rate);
  const int64_t n_cm = in.pos.n_cm, mlen = n_cm + in.pos.input.mem_slots;
  CmTerm t{nullptr, in.attn->r_net->weight, in.attn->r_r_bias};
  if (name == "slot") {
    t.distance = [mlen](int64_t i, int64_t j, int64_t) { return static_cast<double>(mlen + i - j); };
  } else if (name == "true_distance") {
    t.distance = [tq, ts](int64_t i, int64_t j, int64_t b) {
      return tq[i][b].item<double>() - ts[j][b].item<double>();
    };
  } else if (name == "aligned") {
    t.distance = [tq, ts, c](int64_t i, int64_t j, int64_t b) {
      return c * std::floor(tq[i][b].item<double>() / c) - c * std::floor(ts[j][b].item<double>() / c);
    };
  } else if (name == "deepmind") {
    t.distance = [n_cm](int64_t i, int64_t j, int64_t) { return static_cast<double>(i + n_cm - j); };
    t.w_r = map->named_parameters()["w_kr"];
    t.v_bias = map->named_parameters()["v_bias"];
  }
  return t;
}

const std::vector<std::string> kMaps = {"slot", "true_distance", "aligned", "deepmind"};
const std::vector<Case> kCases = {Case{4, 3, 2, 2, 2, 8, 2, -1}, Case{5, 4, 4, 1, 2, 12, 2, 9},
                                  Case{3, 2, 6, 2, 4, 16, 3, -1}, Case{6, 5, 4, 2, 1, 8, 4, 20},
                                  Case{4, 1, 0, 1, 2, 8, 1, -1}};

}  // namespace

TEST(PositionMaps, BuiltInsAreRegisteredAndOnlySlotIsContiguous) {
  for (const auto& name : kMaps) {
    const auto& e = test::host().position_map(name);
    EXPECT_EQ(e.id, name + "@1");
    EXPECT_EQ(e.spec.contiguous, name == "slot") << name;
  }
  EXPECT_THROW(test::host().position_map("true_distanse"), Error);
}

TEST(PositionMaps, EveryMapMatchesTheFloat64Reference) {
  for (const auto& name : kMaps)
    for (const auto& c : kCases) {
      auto map = make_map(name, c);
      auto in = make_inputs(c, map.get(), c.L * 31 + c.n_cm);
      torch::NoGradGuard g;
      auto fast = in.attn->forward(in.h, in.mem, in.r, {}, {}, in.mask, nullptr, nullptr, &in.pos);
      auto slow = naive(*in.attn, in.h, in.kv, c.n_cm, c.clamp, reference_term(name, in, map.get()));
      EXPECT_TRUE(test::tensors_close(fast, slow, 1e-7, 1e-10))
          << name << " L=" << c.L << " n_cm=" << c.n_cm << " mem=" << c.mem << " rate=" << c.rate
          << " clamp=" << c.clamp;
    }
}

TEST(PositionMaps, SlotWrittenOutEqualsTheContiguousTable) {
  for (const auto& c : kCases) {
    auto map = make_map("slot", c);
    auto in = make_inputs(c, map.get(), 7);
    torch::NoGradGuard g;
    auto mapped = in.attn->forward(in.h, in.mem, in.r, {}, {}, in.mask, nullptr, nullptr, &in.pos);
    auto table = in.attn->forward(in.h, in.mem, in.r, {}, {}, in.mask);
    EXPECT_TRUE(test::tensors_close(mapped, table, 1e-10, 1e-12)) << "L=" << c.L << " n_cm=" << c.n_cm;
  }
}

// A map whose output breaks the contract, or that throws, fails the run with an error that
// names the map (and its library), the layer and the shapes, like a compression function.
TEST(PositionMaps, BadOutputOrAnExceptionIsAnErrorNamingTheMapAndLayer) {
  class Bad : public PositionMap {
   public:
    explicit Bad(int mode) : mode_(mode) {}
    torch::Tensor compressed_scores(const PositionInput& in) override {
      const int64_t L = in.q.size(0), B = in.q.size(1), H = in.q.size(2), n_cm = in.t_slot.size(0);
      if (mode_ == 0) return torch::zeros({B, H, L, n_cm + 1}, in.q.options());
      if (mode_ == 1) return {};
      throw std::runtime_error("no table for this rate");
    }
    int mode_;
  };
  const Case c = kCases[0];
  const std::vector<std::string> expected = {
      "position map bad@1 at layer 3 returned the wrong shape: expected [2, 2, 4, 3] (queries [4, 2, 2, 4], "
      "3 "
      "compressed slots, output [2, 2, 4, 4])",
      "position map bad@1 at layer 3 returned an undefined tensor",
      "plugin bad@1 (/plugins/libctlab_plugin_bad.so) failed in compressed_scores (layer 3): no table for "
      "this "
      "rate"};
  for (int mode = 0; mode < 3; ++mode) {
    Bad map(mode);
    auto in = make_inputs(c, &map, 3);
    in.pos.map_id = "bad@1";
    in.pos.map_path = "/plugins/libctlab_plugin_bad.so";
    in.pos.input.layer = 3;
    torch::NoGradGuard g;
    try {
      in.attn->forward(in.h, in.mem, in.r, {}, {}, in.mask, nullptr, nullptr, &in.pos);
      ADD_FAILURE() << "mode " << mode << " did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected[mode]), std::string::npos) << e.what();
      EXPECT_EQ(e.kind(), mode == 2 ? ErrorKind::Plugin : ErrorKind::Run) << e.what();
    }
  }
}

// d(sum(out * g))/d(theta) against central differences, for W_q, W_r, v and the map's own
// parameters, at a few entries each.
TEST(PositionMaps, GradientsMatchCentralDifferences) {
  for (const auto& name : kMaps)
    for (const auto& c : {kCases[0], kCases[1]}) {
      auto map = make_map(name, c);
      auto in = make_inputs(c, map.get(), 11);
      auto g = torch::randn({c.L, c.B, c.D}, kF64);
      auto loss = [&] {
        return (in.attn->forward(in.h, in.mem, in.r, {}, {}, in.mask, nullptr, nullptr, &in.pos) * g).sum();
      };
      std::vector<torch::Tensor> params = {in.attn->q_net->weight, in.attn->r_net->weight, in.attn->r_r_bias};
      for (auto& p : map->parameters()) params.push_back(p);
      for (auto& p : params) p.mutable_grad() = torch::Tensor();
      loss().backward();
      for (auto& p : params) {
        ASSERT_TRUE(p.grad().defined()) << name;
        for (int64_t k = 0; k < std::min<int64_t>(5, p.numel()); ++k) {
          const int64_t idx = (k * 7919) % p.numel();
          const double eps = 1e-6;
          double up, down;
          {
            torch::NoGradGuard ng;
            auto flat = p.view({-1});
            const double orig = flat[idx].item<double>();
            flat[idx] = orig + eps;
            up = loss().item<double>();
            flat[idx] = orig - eps;
            down = loss().item<double>();
            flat[idx] = orig;
          }
          const double numeric = (up - down) / (2 * eps);
          const double analytic = p.grad().view({-1})[idx].item<double>();
          EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-5 * std::abs(numeric)) << name << " entry " << idx;
        }
      }
    }
}

namespace {

// The tiny model with a vocabulary of 16 and segments and memory of 4.
ModelOptions tiny_ct() {
  ModelOptions o = test::tiny_model_options();
  o.vocab_size = 16;
  o.seq_len = 4;
  o.mem_len = 4;
  return o;
}

CompressionSetup setup_for(const ModelOptions& o, const FnEntry& fn, const std::string& map) {
  CompressionSetup s;
  s.fn_id = fn.id;
  s.fn_api = fn.api;
  s.needs_usage = fn.spec.needs_usage;
  s.loss_mode = LossMode::None;
  for (int64_t i = 0; i < o.n_layer; ++i) {
    PluginContext ctx = plugin_context(o, i);
    ctx.params = PluginParams(std::map<std::string, std::string>{{"position", "-1"}});
    if (fn.spec.params.empty()) ctx.params = PluginParams();
    s.fns.push_back(test::host().create(fn, ctx));
    const auto& m = test::host().position_map(map);
    if (!m.spec.contiguous) s.maps.push_back(test::host().create(m, ctx));
  }
  s.map_id = map;
  return s;
}

}  // namespace

TEST(Timestamps, MemoryAndCompressedSlotsCarryTheirStreamPositions) {
  auto o = tiny_ct();
  torch::manual_seed(0);
  CompressiveTransformer model(o, setup_for(o, test::host().compression_fn("mean_pool"), "true_distance"));
  model->eval();
  torch::NoGradGuard g;
  test::ModelStream stream(model);
  for (int s = 0; s < 4; ++s) stream(torch::randint(16, {4, 3}), torch::randint(16, {4, 3}));
  // Segments at 0-3, 4-7, 8-11, 12-15: memory 12..15, compressed the block means of 4..11.
  const auto& m = stream.memory[1];
  auto want_m = torch::arange(12, 16, kF64).unsqueeze(1).expand({4, 3});
  auto want_cm = torch::tensor({4.5, 6.5, 8.5, 10.5}, kF64).unsqueeze(1).expand({4, 3});
  EXPECT_TRUE(test::tensors_close(m.mem_t, want_m, 0, 0));
  EXPECT_TRUE(test::tensors_close(m.cmem_t, want_cm, 0, 0));
  const auto fresh = model->forward(torch::randint(16, {4, 3}), torch::randint(16, {4, 3}), {});
  EXPECT_TRUE(test::tensors_close(fresh.memory[0].mem_t, torch::arange(4, kF64).unsqueeze(1).expand({4, 3})));
}

TEST(Timestamps, MemoriesWithoutTimesGetContiguousOnes) {
  LayerMemory m;
  m.mem = torch::zeros({4, 2, 8});
  m.cmem = torch::zeros({3, 2, 8});
  fill_missing_times(m, 2);
  // Compressed blocks of 2 from time 0, then memory: the segment starts at 10.
  EXPECT_TRUE(
      test::tensors_close(m.cmem_t, torch::tensor({0.5, 2.5, 4.5}, kF64).unsqueeze(1).expand({3, 2})));
  EXPECT_TRUE(test::tensors_close(m.mem_t, torch::arange(6, 10, kF64).unsqueeze(1).expand({4, 2})));
}

TEST(Timestamps, KeptSlotsCarryTheirSourcesTime) {
  // The template keeps the newest slot of each block: its time, not the block mean.
  PluginHost host;
  host.load_directories({std::string(CTLAB_TEST_PLUGIN_DIR) + "/../../../plugins/template"});
  const FnEntry* fn = nullptr;
  for (const auto* e : host.compression_fns()) fn = e;
  ASSERT_NE(fn, nullptr) << "template plugin not found";
  EXPECT_EQ(fn->api, CTLAB_PLUGIN_API_VERSION);
  PluginContext ctx;
  ctx.d_model = 4;
  ctx.rate = 2;
  ctx.params = PluginParams(std::map<std::string, std::string>{{"position", "-1"}});
  auto f = host.create(*fn, ctx);
  CompressionInput in;
  in.old = torch::randn({4, 2, 4});
  in.rate = 2;
  in.times = torch::arange(8, kF64).view({4, 2});
  EXPECT_TRUE(test::tensors_close(f->slot_times(in), torch::tensor({{2.0, 3.0}, {6.0, 7.0}}, kF64), 0, 0));
}

TEST(PluginApi, AVersionOnePluginLoadsAndTrainsUnderEveryMap) {
  PluginHost host;
  host.load_directories({std::string(CTLAB_TEST_FIXTURE_DIR) + "/template_v1"});
  ASSERT_EQ(host.compression_fns().size(), 1u) << "template_v1 fixture not loaded";
  const auto& fn = *host.compression_fns()[0];
  EXPECT_EQ(fn.api, 1);
  for (const auto& name : kMaps) {
    auto o = tiny_ct();
    torch::manual_seed(1);
    CompressiveTransformer model(o, setup_for(o, fn, name));
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
    double first = 0, last = 0;
    auto x = torch::randint(16, {4, 3});
    test::ModelStream stream(model);
    for (int step = 0; step < 12; ++step) {
      auto out = stream(x, x);
      auto loss = out.nll.mean();
      opt.zero_grad();
      loss.backward();
      opt.step();
      (step == 0 ? first : last) = loss.item<double>();
    }
    EXPECT_TRUE(std::isfinite(last)) << name;
    EXPECT_LT(last, first) << name;
    // A version-1 function's slots get their block's mean time.
    const auto& cm_t = stream.memory[0].cmem_t;
    ASSERT_TRUE(cm_t.defined()) << name;
    EXPECT_DOUBLE_EQ(std::fmod(cm_t[0][0].item<double>(), 2.0), 0.5) << name;
  }
}

TEST(Timestamps, BuiltInFunctionsTimeTheirSlots) {
  PluginContext ctx;
  ctx.d_model = 4;
  ctx.rate = 2;
  CompressionInput in;
  in.old = torch::randn({8, 2, 4});
  in.rate = 2;
  in.times = torch::arange(16, kF64).view({8, 2}) + 100.0;  // stream b: 100 + 2 n + b
  // most_used keeps the most-attended slot of each pair (here the newer one of stream 0's
  // second pair, the older one elsewhere): its own time, in time order.
  in.usage = torch::zeros({8, 2});
  in.usage[3][0] = 1.0;
  in.usage[0][1] = 1.0;
  ctx.params = PluginParams();
  auto most_used = test::host().create(test::host().compression_fn("most_used"), ctx);
  auto kept = most_used->slot_times(in);
  ASSERT_EQ(kept.sizes(), (std::vector<int64_t>{4, 2}));
  // The four most used of stream 0 are slot 3 and then the oldest ties (0, 1, 2).
  EXPECT_TRUE(
      test::tensors_close(kept.select(1, 0), torch::tensor({100.0, 102.0, 104.0, 106.0}, kF64), 0, 0));
  // dilated_conv@2: the block mean less half the causal reach (sum of rates 1,2,4 = 7).
  ctx.params = PluginParams(std::map<std::string, std::string>{{"rates", "1,2,4"}, {"kernel_size", "0"}});
  auto dilated = test::host().create(test::host().compression_fn("dilated_conv@2"), ctx);
  auto out = dilated->forward(in);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{4, 2, 4}));
  EXPECT_TRUE(test::tensors_close(dilated->slot_times(in), block_mean_times(in.times, 2) - 3.5, 0, 0));
  // Pooling and conv1d: the block mean (the default).
  ctx.params = PluginParams();
  auto conv = test::host().create(test::host().compression_fn("conv1d"), ctx);
  EXPECT_TRUE(test::tensors_close(conv->slot_times(in), block_mean_times(in.times, 2), 0, 0));
}
