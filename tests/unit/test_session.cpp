// The session layer's typed pieces: the training job a worker or rank receives, the one
// resolve pipeline, and the data's say over vocab_size.
#include <gtest/gtest.h>

#include "config/run_data.h"
#include "data/stream.h"
#include "model/factory.h"
#include "safetensors_reader.h"
#include "session/job.h"
#include "session/resolve.h"
#include "store/safetensors.h"
#include "test_util.h"
#include "util/error.h"
#include "util/ini.h"

using namespace ctlab;
using test::contains;
using test::error_of;

TEST(TrainJob, RoundTripsThroughJson) {
  TrainJob j;
  j.config_text = "experiment = x\n[model]\nd_model = 32\n";
  j.overrides = {"log_every=5"};
  j.threads = 2;
  j.device = "cuda:1";
  j.expect_run_id = "0123456789ab";
  j.results_root = "/tmp/r";
  j.hparams = {{"variant", "txl"}, {"seed", "2"}};
  j.plugins.dirs = {"/a", "/b c"};
  j.plugins.pins = {"mean_pool@1=/x.so"};
  j.accept_plugin_change = true;
  j.check_memory = false;
  j.nproc = 3;
  j.backend = DistBackend::Gloo;
  j.dist_timeout_s = 17;
  const TrainJob r = job_from_json(job_to_json(j), "job.json");
  EXPECT_EQ(r.config_text, j.config_text);
  EXPECT_EQ(r.config_file, "");
  EXPECT_EQ(r.overrides, j.overrides);
  EXPECT_EQ(r.threads, std::optional<int64_t>(2));
  EXPECT_EQ(r.device, std::optional<std::string>("cuda:1"));
  TrainJob plain;
  plain.config_text = "x = 1\n";
  const TrainJob unset = job_from_json(job_to_json(plain), "job.json");
  EXPECT_FALSE(unset.threads);  // the configuration's
  EXPECT_FALSE(unset.device);
  EXPECT_EQ(r.expect_run_id, j.expect_run_id);
  EXPECT_EQ(r.results_root, j.results_root);
  EXPECT_EQ(r.hparams, j.hparams);
  EXPECT_EQ(r.plugins.dirs, j.plugins.dirs);
  EXPECT_EQ(r.plugins.pins, j.plugins.pins);
  EXPECT_TRUE(r.accept_plugin_change);
  EXPECT_FALSE(r.check_memory);
  EXPECT_EQ(r.nproc, 3);
  EXPECT_EQ(r.backend, DistBackend::Gloo);
  EXPECT_EQ(r.dist_timeout_s, 17);
}

TEST(TrainJob, RefusesOtherVersionsMissingFieldsAndWrongTypes) {
  std::string text = job_to_json(TrainJob{});
  const auto replaced = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  const auto version =
      error_of([&] { job_from_json(replaced("\"ctlab_job\": 3", "\"ctlab_job\": 99"), "j.json"); });
  EXPECT_TRUE(contains(version, "job file 'j.json': version 99, this ctlab reads 3")) << version;
  const auto missing = error_of([&] { job_from_json(replaced("\"nproc\"", "\"nprocs\""), "j.json"); });
  EXPECT_TRUE(contains(missing, "job file 'j.json': no field 'nproc'")) << missing;
  const auto type =
      error_of([&] { job_from_json(replaced("\"nproc\": 1", "\"nproc\": \"two\""), "j.json"); });
  EXPECT_TRUE(contains(type, "job file 'j.json': a field has the wrong type")) << type;
  EXPECT_TRUE(contains(error_of([&] { job_from_json("{not json", "j.json"); }), "not valid JSON"));
  const auto ranks = error_of([&] { job_from_json(replaced("\"nproc\": 1", "\"nproc\": 0"), "j.json"); });
  EXPECT_TRUE(contains(ranks, "job file 'j.json': nproc 0: expected 1 to 1024 ranks")) << ranks;
  const auto threads =
      error_of([&] { job_from_json(replaced("\"threads\": null", "\"threads\": -1"), "j.json"); });
  EXPECT_TRUE(contains(threads, "job file 'j.json': threads -1: expected >= 0")) << threads;
  const auto device =
      error_of([&] { job_from_json(replaced("\"device\": null", "\"device\": \"gpu\""), "j.json"); });
  EXPECT_TRUE(contains(device, "job file 'j.json'") && contains(device, "gpu")) << device;
  const auto none = error_of([&] { job_from_json(text, "j.json"); });  // neither a file nor a text
  EXPECT_TRUE(contains(none, "expected either config_file or config_text")) << none;
}

TEST(Resolve, TheDataDecideVocabSizeAndAUserValueMustAgree) {
  CorpusCache data;
  auto host = load_plugins({});
  // Not set: the bytes of the default corpus give 256.
  auto run = resolve_config(load_run_config("", {}), host, &data);
  EXPECT_EQ(run.cfg.model.vocab_size, 256);
  EXPECT_EQ(run.run_id, run_id_of(run.cfg));
  // Set to what the data have: accepted, and the same run.
  EXPECT_EQ(resolve_config(load_run_config("", {"vocab_size=256"}), host, &data).run_id, run.run_id);
  // Set to something else: refused, naming where it was set and the data's size.
  const auto e = error_of([&] { resolve_config(load_run_config("", {"vocab_size=300"}), host, &data); });
  EXPECT_TRUE(contains(e, "--set vocab_size: vocab_size = 300, but dataset default has a vocabulary of 256"))
      << e;
}

