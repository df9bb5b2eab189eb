// Statistics against values computed independently (SymPy's Student-t distribution), the
// paired bootstrap's behaviour, and grouping runs into cells compared with a baseline.
#include <gtest/gtest.h>

#include <cmath>

#include "compare.h"
#include "stats.h"
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
