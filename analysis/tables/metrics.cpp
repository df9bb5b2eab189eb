// `ctlab export metrics`: every metric row of the selected runs (--key filters by prefix).
#include "export.h"

namespace ctlab {
namespace {

Table build(const ExportContext& ctx) {
  Table t;
  ctx.columns(t, {{"run_id", false}, {"experiment", false}},
              {{"key", false}, {"step", true}, {"value", true}, {"wall_time", true}});
  for (size_t i = 0; i < ctx.runs.size(); ++i)
    for (const auto& m : ctx.store.metrics(ctx.runs[i].run_id, ctx.filter.key)) {
      auto row = ctx.prefix(i);
      for (auto v : {m.key, std::to_string(m.step), export_number(m.value), export_number(m.wall_time)})
        row.push_back(v);
      t.rows.push_back(row);
    }
  return t;
}

}  // namespace

ExportTableDef metrics_table() {
  return {"metrics", "one row per metric value: key, step, value, wall time", build};
}

}  // namespace ctlab
