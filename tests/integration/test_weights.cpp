// `ctlab export weights`: a run's parameters as safetensors, equal to its checkpoint's,
// with the run in the metadata; and the Python reimplementation of the forward pass
// (analysis/reference_model/) reproducing `ctlab eval`'s loss from the exported file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "model/factory.h"
#include "safetensors_reader.h"
#include "session/resolve.h"
#include "store/run_store.h"
#include "store/safetensors.h"
#include "test_util.h"
#include "train/checkpoint.h"

using namespace ctlab;
using test::contains;
using test::run_command;
using test::run_ctlab;
using test::TempDir;

namespace {

// A tiny run on a text file (so the Python side can read the same bytes), with compressed
// memory by max pooling, trained, then evaluated on the validation split.
std::string train_text_run(TempDir& dir, const std::string& root) {
  std::string text;
  for (int i = 0; i < 400; ++i) text += "line " + std::to_string(i * 7919 % 1000) + " of the weights test.\n";
  const auto data = dir.file("data.txt", text);
  const auto ini =
      dir.file("run.ini", "experiment = weights\nthreads = 1\nseed = 2\n" + test::kTinyModel +
                              "compression = max_pool\n[data]\ndataset = text\ndata_path = " + data +
                              "\n[train]\nbatch_size = 4\nmax_steps = 12\nlog_every = 4\n"
                              "checkpoint_every = 6\n[eval]\neval_batch_size = 2\n");
  auto r = run_ctlab("train " + ini + " --results " + root);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return RunStore(root + "/ctlab.sqlite").runs().front().run_id;
}

// A Python with torch: $CTLAB_TEST_PYTHON, the wheel's virtual environment, or python3.
std::string python_with_torch() {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("CTLAB_TEST_PYTHON")) candidates.push_back(p);
  if (const char* v = std::getenv("CTLAB_TORCH_VENV")) candidates.push_back(std::string(v) + "/bin/python");
  if (const char* h = std::getenv("HOME"))
    candidates.push_back(std::string(h) + "/.cache/ctlab/torch-2.11.0/bin/python");
  candidates.push_back("python3");
  for (const auto& p : candidates)
    if (run_command("'" + p + "' -c 'import torch, numpy' 2>/dev/null").exit_code == 0) return p;
  return "";
}

}  // namespace

TEST(Weights, ExportHoldsTheCheckpointsParametersAndTheRun) {
  TempDir dir;
  const std::string root = dir.path() + "/r";
  const std::string id = train_text_run(dir, root);
  const std::string out = dir.path() + "/model.safetensors";
  auto e = run_ctlab("export weights " + id + " --results " + root + " --out " + out);
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_TRUE(contains(e.output, "of run " + id + " at step 12")) << e.output;
  const auto file = test::read_safetensors(out);
  EXPECT_EQ(file.metadata.at("run_id"), id);
  EXPECT_EQ(file.metadata.at("step"), "12");
  EXPECT_TRUE(contains(file.metadata.at("config"), "# run_id = " + id)) << file.metadata.at("config");
  // Every parameter, by the model's own name, equal to the checkpoint's bit for bit.
  const auto run = resolve_run_file(root + "/runs/" + id + "/config.ini", {}, {}, nullptr);
  auto model = build_model(run.cfg, *run.host, run.plugins);
  load_model_weights(root + "/runs/" + id + "/checkpoint.pt", model, torch::kCPU);
  std::map<std::string, const SafeTensor*> by_name;
  for (const auto& t : file.tensors) by_name[t.name] = &t;
  const auto params = model->named_parameters();
  EXPECT_EQ(by_name.size(), params.size());
  for (const auto& p : params) {
    ASSERT_TRUE(by_name.count(p.key())) << p.key();
    const auto& t = *by_name.at(p.key());
    EXPECT_EQ(t.dtype, "F32") << p.key();
    EXPECT_EQ(t.shape, p.value().sizes().vec()) << p.key();
    const auto v = p.value().contiguous();
    ASSERT_EQ(t.bytes.size(), static_cast<size_t>(v.numel() * 4)) << p.key();
    EXPECT_EQ(std::memcmp(t.bytes.data(), v.data_ptr(), t.bytes.size()), 0) << p.key();
  }
  EXPECT_TRUE(by_name.count("embedding.weight"));
  EXPECT_TRUE(by_name.count("layers.0.attn.q_net.weight"));
  // Bad input: named, and nothing written.
  auto no_out = run_ctlab("export weights " + id + " --results " + root);
  EXPECT_EQ(no_out.exit_code, 2);
  EXPECT_TRUE(contains(no_out.output, "expected --out FILE")) << no_out.output;
  auto unknown = run_ctlab("export weights deadbeef0000 --results " + root + " --out " + dir.path() + "/x");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.output, "no run 'deadbeef0000'")) << unknown.output;
  EXPECT_FALSE(boost::filesystem::exists(dir.path() + "/x"));
}

TEST(Weights, ThePythonForwardPassReproducesCtlabEval) {
  const std::string python = python_with_torch();
  if (python.empty()) GTEST_SKIP() << "no Python with torch and numpy (set CTLAB_TEST_PYTHON)";
  TempDir dir;
  const std::string root = dir.path() + "/r";
  const std::string id = train_text_run(dir, root);
  auto ev = run_ctlab("eval " + id + " --results " + root + " --split valid --segments 6");
  ASSERT_EQ(ev.exit_code, 0) << ev.output;
  double loss = NAN;
  for (const auto& m : RunStore(root + "/ctlab.sqlite").metrics(id, "eval/valid/"))
    if (m.key.size() > 5 && m.key.compare(m.key.size() - 5, 5, "/loss") == 0) loss = m.value;
  ASSERT_FALSE(std::isnan(loss));
  const std::string out = dir.path() + "/model.safetensors";
  ASSERT_EQ(run_ctlab("export weights " + id + " --results " + root + " --out " + out).exit_code, 0);
  char expected[64];
  std::snprintf(expected, sizeof expected, "%.10f", loss);
  auto py = run_command("'" + python + "' '" CTLAB_TEST_SOURCE_DIR "/tests/python/check_weights.py' " + out +
                        " " + expected + " 6 --split valid 2>&1");
  EXPECT_EQ(py.exit_code, 0) << py.output;
}
