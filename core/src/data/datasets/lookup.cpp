// dataset = lookup: key/value lookup read by content. Tables of bound key/value tokens, and
// lookup_distance tokens later queries that name a key and are answered by its entry.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "data/dataset.h"
#include "data/task.h"
#include "util/error.h"

namespace ctlab {
namespace {

// The layout, with K = lookup_keys, V = lookup_values, D = lookup_distance:
//   a period of K + 2 tokens: a table of K entries, then one query of two tokens;
//   an entry is one token binding a key to a value (a one-layer model can only match a key
//   to a value that sits in the same token); a table holds every key once, in a random
//   order, each bound to a random value;
//   the query is the query token of a random key, then the answer: the entry that bound
//   that key in the table m = (D - 2) / (K + 2) periods back, repeated (so reading it out is
//   a copy). Which slot of that table holds the key is random: only the entries' content
//   says which one answers. Every answer lies D to D + K - 1 tokens after its entry, the
//   same window for every query.
// Token ids: entries [0, KV) (key, value), query tokens [KV, KV + K).
struct Layout {
  int64_t keys, values, periods_back;
  int64_t period() const { return keys + 2; }
  int64_t entry(int64_t key, int64_t value) const { return key * values + value; }
  int64_t query(int64_t key) const { return keys * values + key; }
  int64_t vocab() const { return keys * (values + 1); }
};

Layout layout_of(const DataOptions& o) {
  const int64_t k = o.lookup_keys, v = o.lookup_values, d = o.lookup_distance, p = k + 2;
  const auto s = [](int64_t x) { return std::to_string(x); };
  if (d < p + 2 || (d - 2) % p != 0)
    throw Error("dataset = lookup: lookup_distance = " + s(d) +
                ": expected 2 plus a positive multiple of lookup_keys + 2 = " + s(p) +
                " (the period), e.g. " + s(2 + p * std::max<int64_t>(1, (d - 2) / p)) + " or " +
                s(2 + p * ((d - 2) / p + 1)));
  const Layout l{k, v, (d - 2) / p};
  if (l.vocab() > 256)
    throw Error("dataset = lookup: lookup_keys = " + s(k) + " and lookup_values = " + s(v) + " need " +
                s(l.vocab()) + " token ids (" + s(k) + " keys x (" + s(v) +
                " values + 1)): expected at most 256");
  return l;
}

// Ideal losses (nats), with sight of the table / blind to it:
//   entry s of a table (a key not yet in it, any value): ln(K - s) + ln V / the same
//   query (any key)                                      ln K              / ln K
//   answer (the entry of the queried key):               0                 / ln V
// The first m periods' queries ask tables before the split's start: their answers cost
// ln V either way and carry no planted token.
void generate(const Layout& l, TaskStream& s, int64_t n, std::mt19937_64& gen) {
  const auto ln = [](int64_t x) { return std::log(static_cast<double>(x)); };
  std::uniform_int_distribution<int64_t> value(0, l.values - 1), any_key(0, l.keys - 1);
  // The last m + 1 tables, by period mod (m + 1): each key's value and token position.
  struct Table {
    std::vector<int64_t> value, at;
  };
  const auto ring = static_cast<size_t>(l.periods_back + 1);
  std::vector<Table> recent(ring, Table{std::vector<int64_t>(static_cast<size_t>(l.keys)),
                                        std::vector<int64_t>(static_cast<size_t>(l.keys))});
  std::vector<int64_t> order(static_cast<size_t>(l.keys));
  for (int64_t p = 0; static_cast<int64_t>(s.tokens.size()) < n; ++p) {
    Table& table = recent[static_cast<size_t>(p) % ring];
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), gen);
    for (int64_t j = 0; j < l.keys; ++j) {
      const auto key = static_cast<size_t>(order[j]);
      table.value[key] = value(gen);
      table.at[key] = static_cast<int64_t>(s.tokens.size());
      s.push(l.entry(order[j], table.value[key]), ln(l.keys - j) + ln(l.values),
             ln(l.keys - j) + ln(l.values));
    }
    const int64_t asked = p - l.periods_back, key = any_key(gen);
    s.push(l.query(key), ln(l.keys), ln(l.keys));
    if (asked < 0) {
      s.push(l.entry(key, value(gen)), ln(l.values), ln(l.values));
      continue;
    }
    const Table& source = recent[static_cast<size_t>(asked) % ring];
    const auto k = static_cast<size_t>(key);
    const int64_t at = static_cast<int64_t>(s.tokens.size());
    s.push(l.entry(key, source.value[k]), 0.0, ln(l.values), at - source.at[k]);
  }
}

// Validation and test hold at least this many tokens. An evaluation stream starts with
// empty memories, so the answers of its first D tokens cannot be recovered (their tables
// precede the stream), and a model trained with full memories answers them with
// confidence, wrongly (measured with an earlier layout: 5.9 nats per token over a stream's
// first 128 tokens, 1.1 afterwards); streams of 12 500 tokens (16 evaluation streams) keep
// those answers under 1%.
constexpr int64_t kEvalTokens = 200000;

}  // namespace

DatasetDef lookup_dataset() {
  return {
      "lookup",
      "key/value lookup read by content: tables of key/value tokens, queried lookup_distance tokens later",
      false, [](const DataOptions& o) {
        const Layout l = layout_of(o);
        return make_task_corpus(
            "lookup",
            "key/value lookup: " + std::to_string(l.keys) + " keys per table, " + std::to_string(l.values) +
                " values, queries " + std::to_string(o.lookup_distance) + "+ tokens after their table",
            l.vocab(), o.synthetic_tokens,
            std::max<int64_t>(kEvalTokens, 4 * (l.periods_back + 1) * l.period()),
            [l](TaskStream& s, int64_t n, std::mt19937_64& gen) { generate(l, s, n, gen); });
      }};
}

}  // namespace ctlab
