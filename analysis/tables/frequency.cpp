// `ctlab export frequency`: perplexity by token-frequency bucket from each run's
// analysis.h5, with an "all" row per run.
#include <cmath>

#include "export.h"
#include "store/analysis_file.h"

namespace ctlab {
namespace {

void add_rows(const ExportContext& ctx, size_t i, const FrequencyRecord& fr, Table& t) {
  double all_nll = 0;
  int64_t all_n = 0;
  for (size_t b = 0; b < fr.labels.size(); ++b) {
    double loss = fr.count[b] ? fr.nll_sum[b] / fr.count[b] : NAN;
    auto row = ctx.prefix(i);
    for (auto v : {std::to_string(b), fr.labels[b], std::to_string(fr.types[b]), std::to_string(fr.count[b]),
                   export_number(loss), export_number(std::exp(loss))})
      row.push_back(v);
    t.rows.push_back(row);
    all_nll += fr.nll_sum[b];
    all_n += fr.count[b];
  }
  double loss = all_n ? all_nll / all_n : NAN;
  auto row = ctx.prefix(i);
  int64_t types = 0;
  for (auto x : fr.types) types += x;
  for (auto v : {std::string(""), std::string("all"), std::to_string(types), std::to_string(all_n),
                 export_number(loss), export_number(std::exp(loss))})
    row.push_back(v);
  t.rows.push_back(row);
}

Table build(const ExportContext& ctx) {
  Table t;
  ctx.columns(
      t, {{"run_id", false}, {"experiment", false}},
      {{"bucket", true}, {"label", false}, {"types", true}, {"tokens", true}, {"loss", true}, {"ppl", true}});
  for (size_t i = 0; i < ctx.runs.size(); ++i) {
    FrequencyRecord fr;
    if (read_frequency(ctx.layout.run(ctx.runs[i].run_id).analysis, "", fr)) add_rows(ctx, i, fr, t);
  }
  return t;
}

}  // namespace

ExportTableDef frequency_table() {
  return {"frequency", "one row per run x token-frequency bucket: tokens, loss and perplexity", build};
}

}  // namespace ctlab
