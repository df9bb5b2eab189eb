// `ctlab export readout`: how the model reads sources that lie in compressed memory, from
// each run's analysis.h5 (runs trained with retention_segments > 0 on a generated task):
// one row per run x query phase (query position mod cmem_rate) and per run x query
// position, with recovered and the attention mass on the slot that holds the source. A
// read-out limited by positions shows up as recovered concentrated on a few phases.
#include "export.h"
#include "store/analysis_file.h"

namespace ctlab {
namespace {

void add_rows(const ExportContext& ctx, size_t i, const char* by, const std::vector<double>& recovered,
              const std::vector<double>& mass, Table& t) {
  for (size_t k = 0; k < recovered.size(); ++k) {
    auto row = ctx.prefix(i);
    for (auto v : {std::string(by), std::to_string(k), export_number(recovered[k]),
                   export_number(k < mass.size() ? mass[k] : NAN)})
      row.push_back(v);
    t.rows.push_back(row);
  }
}

Table build(const ExportContext& ctx) {
  Table t;
  ctx.columns(t, {{"run_id", false}, {"experiment", false}},
              {{"by", false}, {"index", true}, {"recovered", true}, {"source_mass", true}});
  for (size_t i = 0; i < ctx.runs.size(); ++i) {
    RetentionRecord r;
    if (!read_retention(ctx.layout.run(ctx.runs[i].run_id).analysis, "", r)) continue;
    add_rows(ctx, i, "phase", r.recovered_by_phase, r.source_mass_by_phase, t);
    add_rows(ctx, i, "position", r.recovered_by_position, r.source_mass_by_position, t);
  }
  return t;
}

}  // namespace

ExportTableDef readout_table() {
  return {"readout",
          "one row per run x query phase (position mod cmem_rate) and per run x query position: recovered "
          "for sources in compressed memory, and the attention mass on the slot holding the source (runs "
          "with retention_segments > 0 on generated tasks)",
          build};
}

}  // namespace ctlab
