// Statistics against values computed independently (SymPy's Student-t distribution), the
// paired bootstrap's behaviour, and grouping runs into cells compared with a baseline.
#include <gtest/gtest.h>

#include <cmath>

#include "compare.h"
#include "stats.h"
#include "study/scorecard.h"
#include "util/error.h"

using namespace ctlab;

TEST(Stats, StudentTQuantilesAndCdf) {
  EXPECT_NEAR(stats::student_t_quantile(0.975, 2), 4.3026527297494574, 1e-9);
  EXPECT_NEAR(stats::student_t_quantile(0.975, 4), 2.7764451051977908, 1e-9);
  EXPECT_NEAR(stats::student_t_cdf(0, 3.3), 0.5, 1e-15);
  EXPECT_NEAR(stats::student_t_cdf(1.0, 1), 0.75, 1e-12);  // Cauchy: 1/2 + atan(1)/pi
  EXPECT_NEAR(stats::student_t_cdf(-2.0, 7) + stats::student_t_cdf(2.0, 7), 1.0, 1e-12);
}

TEST(Stats, SummaryConfidenceInterval) {
  auto s = stats::summarize({1, 2, 3, 4});
  EXPECT_EQ(s.n, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_NEAR(s.sd, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_NEAR(s.ci_low, 0.4457397432394785, 1e-9);
  EXPECT_NEAR(s.ci_high, 4.5542602567605215, 1e-9);
  auto one = stats::summarize({3.0});
  EXPECT_TRUE(std::isnan(one.ci_low));
}

TEST(Stats, WelchAgainstHandComputedValues) {
  // Equal variances and sizes: t = 3 / sqrt(2/3), df = 4.
  auto c = stats::welch({1, 2, 3}, {4, 5, 6});
  EXPECT_EQ(c.test, "welch");
  EXPECT_DOUBLE_EQ(c.diff, 3.0);
  EXPECT_NEAR(c.p_value, 0.02131164112875683, 1e-9);
  EXPECT_NEAR(c.ci_low, 3 - 2.7764451051977908 * std::sqrt(2.0 / 3.0), 1e-9);
  // Unequal variances and sizes: Welch-Satterthwaite df = 3.2347.
  auto u = stats::welch({2.0, 2.1, 1.9, 2.2}, {2.5, 2.9, 2.7});
  EXPECT_NEAR(u.diff, 0.65, 1e-12);
  EXPECT_NEAR(u.p_value, 0.013501451412320398, 1e-8);
  EXPECT_NEAR(u.ci_low, 0.24576720450769857, 1e-8);
  EXPECT_NEAR(u.ci_high, 1.054232795492302, 1e-8);
  EXPECT_TRUE(u.significant());
  // One run on a side: no test.
  auto none = stats::welch({1.0}, {2.0, 3.0});
  EXPECT_EQ(none.test, "none");
  EXPECT_TRUE(std::isnan(none.p_value));
}

TEST(Stats, PairedTAndSignFlipAgainstHandComputedValues) {
  // d = 0.5, 0.9, 0.2, 0.8: mean 0.6, sd sqrt(0.1), t = 0.6 / (sqrt(0.1) / 2) = 3.7947 with
  // 3 df; the two-sided p from the closed-form t(3) cdf.
  const std::vector<double> base = {1, 2, 3, 4}, cell = {1.5, 2.9, 3.2, 4.8};
  auto t = stats::paired_t(base, cell);
  EXPECT_EQ(t.test, "paired t");
  EXPECT_NEAR(t.diff, 0.6, 1e-12);
  EXPECT_NEAR(t.p_value, 0.03211941605041657, 1e-9);
  EXPECT_NEAR(t.ci_low, 0.6 - 3.182446305284263 * std::sqrt(0.1) / 2, 1e-8);
  EXPECT_NEAR(t.ci_high, 0.6 + 3.182446305284263 * std::sqrt(0.1) / 2, 1e-8);
  // Welch ignores the pairing and sees no difference at this spread.
  EXPECT_GT(stats::welch(base, cell).p_value, 0.4);
  // Sign flips: of the 16 patterns only all + and all - reach |sum| >= 2.4: p = 2/16.
  auto f = stats::sign_flip(base, cell);
  EXPECT_EQ(f.test, "sign-flip");
  EXPECT_DOUBLE_EQ(f.p_value, 0.125);
  EXPECT_DOUBLE_EQ(f.ci_low, t.ci_low);
  // d = 1, -1, 2: sums +-4, +-2, +-2, 0, 0: six of eight reach |2|.
  EXPECT_DOUBLE_EQ(stats::sign_flip({0, 0, 0}, {1, -1, 2}).p_value, 0.75);
  // Three seeds that all agree: the smallest p three pairs allow, 2/8.
  EXPECT_DOUBLE_EQ(stats::sign_flip({0, 0, 0}, {1, 2, 3}).p_value, 0.25);
  // Identical arms: p = 1; unequal lengths are an error.
  EXPECT_DOUBLE_EQ(stats::sign_flip({1, 2}, {1, 2}).p_value, 1.0);
  EXPECT_THROW(stats::paired_t({1, 2}, {1}), Error);
  EXPECT_EQ(stats::paired_t({1}, {2}).test, "none");
}

TEST(Stats, PairedBootstrapSeesConsistentAndNoisyDifferences) {
  std::vector<double> base, better, noisy;
  for (int i = 0; i < 200; ++i) {
    double v = 2.0 + 0.5 * std::sin(i * 1.7);  // segments differ a lot from each other
    base.push_back(v);
    better.push_back(v - 0.01);                            // always a little better
    noisy.push_back(v + 0.05 * std::sin(i * 12.9 + 0.3));  // no consistent change
  }
  auto b = stats::paired_bootstrap(base, better, 2000, 7);
  EXPECT_EQ(b.test, "bootstrap");
  EXPECT_NEAR(b.diff, -0.01, 1e-12);
  EXPECT_LT(b.ci_high, 0);
  EXPECT_LE(b.p_value, 1.0 / 2000 + 1e-12);
  auto n = stats::paired_bootstrap(base, noisy, 2000, 7);
  EXPECT_GT(n.p_value, 0.05) << n.diff;
  EXPECT_LT(n.ci_low, 0);
  EXPECT_GT(n.ci_high, 0);
  EXPECT_EQ(stats::paired_bootstrap(base, better, 2000, 7).p_value, b.p_value);  // seeded
}

TEST(Compare, CellsMatchTheirBaselineOnTheOtherAxes) {
  std::vector<RunResult> runs;
  auto add = [&](std::string v, std::string rate, std::string seed, double bpc) {
    runs.push_back({v + rate + seed, {{"variant", v}, {"rate", rate}, {"seed", seed}}, {{"bpc", bpc}}});
  };
  for (auto rate : {"2", "4"}) {
    add("txl", rate, "1", 3.00);
    add("txl", rate, "2", 3.01);
    add("txl", rate, "3", 2.99);
    add("ct", rate, "1", rate == std::string("2") ? 2.80 : 3.00);
    add("ct", rate, "2", rate == std::string("2") ? 2.81 : 3.02);
    add("ct", rate, "3", rate == std::string("2") ? 2.79 : 2.98);
  }
  auto cells = group_cells(runs);
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells[1].name, "variant=ct rate=2");
  EXPECT_EQ(cells[1].values.at("bpc").size(), 3u);
  auto rows = compare_to_baseline(cells, parse_conditions("variant=txl", "test"), {"bpc"}, nullptr);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].baseline, "variant=txl rate=2");
  EXPECT_EQ(rows[0].cell, "variant=ct rate=2");
  EXPECT_NEAR(rows[0].c.diff, -0.2, 1e-9);
  EXPECT_LT(rows[0].c.p_value, 0.001);
  EXPECT_EQ(verdict(rows[0]), "better (p < 0.05)");
  EXPECT_EQ(rows[1].baseline, "variant=txl rate=4");
  EXPECT_EQ(verdict(rows[1]), "not significant");
  EXPECT_THROW(parse_conditions("variant", "grid.ini:3"), Error);
}

