// GPU: the same model on CUDA as on CPU, plugins keeping tensors on the device, and the
// host's device check. Every test skips itself when CUDA is not available.
#include <gtest/gtest.h>

#include "config/plugin_binding.h"
#include "model/factory.h"
#include "model_stream.h"
#include "plugin/plugin_host.h"
#include "test_util.h"

using namespace ctlab;

namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "CUDA not available"

RunConfig tiny_config() {
  RunConfig cfg = load_run_config("", {"vocab_size=32", "d_model=16", "n_head=2", "n_layer=2", "d_ff=32",
                                       "seq_len=8", "mem_len=8", "cmem_len=4", "cmem_rate=2", "dropout=0"});
  return cfg;
}

}  // namespace

TEST(Cuda, ModelMatchesCpuOverSegmentsWithFullMemories) {
  SKIP_WITHOUT_CUDA();
  PluginHost host;
  host.load_directories({CTLAB_TEST_PLUGIN_DIR});
  auto cfg = tiny_config();
  auto resolved = resolve_plugins(host, cfg);
  torch::manual_seed(0);
  auto cpu = build_model(cfg, host, resolved);
  torch::manual_seed(0);
  auto gpu = build_model(cfg, host, resolved);
  gpu->to(torch::kCUDA);
  cpu->eval();
  gpu->eval();
  torch::NoGradGuard g;
  test::ModelStream on_cpu(cpu), on_gpu(gpu);
  for (int seg = 0; seg < 6; ++seg) {
    torch::manual_seed(seg);
    auto x = torch::randint(32, {8, 3}, torch::kLong);
    auto a = on_cpu(x, x.roll(-1, 0));
    auto b = on_gpu(x.cuda(), x.roll(-1, 0).cuda());
    EXPECT_TRUE(b.nll.is_cuda());
    EXPECT_TRUE(test::tensors_close(b.nll.cpu(), a.nll, 1e-4, 1e-5)) << "segment " << seg;
  }
  EXPECT_TRUE(on_gpu.memory[1].cmem.is_cuda());
  EXPECT_EQ(on_gpu.memory[1].cmem.size(0), 4);
}

TEST(Cuda, TrainingStepRunsAndReducesLoss) {
  SKIP_WITHOUT_CUDA();
  PluginHost host;
  host.load_directories({CTLAB_TEST_PLUGIN_DIR});
  auto cfg = tiny_config();
  torch::manual_seed(0);
  auto model = build_model(cfg, host, resolve_plugins(host, cfg));
  model->to(torch::kCUDA);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(3e-3));
  auto x = torch::arange(8 * 4, torch::kLong).remainder(7).view({8, 4}).cuda();
  float first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    auto loss = model->forward(x, x.roll(-1, 0), {}).nll.mean();
    opt.zero_grad();
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<float>();
  }
  EXPECT_LT(last, 0.5f * first);
}

TEST(Cuda, HostRejectsOutputOnTheWrongDevice) {
  SKIP_WITHOUT_CUDA();
  CompressionInput in;
  in.old = torch::zeros({4, 1, 2}, torch::kCUDA);
  in.rate = 2;
  auto out = torch::zeros({2, 1, 2});
  try {
    check_compression_output("cpu_only@1", in, out);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("returned a tensor on cpu, expected cuda:0"), std::string::npos)
        << e.what();
  }
}
