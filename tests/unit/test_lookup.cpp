// The lookup task (dataset = lookup) on a small instance: every answer repeats the entry of
// its query's key in the table `distance` back, in either slot, the best and blind losses
// add up to the stated ones, and bad keys are named with what is expected.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "config/options.h"
#include "data/dataset.h"
#include "test_util.h"

using namespace ctlab;
using test::error_of;

namespace {

// 2 keys per table, 3 values, the shortest distance 6: a period of 4 tokens (entries at 0
// and 1, a query at 2, its answer at 3), queries one period after their table; ids: entries
// [0, 6) (key x 3 + value), query tokens [6, 8).
DataOptions small() {
  DataOptions o;
  o.dataset = "lookup";
  o.synthetic_tokens = 6000;
  o.lookup_keys = 2;
  o.lookup_values = 3;
  o.lookup_distance = 6;
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
  EXPECT_EQ(c.vocab_size, 8);
  const auto tok = longs(c.train), dist = longs(c.ideal.at("train").distance);
  const auto best = doubles(c.ideal.at("train").best), blind = doubles(c.ideal.at("train").blind);
  const double ln2 = std::log(2.0), ln3 = std::log(3.0);
  std::map<int64_t, int64_t> by_distance;
  for (size_t t = 1; t < tok.size(); ++t) {
    const int64_t phase = static_cast<int64_t>(t % 4);
    ASSERT_EQ(tok[t] >= 6, phase == 2) << t;  // query tokens, and only there
    if (phase < 3) {
      EXPECT_NEAR(best[t], phase == 0 ? ln2 + ln3 : phase == 1 ? ln3 : ln2, 1e-12) << t;
      EXPECT_EQ(best[t], blind[t]) << t;
      EXPECT_EQ(dist[t], 0) << t;
      continue;
    }
    const int64_t key = tok[t - 1] - 6;
    ASSERT_EQ(tok[t] / 3, key) << t;  // the answer is an entry of the queried key
    EXPECT_NEAR(blind[t], ln3, 1e-12) << t;
    if (t < 4) {  // the first period asks a table before the split
      EXPECT_EQ(dist[t], 0);
      continue;
    }
    ASSERT_EQ(best[t], 0.0) << t;
    ASSERT_TRUE(dist[t] == 6 || dist[t] == 7) << t << ": distance " << dist[t];
    const size_t src = t - static_cast<size_t>(dist[t]), other = src - src % 4 + (1 - src % 4);
    EXPECT_EQ(tok[src], tok[t]) << t;     // the entry, repeated
    EXPECT_NE(tok[other] / 3, key) << t;  // the table's other entry holds the other key
    ++by_distance[dist[t]];
  }
  // 1499 periods with answers; the queried key sits in either slot about as often.
  EXPECT_EQ(by_distance[6] + by_distance[7], 1499);
  EXPECT_NEAR(static_cast<double>(by_distance[6]) / 1499, 0.5, 0.05);
}

TEST(Lookup, BestAndBlindLossesAreTheStatedOnes) {
  const auto c = load_corpus(small());
  const auto best = doubles(c.ideal.at("valid").best), blind = doubles(c.ideal.at("valid").blind);
  // Per period from the second on: entries ln 2 + ln 3 and ln 3, the query ln 2, the answer
  // 0 (best) or ln 3 (blind).
  const double ln2 = std::log(2.0), ln3 = std::log(3.0);
  const size_t periods = best.size() / 4;
  double sb = 0, sl = 0;
  for (size_t i = 4; i < periods * 4; ++i) sb += best[i], sl += blind[i];
  EXPECT_NEAR(sb / static_cast<double>(periods - 1), 2 * ln2 + 2 * ln3, 1e-9);  // per period
  EXPECT_NEAR(sl / static_cast<double>(periods - 1), 2 * ln2 + 3 * ln3, 1e-9);
  EXPECT_GE(best.size(), 200000u);  // long evaluation streams
  EXPECT_TRUE(c.train.equal(load_corpus(small()).train));
}

TEST(Lookup, TheSuiteSizeHas34TokenIdsAndSources98Or99Back) {
  DataOptions o = small();
  o.lookup_values = 16;
  o.lookup_distance = 98;
  const auto c = load_corpus(o);
  EXPECT_EQ(c.vocab_size, 34);
  const auto dist = longs(c.ideal.at("valid").distance);
  EXPECT_EQ(*std::max_element(dist.begin(), dist.end()), 99);
  int64_t shortest = 1000;
  for (auto d : dist)
    if (d > 0) shortest = std::min(shortest, d);
  EXPECT_EQ(shortest, 98);
}

TEST(Lookup, BadKeysAreNamedWithWhatIsExpected) {
  DataOptions o = small();
  o.lookup_distance = 9;
  EXPECT_EQ(
      error_of([&] { load_corpus(o); }),
      "dataset = lookup: lookup_distance = 9: expected 2 plus a positive multiple of lookup_keys + 2 = 4 "
      "(the period), e.g. 6 or 10");
  o = small();
  o.lookup_keys = 16;
  o.lookup_values = 16;
  o.lookup_distance = 110;
  EXPECT_EQ(
      error_of([&] { load_corpus(o); }),
      "dataset = lookup: lookup_keys = 16 and lookup_values = 16 need 272 token ids (16 keys x (16 values "
      "+ 1)): expected at most 256");
  RunConfig cfg;
  EXPECT_EQ(error_of([&] { apply_setting(cfg, "lookup_keys", "1", "--set"); }),
            "--set: bad value for 'lookup_keys' = '1': expected an integer >= 2");
}