TEST(Stats, PairedGridsMatchRunsBySeed) {
  // A seed effect shared by both arms (seed 1 high, seed 3 low) and a small, consistent
  // improvement: paired, the seeds cancel; unpaired, the spread hides it. Seeds come in
  // different orders, and seed 4 has no partner.
  std::vector<RunResult> runs;
  auto add = [&](std::string v, std::string seed, double recovered) {
    runs.push_back({v + seed, {{"variant", v}, {"seed", seed}}, {{"recovered", recovered}}});
  };
  add("base", "1", 0.60);
  add("base", "2", 0.40);
  add("base", "3", 0.20);
  add("new", "3", 0.25);
  add("new", "1", 0.66);
  add("new", "2", 0.44);
  add("new", "4", 0.90);
  const auto cells = group_cells(runs);
  const auto baseline = parse_conditions("variant=base", "test");
  const auto unpaired = compare_to_baseline(cells, baseline, {"recovered"}, nullptr);
  ASSERT_EQ(unpaired.size(), 1u);
  EXPECT_EQ(unpaired[0].c.test, "welch");
  EXPECT_FALSE(unpaired[0].exact.has_value());
  EXPECT_GT(unpaired[0].c.p_value, 0.2);
  const auto paired = compare_to_baseline(cells, baseline, {"recovered"}, nullptr, true);
  ASSERT_EQ(paired.size(), 1u);
  const auto& r = paired[0];
  EXPECT_EQ(r.c.test, "paired t");
  EXPECT_EQ(r.n_baseline, 3);  // seeds 1, 2, 3
  EXPECT_EQ(r.n_cell, 3);
  // Differences 0.06, 0.04, 0.05: mean 0.05, sd 0.01, t = 0.05 / (0.01 / sqrt 3) with 2 df.
  EXPECT_NEAR(r.c.diff, 0.05, 1e-12);
  // t(2)'s two-sided p has a closed form: 1 - t / sqrt(2 + t^2).
  const double t = 0.05 / (0.01 / std::sqrt(3.0));
  EXPECT_NEAR(r.c.p_value, 1 - t / std::sqrt(2 + t * t), 1e-9);
  EXPECT_LT(r.c.p_value, 0.05);
  ASSERT_TRUE(r.exact.has_value());
  EXPECT_EQ(r.exact->test, "sign-flip");
  EXPECT_DOUBLE_EQ(r.exact->p_value, 0.25);  // 3 pairs: 2 of 8 patterns
}

