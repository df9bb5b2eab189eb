// `ctlab export retention`: retained vs used from each run's analysis.h5 (runs trained with
// retention_segments > 0), one row per distance region, then an "all" row per run.
#include <algorithm>
#include <cmath>

#include "export.h"
#include "store/analysis_file.h"

namespace ctlab {
namespace {

// The mean over layers of one bucket's retained (NaN past the compressed-memory buckets).
double retained_of(const RetentionRecord& r, size_t bucket) {
  const size_t nb = r.buckets.size();
  if (bucket >= nb || r.n_layer == 0) return NAN;
  double sum = 0;
  for (int64_t l = 0; l < r.n_layer; ++l) sum += r.retained[static_cast<size_t>(l) * nb + bucket];
  return sum / static_cast<double>(r.n_layer);
}

void add_rows(const ExportContext& ctx, size_t i, const RetentionRecord& r, Table& t) {
  // The regions: the compressed-memory buckets, then (generated tasks) memory, the segment
  // and beyond reach.
  const size_t n = std::max(r.buckets.size(), r.regions.size());
  for (size_t b = 0; b < n; ++b) {
    const bool used = b < r.regions.size();
    auto row = ctx.prefix(i);
    for (auto v : {std::to_string(b), b < r.buckets.size() ? r.buckets[b] : r.regions[b],
                   export_number(retained_of(r, b)), used ? std::to_string(r.relevant[b]) : std::string(),
                   used ? export_number(r.recovered[b]) : std::string(),
                   used ? export_number(r.recovered_no_cmem[b]) : std::string()})
      row.push_back(v);
    t.rows.push_back(row);
  }
  int64_t relevant = 0;
  for (auto x : r.relevant) relevant += x;
  auto row = ctx.prefix(i);
  for (auto v : {std::string(""), std::string("all"), export_number(r.retained_all),
                 r.regions.empty() ? std::string() : std::to_string(relevant), export_number(r.recovered_all),
                 export_number(r.recovered_no_cmem_all)})
    row.push_back(v);
  t.rows.push_back(row);
}

Table build(const ExportContext& ctx) {
  Table t;
  ctx.columns(t, {{"run_id", false}, {"experiment", false}},
              {{"region", true},
               {"label", false},
               {"retained", true},
               {"relevant_tokens", true},
               {"recovered", true},
               {"recovered_no_cmem", true}});
  for (size_t i = 0; i < ctx.runs.size(); ++i) {
    RetentionRecord r;
    if (read_retention(ctx.layout.run(ctx.runs[i].run_id).analysis, "", r)) add_rows(ctx, i, r, t);
  }
  return t;
}

}  // namespace

ExportTableDef retention_table() {
  return {"retention",
          "one row per run x distance region: what a linear probe decodes from the compressed slots "
          "(retained), and recovered with and without compressed memory (runs with retention_segments > 0)",
          build};
}

}  // namespace ctlab
