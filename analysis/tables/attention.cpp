// `ctlab export attention`: attention by bucket from each run's analysis.h5, per layer and
// head and averaged over both ("all"), with standard errors over samples.
#include <cmath>

#include "export.h"
#include "store/analysis_file.h"

namespace ctlab {
namespace {

// Standard error of a mean from the mean and the mean square over n samples.
double standard_error(double mean, double sq, int64_t n) {
  double var = std::max(0.0, sq - mean * mean);
  return n > 1 ? std::sqrt(var * n / (n - 1) / n) : NAN;
}

void add_rows(const ExportContext& ctx, size_t i, const AttentionRecord& a, Table& t) {
  const int64_t nb = static_cast<int64_t>(a.region_of.size());
  auto emit = [&](const std::string& layer, const std::string& head, int64_t b, double m, double msq,
                  double s, double ssq) {
    auto row = ctx.prefix(i);
    for (auto v :
         {layer, head, std::to_string(b), a.regions.at(a.region_of[b]), std::to_string(a.edges[b]),
          std::to_string(a.edges[b + 1]), export_number(m), export_number(standard_error(m, msq, a.samples)),
          export_number(s), export_number(std::isnan(ssq) ? NAN : standard_error(s, ssq, a.samples)),
          std::to_string(a.samples), std::to_string(a.sequences)})
      row.push_back(v);
    t.rows.push_back(row);
  };
  for (int64_t l = 0; l < a.n_layer; ++l)
    for (int64_t h = 0; h < a.n_head; ++h)
      for (int64_t b = 0; b < nb; ++b) {
        size_t k = static_cast<size_t>((l * a.n_head + h) * nb + b);
        emit(std::to_string(l), std::to_string(h), b, a.mass[k], a.mass_sq[k], a.slot[k], a.slot_sq[k]);
      }
  for (int64_t b = 0; b < nb; ++b) {
    double size = static_cast<double>(a.edges[b + 1] - a.edges[b]);
    emit("all", "all", b, a.all[b], a.all_sq[b], a.all[b] / size, NAN);
  }
}

Table build(const ExportContext& ctx) {
  Table t;
  ctx.columns(t, {{"run_id", false}, {"experiment", false}},
              {{"layer", false},
               {"head", false},
               {"bucket", true},
               {"region", false},
               {"slot_lo", true},
               {"slot_hi", true},
               {"mass", true},
               {"mass_se", true},
               {"slot_mean", true},
               {"slot_mean_se", true},
               {"samples", true},
               {"sequences", true}});
  for (size_t i = 0; i < ctx.runs.size(); ++i) {
    AttentionRecord a;
    if (read_attention(ctx.layout.run(ctx.runs[i].run_id).analysis, "", a)) add_rows(ctx, i, a, t);
  }
  return t;
}

}  // namespace

ExportTableDef attention_table() {
  return {"attention", "one row per run x layer x head x bucket of key slots: attention mass and slot mean",
          build};
}

}  // namespace ctlab
