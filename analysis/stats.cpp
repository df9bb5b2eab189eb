// Student-t and bootstrap statistics.
#include "stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "util/error.h"

namespace ctlab::stats {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Lentz's continued fraction for the incomplete beta (Numerical Recipes' betacf, in the
// form of DLMF 8.17.22).
double beta_fraction(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-15;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (std::abs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < eps) break;
  }
  return h;
}

double mean_of(const std::vector<double>& xs) {
  return xs.empty() ? kNaN : std::accumulate(xs.begin(), xs.end(), 0.0) / static_cast<double>(xs.size());
}

double variance_of(const std::vector<double>& xs, double mean) {
  if (xs.size() < 2) return 0;
  double v = 0;
  for (double x : xs) v += (x - mean) * (x - mean);
  return v / static_cast<double>(xs.size() - 1);
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(a, b, x) / a;
  return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

double student_t_cdf(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));  // P(T > |t|)
  return t > 0 ? 1 - tail : tail;
}

double student_t_quantile(double q, double df) {
  if (!(q > 0 && q < 1) || !(df > 0)) return kNaN;
  double lo = -1e6, hi = 1e6;
  for (int i = 0; i < 200; ++i) {  // bisection: the cdf is monotone
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < q ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

Summary summarize(const std::vector<double>& xs, double level) {
  Summary s;
  s.n = static_cast<int64_t>(xs.size());
  s.mean = mean_of(xs);
  s.sd = std::sqrt(variance_of(xs, s.mean));
  s.se = s.n > 0 ? s.sd / std::sqrt(static_cast<double>(s.n)) : kNaN;
  if (s.n < 2) {
    s.ci_low = s.ci_high = kNaN;
    return s;
  }
  const double t = student_t_quantile(0.5 + level / 2, static_cast<double>(s.n - 1));
  s.ci_low = s.mean - t * s.se;
  s.ci_high = s.mean + t * s.se;
  return s;
}

namespace {

// The means and their difference, with no test yet (NaN interval and p, test "none").
Comparison untested(const std::vector<double>& baseline, const std::vector<double>& cell) {
  Comparison c;
  c.mean_baseline = mean_of(baseline);
  c.mean_cell = mean_of(cell);
  c.diff = c.mean_cell - c.mean_baseline;
  c.ci_low = c.ci_high = c.p_value = kNaN;
  c.test = "none";
  return c;
}

}  // namespace

Comparison welch(const std::vector<double>& baseline, const std::vector<double>& cell, double level) {
  Comparison c = untested(baseline, cell);
  if (baseline.size() < 2 || cell.size() < 2) return c;
  const double va = variance_of(baseline, c.mean_baseline) / static_cast<double>(baseline.size());
  const double vb = variance_of(cell, c.mean_cell) / static_cast<double>(cell.size());
  const double se = std::sqrt(va + vb);
  c.test = "welch";
  if (se == 0) {  // identical values on both sides: certain when the means differ
    c.ci_low = c.ci_high = c.diff;
    c.p_value = c.diff == 0 ? 1.0 : 0.0;
    return c;
  }
  const double df =
      (va + vb) * (va + vb) /
      (va * va / static_cast<double>(baseline.size() - 1) + vb * vb / static_cast<double>(cell.size() - 1));
  const double t = c.diff / se;
  c.p_value = std::min(1.0, 2 * student_t_cdf(-std::abs(t), df));
  const double q = student_t_quantile(0.5 + level / 2, df);
  c.ci_low = c.diff - q * se;
  c.ci_high = c.diff + q * se;
  return c;
}

namespace {

std::vector<double> pair_differences(const std::vector<double>& baseline, const std::vector<double>& cell,
                                     const char* test) {
  if (baseline.size() != cell.size())
    throw Error(std::string(test) + ": " + std::to_string(baseline.size()) + " baseline values but " +
                std::to_string(cell.size()) + " paired cell values");
  std::vector<double> d(cell.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = cell[i] - baseline[i];
  return d;
}

}  // namespace

Comparison paired_t(const std::vector<double>& baseline, const std::vector<double>& cell, double level) {
  const auto d = pair_differences(baseline, cell, "paired t-test");
  Comparison c = untested(baseline, cell);
  if (d.size() < 2) return c;
  const auto s = summarize(d, level);
  c.test = "paired t";
  if (s.se == 0) {  // every pair differs by the same amount
    c.ci_low = c.ci_high = c.diff;
    c.p_value = c.diff == 0 ? 1.0 : 0.0;
    return c;
  }
  const double df = static_cast<double>(d.size() - 1);
  c.p_value = std::min(1.0, 2 * student_t_cdf(-std::abs(s.mean / s.se), df));
  c.ci_low = s.ci_low;
  c.ci_high = s.ci_high;
  return c;
}

Comparison sign_flip(const std::vector<double>& baseline, const std::vector<double>& cell, double level) {
  const auto d = pair_differences(baseline, cell, "sign-flip test");
  if (d.size() > 20)
    throw Error("sign-flip test: " + std::to_string(d.size()) + " pairs; at most 20 (2^n patterns)");
  Comparison c = paired_t(baseline, cell, level);
  if (d.empty()) return c;
  double observed = 0;
  for (double x : d) observed += x;
  observed = std::abs(observed);
  const uint64_t patterns = uint64_t{1} << d.size();
  uint64_t as_extreme = 0;
  for (uint64_t m = 0; m < patterns; ++m) {
    double sum = 0;
    for (size_t i = 0; i < d.size(); ++i) sum += (m >> i & 1) ? -d[i] : d[i];
    // A relative tolerance, so that the observed pattern counts despite rounding.
    if (std::abs(sum) >= observed * (1 - 1e-12)) ++as_extreme;
  }
  c.p_value = static_cast<double>(as_extreme) / static_cast<double>(patterns);
  c.test = "sign-flip";
  return c;
}

Comparison paired_bootstrap(const std::vector<double>& baseline, const std::vector<double>& cell,
                            int64_t resamples, uint64_t seed, double level) {
  if (baseline.size() != cell.size())
    throw Error("paired bootstrap: " + std::to_string(baseline.size()) + " baseline segments but " +
                std::to_string(cell.size()) + " cell segments");
  Comparison c = untested(baseline, cell);
  const size_t n = cell.size();
  if (n < 2 || resamples < 1) return c;
  std::vector<double> d(n);
  for (size_t i = 0; i < n; ++i) d[i] = cell[i] - baseline[i];
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<double> means(static_cast<size_t>(resamples));
  for (auto& m : means) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += d[pick(gen)];
    m = s / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  auto at = [&](double q) {
    auto k = static_cast<size_t>(
        std::clamp(q * static_cast<double>(resamples - 1), 0.0, static_cast<double>(resamples - 1)));
    return means[k];
  };
  c.ci_low = at((1 - level) / 2);
  c.ci_high = at((1 + level) / 2);
  const double below = static_cast<double>(std::upper_bound(means.begin(), means.end(), 0.0) - means.begin());
  const double above = static_cast<double>(means.end() - std::lower_bound(means.begin(), means.end(), 0.0));
  c.p_value = std::max(1.0 / static_cast<double>(resamples),
                       std::min(1.0, 2 * std::min(below, above) / static_cast<double>(resamples)));
  c.test = "bootstrap";
  return c;
}

double crossing(const std::vector<double>& loads, const std::vector<double>& means, double level) {
  if (loads.empty() || loads.size() != means.size()) return NAN;
  if (means[0] < level) return -INFINITY;
  for (size_t i = 1; i < loads.size(); ++i)
    if (means[i] < level) {
      const double a = std::log(loads[i - 1]), b = std::log(loads[i]);
      const double f = (means[i - 1] - level) / (means[i - 1] - means[i]);
      return std::exp(a + f * (b - a));
    }
  return INFINITY;
}

Threshold load_threshold(const std::vector<double>& loads, const std::vector<std::vector<double>>& values,
                         double level, int64_t resamples, uint64_t seed, double ci) {
  Threshold t;
  if (loads.empty() || loads.size() != values.size()) return t;
  const size_t n = values[0].size();
  for (const auto& v : values)
    if (v.size() != n || n == 0) return t;
  auto means_of = [&](const std::vector<size_t>& pick) {
    std::vector<double> m;
    for (const auto& v : values) {
      double s = 0;
      for (size_t i : pick) s += v[i];
      m.push_back(s / static_cast<double>(pick.size()));
    }
    return m;
  };
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  t.estimate = crossing(loads, means_of(all), level);
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<size_t> draw(0, n - 1);
  std::vector<double> boot;
  std::vector<size_t> pick(n);
  for (int64_t r = 0; r < resamples; ++r) {
    for (auto& p : pick) p = draw(gen);
    boot.push_back(crossing(loads, means_of(pick), level));
  }
  std::sort(boot.begin(), boot.end());
  auto at = [&](double q) {
    const size_t i =
        std::min(boot.size() - 1, static_cast<size_t>(std::floor(q * static_cast<double>(boot.size()))));
    return boot[i];
  };
  t.low = at((1 - ci) / 2);
  t.high = at(1 - (1 - ci) / 2);
  return t;
}

std::vector<double> holm(const std::vector<double>& p) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out(p.size(), NAN);
  const double m = static_cast<double>(order.size());
  double running = 0;  // the step-down maximum keeps the adjusted values in the raw order
  for (size_t k = 0; k < order.size(); ++k) {
    running = std::max(running, std::min(1.0, (m - static_cast<double>(k)) * p[order[k]]));
    out[order[k]] = running;
  }
  return out;
}

int64_t seeds_for_exact_holm(int64_t m, double alpha) {
  int64_t n = 1;
  while (static_cast<double>(std::max<int64_t>(m, 1)) * std::pow(2.0, 1.0 - static_cast<double>(n)) >= alpha)
    ++n;
  return n;
}

double probability_of_improvement(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.empty() || y.empty()) return NAN;
  double wins = 0;
  for (double a : x)
    for (double b : y) wins += a > b ? 1.0 : a == b ? 0.5 : 0.0;
  return wins / static_cast<double>(x.size() * y.size());
}

namespace {

// Each arm's mean probability of improvement over the others, on the seeds in `pick`.
std::vector<double> mean_improvement(const std::vector<std::vector<double>>& values,
                                     const std::vector<size_t>& pick) {
  std::vector<std::vector<double>> drawn(values.size());
  for (size_t a = 0; a < values.size(); ++a)
    for (size_t i : pick) drawn[a].push_back(values[a][i]);
  std::vector<double> out(values.size(), 0.0);
  for (size_t a = 0; a < values.size(); ++a) {
    for (size_t b = 0; b < values.size(); ++b)
      if (a != b) out[a] += probability_of_improvement(drawn[a], drawn[b]);
    out[a] /= static_cast<double>(values.size() - 1);
  }
  return out;
}

}  // namespace

std::vector<Interval> improvement_ranking(const std::vector<std::vector<double>>& values, int64_t resamples,
                                          uint64_t seed, double ci) {
  std::vector<Interval> out(values.size());
  const size_t n = values.empty() ? 0 : values[0].size();
  for (const auto& v : values)
    if (v.size() != n) return out;
  if (values.size() < 2 || n == 0) return out;
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  const auto estimate = mean_improvement(values, all);
  std::vector<std::vector<double>> boot(values.size());
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<size_t> draw(0, n - 1);
  std::vector<size_t> pick(n);
  for (int64_t r = 0; r < resamples; ++r) {
    for (auto& p : pick) p = draw(gen);
    const auto m = mean_improvement(values, pick);
    for (size_t a = 0; a < values.size(); ++a) boot[a].push_back(m[a]);
  }
  for (size_t a = 0; a < values.size(); ++a) {
    auto& b = boot[a];
    std::sort(b.begin(), b.end());
    auto at = [&](double q) {
      return b.empty() ? NAN
                       : b[std::min(b.size() - 1,
                                    static_cast<size_t>(std::floor(q * static_cast<double>(b.size()))))];
    };
    out[a] = {estimate[a], at((1 - ci) / 2), at(1 - (1 - ci) / 2)};
  }
  return out;
}

}  // namespace ctlab::stats
