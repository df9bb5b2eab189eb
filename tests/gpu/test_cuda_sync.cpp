// The GPU path without waiting on the device: host syncs (.item() and copies to the host,
// counted by runtime/host_sync.h) per training step and per evaluation pass; evaluation
// statistics accumulated on the device against host float64 references; TF32 off unless
// allow_tf32; the CUDA random state in checkpoints; each NCCL rank's device. Every host
// read is counted whatever the device, so CTLAB_GPU_TESTS_ON_CPU=1 shows the counts a CUDA
// run makes.
#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <cstdio>

#include "config/plugin_binding.h"
#include "cuda_test_util.h"
#include "data/corpus.h"
#include "model/factory.h"
#include "plugin/plugin_host.h"
#include "runtime/distributed.h"
#include "runtime/host_sync.h"
#include "runtime/runtime.h"
#include "store/results_layout.h"
#include "train/analysis.h"
#include "train/checkpoint.h"
#include "train/step.h"
#include "train/trainer.h"
#include "util/error.h"

using namespace ctlab;

namespace {

// The suite's two-layer model with trained compression (conv1d + attention reconstruction),
// clipping and two accumulation chunks: every part of a step that could read the device.
RunConfig sync_config(int64_t vocab) {
  return load_run_config(
      "", {"vocab_size=" + std::to_string(vocab), "d_model=16", "n_head=2", "n_layer=2", "d_ff=32",
           "seq_len=8", "mem_len=8", "cmem_len=4", "cmem_rate=2", "dropout=0", "compression=conv1d",
           "compression_loss=attention_reconstruction", "clip=0.1", "accumulate=2", "batch_size=4"});
}

struct Fixture {
  PluginHost host;
  RunConfig cfg;
  CompressiveTransformer model{nullptr};
  explicit Fixture(int64_t vocab = 32) : cfg(sync_config(vocab)) {
    host.load_directories({CTLAB_TEST_PLUGIN_DIR});
    torch::manual_seed(0);
    model = build_model(cfg, host, resolve_plugins(host, cfg));
    model->to(test::gpu());
  }
};

// Host reads per step over `steps` steps after two warm-up steps that fill the memories.
double reads_per_step(TrainStep& step, int steps) {
  auto memories = step.empty_memories();
  const auto dev = test::gpu();
  auto segment = [&](int64_t) {
    auto x = torch::randint(32, {9, 4}, torch::TensorOptions().dtype(torch::kLong).device(dev));
    return TrainStep::Segment(x.narrow(0, 0, 8), x.narrow(0, 1, 8));
  };
  int64_t n = 0;
  for (int i = 0; i < 2; ++i) step.run(n++, segment, memories);
  HostReadCounter reads;
  for (int i = 0; i < steps; ++i) step.run(n++, segment, memories);
  return static_cast<double>(reads.total()) / steps;
}

// A sink that keeps nothing: the trainer's own reads are what is counted.
struct NullSink : RunSink {
  void record(const std::vector<MetricRow>&, const std::vector<std::string>&) override {}
  void progress(int64_t) override {}
  void finish(RunStatus, int64_t, const std::string&, std::optional<int64_t>) override {}
  std::vector<MetricRow> logged(const std::vector<std::string>&) override { return {}; }
};

// Host reads of a whole training run of `steps` steps (deferred checks, a log point every
// 12 steps, no checkpoint before the end, the final validation and analysis included).
int64_t trainer_reads(int64_t steps) {
  test::TempDir dir;
  DataOptions d;
  d.dataset = "synthetic";
  d.synthetic_tokens = 4000;
  const Corpus corpus = load_corpus(d);
  RunConfig cfg = load_run_config("", {"vocab_size=" + std::to_string(corpus.vocab_size),
                                       "dataset=synthetic",
                                       "synthetic_tokens=4000",
                                       "d_model=16",
                                       "n_head=2",
                                       "n_layer=2",
                                       "d_ff=32",
                                       "seq_len=8",
                                       "mem_len=8",
                                       "cmem_len=4",
                                       "cmem_rate=2",
                                       "dropout=0",
                                       "compression=conv1d",
                                       "compression_loss=attention_reconstruction",
                                       "batch_size=4",
                                       "accumulate=2",
                                       "checks=deferred",
                                       "log_every=12",
                                       "checkpoint_every=1000",
                                       "eval_every=0",
                                       "eval_segments=2",
                                       "buckets_sequences=2",
                                       "threads=1",
                                       "tensorboard=false",
                                       "device=" + test::gpu_name(),
                                       "max_steps=" + std::to_string(steps)});
  PluginHost host;
  host.load_directories({CTLAB_TEST_PLUGIN_DIR});
  const auto plugins = resolve_plugins(host, cfg);
  RunPaths paths;
  paths.dir = dir.path();
  paths.checkpoint = dir.path() + "/checkpoint.pt";
  paths.log = dir.path() + "/log.txt";
  paths.config = dir.path() + "/config.ini";
  paths.analysis = dir.path() + "/analysis.h5";
  paths.tensorboard = dir.path() + "/tensorboard";
  Comm comm;
  NullSink sink;
  Trainer trainer(cfg, host, plugins, corpus, &sink, "sync", paths, comm, resolve_device(cfg.device));
  HostReadCounter reads;
  const auto out = trainer.run();
  EXPECT_EQ(out.status, RunStatus::Completed) << out.error;
  return reads.total();
}

}  // namespace

