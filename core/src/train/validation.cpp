// Validation passes, their metric rows, and retained vs used on the final model.
#include "train/validation.h"

#include <cmath>

#include "util/clock.h"

namespace ctlab {

std::vector<MetricRow> eval_metric_rows(const EvalResult& r, const std::string& prefix, int64_t step,
                                        bool word_level, double wall_time) {
  const std::string score = score_name(word_level);
  std::vector<MetricRow> rows = {
      {prefix + "loss", step, r.loss, wall_time},
      {prefix + score, step, score_of(r.loss, word_level), wall_time},
      {prefix + "loss_se", step, r.loss_se, wall_time},
      {prefix + score + "_se", step, score_se_of(r.loss, r.loss_se, word_level), wall_time}};
  if (r.has_bounds()) {
    rows.push_back({prefix + "recovered", step, r.recovered(), wall_time});
    if (std::isfinite(r.recovered_se()))
      rows.push_back({prefix + "recovered_se", step, r.recovered_se(), wall_time});
  }
  return rows;
}

EvalResult validate(CompressiveTransformer& model, const RunConfig& cfg, const Corpus& corpus,
                    const torch::Device& device, bool bf16, int64_t step, std::vector<MetricRow>& pending,
                    Progress& progress, const Comm& comm) {
  auto r = evaluate(model, corpus, eval_settings(cfg, "valid"), device, bf16, &comm);
  const bool words = corpus.word_level;
  const auto rows = eval_metric_rows(r, "valid/", step, words, unix_seconds());
  pending.insert(pending.end(), rows.begin(), rows.end());
  std::string note = "step " + std::to_string(step) + " valid loss " + std::to_string(r.loss) + " " +
                     score_name(words) + " " + std::to_string(score_of(r.loss, words)) + " over " +
                     std::to_string(r.tokens) + " tokens";
  if (r.has_bounds())
    note += ", recovered " + std::to_string(r.recovered()) + " of the long-range information";
  progress.note(note);
  return r;
}

std::optional<RetentionRecord> measure_retention(CompressiveTransformer& model, const RunConfig& cfg,
                                                 const Corpus& corpus, const torch::Device& device, bool bf16,
                                                 int64_t step, RunSink& sink, Progress& progress) {
  const auto& e = cfg.eval;
  const auto settings = eval_settings(cfg, "valid");
  if (e.retention_segments <= 0 || settings.memory.cmem_len <= 0) return std::nullopt;
  const std::string unavailable = retention_unavailable(corpus, settings, cfg.model.cmem_rate);
  if (!unavailable.empty()) {
    progress.note("warning: retained vs used skipped: " + unavailable);
    return std::nullopt;
  }
  auto retention = analyze_retention(model, corpus, settings, e.retention_segments, cfg.model.cmem_rate,
                                     e.buckets_per_region, device, bf16);
  std::vector<MetricRow> rows = {{"valid/retained", step, retention.retained_all, unix_seconds()}};
  const auto readout = summarize_readout(retention);
  for (const auto& [key, v] :
       {std::pair<const char*, double>{"valid/recovered_no_cmem", retention.recovered_no_cmem_all},
        {"valid/recovered_phase_min", readout.phase_min},
        {"valid/recovered_phase_max", readout.phase_max},
        {"valid/source_mass", readout.source_mass}})
    if (std::isfinite(v)) rows.push_back({key, step, v, unix_seconds()});
  sink.record(rows);
  progress.note("retained vs used: a linear probe decodes " + std::to_string(retention.retained_all) +
                " of the compressed tokens' identity" +
                (std::isfinite(retention.recovered_no_cmem_all)
                     ? "; recovered " + std::to_string(retention.recovered_all) + ", " +
                           std::to_string(retention.recovered_no_cmem_all) +
                           " with compressed memory knocked out"
                     : std::string()));
  return retention;
}

}  // namespace ctlab
