// The session layer's typed pieces: the training job a worker or rank receives, the one
// resolve pipeline, and the data's say over vocab_size.
#include <gtest/gtest.h>

#include "config/run_data.h"
#include "session/job.h"
#include "session/resolve.h"
#include "test_util.h"
#include "util/error.h"
#include "util/ini.h"

using namespace ctlab;
using test::contains;
using test::error_of;

TEST(TrainJob, RoundTripsThroughJson) {
  TrainJob j;
  j.config_text = "experiment = x\n[model]\nd_model = 32\n";
  j.overrides = {"threads=2", "device=cpu"};
  j.expect_run_id = "0123456789ab";
  j.results_root = "/tmp/r";
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
  EXPECT_EQ(r.expect_run_id, j.expect_run_id);
  EXPECT_EQ(r.results_root, j.results_root);
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
      error_of([&] { job_from_json(replaced("\"ctlab_job\": 1", "\"ctlab_job\": 99"), "j.json"); });
  EXPECT_TRUE(contains(version, "job file 'j.json': version 99, this ctlab reads 1")) << version;
  const auto missing = error_of([&] { job_from_json(replaced("\"nproc\"", "\"nprocs\""), "j.json"); });
  EXPECT_TRUE(contains(missing, "job file 'j.json': no field 'nproc'")) << missing;
  const auto type =
      error_of([&] { job_from_json(replaced("\"nproc\": 1", "\"nproc\": \"two\""), "j.json"); });
  EXPECT_TRUE(contains(type, "job file 'j.json': a field has the wrong type")) << type;
  EXPECT_TRUE(contains(error_of([&] { job_from_json("{not json", "j.json"); }), "not valid JSON"));
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