TEST(HostSyncs, TwelveMoreTrainerStepsReadTheDeviceOnceAtTheirLogPoint) {
  CTLAB_SKIP_WITHOUT_CUDA();
  CTLAB_SKIP_WITHOUT_HDF5();
  const int64_t twelve = trainer_reads(12), twenty_four = trainer_reads(24);
  std::printf("host syncs of a whole run: %lld with 12 steps, %lld with 24 (log every 12)\n",
              static_cast<long long>(twelve), static_cast<long long>(twenty_four));
  EXPECT_EQ(twenty_four - twelve, 1) << "the trainer read the device between log points";
}

TEST(HostSyncs, CounterSeesItemAndCopiesToTheHost) {
  CTLAB_SKIP_WITHOUT_CUDA();
  auto t = torch::ones({3}, torch::TensorOptions().device(test::gpu()));
  HostReadCounter reads;
  EXPECT_EQ(reads.total(), 0);
  (void)t.sum().item<double>();
  EXPECT_EQ(reads.items(), 1);
  (void)to_host(t, torch::kFloat64);
  EXPECT_EQ(reads.copies(), 1);
  (void)(t * 2).sum();  // arithmetic stays on the device
  EXPECT_EQ(reads.total(), 2);
  EXPECT_THROW(HostReadCounter second, Error);  // one counter at a time
}

TEST(HostSyncs, UploadsThroughPinnedMemoryKeepTheValues) {
  CTLAB_SKIP_WITHOUT_CUDA();
  const auto x = torch::arange(32, torch::kLong).view({8, 4});
  HostReadCounter reads;
  const auto up = to_device(x, test::gpu());
  EXPECT_EQ(up.device(), test::gpu());
  EXPECT_EQ(reads.total(), 0);
  EXPECT_TRUE(up.cpu().equal(x));
}

TEST(HostSyncs, DeferredTrainingStepsReadNothingUntilCollect) {
  CTLAB_SKIP_WITHOUT_CUDA();
  Fixture f;
  torch::optim::Adam adam(f.model->parameters(), torch::optim::AdamOptions(1e-3));
  TrainStep step(f.model, adam, f.cfg.train, false);
  step.set_deferred(false);
  const double every_step = reads_per_step(step, 4);
  step.set_deferred(true);
  const double deferred = reads_per_step(step, 4);
  std::printf("host syncs per training step: checks = step %.2f, checks = deferred %.2f\n", every_step,
              deferred);
  RecordProperty("host_syncs_per_step_checks_step", std::to_string(every_step));
  RecordProperty("host_syncs_per_step_deferred", std::to_string(deferred));
  EXPECT_EQ(deferred, 0.0) << "a deferred step read the device";
  EXPECT_GE(every_step, 1.0);  // the losses are read every step there: the counter sees them
  HostReadCounter reads;
  const auto c = step.collect();  // the log point: one copy for the whole interval
  EXPECT_EQ(reads.total(), 1);
  EXPECT_EQ(c.steps, 6);
  EXPECT_TRUE(std::isfinite(c.loss) && c.loss > 0);
}

