// The generated long-range tasks: determinism, the planted distance, and the stated best
// and blind losses checked on the generated data itself.
#include <gtest/gtest.h>

#include <cmath>

#include "data/dataset.h"
#include "data/stream.h"
#include "train/evaluator.h"

using namespace ctlab;

namespace {

DataOptions task(const std::string& name) {
  DataOptions o;
  o.dataset = name;
  o.synthetic_tokens = 20000;
  return o;
}

std::vector<int64_t> tokens_of(const torch::Tensor& t) {
  auto l = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
}

std::vector<double> values_of(const torch::Tensor& t) {
  auto d = t.contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

}  // namespace

TEST(Tasks, GeneratedDeterministicallyWithIdealLossesForEverySplit) {
  for (const char* name : {"synthetic", "recall", "distant_ref", "lookup"}) {
    SCOPED_TRACE(name);
    auto a = load_corpus(task(name)), b = load_corpus(task(name));
    EXPECT_TRUE(a.train.equal(b.train));
    EXPECT_FALSE(a.train.narrow(0, 0, 2000).equal(a.valid.narrow(0, 0, 2000)));  // other seeds
    for (const char* split : {"train", "valid", "test"}) {
      const auto* ideal = a.ideal_loss(split);
      ASSERT_NE(ideal, nullptr);
      EXPECT_EQ(ideal->best.numel(), a.split(split).numel());
      EXPECT_TRUE((ideal->best <= ideal->blind + 1e-12).all().item<bool>());
    }
    EXPECT_LE(a.train.max().item<int64_t>(), a.vocab_size - 1);
  }
  EXPECT_EQ(load_corpus(task("default")).ideal_loss("valid"), nullptr);
}

TEST(Tasks, CopyRepeatsEachBlockAtThePeriod) {
  auto o = task("synthetic");
  auto c = load_corpus(o);
  auto tok = tokens_of(c.train);
  auto best = values_of(c.ideal["train"].best), blind = values_of(c.ideal["train"].blind);
  const double ln_v = std::log(16.0);
  int64_t copies = 0;
  for (size_t i = 1; i < tok.size(); ++i) {
    EXPECT_NEAR(blind[i], ln_v, 1e-12);
    if (best[i] == 0) {
      ASSERT_EQ(tok[i], tok[i - o.synthetic_period]) << i;
      ++copies;
    }
  }
  EXPECT_NEAR(static_cast<double>(copies) / tok.size(), 0.5, 0.01);  // best = ln(V)/2 per token
}

TEST(Tasks, DistantReferenceRepeatsThePayloadAfterTheMarker) {
  auto o = task("distant_ref");
  auto c = load_corpus(o);
  const int64_t d = o.ref_distance, k = o.synthetic_vocab;
  EXPECT_EQ(c.vocab_size, 2 + 2 * k);
  auto tok = tokens_of(c.train);
  auto best = values_of(c.ideal["train"].best), blind = values_of(c.ideal["train"].blind);
  const double ln_k = std::log(static_cast<double>(k));
  for (size_t e = 0; e + 2 * d <= tok.size(); e += 2 * d) {
    ASSERT_EQ(tok[e], 0);
    ASSERT_EQ(tok[e + d], 1);
    ASSERT_EQ(tok[e + d + 1], tok[e + 1]);  // the payload, exactly ref_distance back
    EXPECT_EQ(best[e + d + 1], 0.0);
    EXPECT_NEAR(blind[e + d + 1], ln_k, 1e-12);
    for (size_t i = e + 2; i < e + d; ++i) ASSERT_GE(tok[i], 2 + k);  // filler
  }
  // Stated floor and ceiling per token: best (2D-3) ln K / 2D, blind (2D-2) ln K / 2D.
  const int64_t n = (static_cast<int64_t>(tok.size()) / (2 * d)) * 2 * d;
  double sb = 0, sl = 0;
  for (int64_t i = 1; i < n; ++i) sb += best[i], sl += blind[i];
  EXPECT_NEAR(sb / n, (2.0 * d - 3) * ln_k / (2.0 * d), 1e-9);
  EXPECT_NEAR(sl / n, (2.0 * d - 2) * ln_k / (2.0 * d), 1e-9);
}

TEST(Tasks, RecallQueriesReturnTheStoredValues) {
  auto o = task("recall");
  auto c = load_corpus(o);
  const int64_t p = o.recall_pairs, k = o.synthetic_vocab, e = 4 * p + o.recall_gap;
  auto tok = tokens_of(c.train);
  auto best = values_of(c.ideal["train"].best), blind = values_of(c.ideal["train"].blind);
  for (size_t s = 0; s + e <= tok.size(); s += e) {
    std::map<int64_t, int64_t> stored;
    for (int64_t j = 0; j < p; ++j) {
      ASSERT_LT(tok[s + 2 * j], k);
      stored[tok[s + 2 * j]] = tok[s + 2 * j + 1];
    }
    ASSERT_EQ(stored.size(), static_cast<size_t>(p));  // distinct keys
    const size_t q = s + 2 * p + o.recall_gap;
    for (int64_t j = 0; j < p; ++j) {
      ASSERT_TRUE(stored.count(tok[q + 2 * j]));
      ASSERT_EQ(tok[q + 2 * j + 1], stored[tok[q + 2 * j]]);  // at least recall_gap + 2 back
      EXPECT_EQ(best[q + 2 * j + 1], 0.0);
      EXPECT_NEAR(blind[q + 2 * j + 1], std::log(static_cast<double>(k)), 1e-12);
      EXPECT_NEAR(best[q + 2 * j], std::log(static_cast<double>(p - j)), 1e-12);
    }
  }
}

TEST(Tasks, RecoveredIsZeroForTheBlindAndOneForTheIdealPredictor) {
  auto c = load_corpus(task("distant_ref"));
  EvalSettings s;
  s.split = "valid";
  s.seq_len = 32;
  s.batch_size = 4;
  SegmentStream stream(c.valid, 4, 32);
  for (const auto* which : {&c.ideal["valid"].best, &c.ideal["valid"].blind}) {
    EvalAccumulator acc(c, s);
    for (int64_t t = 0; t < stream.segments(); ++t) {
      acc.add(t, stream.targets_of(*which, t));
    }
    auto r = acc.result();
    ASSERT_TRUE(r.has_bounds());
    EXPECT_NEAR(r.recovered(), which == &c.ideal["valid"].best ? 1.0 : 0.0, 1e-12);
    EXPECT_EQ(r.segment_loss.size(), static_cast<size_t>(stream.segments()));
    EXPECT_GT(r.loss_se, 0);
    EXPECT_GT(r.relevant_tokens, 0);
    EXPECT_LT(r.relevant_tokens, r.tokens / 50);  // one payload per 2 x ref_distance tokens
  }
}
