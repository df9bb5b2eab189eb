// `ctlab export history`: one row per event in the selected runs' histories: starts (with
// the holder), takeovers from a silent holder, accepted plugin changes.
#include "export.h"

namespace ctlab {
namespace {

Table build(const ExportContext& ctx) {
  Table t;
  ctx.columns(t, {{"run_id", false}, {"experiment", false}},
              {{"time", false}, {"event", false}, {"detail", false}});
  for (size_t i = 0; i < ctx.runs.size(); ++i)
    for (const auto& e : ctx.store.events(ctx.runs[i].run_id)) {
      auto row = ctx.prefix(i);
      for (const auto& v : {e.time, e.kind, e.detail}) row.push_back(v);
      t.rows.push_back(row);
    }
  return t;
}

}  // namespace

ExportTableDef history_table() {
  return {"history", "one row per event of a run's history: starts, takeovers, accepted plugin changes",
          build};
}

}  // namespace ctlab
