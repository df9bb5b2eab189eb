// Statistics for comparing cells of a study: means over seeds with Student-t confidence
// intervals, Welch's two-sample t-test between a cell and its baseline, and a paired
// bootstrap over evaluation segments for single-seed comparisons. Pure functions over
// doubles; report.cpp and `ctlab grid status` use them.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace ctlab::stats {

// Regularised incomplete beta function I_x(a, b) (continued fraction).
double incomplete_beta(double a, double b, double x);
// P(T <= t) for Student's t with df degrees of freedom (df may be fractional).
double student_t_cdf(double t, double df);
// The q-quantile of Student's t with df degrees of freedom.
double student_t_quantile(double q, double df);

struct Summary {
  int64_t n = 0;
  double mean = 0;
  double sd = 0;  // sample standard deviation (n - 1); 0 for n = 1
  double se = 0;  // sd / sqrt(n)
  // 95% confidence interval of the mean (t with n - 1 df); NaN for n < 2.
  double ci_low = 0, ci_high = 0;
};
Summary summarize(const std::vector<double>& xs, double level = 0.95);

struct Comparison {
  double mean_baseline = 0, mean_cell = 0;
  double diff = 0;                 // mean_cell - mean_baseline
  double ci_low = 0, ci_high = 0;  // 95% interval of diff; NaN when it cannot be estimated
  double p_value = 0;              // two-sided; NaN when it cannot be computed
  std::string test;                // "welch", "paired t", "sign-flip", "bootstrap" or "none"
  bool significant(double alpha = 0.05) const { return p_value == p_value && p_value < alpha; }
};

// Welch's t-test of cell against baseline (unequal variances, Welch-Satterthwaite df).
// Needs at least 2 values on each side; otherwise test = "none" and NaN interval/p.
Comparison welch(const std::vector<double>& baseline, const std::vector<double>& cell, double level = 0.95);

// Paired t-test over seeds: baseline[i] and cell[i] come from the same seed (the same data
// order and shared initial weights), so the test is on the differences d_i = cell[i] -
// baseline[i] (t = mean(d) / (sd(d) / sqrt(n)), n - 1 df). Needs n >= 2 pairs.
Comparison paired_t(const std::vector<double>& baseline, const std::vector<double>& cell,
                    double level = 0.95);

// Exact sign-flip permutation test of the same pairs: under "no difference" each d_i is as
// likely -d_i, so the p-value is the share of the 2^n sign patterns whose |mean| is at
// least the observed one (the observed pattern included: never below 2^-(n-1) for a
// two-sided test; with 3 seeds the smallest p is 0.25, with 5 it is 0.0625). n <= 20; the
// interval is the paired t's.
Comparison sign_flip(const std::vector<double>& baseline, const std::vector<double>& cell,
                     double level = 0.95);

// Paired bootstrap over evaluation segments: baseline[i] and cell[i] are the mean losses
// of the same segment i under the two models. Resamples segments with replacement
// (`resamples` times, seeded), gives the percentile interval of the mean difference and
// the two-sided p-value 2 min(P(d* <= 0), P(d* >= 0)) (at least 1/resamples).
Comparison paired_bootstrap(const std::vector<double>& baseline, const std::vector<double>& cell,
                            int64_t resamples = 10000, uint64_t seed = 1, double level = 0.95);

// The load at which a curve falls to `level`: loads ascending (> 0), values[i] the seeds'
// values at loads[i] (the same seeds in the same order at every load). The crossing of the
// mean curve from >= level to < level, interpolated linearly in log(load); -inf when the
// mean is below level already at the smallest load, +inf when it never falls below it.
// The interval: percentiles of the same statistic over `resamples` bootstrap resamples of
// the seeds (one draw of seeds for all loads, as the seeds are paired across loads).
struct Threshold {
  double estimate = NAN, low = NAN, high = NAN;  // +-inf: beyond the loads measured
};
double crossing(const std::vector<double>& loads, const std::vector<double>& means, double level);
Threshold load_threshold(const std::vector<double>& loads, const std::vector<std::vector<double>>& values,
                         double level = 0.5, int64_t resamples = 2000, uint64_t seed = 1, double ci = 0.95);

// Holm's step-down adjustment of m p-values for the family they form: the i-th smallest
// (i = 1..m) becomes max over j <= i of min(1, (m - j + 1) p_(j)); returned in the input
// order. NaN p-values stay NaN and do not count in m.
std::vector<double> holm(const std::vector<double>& p);

// The fewest paired seeds with which a two-sided exact sign-flip p, Holm-adjusted over a
// family of m tests, can fall below alpha: Holm multiplies the family's smallest p by m, and
// the exact test's smallest p with n seeds is 2^(1-n), so the least n with m 2^(1-n) < alpha.
int64_t seeds_for_exact_holm(int64_t m, double alpha = 0.01);

// The probability of improvement of x over y (Agarwal et al. 2021): P(X > Y) for a run X
// of x and a run Y of y drawn independently, counting ties as one half; NaN when either is
// empty.
double probability_of_improvement(const std::vector<double>& x, const std::vector<double>& y);

// Per arm a (values[a][s]: arm a at seed s, every arm the same seeds in the same order), the
// mean over the other arms of the probability of improvement of a over each, with a
// percentile interval over `resamples` bootstrap draws of the seeds (one draw for all arms,
// as the seeds are paired). Needs two arms and one seed; else NaN.
struct Interval {
  double estimate = NAN, low = NAN, high = NAN;
};
std::vector<Interval> improvement_ranking(const std::vector<std::vector<double>>& values,
                                          int64_t resamples = 2000, uint64_t seed = 1, double ci = 0.95);

}  // namespace ctlab::stats
