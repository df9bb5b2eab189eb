// `ctlab sample`: greedy sampling from a model trained on the copy task reproduces the
// copy (with memories carried across segments), a seed repeats its text, and the sampled
// tokens' log-probabilities are those of the evaluation's forward pass over the same text.
#include <gtest/gtest.h>

#include <sstream>

#include "model/factory.h"
#include "session/resolve.h"
#include "store/run_store.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"

using namespace ctlab;
using test::contains;
using test::run_ctlab;
using test::TempDir;

namespace {

// A 2-layer Compressive Transformer (mean pooling) on the copy task: blocks of 5 random
// tokens of 16, each followed by its copy; segments of 10, memory 10, compressed memory 10.
// 600 steps (about 5 s) bring it to copying the block (recovered about 0.75).
class SampleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    const auto ini = dir_->file("copy.ini", R"(experiment = copy
threads = 1
[model]
n_layer = 2
d_model = 32
n_head = 2
d_ff = 64
seq_len = 10
mem_len = 10
cmem_len = 10
cmem_rate = 2
compression = mean_pool
dropout = 0
[data]
dataset = synthetic
synthetic_vocab = 16
synthetic_period = 5
synthetic_tokens = 20000
[train]
batch_size = 16
max_steps = 600
lr = 0.005
warmup_steps = 20
log_every = 100
checkpoint_every = 600
[eval]
eval_segments = 10
buckets_sequences = 0
)");
    root_ = dir_->path() + "/r";
    auto r = run_ctlab("train " + ini + " --results " + root_);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    id_ = RunStore(root_ + "/ctlab.sqlite").runs().front().run_id;
  }
  static void TearDownTestSuite() { delete dir_; }

  // `ctlab sample` with a binary prompt; returns the generated tokens and log-probabilities.
  static test::CommandResult sample(const std::vector<int>& prompt, const std::string& flags,
                                    std::vector<int64_t>* tokens = nullptr,
                                    std::vector<double>* logprobs = nullptr) {
    const auto file = dir_->file("prompt.bin", std::string(prompt.begin(), prompt.end()));
    auto r = run_ctlab("sample " + id_ + " --results " + root_ + " --prompt-file " + file + " --logprobs " +
                       flags);
    std::istringstream lines(r.output);
    std::string word;
    while (lines >> word)
      if (word == "logprob") {
        int64_t i, token;
        double lp;
        lines >> i >> token >> lp;
        if (tokens) tokens->push_back(token);
        if (logprobs) logprobs->push_back(lp);
      }
    return r;
  }

  static TempDir* dir_;
  static std::string root_, id_;
};

TempDir* SampleTest::dir_ = nullptr;
std::string SampleTest::root_, SampleTest::id_;

const std::vector<int> kB = {3, 9, 14, 1, 7}, kC = {12, 5, 2, 11, 6};

}  // namespace

TEST_F(SampleTest, GreedySamplingReproducesTheCopyAcrossSegments) {
  // Prompt: a block, its copy, a new block (15 tokens: the first segment of 10 is already
  // in the memories). Greedy continuation: the new block's copy, then its copy again.
  std::vector<int> prompt = kB;
  prompt.insert(prompt.end(), kB.begin(), kB.end());
  prompt.insert(prompt.end(), kC.begin(), kC.end());
  std::vector<int64_t> got;
  auto r = sample(prompt, "--tokens 20 --temperature 0 --show-memory", &got);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(got.size(), 20u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], kC[i % 5]) << "token " << i << "\n" << r.output;
  // Segments entered the memories, the later ones through compression.
  EXPECT_TRUE(contains(r.output, "segment 0 (prompt): memory 10 slots, compressed memory 0 slots"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "segment 2 (generated): memory 10 slots, compressed memory 10 slots"))
      << r.output;
}

TEST_F(SampleTest, ASeedRepeatsItsTextAndBadValuesAreNamed) {
  std::vector<int64_t> a, b, c;
  ASSERT_EQ(sample(kB, "--tokens 30 --seed 7", &a).exit_code, 0);
  ASSERT_EQ(sample(kB, "--tokens 30 --seed 7", &b).exit_code, 0);
  ASSERT_EQ(sample(kB, "--tokens 30 --seed 8 --top-k 3", &c).exit_code, 0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto bad = run_ctlab("sample " + id_ + " --results " + root_ + " --temperature -1");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.output, "--temperature -1")) << bad.output;
  auto outside =
      run_ctlab("sample " + id_ + " --results " + root_ + " --prompt A");  // byte 65, vocabulary 16
  EXPECT_EQ(outside.exit_code, 2);
  EXPECT_TRUE(contains(outside.output,
                       "the prompt holds byte 65 at offset 0, outside dataset synthetic's vocabulary of 16"))
      << outside.output;
  auto unknown = run_ctlab("sample deadbeef0000 --results " + root_);
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.output, "no run 'deadbeef0000'")) << unknown.output;
}

TEST_F(SampleTest, LogProbabilitiesAreThoseOfTheEvaluationForwardPass) {
  std::vector<int64_t> tokens;
  std::vector<double> logprobs;
  ASSERT_EQ(sample(kB, "--tokens 40 --seed 3", &tokens, &logprobs).exit_code, 0);
  ASSERT_EQ(tokens.size(), 40u);
  // The evaluation stream (one stream, the run's evaluation settings) over prompt + sample.
  std::vector<uint8_t> text(kB.begin(), kB.end());
  for (auto t : tokens) text.push_back(static_cast<uint8_t>(t));
  CorpusCache data;
  auto run = resolve_run_file(root_ + "/runs/" + id_ + "/config.ini", {}, {}, &data);
  auto model = build_model(run.cfg, *run.host, run.plugins);
  load_model_weights(root_ + "/runs/" + id_ + "/checkpoint.pt", model, torch::kCPU);
  Corpus corpus = *run.corpus;
  corpus.valid = torch::tensor(std::vector<int64_t>(text.begin(), text.end())).to(torch::kUInt8);
  corpus.ideal.clear();
  auto settings = eval_settings(run.cfg, "valid");
  settings.batch_size = 1;
  settings.segments = 0;
  std::vector<double> nll;  // nll[p - 1]: of token p given tokens 0..p-1
  stream_split(model, corpus, settings, torch::kCPU, false,
               [&](int64_t, const torch::Tensor& x, const torch::Tensor& y, EvalStream& stream) {
                 auto out = stream.forward(x, y);
                 for (int64_t i = 0; i < out.nll.size(0); ++i) nll.push_back(out.nll[i][0].item<double>());
                 return true;
               });
  ASSERT_GE(nll.size(), text.size() - 1);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const size_t p = kB.size() + i;  // the generated token's position
    EXPECT_NEAR(logprobs[i], -nll[p - 1], 1e-5) << "generated token " << i;
  }
}
