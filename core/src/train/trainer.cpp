// The training loop.
#include "train/trainer.h"

#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>

#include "data/stream.h"
#include "model/factory.h"
#include "model/fused.h"
#include "store/analysis_file.h"
#include "train/analysis.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/runtime.h"
#include "util/error.h"
#include "util/sha256.h"

namespace ctlab {
namespace {

std::atomic<int> g_stop_signal{0};
constexpr int kHeartbeatSeconds = 20;
void on_stop_signal(int sig) { g_stop_signal = sig; }

// Installs SIGINT/SIGTERM handlers for the scope, restoring the previous ones after.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  return buf;
}

}  // namespace

// Progress to the terminal (one live line) or plain lines, and always to the run's log.
class Progress {
 public:
  explicit Progress(const std::string& log_path)
      : log_(log_path, std::ios::app), tty_(isatty(fileno(stdout))) {}
  void line(const std::string& s) {
    if (tty_)
      std::printf("\r\033[K%s", s.c_str());
    else
      std::printf("%s\n", s.c_str());
    std::fflush(stdout);
    log_ << s << "\n";
    log_.flush();
  }
  void note(const std::string& s) {
    if (tty_) std::printf("\r\033[K");
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
    log_ << s << "\n";
    log_.flush();
  }
  void done() {
    if (tty_) std::printf("\n");
  }

 private:
  std::ofstream log_;
  bool tty_;
};

RunPaths RunPaths::for_run(const std::string& root, const std::string& run_id) {
  RunPaths p;
  p.dir = root + "/runs/" + run_id;
  p.checkpoint = p.dir + "/checkpoint.pt";
  p.log = p.dir + "/log.txt";
  p.config = p.dir + "/config.ini";
  return p;
}

int TrainOutcome::exit_code() const {
  if (status == "completed") return kExitOk;
  if (status == "diverged") return kExitDiverged;
  if (status == "interrupted") return 130;
  return kExitRunFailed;
}

double learning_rate(const TrainOptions& t, int64_t step) {
  if (step < t.warmup_steps)
    return t.lr_start + (t.lr - t.lr_start) * static_cast<double>(step) / static_cast<double>(t.warmup_steps);
  const double span = static_cast<double>(std::max<int64_t>(1, t.max_steps - t.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - t.warmup_steps) / span);
  return t.lr_min + 0.5 * (t.lr - t.lr_min) * (1.0 + std::cos(M_PI * progress));
}

Trainer::Trainer(const RunConfig& cfg, const PluginHost& host, const ResolvedPlugins& plugins,
                 const Corpus& corpus, RunStore& store, const std::string& run_id, const RunPaths& paths)
    : cfg_(cfg),
      host_(host),
      plugins_(plugins),
      corpus_(corpus),
      store_(store),
      run_id_(run_id),
      paths_(paths) {}

void Trainer::write_final_analysis(CompressiveTransformer& model, int64_t step, const torch::Device& device,
                                   bool bf16, Progress& progress) {
  const auto& e = cfg_.eval;
  auto settings = eval_settings(cfg_, "valid");
  // Stream until the attention sample is complete (eval_segments limits validation only).
  if (e.buckets_sequences > 0) settings.segments = 0;
  auto r =
      analyze(model, corpus_, settings, e.buckets_sequences, e.buckets_per_region, e.freq_edges, device, bf16,
              /*stop_when_counted=*/e.buckets_sequences > 0);
  CompressionSeries series;
  const int64_t n_layer = cfg_.model.n_layer;
  std::map<int64_t, std::vector<double>> by_step;
  for (const auto& m : store_.metrics(run_id_, "train/compression_loss/layer")) {
    auto layer = std::stoll(m.key.substr(std::string("train/compression_loss/layer").size()));
    auto& row = by_step[m.step];
    row.resize(n_layer, NAN);
    if (layer < n_layer) row[layer] = m.value;
  }
  for (auto& [s, row] : by_step) {
    series.steps.push_back(s);
    series.loss.push_back(row);
  }
  try {
    write_analysis_file(paths_.dir + "/analysis.h5", "", r, {run_id_, step, "valid", settings.tag()}, series);
    store_.add_artifact(run_id_, "analysis", "runs/" + run_id_ + "/analysis.h5",
                        sha256_file(paths_.dir + "/analysis.h5"));
    progress.note("analysis: attention by bucket over " + std::to_string(r.full_segments) +
                  " segments with full memories, frequency buckets over " + std::to_string(r.eval.tokens) +
                  " tokens -> " + paths_.dir + "/analysis.h5");
  } catch (const Error& err) {
    progress.note(std::string("warning: no analysis file: ") + err.what());
  }
}

