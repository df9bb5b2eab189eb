// Analyses: bucket layout and arithmetic on hand-built attention, frequency buckets.
#include <gtest/gtest.h>

#include "test_util.h"
#include "train/analysis.h"
#include "train/retention.h"
#include "util/error.h"

using namespace ctlab;

TEST(Buckets, LayoutSplitsEachRegionIntoEqualBuckets) {
  auto b = BucketLayout::make(12, 6, 6, 3);
  EXPECT_EQ(b.regions, (std::vector<std::string>{"compressed memory", "memory", "sequence"}));
  EXPECT_EQ(b.edges, (std::vector<int64_t>{0, 4, 8, 12, 14, 16, 18, 20, 22, 24}));
  EXPECT_EQ(b.region_of, (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2}));
  auto txl = BucketLayout::make(0, 4, 4, 6);  // regions shorter than 6 get one bucket per slot
  EXPECT_EQ(txl.regions, (std::vector<std::string>{"memory", "sequence"}));
  EXPECT_EQ(txl.buckets(), 8);
}

TEST(Buckets, MassAndSlotMeansOnAHandBuiltAttentionTensor) {
  // 1 layer, 1 head, klen 6 = cm 2 + m 2 + s 2, one bucket per slot pair (per_region 1).
  auto layout = BucketLayout::make(2, 2, 2, 1);
  AttentionBuckets acc(1, 1, layout);
  // Two queries; query 0 puts 0.5 on slot 0, 0.5 on slot 4; query 1 puts 0.25 on slots 1,2,3,5.
  auto p = torch::zeros({1, 1, 2, 6}, torch::kFloat32);
  p[0][0][0][0] = 0.5;
  p[0][0][0][4] = 0.5;
  for (int j : {1, 2, 3, 5}) p[0][0][1][j] = 0.25;
  auto q = torch::zeros({1, 1, 2, 6}, torch::kFloat32);  // a second sample: all mass on slot 5
  q[0][0][0][5] = 1.0;
  q[0][0][1][5] = 1.0;
  acc.add_segment({torch::cat({p, q}, 0)});
  EXPECT_EQ(acc.samples(), 2);
  // Sample 1 masses: cm = (0.5 + 0.25)/2 = 0.375, m = (0 + 0.5)/2 = 0.25, s = (0.5 + 0.25)/2 = 0.375.
  // Sample 2: cm 0, m 0, s 1.
  auto mass = acc.mass_mean()[0][0];
  EXPECT_TRUE(
      test::tensors_close(mass, torch::tensor({0.1875, 0.125, 0.6875}, torch::kFloat64), 1e-12, 1e-12));
  EXPECT_TRUE(test::tensors_close(
      acc.mass_sq_mean()[0][0],
      torch::tensor({0.375 * 0.375 / 2, 0.25 * 0.25 / 2, (0.375 * 0.375 + 1) / 2}, torch::kFloat64), 1e-12,
      1e-12));
  EXPECT_TRUE(test::tensors_close(acc.slot_mean()[0][0], mass / 2, 1e-12, 1e-12));  // 2 slots per bucket
  EXPECT_TRUE(test::tensors_close(acc.all_mass_mean(), mass, 1e-12, 1e-12));        // one layer, one head
  EXPECT_NEAR(mass.sum().item<double>(), 1.0, 1e-12);
}

TEST(Frequency, TargetsAreBucketedByTrainingCounts) {
  // Vocabulary of 4: training counts 5, 50, 500, 0.
  FrequencyBuckets f(torch::tensor({5, 50, 500, 0}, torch::kLong), {10, 100});
  EXPECT_EQ(f.labels(), (std::vector<std::string>{"< 10", "10-100", ">= 100"}));
  auto targets = torch::tensor({{0, 1}, {2, 3}}, torch::kLong);
  auto nll = torch::tensor({{1.0f, 2.0f}, {3.0f, 4.0f}});
  f.add(nll, targets);
  EXPECT_TRUE(test::tensors_close(f.count(), torch::tensor({2, 1, 1}, torch::kLong), 0, 0));
  EXPECT_TRUE(test::tensors_close(f.nll_sum(), torch::tensor({5.0, 2.0, 3.0}, torch::kFloat64), 0, 0));
  EXPECT_TRUE(test::tensors_close(f.types(), torch::tensor({2, 1, 1}, torch::kLong), 0, 0));
  FrequencyBuckets words(torch::tensor({1, 20000}, torch::kLong), {100, 1000, 10000});
  EXPECT_EQ(words.labels(), (std::vector<std::string>{"< 100", "100-1K", "1K-10K", ">= 10K"}));
}