TEST(HostSyncs, EvaluationCopiesOncePerPassWhateverItsLength) {
  CTLAB_SKIP_WITHOUT_CUDA();
  DataOptions d;
  d.dataset = "synthetic";
  d.synthetic_tokens = 4000;
  const Corpus corpus = load_corpus(d);
  Fixture f(corpus.vocab_size);
  f.model->set_deferred_output_checks(true);  // as in training on CUDA (checks = auto)
  EvalSettings s;
  s.seq_len = 8;
  s.batch_size = 2;
  s.memory = f.model->memory_config();
  auto reads_for = [&](int64_t segments, AnalysisResult& r) {
    s.segments = segments;
    HostReadCounter reads;
    r = analyze(f.model, corpus, s, 4, 2, {10, 100}, test::gpu(), false);
    (void)attention_record(r);
    (void)frequency_record(r);
    return reads.total();
  };
  AnalysisResult short_pass, long_pass;
  const int64_t few = reads_for(6, short_pass), many = reads_for(12, long_pass);
  std::printf("host syncs per evaluation pass: %lld over 6 segments, %lld over 12\n",
              static_cast<long long>(few), static_cast<long long>(many));
  EXPECT_EQ(few, many) << "an evaluation read the device per segment";
  EXPECT_EQ(many, 3);  // the loss sums, attention by bucket, frequency buckets: one copy each
  ASSERT_EQ(long_pass.eval.segments, 12);
  // The loss against the host float64 sum of the same forward passes.
  double nll = 0;
  int64_t tokens = 0;
  stream_split(f.model, corpus, s, test::gpu(), false,
               [&](int64_t, const torch::Tensor& x, const torch::Tensor& y, EvalStream& stream) {
                 auto out = stream.forward(x, y).nll.to(torch::kCPU, torch::kFloat64);
                 nll += out.sum().item<double>();
                 tokens += out.numel();
                 return true;
               });
  f.model->check_deferred_outputs();
  EXPECT_EQ(long_pass.eval.tokens, tokens);
  EXPECT_NEAR(long_pass.eval.loss, nll / static_cast<double>(tokens), 1e-12);
  EXPECT_EQ(long_pass.frequency->count().sum().item<int64_t>(), tokens);
  EXPECT_NEAR(long_pass.frequency->nll_sum().sum().item<double>(), nll, 1e-9 * nll);
}

TEST(DeviceStatistics, AttentionBucketsMatchAHostFloat64Reference) {
  CTLAB_SKIP_WITHOUT_CUDA();
  torch::manual_seed(3);
  auto layout = BucketLayout::make(4, 8, 8, 2);  // klen 20: buckets 2 + 2 + 2
  AttentionBuckets acc(2, 2, layout);
  std::vector<std::vector<torch::Tensor>> segments;
  for (int seg = 0; seg < 3; ++seg) {
    std::vector<torch::Tensor> layers;
    for (int l = 0; l < 2; ++l) layers.push_back(torch::randn({3, 2, 8, 20}).softmax(-1).to(test::gpu()));
    acc.add_segment(layers);
    segments.push_back(layers);
  }
  // Reference: float64 on the host, mean over queries, then each bucket's slots summed.
  auto mass = torch::zeros({2, 2, layout.buckets()}, torch::kFloat64);
  auto all = torch::zeros({layout.buckets()}, torch::kFloat64);
  for (const auto& layers : segments) {
    auto seg_all = torch::zeros({3, layout.buckets()}, torch::kFloat64);
    for (int l = 0; l < 2; ++l) {
      auto per_key = layers[l].to(torch::kCPU, torch::kFloat64).mean(2);  // [B, H, klen]
      for (int64_t k = 0; k < layout.buckets(); ++k) {
        auto m = per_key.narrow(2, layout.edges[k], layout.edges[k + 1] - layout.edges[k]).sum(2);  // [B, H]
        mass[l].select(1, k) += m.sum(0);
        seg_all.select(1, k) += m.mean(1) / 2.0;
      }
    }
    all += seg_all.sum(0);
  }
  mass /= 9.0;  // 3 segments x 3 streams
  all /= 9.0;
  EXPECT_EQ(acc.samples(), 9);
  EXPECT_TRUE(test::tensors_close(acc.mass_mean(), mass, 1e-6, 1e-6));
  EXPECT_TRUE(test::tensors_close(acc.all_mass_mean(), all, 1e-6, 1e-6));
  EXPECT_FALSE(acc.mass_mean().is_cuda());
}

