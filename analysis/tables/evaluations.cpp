// `ctlab export evaluations`: one row per stored evaluation (`ctlab eval`), with every
// setting that changes its value as a column: split, segment length, memory settings,
// batch size and how many segments were read.
#include <map>

#include "export.h"
#include "util/text.h"

namespace ctlab {
namespace {

const char* kSettings[] = {"seq_len",     "mem_len",    "cmem_len", "clamp_len",
                           "same_length", "batch_size", "segments"};
const char* kValues[] = {"loss", "loss_se", "bpc", "bpc_se", "ppl", "ppl_se", "recovered", "recovered_se"};

Table build(const ExportContext& ctx) {
  Table t;
  std::vector<std::pair<std::string, bool>> after = {{"split", false}, {"step", true}};
  for (const char* s : kSettings) after.emplace_back(s, std::string(s) != "same_length");
  for (const char* v : kValues) after.emplace_back(v, true);
  ctx.columns(t, {{"run_id", false}, {"experiment", false}}, after);
  for (size_t i = 0; i < ctx.runs.size(); ++i) {
    // (split, tag, step) -> metric -> value
    std::map<std::tuple<std::string, std::string, int64_t>, std::map<std::string, double>> evals;
    for (const auto& m : ctx.store.metrics(ctx.runs[i].run_id, "eval/")) {
      const auto parts = split(m.key, '/');
      if (parts.size() != 4) continue;
      evals[{parts[1], parts[2], m.step}][parts[3]] = m.value;
    }
    for (const auto& [where, values] : evals) {
      const auto& [split_name, tag, step] = where;
      const auto settings = parse_eval_tag(tag);
      auto row = ctx.prefix(i);
      row.push_back(split_name);
      row.push_back(std::to_string(step));
      for (const char* s : kSettings) row.push_back(settings.count(s) ? settings.at(s) : "");
      for (const char* v : kValues) row.push_back(values.count(v) ? export_number(values.at(v)) : "");
      t.rows.push_back(row);
    }
  }
  return t;
}

}  // namespace

std::map<std::string, std::string> parse_eval_tag(const std::string& tag) {
  // seq<N>-mem<N>-cmem<N>-clamp<N>-same<0|1>-batch<N>-all|first<N> (clamp may be -1: "clamp-1")
  std::map<std::string, std::string> out;
  const std::pair<const char*, const char*> fields[] = {{"seq", "seq_len"},      {"mem", "mem_len"},
                                                        {"cmem", "cmem_len"},    {"clamp", "clamp_len"},
                                                        {"same", "same_length"}, {"batch", "batch_size"}};
  size_t pos = 0;
  for (const auto& [prefix, name] : fields) {
    const std::string p = std::string(pos == 0 ? "" : "-") + prefix;
    if (tag.compare(pos, p.size(), p) != 0) return {};
    pos += p.size();
    size_t end = tag.find('-', pos + 1);  // a negative value starts with '-'
    out[name] = tag.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (end == std::string::npos) return out;
    pos = end;
  }
  const std::string rest = tag.substr(pos);
  if (rest == "-all") out["segments"] = "0";
  if (rest.rfind("-first", 0) == 0) out["segments"] = rest.substr(6);
  if (out.count("same_length")) out["same_length"] = out["same_length"] == "1" ? "true" : "false";
  return out;
}

ExportTableDef evaluations_table() {
  return {"evaluations",
          "one row per stored evaluation (ctlab eval): split, step, every setting that changes the value "
          "(seq_len, memory, clamp, same_length, batch_size, segments), loss, score, standard errors",
          build};
}

}  // namespace ctlab
