#include "session/eval_run.h"

#include <cmath>

#include "model/factory.h"
#include "runtime/cpu.h"
#include "runtime/runtime.h"
#include "session/claim.h"
#include "session/resolve.h"
#include "session/store_sink.h"
#include "train/analysis.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/validation.h"
#include "util/error.h"

namespace ctlab {
namespace {

// Evaluates, writes the analysis group, and records the metrics with the file's hash.
EvalReport evaluate(const ResolvedRun& run, RunStore& store, const std::string& run_id, const RunPaths& paths,
                    const std::string& split) {
  const auto& cfg = run.cfg;
  const auto device = resolve_device(cfg.device);
  set_tf32(cfg.train.allow_tf32);
  keep_freed_memory();
  set_threads(cfg.threads);
  auto model = build_model(cfg, *run.host, run.plugins);
  model->to(device);
  const int64_t step = load_model_weights(paths.checkpoint, model, device);
  auto settings = eval_settings(cfg, split);
  const auto& e = cfg.eval;
  const Corpus& corpus = *run.corpus;
  // A bf16 run evaluated where bf16 cannot run (a CUDA run on a CPU without AVX512_BF16, say)
  // is evaluated in fp32.
  auto a = analyze(model, corpus, settings, e.buckets_sequences, e.buckets_per_region, e.freq_edges, device,
                   cfg.train.precision == Precision::Bf16 && bf16_available(device));
  EvalReport rep;
  rep.run_id = run_id;
  rep.split = split;
  rep.tag = settings.tag();
  rep.score_name = score_name(corpus.word_level);
  rep.step = step;
  rep.analysis_file = paths.analysis;
  rep.analysis_group = "/eval/" + split + "/" + settings.tag();
  // A failed write stores nothing: the previous analysis file and metrics stay as they were.
  write_analysis(paths.analysis, rep.analysis_group, a, {run_id, step, split, settings.tag()}, {}, &a.eval);
  record_outputs(
      store, run_id,
      eval_metric_rows(a.eval, "eval/" + split + "/" + settings.tag() + "/", step, corpus.word_level),
      {paths.analysis});
  rep.score = score_of(a.eval.loss, corpus.word_level);
  rep.loss = a.eval.loss;
  rep.tokens = a.eval.tokens;
  rep.segments = a.eval.segments;
  rep.full_segments = a.full_segments;
  return rep;
}

}  // namespace

EvalReport eval_run(const EvalRequest& q) {
  const ResultsLayout layout(q.results_root);
  const auto paths = trained_run(layout, q.run_id);
  RunStore store(layout.database());
  CorpusCache data;
  const auto run = resolve_run_file(paths.config, q.overrides, q.plugins, &data);
  if (run.run_id != q.run_id && q.overrides.empty())
    throw Error("'" + paths.config + "' does not describe run " + q.run_id + " (its run_id is " + run.run_id +
                ")");
  check_recorded_plugins(store, q.run_id, run, q.accept_plugin_change, "evaluate");
  ClaimRequest request;  // claimed, with a heartbeat, until evaluated (or throws claimed_elsewhere_error)
  request.run_id = q.run_id;
  request.by = Claimant::Eval;
  const auto claim = RunClaim::claim(store, request);
  return evaluate(run, store, q.run_id, paths, q.split);
}

}  // namespace ctlab
