// Statistics against values computed independently (SymPy's Student-t distribution), the
// paired bootstrap's behaviour, and grouping runs into cells compared with a baseline.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "compare.h"
#include "stats.h"
#include "study/scorecard.h"
#include "study/scorecard_tables.h"
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

TEST(Stats, HolmAdjustsStepDownInTheInputOrder) {
  // Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> kept at 0.06.
  const auto h = stats::holm({0.01, 0.04, 0.03, 0.005});
  ASSERT_EQ(h.size(), 4u);
  EXPECT_NEAR(h[0], 0.03, 1e-12);
  EXPECT_NEAR(h[1], 0.06, 1e-12);
  EXPECT_NEAR(h[2], 0.06, 1e-12);
  EXPECT_NEAR(h[3], 0.02, 1e-12);
  // NaN is no test: it stays NaN and the family has two members.
  const auto n = stats::holm({0.02, NAN, 0.04});
  EXPECT_NEAR(n[0], 0.04, 1e-12);
  EXPECT_TRUE(std::isnan(n[1]));
  EXPECT_NEAR(n[2], 0.04, 1e-12);
  EXPECT_EQ(stats::holm({0.5, 0.6}), (std::vector<double>{1.0, 1.0}));  // capped at 1
}

TEST(Stats, SeedsForAnExactHolmPBelowAlpha) {
  // One test: 2^(1-n) < 0.01 first at n = 8 (0.0078; n = 7 gives 0.0156).
  EXPECT_EQ(stats::seeds_for_exact_holm(1), 8);
  // Ten pairs (five arms): 10 x 2^-9 = 0.0195, 10 x 2^-10 = 0.0098: 11 seeds.
  EXPECT_EQ(stats::seeds_for_exact_holm(10), 11);
  // Fifteen pairs (six arms): 15 x 2^-10 = 0.0146, 15 x 2^-11 = 0.0073: 12 seeds.
  EXPECT_EQ(stats::seeds_for_exact_holm(15), 12);
  // At 0.05, one test: 2^-5 = 0.031 < 0.05 <= 2^-4: 6 seeds.
  EXPECT_EQ(stats::seeds_for_exact_holm(1, 0.05), 6);
}

TEST(Stats, ProbabilityOfImprovementCountsTiesAsHalf) {
  // x against y: 1 beats only 0 (1 of 3), 2 ties twice and beats 0 (2 of 3), 3 beats all: 6 of 9.
  EXPECT_NEAR(stats::probability_of_improvement({1, 2, 3}, {2, 2, 0}), 6.0 / 9.0, 1e-12);
  EXPECT_DOUBLE_EQ(stats::probability_of_improvement({1}, {1}), 0.5);
  EXPECT_TRUE(std::isnan(stats::probability_of_improvement({}, {1})));
  // Ranking: the mean over the other arms, with a bootstrap over the (paired) seeds.
  const auto r = stats::improvement_ranking({{3, 3}, {2, 2}, {1, 1}});
  EXPECT_DOUBLE_EQ(r[0].estimate, 1.0);
  EXPECT_DOUBLE_EQ(r[1].estimate, 0.5);
  EXPECT_DOUBLE_EQ(r[2].estimate, 0.0);
  EXPECT_DOUBLE_EQ(r[1].low, 0.5);  // every resample orders them the same
  EXPECT_DOUBLE_EQ(r[1].high, 0.5);
  // Seed 1 favours a, seed 2 favours b: 2 of 4 run pairs; resamples of one seed twice give 0 or 1.
  const auto m = stats::improvement_ranking({{0.9, 0.1}, {0.5, 0.5}});
  EXPECT_DOUBLE_EQ(m[0].estimate, 0.5);
  EXPECT_DOUBLE_EQ(m[0].low, 0.0);
  EXPECT_DOUBLE_EQ(m[0].high, 1.0);
  EXPECT_TRUE(std::isnan(stats::improvement_ranking({{1, 2}}).front().estimate));  // one arm
}