TEST(DeviceStatistics, FrequencyBucketsMatchAHostFloat64Reference) {
  CTLAB_SKIP_WITHOUT_CUDA();
  torch::manual_seed(4);
  FrequencyBuckets f(torch::tensor({5, 50, 500, 0, 7}, torch::kLong), {10, 100});
  auto ref_nll = torch::zeros({3}, torch::kFloat64);
  auto ref_count = torch::zeros({3}, torch::kLong);
  const auto bucket = torch::tensor({0, 1, 2, 0, 0}, torch::kLong);
  for (int seg = 0; seg < 4; ++seg) {
    auto targets = torch::randint(5, {8, 3}, torch::kLong);
    auto nll = torch::rand({8, 3}) * 5;
    f.add(nll.to(test::gpu()), targets.to(test::gpu()));
    auto b = bucket.index_select(0, targets.reshape(-1));
    ref_nll.index_add_(0, b, nll.reshape(-1).to(torch::kFloat64));
    ref_count.index_add_(0, b, torch::ones_like(b));
  }
  EXPECT_TRUE(test::tensors_close(f.nll_sum(), ref_nll, 1e-9, 1e-12));
  EXPECT_TRUE(f.count().equal(ref_count)) << f.count() << ref_count;
}

TEST(Tf32, OffForFp32RunsAndOnOnlyByTheKey) {
  set_tf32(true);
  EXPECT_TRUE(tf32_matmul_allowed());
  EXPECT_TRUE(tf32_cudnn_allowed());
  set_tf32(false);
  EXPECT_FALSE(tf32_matmul_allowed());
  EXPECT_FALSE(tf32_cudnn_allowed());  // LibTorch's own default for cuDNN is on
  const auto plain = load_run_config("", {});
  EXPECT_FALSE(plain.train.allow_tf32);
  const auto on = load_run_config("", {"allow_tf32=true"});
  EXPECT_TRUE(on.train.allow_tf32);
  // Unset or false: the run id of before the key existed; true: another run.
  EXPECT_EQ(run_id_of(plain), run_id_of(load_run_config("", {"allow_tf32=false"})));
  EXPECT_EQ(identity_text(plain).find("allow_tf32"), std::string::npos);
  EXPECT_NE(run_id_of(plain), run_id_of(on));
}

TEST(CudaRng, CheckpointCarriesTheDeviceRandomState) {
  CTLAB_SKIP_WITHOUT_CUDA();
  test::TempDir dir;
  Fixture f;
  torch::optim::Adam adam(f.model->parameters(), torch::optim::AdamOptions(1e-3));
  TrainState st;
  st.chunk_memory.resize(1, std::vector<LayerMemory>(2));
  torch::manual_seed(11);
  const auto path = dir.path() + "/checkpoint.pt";
  save_checkpoint(path, f.model, adam, st, "run");
  const auto first = torch::rand({16}, torch::TensorOptions().device(test::gpu()));
  (void)torch::rand({16});  // the CPU stream moves on too
  TrainState back;
  back.chunk_memory.resize(1, std::vector<LayerMemory>(2));
  ASSERT_TRUE(load_checkpoint(path, f.model, adam, back, test::gpu(), "run"));
  const auto again = torch::rand({16}, torch::TensorOptions().device(test::gpu()));
  EXPECT_TRUE(again.equal(first)) << "the device's random stream was not restored";
  torch::serialize::InputArchive a;
  a.load_from(path);
  torch::Tensor state;
  EXPECT_EQ(a.try_read("rng_cuda", state), test::gpu().is_cuda())
      << "rng_cuda only in CUDA runs' checkpoints";
}

TEST(NcclDevice, EachLocalRankGetsItsOwnDevice) {
  EXPECT_EQ(cuda_index_for_local_rank(0, 4), 0);
  EXPECT_EQ(cuda_index_for_local_rank(3, 4), 3);
  EXPECT_EQ(cuda_index_for_local_rank(2, 1), 0);  // one visible device per rank
  EXPECT_THROW(cuda_index_for_local_rank(2, 2), Error);
}
