// The lookup task (dataset = lookup) on a small instance: every answer repeats the entry of
// its query's key `distance` back, that key is nowhere else in between, the best and blind
// losses add up to the stated ones, and bad keys are named.
#include <gtest/gtest.h>

#include <cmath>

#include "config/options.h"
#include "data/dataset.h"
#include "test_util.h"

using namespace ctlab;
using test::error_of;

namespace {

// 2 keys per table, 3 values, the shortest distance 8: a period of 6 tokens, queries one
// period after their table (m = 1), 3 namespaces; ids: entries [0, 18) (namespace, key,
// value), queries [18, 24) (namespace, key).
DataOptions small() {
  DataOptions o;
  o.dataset = "lookup";
  o.synthetic_tokens = 6000;
  o.lookup_keys = 2;
  o.lookup_values = 3;
  o.lookup_distance = 8;
  return o;
}

std::vector<int64_t> longs(const torch::Tensor& t) {
  auto l = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
}

std::vector<double> doubles(const torch::Tensor& t) {
  auto d = t.contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

}  // namespace

TEST(Lookup, EveryAnswerRepeatsTheEntryOfItsKeyAtTheStatedDistance) {
  const auto c = load_corpus(small());
  EXPECT_EQ(c.vocab_size, 24);
  const auto tok = longs(c.train), dist = longs(c.ideal.at("train").distance);
  const auto best = doubles(c.ideal.at("train").best), blind = doubles(c.ideal.at("train").blind);
  const double ln_v = std::log(3.0);
  int64_t answered = 0;
  for (size_t t = 0; t < tok.size(); ++t) {
    const int64_t phase = static_cast<int64_t>(t % 6);
    const bool answer = phase == 3 || phase == 5;
    ASSERT_EQ(tok[t] >= 18, phase == 2 || phase == 4) << t;  // query tokens only there
    if (!answer) {
      EXPECT_EQ(best[t], blind[t]) << t;
      EXPECT_EQ(dist[t], 0) << t;
      continue;
    }
    EXPECT_EQ(tok[t] / 3, tok[t - 1] - 18) << t;  // the answer is an entry of the queried key
    EXPECT_NEAR(blind[t], ln_v, 1e-12) << t;
    if (t < 6) {  // the first period asks a table before the split
      EXPECT_EQ(dist[t], 0);
      continue;
    }
    ++answered;
    ASSERT_EQ(best[t], 0.0) << t;
    ASSERT_TRUE(dist[t] >= 8 && dist[t] <= 11) << t << ": distance " << dist[t];
    const size_t src = t - static_cast<size_t>(dist[t]);
    ASSERT_LT(src % 6, 2u) << t << ": the source is a table entry";
    EXPECT_EQ(tok[src], tok[t]) << t;
    for (size_t u = src + 1; u < t; ++u)
      if (tok[u] < 18) EXPECT_NE(tok[u] / 3, tok[t] / 3) << t << ": the key again at " << u;
  }
  EXPECT_EQ(answered, (static_cast<int64_t>(tok.size()) / 6 - 1) * 2);  // 6000 tokens: 1000 periods
}

TEST(Lookup, BestAndBlindLossesAreTheStatedOnes) {
  const auto c = load_corpus(small());
  const auto best = doubles(c.ideal.at("valid").best), blind = doubles(c.ideal.at("valid").blind);
  // Per period from the second on: entries ln 2 + ln 3 and ln 3, queries ln 2 and 0,
  // answers 0 (best) or ln 3 each (blind).
  const double ln2 = std::log(2.0), ln3 = std::log(3.0);
  const size_t periods = best.size() / 6;
  double sb = 0, sl = 0;
  for (size_t i = 6; i < periods * 6; ++i) sb += best[i], sl += blind[i];
  EXPECT_NEAR(sb, (periods - 1) * (2 * ln2 + 2 * ln3), 1e-8);
  EXPECT_NEAR(sl, (periods - 1) * (2 * ln2 + 4 * ln3), 1e-8);
  EXPECT_TRUE(c.train.equal(load_corpus(small()).train));
}

TEST(Lookup, SuiteSizeFitsTheTokenIds) {
  DataOptions o = small();
  o.lookup_values = 6;
  o.lookup_distance = 98;  // 18 namespaces: 18 x 2 x 7 = 252 ids
  EXPECT_EQ(load_corpus(o).vocab_size, 252);
  const auto dist = longs(load_corpus(o).ideal.at("valid").distance);
  EXPECT_EQ(*std::max_element(dist.begin(), dist.end()), 101);
}

TEST(Lookup, BadKeysAreNamedWithWhatIsExpected) {
  DataOptions o = small();
  o.lookup_distance = 9;
  EXPECT_EQ(
      error_of([&] { load_corpus(o); }),
      "dataset = lookup: lookup_distance = 9: expected 2 plus a positive multiple of 3 x lookup_keys = 6 "
      "(the period), e.g. 8 or 14");
  o = small();
  o.lookup_values = 7;
  o.lookup_distance = 98;
  EXPECT_EQ(
      error_of([&] { load_corpus(o); }),
      "dataset = lookup: lookup_keys = 2, lookup_values = 7 and lookup_distance = 98 need 279 token ids "
      "(17 namespaces x 2 keys x (7 values + 1) + 7 answers): expected at most 256");
  RunConfig cfg;
  EXPECT_EQ(error_of([&] { apply_setting(cfg, "lookup_keys", "1", "--set"); }),
            "--set: bad value for 'lookup_keys' = '1': expected an integer >= 2");
}