TEST(Stats, ScoredAndSelectionSeedsAreDisjoint) {
  const auto s = split_seeds({1, 2, 3}, 8, 3);
  EXPECT_EQ(s.scored, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(s.selection, (std::vector<int64_t>{1001, 1002, 1003}));
  const auto suite = split_seeds({4, 5}, 0, 2);  // no --seeds: the suite's
  EXPECT_EQ(suite.scored, (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(suite.selection, (std::vector<int64_t>{1001, 1002}));
  EXPECT_THROW(split_seeds({1, 1001}, 0, 1), Error);
}

TEST(Stats, EachArmIsScoredAtItsBestLearningRate) {
  EXPECT_EQ(best_rate({{0.1, 0.2}, {0.5, 0.6}, {0.0, 0.0}}), 1u);
  EXPECT_EQ(best_rate({{0.3, 0.3}, {0.3, 0.3}}), 0u);    // a tie: the suite's rate, listed first
  EXPECT_EQ(best_rate({{0.3}, {}}), std::string::npos);  // a rate not measured yet: no choice
}

// A plan of four arms on one task, four seeds, with hand-set results.
namespace {
ScorecardPlan four_arm_plan(ScorecardResults& results) {
  ScorecardPlan plan;
  plan.grid.paired = true;
  const std::vector<std::pair<std::string, ArmRole>> arms = {{"fn", ArmRole::Candidate},
                                                             {"ref", ArmRole::Reference},
                                                             {"txl_same_cost", ArmRole::Floor},
                                                             {"txl_reach", ArmRole::Ceiling}};
  const std::vector<std::vector<double>> recovered = {
      {0.9, 0.8, 0.85, 0.95}, {0.5, 0.4, 0.45, 0.6}, {0.0, 0.0, 0.01, 0.0}, {0.95, 0.95, 0.96, 0.94}};
  for (size_t a = 0; a < arms.size(); ++a) {
    plan.arms.push_back({arms[a].first, {}, arms[a].second, true, ""});
    for (int64_t s = 1; s <= 4; ++s) {
      const std::string id = arms[a].first + std::to_string(s);
      plan.runs.push_back({a, "synthetic", Probe::Score, 0, s, id});
      results[id]["recovered"] = recovered[a][static_cast<size_t>(s - 1)];
    }
  }
  return plan;
}
}  // namespace

TEST(Stats, AllPairsRanksArmsAndAdjustsBothTestsOverTheTable) {
  ScorecardResults results;
  const ScorecardPlan plan = four_arm_plan(results);
  const auto t = all_pairs(plan, results, "synthetic");
  EXPECT_TRUE(t.gate.informative) << t.gate.text;
  ASSERT_EQ(t.ranking.size(), 3u);  // the ceiling is the gate, not a row
  EXPECT_EQ(t.ranking[0].arm, "fn");
  EXPECT_DOUBLE_EQ(t.ranking[0].improvement.estimate, 1.0);
  EXPECT_EQ(t.ranking[1].arm, "ref");
  EXPECT_DOUBLE_EQ(t.ranking[1].improvement.estimate, 0.5);
  ASSERT_EQ(t.pairs.size(), 3u);
  EXPECT_EQ(t.pairs[0].a, "fn");
  EXPECT_EQ(t.pairs[0].b, "ref");
  EXPECT_NEAR(t.pairs[0].t.diff, (0.4 + 0.4 + 0.4 + 0.35) / 4, 1e-12);
  for (const auto& p : t.pairs) {
    EXPECT_DOUBLE_EQ(p.exact.p_value, 0.125);  // 4 seeds, all one sign: 2 of 16 patterns
    EXPECT_DOUBLE_EQ(p.p_exact_holm, 0.375);   // 3 x 0.125, then held at 0.375
    EXPECT_DOUBLE_EQ(p.improvement, 1.0);
  }
  std::vector<double> raw;
  for (const auto& p : t.pairs) raw.push_back(p.t.p_value);
  const double smallest = *std::min_element(raw.begin(), raw.end());
  EXPECT_NEAR(std::min_element(t.pairs.begin(), t.pairs.end(),
                               [](const PairRow& x, const PairRow& y) { return x.p_t_holm < y.p_t_holm; })
                  ->p_t_holm,
              std::min(1.0, 3 * smallest), 1e-12);
}

// The same plan through the tables: the text, the report's Markdown and comparisons.csv
// carry the same rows.
TEST(Stats, ScorecardTablesShowTheRankingAndEveryPair) {
  ScorecardResults results;
  const ScorecardPlan plan = four_arm_plan(results);
  Suite suite;
  suite.tasks = {"synthetic"};
  ScorecardView v;
  v.suite = &suite;
  v.plan = &plan;
  v.results = &results;
  v.seeds = split_seeds({}, 4, 0);
  std::string text, md;
  for (const auto& t : scorecard_tables(v)) text += as_text(t), md += as_markdown(t);
  EXPECT_NE(text.find("gate           passes"), std::string::npos) << text;
  EXPECT_NE(text.find("1     fn             0.875 [0.772, 0.978]   1.000 [1.000, 1.000]"), std::string::npos)
      << text;
  EXPECT_NE(text.find("fn   ref            +0.387 [0.348, 0.427]"), std::string::npos) << text;
  EXPECT_NE(text.find("0.1250   0.3750"), std::string::npos) << text;  // exact p, raw and Holm
  EXPECT_NE(md.find("| rank | arm | recovered [95% CI] | P(improvement) [95% CI] |"), std::string::npos)
      << md;
  const auto csv = comparisons_table(v);
  ASSERT_EQ(csv.rows.size(), 3u);
  EXPECT_EQ(csv.rows[0][1], "fn");
  EXPECT_EQ(csv.rows[0][2], "ref");
  EXPECT_EQ(csv.rows[0][9], "0.375");  // p_exact_holm
  EXPECT_EQ(csv.rows[0][12], "1, 2, 3, 4");
}

// The shipped suite as the scorecard reads it: eight seeds, true distances, four loads and
// four source distances on the copy task, and the sweep of --full on three selection seeds.
TEST(Stats, ShippedSuiteScoresEightSeedsWithTwoCurves) {
  const Suite s = read_suite(std::string(CTLAB_TEST_SOURCE_DIR) + "/experiments/scorecard/suite.ini");
  EXPECT_EQ(s.seeds, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_TRUE(s.paired);
  EXPECT_EQ(s.positions, "true_distance");
  EXPECT_EQ(s.capacity.xs, (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(s.capacity.keys, (std::vector<std::string>{"cmem_rate", "cmem_len"}));
  EXPECT_EQ(s.reach.xs, (std::vector<double>{24, 64, 96, 128}));
  EXPECT_TRUE(s.reach.runs_on("synthetic"));
  EXPECT_FALSE(s.reach.runs_on("another_task"));
  EXPECT_EQ(s.learning_rates, (std::vector<std::string>{"0.001", "0.01"}));
  EXPECT_EQ(s.selection_seeds, 3);
  ASSERT_EQ(s.references.size(), 3u);
  EXPECT_EQ(s.references[0].name, "mean_pool");
}