TrainOutcome Trainer::run() {
  TrainOutcome out;
  StopSignals signals;
  Progress progress(paths_.log);
  std::vector<MetricRow> pending;
  TrainState st;
  auto flush = [&] {
    store_.add_metrics(run_id_, pending);
    pending.clear();
    store_.heartbeat(run_id_, st.step);
  };
  try {
    const auto& t = cfg_.train;
    const auto& mo = cfg_.model;
    const torch::Device device = resolve_device(cfg_.device);
    const bool bf16 = t.precision == "bf16";
    if (bf16 && !device.is_cuda())
      throw Error("precision = bf16 needs a CUDA device; device = " + cfg_.device + " resolved to cpu");
    const int threads = set_threads(cfg_.threads);
    const auto blas = blas_info();
    progress.note("run " + run_id_ + ": " + corpus_.dataset + " (" + corpus_.source + "), device " +
                  device.str() + ", " + std::to_string(threads) + " threads (" + thread_summary() +
                  "), BLAS " + blas.summary() +
                  (device.is_cpu() ? ", " + fused_kernels_summary() : std::string()));
    if (!blas.warning.empty()) progress.note("warning: " + blas.warning);

    torch::manual_seed(static_cast<uint64_t>(cfg_.seed));
    auto model = build_model(cfg_, host_, plugins_);
    model->to(device);
    model->train();
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(t.lr));
    const auto transformer_params = model->transformer_parameters();
    const auto compression_params = model->compression_parameters();
    const bool bptt = model->compression().loss_mode == LossMode::Bptt && mo.cmem_len > 0;
    const int64_t seg_per_step = bptt ? t.bptt_segments : 1;
    const int64_t chunks = t.accumulate, chunk_b = t.batch_size / chunks;
    SegmentStream stream(corpus_.train, t.batch_size, mo.seq_len);
    if (stream.full_segments() < seg_per_step)
      throw Error("the training split (" + std::to_string(corpus_.train.numel()) +
                  " tokens) is too short for batch_size " + std::to_string(t.batch_size) + " and seq_len " +
                  std::to_string(mo.seq_len));

    st.chunk_memory.assign(chunks, std::vector<LayerMemory>(mo.n_layer));
    st.window_closs.assign(mo.n_layer, 0.0);
    if (load_checkpoint(paths_.checkpoint, model, optimizer, st, device))
      progress.note("resumed from " + paths_.checkpoint + " at step " + std::to_string(st.step));
    st.window_closs.resize(mo.n_layer, 0.0);
    const char* score = score_name(corpus_.word_level);

    auto validate = [&](int64_t step) {
      auto es = eval_settings(cfg_, "valid");
      auto r = evaluate(model, corpus_, es, device, bf16);
      double now = unix_now();
      pending.push_back({"valid/loss", step, r.loss, now});
      pending.push_back({std::string("valid/") + score, step, score_of(r.loss, corpus_.word_level), now});
      progress.note("step " + std::to_string(step) + " valid loss " + std::to_string(r.loss) + " " + score +
                    " " + std::to_string(score_of(r.loss, corpus_.word_level)) + " over " +
                    std::to_string(r.tokens) + " tokens");
      return r;
    };

    const double tokens_per_step = static_cast<double>(t.batch_size * mo.seq_len * seg_per_step);
    auto window_start = std::chrono::steady_clock::now();
    auto run_start = window_start;
    auto last_heartbeat = window_start;
    const int64_t first_step = st.step;
    while (st.step < t.max_steps) {
      if (g_stop_signal) {
        flush();
        save_checkpoint(paths_.checkpoint, model, optimizer, st);
        progress.note("stopped by signal " + std::to_string(g_stop_signal.load()) + " at step " +
                      std::to_string(st.step) + "; checkpoint written, re-run the same command to resume");
        out.status = "interrupted";
        out.step = st.step;
        store_.finish_run(run_id_, out.status, st.step);
        progress.done();
        return out;
      }
      if (st.cursor + seg_per_step > stream.full_segments()) {  // next epoch: streams restart
        st.cursor = 0;
        st.epoch++;
        for (auto& cm : st.chunk_memory) cm.assign(mo.n_layer, LayerMemory{});
      }
      const double lr = learning_rate(t, st.step);
      for (auto& group : optimizer.param_groups())
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      const bool periodic = t.update_period > 1 && st.step >= t.update_period_from;
      const double scale =
          1.0 / static_cast<double>(chunks * seg_per_step * (periodic ? t.update_period : 1));

      double step_loss = 0;
      std::vector<double> step_closs(mo.n_layer, 0.0);
      for (int64_t c = 0; c < chunks; ++c) {
        model->set_memory(st.chunk_memory[c]);
        model->set_keep_graph(bptt);
        torch::Tensor total;
        for (int64_t k = 0; k < seg_per_step; ++k) {
          auto [x, y] = stream.segment(st.cursor + k, device);
          if (chunks > 1) {
            x = x.narrow(1, c * chunk_b, chunk_b);
            y = y.narrow(1, c * chunk_b, chunk_b);
          }
          if (bf16) set_cuda_bf16_autocast(true);
          auto fwd = model->forward(x, y);
          auto task = fwd.nll.mean();
          auto closs = model->compression_losses(fwd.compression);
          if (bf16) set_cuda_bf16_autocast(false);
          auto seg_total = task;
          for (size_t i = 0; i < closs.size(); ++i) {
            seg_total = seg_total + closs[i];
            step_closs[fwd.compression[i].layer] +=
                closs[i].item<double>() / static_cast<double>(chunks * seg_per_step);
          }
          step_loss += task.item<double>() / static_cast<double>(chunks * seg_per_step);
          total = total.defined() ? total + seg_total : seg_total;
        }
        (total * scale).backward();
        if (bf16) clear_autocast_cache();
        if (bptt) {
          model->detach_memory();
          model->set_keep_graph(false);
        }
        st.chunk_memory[c] = model->memory();
      }
      double closs_sum = 0;
      for (double v : step_closs) closs_sum += v;
      if (!std::isfinite(step_loss) || !std::isfinite(closs_sum)) {
        flush();
        out.status = "diverged";
        out.step = st.step;
        out.diverged_step = st.step;
        out.error = std::string(std::isfinite(step_loss) ? "non-finite compression loss"
                                                         : "non-finite training loss") +
                    " at step " + std::to_string(st.step);
        store_.finish_run(run_id_, out.status, st.step, out.error, st.step);
        progress.note("diverged: " + out.error);
        progress.done();
        return out;
      }
      const bool update = !periodic || (st.step + 1 - t.update_period_from) % t.update_period == 0;
      double grad_norm = 0;
      if (update) {
        if (t.clip > 0) {
          // Transformer and compression parameters are clipped separately, so the
          // compression loss never rescales the transformer's update.
          grad_norm = torch::nn::utils::clip_grad_norm_(transformer_params, t.clip);
          if (!compression_params.empty()) torch::nn::utils::clip_grad_norm_(compression_params, t.clip);
        }
        optimizer.step();
        optimizer.zero_grad();
      }
      st.step++;
      st.cursor += seg_per_step;
      st.window_steps++;
      st.window_loss += step_loss;
      for (int64_t i = 0; i < mo.n_layer; ++i) st.window_closs[i] += step_closs[i];

      if (st.step % t.log_every == 0 || st.step == t.max_steps) {
        auto now_tp = std::chrono::steady_clock::now();
        const double secs = std::chrono::duration<double>(now_tp - window_start).count();
        const double tps = tokens_per_step * st.window_steps / std::max(secs, 1e-9);
        const double mean = st.window_loss / st.window_steps;
        const double now = unix_now();
        pending.push_back({"train/loss", st.step, mean, now});
        pending.push_back({std::string("train/") + score, st.step, score_of(mean, corpus_.word_level), now});
        pending.push_back({"train/lr", st.step, lr, now});
        pending.push_back({"train/tokens_per_s", st.step, tps, now});
        if (update && t.clip > 0) pending.push_back({"train/grad_norm", st.step, grad_norm, now});
        if (mo.cmem_len > 0 && model->compression().loss_mode == LossMode::Auxiliary) {
          double sum = 0;
          for (int64_t i = 0; i < mo.n_layer; ++i) {
            pending.push_back({"train/compression_loss/layer" + std::to_string(i), st.step,
                               st.window_closs[i] / st.window_steps, now});
            sum += st.window_closs[i] / st.window_steps;
          }
          pending.push_back({"train/compression_loss", st.step, sum, now});
        }
        const double elapsed = std::chrono::duration<double>(now_tp - run_start).count();
        const double eta = elapsed / std::max<int64_t>(1, st.step - first_step) * (t.max_steps - st.step);
        char buf[256];
        std::snprintf(buf, sizeof buf, "step %lld/%lld | loss %.4f | %s %.4f | lr %.2e | %.0f tok/s | ETA %s",
                      static_cast<long long>(st.step), static_cast<long long>(t.max_steps), mean, score,
                      score_of(mean, corpus_.word_level), lr, tps, fmt_duration(eta).c_str());
        progress.line(buf);
        st.window_steps = 0;
        st.window_loss = 0;
        std::fill(st.window_closs.begin(), st.window_closs.end(), 0.0);
        window_start = now_tp;
      }
      if (t.eval_every > 0 && st.step % t.eval_every == 0 && st.step < t.max_steps) validate(st.step);
      if (std::chrono::steady_clock::now() - last_heartbeat > std::chrono::seconds(kHeartbeatSeconds)) {
        flush();  // a live heartbeat tells grid schedulers this run is not stale
        last_heartbeat = std::chrono::steady_clock::now();
      }
      if (st.step % t.checkpoint_every == 0 && st.step < t.max_steps) {
        flush();
        save_checkpoint(paths_.checkpoint, model, optimizer, st);
      }
    }
    auto final_eval = validate(st.step);
    flush();
    save_checkpoint(paths_.checkpoint, model, optimizer, st);
    write_final_analysis(model, st.step, device, bf16, progress);
    out.status = "completed";
    out.step = st.step;
    out.valid_loss = final_eval.loss;
    out.valid_score = score_of(final_eval.loss, corpus_.word_level);
    store_.finish_run(run_id_, out.status, st.step);
    progress.done();
    return out;
  } catch (const std::exception& e) {
    out.status = "failed";
    out.step = st.step;
    out.error = brief_what(e);
    try {
      store_.add_metrics(run_id_, pending);
      store_.finish_run(run_id_, out.status, st.step, out.error);
    } catch (const std::exception&) {
      // The store itself failed; the error is still reported below.
    }
    progress.note("failed at step " + std::to_string(st.step) + ": " + out.error);
    return out;
  }
}

}  // namespace ctlab