namespace {

// n rows of `r` random token ids from a vocabulary of v; the features are `features(labels)`.
ProbeSet probe_set(int64_t n, int64_t r, int64_t v, uint64_t seed,
                   const std::function<torch::Tensor(const torch::Tensor&)>& features) {
  torch::manual_seed(seed);
  ProbeSet s;
  s.labels = torch::randint(v, {n, r}, torch::kLong);
  s.features = features(s.labels);
  s.bucket = torch::arange(n, torch::kLong) % 2;
  return s;
}

}  // namespace

TEST(RetentionProbe, IdentityIsFullyDecodableAndAConstantNotAtAll) {
  torch::manual_seed(7);
  const auto embed = torch::randn({16, 32});
  auto identity = [&](const torch::Tensor& y) { return embed.index_select(0, y.select(1, 0)); };
  auto p = fit_probe(probe_set(3000, 1, 16, 1, identity), probe_set(1000, 1, 16, 2, identity), 2);
  EXPECT_GT(p.overall, 0.95);
  EXPECT_EQ(p.retained.size(), 2u);
  for (double b : p.retained) EXPECT_GT(b, 0.95);
  EXPECT_NEAR(p.baseline_nats, std::log(16.0), 0.05);  // uniform tokens: the marginal is ln V
  EXPECT_EQ(p.classes, 17);                            // 16 ids and the pooled class

  auto constant = [](const torch::Tensor& y) { return torch::ones({y.size(0), 32}); };
  auto c = fit_probe(probe_set(3000, 1, 16, 1, constant), probe_set(1000, 1, 16, 2, constant), 2);
  EXPECT_NEAR(c.overall, 0.0, 0.01);
}

TEST(RetentionProbe, AVerbatimSlotOfEachPairRetainsHalfItsSources) {
  torch::manual_seed(7);
  const auto embed = torch::randn({16, 32});
  auto first = [&](const torch::Tensor& y) { return embed.index_select(0, y.select(1, 0)); };
  auto p = fit_probe(probe_set(3000, 2, 16, 1, first), probe_set(1000, 2, 16, 2, first), 2);
  ASSERT_EQ(p.per_source.size(), 2u);
  EXPECT_GT(p.per_source[0], 0.95);
  EXPECT_NEAR(p.per_source[1], 0.0, 0.02);
  EXPECT_NEAR(p.overall, 0.5, 0.03);
}

TEST(RetentionProbe, RareIdsArePooledAndEmptyOrMismatchedSetsAreRefused) {
  auto noise = [](const torch::Tensor& y) { return torch::randn({y.size(0), 8}); };
  auto p = fit_probe(probe_set(500, 1, 200, 1, noise), probe_set(200, 1, 200, 2, noise), 1, 50, 32);
  EXPECT_EQ(p.classes, 32);
  EXPECT_LT(p.overall, 0.05);  // noise features decode nothing (slightly negative: overfit)
  EXPECT_THROW(fit_probe(ProbeSet{}, probe_set(10, 1, 4, 2, noise), 1), Error);
  auto wide = [](const torch::Tensor& y) { return torch::randn({y.size(0), 9}); };
  EXPECT_THROW(fit_probe(probe_set(50, 1, 4, 1, noise), probe_set(50, 1, 4, 2, wide), 1), Error);
}

TEST(RetentionProbe, BucketLabelsSayHowFarBackTheirTokensLie) {
  // 32 slots at rate 2 behind 32 memory slots: slot 0 holds tokens 95-96 back, slot 31 33-34.
  const auto edges = retention_edges(32, 4);
  EXPECT_EQ(edges, (std::vector<int64_t>{0, 8, 16, 24, 32}));
  EXPECT_EQ(retention_labels(edges, 32, 32, 2),
            (std::vector<std::string>{"tokens 81-96 back", "tokens 65-80 back", "tokens 49-64 back",
                                      "tokens 33-48 back"}));
}
