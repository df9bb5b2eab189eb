// `ctlab export runs`: one row per run with its status and final validation score.
#include <cmath>

#include "export.h"

namespace ctlab {
namespace {

Table build(const ExportContext& ctx) {
  Table t;
  ctx.columns(t, {{"run_id", false}, {"experiment", false}},
              {{"status", false},
               {"attempt", true},
               {"failures", true},
               {"step", true},
               {"valid_loss", true},
               {"score_name", false},
               {"valid_score", true},
               {"diverged_step", true},
               {"error", false},
               {"host", false},
               {"device", false},
               {"started", false},
               {"ended", false}});
  for (size_t i = 0; i < ctx.runs.size(); ++i) {
    const auto& r = ctx.runs[i];
    double loss = NAN, score = NAN;
    std::string name;
    for (const auto& m : ctx.store.metrics(r.run_id, "valid/")) {  // by key and step: the last step wins
      if (m.key == "valid/loss") {
        loss = m.value;
      } else if (m.key == "valid/bpc" || m.key == "valid/ppl") {
        name = m.key.substr(6);
        score = m.value;
      }
    }
    auto row = ctx.prefix(i);
    for (auto v : {std::string(to_string(r.status)), std::to_string(r.attempt), std::to_string(r.failures),
                   std::to_string(r.step), export_number(loss), name, export_number(score),
                   r.diverged_step ? std::to_string(*r.diverged_step) : std::string(), r.error, r.host,
                   r.device, r.started, r.ended})
      row.push_back(v);
    t.rows.push_back(row);
  }
  return t;
}

}  // namespace

ExportTableDef runs_table() {
  return {"runs", "one row per run: status, attempts, step, final validation loss and score", build};
}

}  // namespace ctlab
