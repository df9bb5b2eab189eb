// Every built-in compression function and loss trains under precision = bf16 on the CPU
// (autocast to oneDNN's bf16 kernels, fp32 master weights): a few training steps of the tiny
// model from the same seed and tokens in fp32 and in bf16. Skipped, and said why, where
// bf16 cannot run on the CPU (LibTorch 1.13, or a CPU without AVX512_BF16 or AMX).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "builtin_plugins.h"
#include "config/plugin_binding.h"
#include "model/factory.h"
#include "runtime/cpu.h"
#include "runtime/runtime.h"
#include "test_util.h"
#include "train/step.h"

using namespace ctlab;

namespace {

struct Losses {
  std::vector<double> task, closs;  // per step; closs summed over layers
};

// Four steps of the tiny fixture model (seq 8, mem 8, cmem 4 at rate 2: compression from the
// second step on) with `fn` and `loss`, in bf16 or fp32.
Losses train_steps(const std::string& fn, const std::string& loss, bool bf16) {
  auto cfg =
      load_run_config("", {"vocab_size=32", "d_model=16", "n_head=2", "n_layer=2", "d_ff=32", "seq_len=8",
                           "mem_len=8", "cmem_len=4", "cmem_rate=2", "dropout=0", "lr=0.003",
                           "warmup_steps=0", "compression=" + fn, "compression_loss=" + loss});
  auto resolved = resolve_plugins(test::host(), cfg);
  torch::manual_seed(0);
  auto model = build_model(cfg, test::host(), resolved);
  model->train();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(cfg.train.lr));
  TrainStep step(model, adam, cfg.train, bf16);
  auto memories = step.empty_memories();
  Losses out;
  for (int64_t s = 0; s < 4; ++s) {
    auto segment = [&](int64_t k) {
      torch::manual_seed(100 + s * 10 + k);
      auto x = torch::randint(32, {9, 4}, torch::kLong);
      return TrainStep::Segment(x.narrow(0, 0, 8), x.narrow(0, 1, 8));
    };
    const auto stats = step.run(s, segment, memories);
    EXPECT_TRUE(stats.finite) << fn << " + " << loss << " step " << s;
    out.task.push_back(stats.loss);
    double c = 0;
    for (double v : stats.closs) c += v;
    out.closs.push_back(c);
  }
  return out;
}

class Bf16OnCpu : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

// Tolerance 0.05 nats on a task loss of about 3.5 (ln 32): bf16 keeps 8 bits of mantissa,
// so each product is off by up to 0.4% and a layer's output by about 1%; four steps at
// lr 0.003 move the loss by less than 0.05 between the two. A compression loss is compared
// relatively (20%): it is small and sums squared differences of bf16 products. The bf16 run
// must differ from fp32 somewhere (autocast took effect).
TEST_P(Bf16OnCpu, TrainsLikeFp32) {
  if (!bf16_available(torch::kCPU)) {
    try {
      check_bf16(torch::kCPU, "precision = bf16");
    } catch (const std::exception& e) {
      GTEST_SKIP() << e.what();
    }
  }
  const auto& [fn, loss] = GetParam();
  const auto fp32 = train_steps(fn, loss, false);
  const auto bf16 = train_steps(fn, loss, true);
  set_bf16_autocast(false);
  bool differs = false;
  for (size_t s = 0; s < fp32.task.size(); ++s) {
    ASSERT_TRUE(std::isfinite(bf16.task[s])) << "step " << s;
    ASSERT_TRUE(std::isfinite(bf16.closs[s])) << "step " << s;
    EXPECT_NEAR(bf16.task[s], fp32.task[s], 0.05) << fn << " + " << loss << " step " << s;
    EXPECT_NEAR(bf16.closs[s], fp32.closs[s], 0.2 * std::abs(fp32.closs[s]) + 1e-4)
        << fn << " + " << loss << " step " << s << " (compression loss)";
    differs = differs || bf16.task[s] != fp32.task[s];
  }
  EXPECT_TRUE(differs) << "bf16 gave exactly the fp32 losses: autocast did not run on the CPU";
}

// Every registered function with its natural loss, and every registered loss with a learned
// function (or mean_pool for none): a new built-in plugin is added here by being registered.
std::vector<std::pair<std::string, std::string>> pairs() {
  std::vector<std::pair<std::string, std::string>> p;
  for (const auto* e : test::host().compression_fns()) {
    p.emplace_back(e->id, e->spec.trainable ? "attention_reconstruction" : "none");  // every version
  }
  for (const auto* e : test::host().compression_losses()) {
    const std::string loss = e->id.substr(0, e->id.find('@'));
    if (loss != "attention_reconstruction" && loss != "none") p.emplace_back("conv1d", loss);
  }
  return p;
}

INSTANTIATE_TEST_SUITE_P(Builtin, Bf16OnCpu, ::testing::ValuesIn(pairs()), [](const auto& info) {
  auto name = info.param.first + "_" + info.param.second;
  std::replace(name.begin(), name.end(), '@', '_');
  return name;
});

}  // namespace