TEST(Stats, ScorecardGateNeedsALearnedCeilingAndAnUnreachedFloor) {
  EXPECT_TRUE(scorecard_gate(0.95, 0.02).informative);
  EXPECT_TRUE(scorecard_gate(0.9, 0.1).informative);  // the bounds themselves pass
  const auto low = scorecard_gate(0.62, 0.0);
  EXPECT_FALSE(low.informative);
  EXPECT_NE(low.text.find("txl_reach recovers 0.620 < 0.900"), std::string::npos) << low.text;
  const auto reached = scorecard_gate(0.97, 0.35);
  EXPECT_FALSE(reached.informative);
  EXPECT_NE(reached.text.find("txl_same_cost recovers 0.350 > 0.100"), std::string::npos) << reached.text;
  EXPECT_FALSE(scorecard_gate(NAN, 0.0).informative);
}

TEST(Stats, LoadThresholdInterpolatesInLogLoadWithABootstrapOverSeeds) {
  const std::vector<double> loads = {1, 2, 4};
  const std::vector<std::vector<double>> v = {{0.9, 0.95, 0.92}, {0.3, 0.2, 0.25}, {0.1, 0.1, 0.1}};
  const double m0 = (0.9 + 0.95 + 0.92) / 3, m1 = 0.25;
  const auto t = stats::load_threshold(loads, v);
  EXPECT_NEAR(t.estimate, std::pow(2.0, (m0 - 0.5) / (m0 - m1)), 1e-12);  // 1.546
  EXPECT_LE(t.low, t.estimate);
  EXPECT_GE(t.high, t.estimate);
  EXPECT_GT(t.low, 1.0);
  EXPECT_LT(t.high, 2.0);
  // Seeds that agree: no spread.
  const auto same = stats::load_threshold(loads, {{0.8, 0.8}, {0.2, 0.2}, {0.1, 0.1}});
  EXPECT_NEAR(same.estimate, std::pow(2.0, 0.5), 1e-12);
  EXPECT_DOUBLE_EQ(same.low, same.estimate);
  EXPECT_DOUBLE_EQ(same.high, same.estimate);
  // Beyond the loads measured: below the level already at the smallest, or never below it.
  EXPECT_EQ(stats::crossing(loads, {0.4, 0.2, 0.1}, 0.5), -INFINITY);
  EXPECT_EQ(stats::crossing(loads, {0.9, 0.8, 0.6}, 0.5), INFINITY);
  // A seed that stays high makes some resamples censored above.
  const auto mixed = stats::load_threshold(loads, {{0.9, 0.9, 0.9}, {0.1, 0.1, 0.9}, {0.1, 0.1, 0.9}});
  EXPECT_EQ(mixed.high, INFINITY);
  EXPECT_TRUE(std::isfinite(mixed.estimate));
  EXPECT_TRUE(std::isnan(stats::load_threshold({1, 2}, {{0.9}, {}}).estimate));  // unequal seeds
}

TEST(Stats, EachArmIsScoredAtItsBestLearningRate) {
  std::vector<RunResult> runs;
  auto add = [&](const std::string& variant, const std::string& seed, double recovered) {
    runs.push_back({variant + seed,
                    {{"variant", variant}, {"dataset", "synthetic"}, {"seed", seed}},
                    {{"recovered", recovered}}});
  };
  add("a", "1", 0.1), add("a", "2", 0.2);
  add("a~0.01", "1", 0.5), add("a~0.01", "2", 0.6);
  add("a~0.001", "1", 0.0), add("a~0.001", "2", 0.0);
  add("b", "1", 0.3), add("b", "2", 0.3);
  add("b~0.01", "1", 0.3), add("b~0.01", "2", 0.3);  // a tie: the suite's rate, seen first, stays
  add("a@4", "1", 0.05);
  std::map<std::string, std::string> chosen;
  const auto cells = group_cells(best_learning_rates(runs, &chosen));
  EXPECT_EQ(chosen["a synthetic"], "0.01");
  EXPECT_EQ(chosen["b synthetic"], "");
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_EQ(cells[0].name, "variant=a dataset=synthetic");
  EXPECT_EQ(cells[0].values.at("recovered"), (std::vector<double>{0.5, 0.6}));
  EXPECT_EQ(cells[0].run_ids, (std::vector<std::string>{"a~0.011", "a~0.012"}));
  EXPECT_EQ(cells[1].name, "variant=b dataset=synthetic");
  EXPECT_EQ(cells[1].run_ids, (std::vector<std::string>{"b1", "b2"}));
  EXPECT_EQ(cells[2].name, "variant=a@4 dataset=synthetic");  // capacity levels pass unchanged
}
