// A training run's validation passes and the metric rows of an evaluation: the one place
// that names an evaluation's metrics (`<prefix>loss`, `<prefix>bpc` or `<prefix>ppl`, their
// standard errors `..._se`, and for generated tasks `<prefix>recovered`), used by the
// trainer ("valid/") and `ctlab eval` ("eval/<split>/<tag>/"); and retained vs used on the
// final model.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/options.h"
#include "data/corpus.h"
#include "model/model.h"
#include "runtime/distributed.h"
#include "store/run_store.h"
#include "train/evaluator.h"
#include "train/progress.h"
#include "train/retention.h"
#include "train/run_sink.h"

namespace ctlab {

// The rows of one evaluation at `step`: loss and score with their standard errors over
// segments, and `recovered` (with its standard error when finite) for generated tasks.
// wall_time 0: the store stamps the rows when it records them.
std::vector<MetricRow> eval_metric_rows(const EvalResult& r, const std::string& prefix, int64_t step,
                                        bool word_level, double wall_time = 0);

// Validation on the [eval] settings at `step` (every rank of `comm` calls it): its rows
// ("valid/...") appended to `pending`, a note to `progress`.
EvalResult validate(CompressiveTransformer& model, const RunConfig& cfg, const Corpus& corpus,
                    const torch::Device& device, bool bf16, int64_t step, std::vector<MetricRow>& pending,
                    Progress& progress, const Comm& comm);

// Retained vs used on the final model (rank 0 alone; `retention_segments` > 0 and
// compressed memory in evaluation): its rows ("valid/retained", "valid/recovered_no_cmem",
// the read-out's phase range and source mass) recorded through `sink`, a note to
// `progress`. Nothing (and a warning note when it was asked for) when the run cannot
// measure it.
std::optional<RetentionRecord> measure_retention(CompressiveTransformer& model, const RunConfig& cfg,
                                                 const Corpus& corpus, const torch::Device& device, bool bf16,
                                                 int64_t step, RunSink& sink, Progress& progress);

}  // namespace ctlab
