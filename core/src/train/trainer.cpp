// The training loop.
#include "train/trainer.h"

#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <new>

#include "config/run_shape.h"
#include "data/stream.h"
#include "model/factory.h"
#include "model/fused.h"
#include "runtime/cpu.h"
#include "runtime/host_sync.h"
#include "runtime/runtime.h"
#include "train/analysis.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/progress.h"
#include "train/retention.h"
#include "train/validation.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/signals.h"

namespace ctlab {
namespace {

// Metric rows and the step reached go to the sink at least this often.
constexpr int kFlushSeconds = 20;

}  // namespace

using Clock = std::chrono::steady_clock;

struct Trainer::Attempt {
  Attempt(const RunConfig& cfg, const std::string& log_path, bool echo)
      : progress(log_path, echo), bf16(cfg.train.precision == Precision::Bf16) {}
  Progress progress;
  torch::Device device{torch::kCPU};  // set by train()
  bool bf16;
  CompressiveTransformer model{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer;
  std::unique_ptr<TrainStep> step;
  std::unique_ptr<SegmentStream> stream;
  TrainState st;
  std::vector<MetricRow> pending;  // written at the next flush
  CompressionSeries series;        // per-layer compression loss at each log point
  EvalResult final_eval;           // the last validation (its segments go to analysis.h5)
  const char* score = "bpc";
  double tokens_per_step = 0;
  int64_t first_step = 0;
  Clock::time_point window_start, run_start, last_flush;
  double grad_norm = NAN;  // of the last step that clipped
};

int TrainOutcome::exit_code() const {
  switch (status) {
    case RunStatus::Completed:
      return kExitOk;
    case RunStatus::Diverged:
      return kExitDiverged;
    case RunStatus::Interrupted:
      return kExitInterrupted;
    default:
      return kExitRunFailed;
  }
}

std::string compression_loss_key(int64_t layer) {
  return "train/compression_loss/layer" + std::to_string(layer);
}

Trainer::Trainer(const RunConfig& cfg, const PluginHost& host, const ResolvedPlugins& plugins,
                 const Corpus& corpus, RunSink* sink, const std::string& run_id, const RunPaths& paths,
                 const Comm& comm, const torch::Device& device)
    : cfg_(cfg),
      host_(host),
      plugins_(plugins),
      corpus_(corpus),
      sink_(sink),
      run_id_(run_id),
      paths_(paths),
      threads_request_(paths.threads),
      comm_(comm),
      device_(device) {}

namespace {

// The per-layer compression-loss series logged before `step` (by an earlier attempt of a
// resumed run), from the sink.
CompressionSeries logged_series(RunSink& sink, int64_t n_layer, int64_t step) {
  std::vector<std::string> keys;
  for (int64_t i = 0; i < n_layer; ++i) keys.push_back(compression_loss_key(i));
  std::map<int64_t, std::vector<double>> by_step;
  for (size_t i = 0; i < keys.size(); ++i)
    for (const auto& m : sink.logged({keys[i]}))
      if (m.step <= step) {
        auto& row = by_step[m.step];
        row.resize(n_layer, NAN);
        row[i] = m.value;
      }
  CompressionSeries series;
  for (auto& [s, row] : by_step) {
    series.steps.push_back(s);
    series.loss.push_back(row);
  }
  return series;
}

}  // namespace

TrainOutcome Trainer::run() {
  StopSignals signals;
  const bool lead = comm_.rank() == 0;
  Attempt s(cfg_, lead ? paths_.log : paths_.dir + "/rank" + std::to_string(comm_.rank()) + ".log", lead);
  try {
    return train(s);
  } catch (const std::exception& e) {
    TrainOutcome out;
    out.status = RunStatus::Failed;
    out.step = s.st.step;
    out.error = brief_what(e);
    comm_.report_failure(out.error);
    if (const auto peers = comm_.peer_failures();
        !peers.empty() && out.error.find(peers) == std::string::npos)
      out.error += "; " + peers;
    if (dynamic_cast<const std::bad_alloc*>(&e) || out.error.find("out of memory") != std::string::npos ||
        out.error.find("not enough memory") != std::string::npos)
      out.error +=
          " (this run needs an estimated " +
          estimate_memory(cfg_, plugins_.loss->spec.mode == LossMode::Bptt).describe(cfg_) +
          ": lower batch_size (or raise accumulate), seq_len, mem_len, cmem_len, n_layer, d_model or d_ff)";
    if (sink_) {
      // The status comes first: when the store cannot take the window's rows (its disk is
      // full), it must still take `failed` (the sink frees space for that write).
      try {
        sink_->record(s.pending);
      } catch (const std::exception&) {
        // Those rows are lost; the error that ended the run is reported below.
      }
      try {
        sink_->finish(out.status, s.st.step, out.error);
      } catch (const std::exception& store_error) {
        out.error += "; the failed status could not be recorded either: " + brief_what(store_error);
      }
    }
    s.progress.note("failed at step " + std::to_string(s.st.step) + ": " + out.error);
    return out;
  }
}

void Trainer::note_machine(Attempt& s, int threads) {
  const auto blas = blas_info();
  s.progress.note("run " + run_id_ + ": " + corpus_.dataset + " (" + corpus_.source + "), device " +
                  s.device.str() + ", " + std::to_string(threads) + " threads (" + thread_summary() +
                  "), BLAS " + blas.summary() +
                  (s.device.is_cpu() ? ", " + fused_kernels_summary() : std::string()) +
                  (comm_.distributed()
                       ? ", rank " + std::to_string(comm_.rank()) + " of " + std::to_string(comm_.size()) +
                             " (" + comm_.backend() + ", pid " + std::to_string(getpid()) + ")"
                       : std::string()));
  if (!blas.warning.empty()) s.progress.note("warning: " + blas.warning);
}

void Trainer::setup(Attempt& s) {
  const auto& t = cfg_.train;
  const auto& mo = cfg_.model;
  s.device = device_;
  if (s.bf16) check_bf16(s.device, "precision = bf16");
  set_tf32(t.allow_tf32);
  keep_freed_memory();
  note_machine(s, set_threads(cfg_.threads));
  s.progress.note(cost_and_reach(mo).describe(mo));

  torch::manual_seed(static_cast<uint64_t>(cfg_.seed));
  s.model = build_model(cfg_, host_, plugins_);
  s.model->to(s.device);
  s.model->train();
  if (comm_.distributed()) {
    // Every rank starts from rank 0's weights; dropout then draws a different stream per rank.
    torch::NoGradGuard no_grad;
    for (auto& p : s.model->parameters()) comm_.broadcast(p);
    if (comm_.rank() > 0) torch::manual_seed(static_cast<uint64_t>(cfg_.seed) + 1000003ULL * comm_.rank());
  }
  s.optimizer = std::make_unique<torch::optim::Adam>(s.model->parameters(), torch::optim::AdamOptions(t.lr));
  s.step = std::make_unique<TrainStep>(s.model, *s.optimizer, t, s.bf16);
  s.step->set_deferred(defers_checks(t.checks, s.device));
  s.step->set_comm(&comm_);
  const auto bptt_warning = bptt_reach_warning(cfg_, s.model->compression().loss_mode == LossMode::Bptt);
  if (!bptt_warning.empty()) s.progress.note("warning: " + bptt_warning);
  check_rank_division(cfg_, comm_.size());
  {
    const SegmentStream all(corpus_.train, t.batch_size, mo.seq_len);  // rank r: its block of streams
    const int64_t per_rank = t.batch_size / comm_.size();
    s.stream = std::make_unique<SegmentStream>(all.shard(comm_.rank() * per_rank, per_rank));
  }
  if (s.stream->full_segments() < s.step->segments())
    throw Error("the training split (" + std::to_string(corpus_.train.numel()) +
                " tokens) is too short for batch_size " + std::to_string(t.batch_size) + " and seq_len " +
                std::to_string(mo.seq_len));
  s.st.chunk_memory = s.step->empty_memories();
  s.st.window_closs.assign(mo.n_layer, 0.0);
  if (load_checkpoint(paths_.checkpoint, s.model, *s.optimizer, s.st, s.device, run_id_,
                      {comm_.rank(), comm_.size(), {}, {}}))
    s.progress.note("resumed from " + paths_.checkpoint + " at step " + std::to_string(s.st.step));
  s.st.window_closs.resize(mo.n_layer, 0.0);
  if (sink_) {
    sink_->begin(s.st.step);
    s.series = logged_series(*sink_, mo.n_layer, s.st.step);
  }
  s.score = score_name(corpus_.word_level);
  s.tokens_per_step = static_cast<double>(t.batch_size * mo.seq_len * s.step->segments());
  s.window_start = s.run_start = s.last_flush = Clock::now();
  s.first_step = s.st.step;
}

TrainOutcome Trainer::train(Attempt& s) {
  const auto& t = cfg_.train;
  const auto& mo = cfg_.model;
  setup(s);

  bool read_point = true;  // the previous step read the device (deferred checks)
  while (s.st.step < t.max_steps) {
    if (int sig = agreed_stop(s, read_point)) return stop(s, sig);
    if (s.st.cursor + s.step->segments() > s.stream->full_segments()) {  // next epoch: streams restart
      s.st.cursor = 0;
      s.st.epoch++;
      s.st.chunk_memory = s.step->empty_memories();
    }
    const int64_t cursor = s.st.cursor;
    auto stats = s.step->run(
        s.st.step,
        [&](int64_t k) {
          auto [x, y] = s.stream->segment(cursor + k, torch::kCPU);
          return TrainStep::Segment(to_device(x, s.device), to_device(y, s.device));  // no sync
        },
        s.st.chunk_memory);
    if (!stats.finite)
      return diverge(s, s.st.step,
                     std::isfinite(stats.loss) ? "non-finite compression loss" : "non-finite training loss");
    if (stats.updated && t.clip > 0 && !s.step->deferred()) s.grad_norm = stats.grad_norm;
    s.st.step++;
    s.st.cursor += s.step->segments();
    s.st.window_steps++;
    s.st.window_loss += stats.loss;
    for (int64_t i = 0; i < mo.n_layer; ++i) s.st.window_closs[i] += stats.closs[i];
    const int64_t step = s.st.step;
    const bool logs = step % t.log_every == 0 || step == t.max_steps;
    const bool reads =
        logs || step % t.checkpoint_every == 0 || (t.eval_every > 0 && step % t.eval_every == 0);
    read_point = reads;
    if (reads)
      if (auto bad = absorb(s)) return diverge(s, bad->first, bad->second);
    if (logs) log_window(s, stats);
    after_step(s);
  }
  return complete(s);
}

void Trainer::log_window(Attempt& s, const StepStats& stats) {
  const auto& t = cfg_.train;
  const auto& mo = cfg_.model;
  auto& st = s.st;
  auto now_tp = Clock::now();
  const double secs = std::chrono::duration<double>(now_tp - s.window_start).count();
  const double tps = s.tokens_per_step * st.window_steps / std::max(secs, 1e-9);
  const double mean = st.window_loss / st.window_steps;
  const double now = unix_seconds();
  auto& pending = s.pending;
  pending.push_back({"train/loss", st.step, mean, now});
  pending.push_back({std::string("train/") + s.score, st.step, score_of(mean, corpus_.word_level), now});
  pending.push_back({"train/lr", st.step, stats.lr, now});
  pending.push_back({"train/tokens_per_s", st.step, tps, now});
  if (t.clip > 0 && (stats.updated || s.step->deferred()) && std::isfinite(s.grad_norm))
    pending.push_back({"train/grad_norm", st.step, s.grad_norm, now});
  if (mo.cmem_len > 0 && s.model->compression().loss_mode == LossMode::Auxiliary) {
    double sum = 0;
    std::vector<double> row;
    for (int64_t i = 0; i < mo.n_layer; ++i) {
      row.push_back(st.window_closs[i] / st.window_steps);
      pending.push_back({compression_loss_key(i), st.step, row.back(), now});
      sum += row.back();
    }
    pending.push_back({"train/compression_loss", st.step, sum, now});
    s.series.steps.push_back(st.step);
    s.series.loss.push_back(row);
  }
  const double elapsed = std::chrono::duration<double>(now_tp - s.run_start).count();
  const double eta = elapsed / std::max<int64_t>(1, st.step - s.first_step) * (t.max_steps - st.step);
  char buf[256];
  std::snprintf(buf, sizeof buf, "step %lld/%lld | loss %.4f | %s %.4f | lr %.2e | %.0f tok/s | ETA %s",
                static_cast<long long>(st.step), static_cast<long long>(t.max_steps), mean, s.score,
                score_of(mean, corpus_.word_level), stats.lr, tps, format_duration(eta).c_str());
  s.progress.line(buf);
  st.window_steps = 0;
  st.window_loss = 0;
  std::fill(st.window_closs.begin(), st.window_closs.end(), 0.0);
  s.window_start = now_tp;
}

void Trainer::after_step(Attempt& s) {
  const auto& t = cfg_.train;
  const int64_t step = s.st.step;
  if (t.eval_every > 0 && step % t.eval_every == 0 && step < t.max_steps)
    validate(s.model, cfg_, corpus_, s.device, s.bf16, step, s.pending, s.progress, comm_);
  if (s.device.is_cpu())
    if (const int n = threads_request_.poll())
      s.progress.note("step " + std::to_string(step) + ": threads raised to " + std::to_string(n) + " (" +
                      thread_summary() + "), the cores of the grid's finished cells");
  if (Clock::now() - s.last_flush > std::chrono::seconds(kFlushSeconds)) {
    flush(s);  // the store shows the step reached (the heartbeat thread keeps the claim alive)
    s.last_flush = Clock::now();
  }
  if (step % t.checkpoint_every == 0 && step < t.max_steps) {
    flush(s);
    save(s);
  }
}

void Trainer::flush(Attempt& s) {
  if (!sink_) return;
  sink_->record(s.pending);
  s.pending.clear();
  sink_->progress(s.st.step);
}

void Trainer::finish(Attempt& s, RunStatus status, const std::string& error, std::optional<int64_t> at) {
  if (sink_) sink_->finish(status, s.st.step, error, at);
}

int Trainer::agreed_stop(Attempt& s, bool read_point) {
  const int sig = stop_signal();
  if (!comm_.distributed()) return sig;
  if (s.step->deferred() && !read_point) return 0;  // no host sync between read points
  return comm_.any(sig != 0) ? (sig != 0 ? sig : SIGTERM) : 0;
}

void Trainer::save(Attempt& s) {
  auto [st, shard] = gather_for_checkpoint(comm_, s.st, s.device);
  if (comm_.rank() == 0) save_checkpoint(paths_.checkpoint, s.model, *s.optimizer, st, run_id_, shard);
}

std::optional<std::pair<int64_t, std::string>> Trainer::absorb(Attempt& s) {
  if (!s.step->deferred()) return std::nullopt;
  const auto c = s.step->collect();
  s.st.window_loss += c.loss;
  for (size_t i = 0; i < c.closs.size() && i < s.st.window_closs.size(); ++i)
    s.st.window_closs[i] += c.closs[i];
  if (std::isfinite(c.grad_norm)) s.grad_norm = c.grad_norm;
  if (c.nonfinite_task) return std::make_pair(*c.nonfinite_task, std::string("non-finite training loss"));
  if (c.nonfinite_closs)
    return std::make_pair(*c.nonfinite_closs, std::string("non-finite compression loss"));
  return std::nullopt;
}

TrainOutcome Trainer::stop(Attempt& s, int signal) {
  if (auto bad = absorb(s)) return diverge(s, bad->first, bad->second);
  flush(s);
  save(s);
  s.progress.note("stopped by signal " + std::to_string(signal) + " at step " + std::to_string(s.st.step) +
                  "; checkpoint written, re-run the same command to resume");
  TrainOutcome out;
  out.status = RunStatus::Interrupted;
  out.step = s.st.step;
  finish(s, out.status);
  s.progress.done();
  return out;
}

TrainOutcome Trainer::diverge(Attempt& s, int64_t at, const std::string& what) {
  flush(s);
  TrainOutcome out;
  out.status = RunStatus::Diverged;
  out.step = s.st.step;
  out.diverged_step = at;
  out.error =
      what + " at step " + std::to_string(at) +
      (s.step->deferred() ? " (found by the deferred check at step " + std::to_string(s.st.step) + ")" : "");
  finish(s, out.status, out.error, at);
  s.progress.note("diverged: " + out.error);
  s.progress.done();
  return out;
}

TrainOutcome Trainer::complete(Attempt& s) {
  s.final_eval = validate(s.model, cfg_, corpus_, s.device, s.bf16, s.st.step, s.pending, s.progress, comm_);
  const auto& final_eval = s.final_eval;
  flush(s);
  save(s);
  write_final_analysis(s);
  // A rank that failed to write (rank 0) makes the others fail here instead of completing.
  comm_.barrier();
  if (s.step->deferred()) s.model->check_deferred_outputs();  // those of the final evaluation
  TrainOutcome out;
  out.status = RunStatus::Completed;
  out.step = s.st.step;
  out.valid_loss = final_eval.loss;
  out.valid_score = score_of(final_eval.loss, corpus_.word_level);
  if (final_eval.has_bounds()) out.recovered = final_eval.recovered();
  finish(s, out.status);
  s.progress.done();
  return out;
}

void Trainer::write_final_analysis(Attempt& s) {
  const auto& e = cfg_.eval;
  auto settings = eval_settings(cfg_, "valid");
  // Stream until the attention sample is complete (eval_segments limits validation only).
  if (e.buckets_sequences > 0) settings.segments = 0;
  auto r = analyze(s.model, corpus_, settings, e.buckets_sequences, e.buckets_per_region, e.freq_edges,
                   s.device, s.bf16, /*stop_when_counted=*/e.buckets_sequences > 0, &comm_);
  if (!sink_) return;  // rank 0 writes
  // Retained vs used: the model is the same on every rank, so rank 0 alone computes it.
  const auto retention =
      measure_retention(s.model, cfg_, corpus_, s.device, s.bf16, s.st.step, *sink_, s.progress);
  try {
    write_analysis(paths_.analysis, "", r, {run_id_, s.st.step, "valid", settings.tag()}, s.series,
                   &s.final_eval, retention ? &*retention : nullptr);
  } catch (const Error& err) {
    // The run is not complete without its analysis; its final checkpoint is saved, so a
    // re-run goes straight to the final evaluation and writes it.
    throw Error(std::string(err.what()) + "; the checkpoint at step " + std::to_string(s.st.step) +
                    " is saved: re-run to write the analysis",
                ErrorKind::Run);
  }
  sink_->record({}, {paths_.analysis});
  s.progress.note("analysis: attention by bucket over " + std::to_string(r.full_segments) +
                  " segments with full memories, frequency buckets over " + std::to_string(r.eval.tokens) +
                  " tokens -> " + paths_.analysis);
}

}  // namespace ctlab