TEST(Resolve, AResolvedConfigResolvesToItself) {
  CorpusCache data;
  auto host = load_plugins({});
  auto run = resolve_config(load_run_config("", {"cmem_len=16", "compression=max_pool"}), host, &data);
  // What a worker receives: the printed configuration, read back and resolved again.
  auto again =
      resolve_config(parse_run_config(parse_ini(format_run_config(run.cfg), "job"), {}), host, &data);
  EXPECT_EQ(again.run_id, run.run_id);
  EXPECT_EQ(format_run_config(again.cfg), format_run_config(run.cfg));
}

TEST(SafeTensors, WritesTheFormatAndReadsItBack) {
  test::TempDir dir;
  const float a[] = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  const int64_t b[] = {42};
  std::vector<SafeTensor> ts = {
      {"layer.w", "F32", {2, 3}, std::string(reinterpret_cast<const char*>(a), sizeof a)},
      {"step", "I64", {1}, std::string(reinterpret_cast<const char*>(b), sizeof b)}};
  const std::string bytes = safetensors_bytes(ts, {{"run_id", "abc"}});
  // An 8-byte little-endian header length, a JSON header padded to 8 bytes, then the data.
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + sizeof a + sizeof b);
  EXPECT_TRUE(
      contains(bytes.substr(8, n), "\"layer.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"))
      << bytes.substr(8, n);
  const auto path = dir.file("t.safetensors", bytes);
  const auto back = test::read_safetensors(path);
  EXPECT_EQ(back.metadata.at("run_id"), "abc");
  ASSERT_EQ(back.tensors.size(), 2u);
  for (const auto& t : back.tensors) {
    const auto& want = t.name == "step" ? ts[1] : ts[0];
    EXPECT_EQ(t.dtype, want.dtype);
    EXPECT_EQ(t.shape, want.shape);
    EXPECT_EQ(t.bytes, want.bytes);
  }
  ts[0].shape = {4, 3};
  EXPECT_TRUE(contains(error_of([&] { safetensors_bytes(ts, {}); }),
                       "'layer.w' has 24 bytes, its shape and dtype need 48"));
  EXPECT_TRUE(
      contains(error_of([&] { test::read_safetensors(dir.file("bad", "abc")); }), "not a safetensors file"));
}

// Pairing: arms that differ only in their compression (none, mean pooling, a trained
// convolution) get the same batches, the same transformer weights and the same later
// draws (dropout), seed by seed; the convolution's own weights come from a stream of their
// own. Another seed gives other weights.
TEST(Pairing, ArmsThatDifferInCompressionShareBatchesInitialWeightsAndDraws) {
  CorpusCache data;
  auto host = load_plugins({});
  const auto arm = [&](std::vector<std::string> sets, int seed = 3) {
    std::vector<std::string> all = {"dataset=synthetic",
                                    "synthetic_tokens=4000",
                                    "n_layer=2",
                                    "d_model=32",
                                    "n_head=2",
                                    "d_ff=64",
                                    "seq_len=8",
                                    "mem_len=8",
                                    "cmem_len=4",
                                    "cmem_rate=2",
                                    "seed=" + std::to_string(seed)};
    all.insert(all.end(), sets.begin(), sets.end());
    return resolve_config(load_run_config("", all), host, &data);
  };
  struct Start {
    std::map<std::string, torch::Tensor> transformer;
    int64_t plugin_params = 0;
    torch::Tensor next_draw, first_batch;
  };
  const auto start = [](const ResolvedRun& run) {
    torch::manual_seed(static_cast<uint64_t>(run.cfg.seed));  // as the trainer does
    auto model = build_model(run.cfg, *run.host, run.plugins);
    Start s;
    for (const auto& p : model->named_parameters()) {
      if (p.key().rfind("compress_", 0) == 0 || p.key().rfind("closs_", 0) == 0)
        s.plugin_params += p.value().numel();
      else
        s.transformer[p.key()] = p.value().detach().clone();
    }
    s.next_draw = torch::rand({8});
    const SegmentStream stream(run.corpus->train, run.cfg.train.batch_size, run.cfg.model.seq_len);
    s.first_batch = torch::cat({stream.segment(0, torch::kCPU).first, stream.segment(5, torch::kCPU).first});
    return s;
  };
  const auto txl = start(arm({"cmem_len=0"}));
  const auto mean = start(arm({"compression=mean_pool", "compression_loss=none"}));
  const auto conv = start(arm({"compression=conv1d", "compression_loss=autoencoding"}));
  EXPECT_EQ(mean.plugin_params, 0);
  EXPECT_GT(conv.plugin_params, 0);
  for (const auto* other : {&mean, &conv}) {
    ASSERT_EQ(other->transformer.size(), txl.transformer.size());
    for (const auto& [name, w] : txl.transformer)
      EXPECT_TRUE(torch::equal(w, other->transformer.at(name))) << name;
    EXPECT_TRUE(torch::equal(txl.next_draw, other->next_draw));
    EXPECT_TRUE(torch::equal(txl.first_batch, other->first_batch));
  }
  const auto seed4 = start(arm({"compression=conv1d", "compression_loss=autoencoding"}, 4));
  EXPECT_FALSE(torch::equal(seed4.transformer.begin()->second, conv.transformer.begin()->second));
}
