// ctlab_bench: times the trainer's own training step (train/step.h: forward, compression
// losses, backward, the trainer's clipping and Adam update) and an evaluation forward pass
// for named configurations, and prints tokens/s, ms/step, the share of the same process's
// matmul rate, host syncs per step and peak RSS. Memories are filled before timing starts, so every timed
// step attends over full memory and compressed memory and compresses one segment.
#include <sys/resource.h>
#include <torch/torch.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <tuple>

#include "config/plugin_binding.h"
#include "model/factory.h"
#include "model/fused.h"
#include "runtime/cpu.h"
#include "runtime/host_sync.h"
#include "runtime/runtime.h"
#include "runtime/torch_compat.h"
#include "train/step.h"
#include "util/error.h"
#include "util/text.h"

namespace po = boost::program_options;
using namespace ctlab;

namespace {

struct BenchConfig {
  std::string description;
  std::vector<std::string> settings;  // run-config overrides
  int64_t batch;
  bool optimizer = false;  // (kept for the table's shape: every config times full training steps)
};

const std::map<std::string, BenchConfig>& configs() {
  const std::vector<std::string> small = {"d_model=256",    "n_layer=4",   "n_head=4",     "d_ff=1024",
                                          "seq_len=128",    "mem_len=128", "cmem_len=128", "cmem_rate=4",
                                          "vocab_size=256", "dropout=0.1"};
  auto with = [&](std::vector<std::string> extra) {
    auto v = small;
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  static const std::map<std::string, BenchConfig> c = {
      {"cpu-small",
       {"(a) d_model 256, 4 layers, 4 heads, d_ff 1024, seq 128, mem 128, cmem 128, rate 4, batch 8, bytes; "
        "mean_pool + none",
        with({"compression=mean_pool", "compression_loss=none"}), 8, true}},
      {"train-cpu-small",  // the same as cpu-small (an earlier name, kept for bench/RESULTS.md)
       {"(a) cpu-small: mean_pool + none", with({"compression=mean_pool", "compression_loss=none"}), 8,
        true}},
      {"cpu-small-conv",
       {"(b) cpu-small with conv1d + attention_reconstruction",
        with({"compression=conv1d", "compression_loss=attention_reconstruction"}), 8, true}},
      {"cpu-small-txl",
       {"(c) cpu-small as Transformer-XL: cmem_len 0, mem_len 256", with({"cmem_len=0", "mem_len=256"}), 8,
        true}},
      {"gpu-paper",
       {"[CT] enwik8 scale: 24 layers, d 1024, 8 heads, d_ff 3072, seq 768, mem 768, cmem 1152, rate 3, "
        "mean_pool",
        {"d_model=1024", "n_layer=24", "n_head=8", "d_ff=3072", "seq_len=768", "mem_len=768", "cmem_len=1152",
         "cmem_rate=3", "vocab_size=256", "dropout=0.1", "compression=mean_pool", "compression_loss=none"},
        8,
        true}},
  };
  return c;
}

// Forward FLOPs per token of the transformer (multiply-adds count 2), with k = klen / L
// the keys per query (memory + compressed memory + segment over the segment length) and B
// the batch:
//   per layer: 2D^2 (W_q) + 4D^2 k (W_k, W_v over all keys) + 2D^2 k / B (W_r over all
//   distances, once per segment for the whole batch) + 2D^2 (W_o) + 4 D d_ff (feed-forward)
//   + 6 D klen (q.k, q.r, p.v)
//   plus 2 D V for the output layer. A training step counts 3x forward (backward = 2x).
double forward_flops_per_token(const ModelOptions& m, int64_t batch) {
  const double D = m.d_model, L = m.seq_len, klen = m.seq_len + m.mem_len + m.cmem_len, k = klen / L;
  const double per_layer =
      2 * D * D + 4 * D * D * k + 2 * D * D * k / batch + 2 * D * D + 4 * D * m.d_ff + 6 * D * klen;
  return m.n_layer * per_layer + 2 * D * m.vocab_size;
}

// The compression work of one training step per token, for the plugins whose cost is a
// matter of products (others count 0, which only lowers the ratio). Every segment
// compresses n = L evicted slots into n_c = n / c per layer:
//   conv1d: 2 D^2 forward + 2 D^2 for its weight gradient (its input is detached memory);
//   attention_reconstruction: the target attention over the n old slots, forward only
//   (2D^2 W_q + 4 D^2 n/L W_k,W_v + 4 D n for q.k and p.v), and the attention over the n_c
//   compressed slots, forward and backward (3 x (4 D^2 n_c/L + 4 D n_c)).
std::pair<double, std::string> compression_flops_per_token(const RunConfig& cfg) {
  const auto& m = cfg.model;
  const double D = m.d_model, L = m.seq_len, n = m.seq_len, nc = n / m.cmem_rate;
  if (m.cmem_len == 0) return {0.0, "none (no compressed memory)"};
  double per_layer = 0;
  std::string what;
  auto base = [](const std::string& pinned) { return pinned.substr(0, pinned.find('@')); };  // name@version
  if (base(cfg.compression.name) == "conv1d") {
    per_layer += 4 * D * D;
    what += "conv1d 4 D^2";
  }
  if (base(cfg.compression_loss.name) == "attention_reconstruction") {
    per_layer += 2 * D * D + 4 * D * D * n / L + 4 * D * n + 3 * (4 * D * D * nc / L + 4 * D * nc);
    what += std::string(what.empty() ? "" : " + ") +
            "attention_reconstruction 2D^2 + 4D^2 n/L + 4 D n + 3 (4 D^2 n_c/L + 4 D n_c)";
  }
  if (what.empty())
    return {0.0, "not counted (" + cfg.compression.name + " + " + cfg.compression_loss.name + ")"};
  return {m.n_layer * per_layer, what + ", per layer, n = L = " + std::to_string(m.seq_len) +
                                     ", n_c = " + std::to_string(static_cast<int64_t>(nc))};
}

// Matrix-product rate of this process (runtime/cpu.h): n x n x n, 1024 on CPU; 8192 on GPU,
// the size at which an H100/H200 reaches its bf16 peak; same threads.
double matmul_gflops(const torch::Device& dev, torch::Dtype dtype = torch::kFloat32) {
  return ctlab::matmul_gflops(dev, dtype, dev.is_cuda() ? 8192 : 1024);
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // Linux reports KiB
}
struct BenchOptions {
  std::string names, device = "cpu", kernels, profile;
  int threads = 2, steps = 10, warmup = 0;
  int64_t batch = 0;
  bool bf16 = false;
  std::vector<std::string> sets;
};

po::options_description bench_options(BenchOptions& b) {
  po::options_description desc("ctlab_bench options");
  desc.add_options()("help,h", "show this help")("config", po::value(&b.names)->default_value("suite"),
                                                 "named configuration(s), comma-separated: cpu-small (a), "
                                                 "cpu-small-conv (b), cpu-small-txl (c), gpu-paper; "
                                                 "suite = a,b,c")(
      "steps", po::value(&b.steps)->default_value(10), "timed steps (training, then evaluation)")(
      "warmup", po::value(&b.warmup)->default_value(0),
      "untimed steps first (0 = enough to fill memory and compressed memory)")(
      "threads", po::value(&b.threads)->default_value(2), "intra-op threads")(
      "batch", po::value(&b.batch)->default_value(0), "batch size (0 = the config's)")(
      "device", po::value(&b.device)->default_value("cpu"), "cpu | cuda | cuda:N")(
      "precision", po::value<std::string>()->default_value("fp32"),
      "fp32 | bf16 (autocast on CUDA, or on a CPU with AVX512_BF16/AMX in the 2.x build)")(
      "kernels", po::value(&b.kernels)->default_value("fused"),
      "fused (ctlab's CPU kernels for the attention core and dropout) | reference (plain LibTorch ops)")(
      "profile", po::value(&b.profile)->default_value(""),
      "write a Chrome trace of the timed training steps to this file (bench/profile.py sums it per op)")(
      "set", po::value<std::vector<std::string>>(&b.sets)->composing(),
      "override a configuration key of the named config: --set compression=conv1d (repeatable)");
  return desc;
}

// Parses and checks the command line; returns an exit code when the program should stop.
std::optional<int> parse_options(int argc, char** argv, BenchOptions& b) {
  auto desc = bench_options(b);
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "ctlab_bench: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  for (const auto& [opt, value, least] : {std::tuple<const char*, int64_t, int64_t>{"--steps", b.steps, 1},
                                          {"--warmup", b.warmup, 0},
                                          {"--threads", b.threads, 0},
                                          {"--batch", b.batch, 0}})
    if (value < least) {
      std::cerr << "ctlab_bench: " << opt << " " << value << ": expected an integer >= " << least << "\n";
      return 2;
    }
  const auto precision = vm["precision"].as<std::string>();
  if (precision != "fp32" && precision != "bf16") {
    std::cerr << "ctlab_bench: --precision " << precision << ": expected fp32 or bf16\n";
    return 2;
  }
  b.bf16 = precision == "bf16";
  return std::nullopt;
}

// Seconds for `steps` calls of f after `warm` untimed calls.
double timed(const std::function<void()>& f, int warm, int steps) {
  for (int i = 0; i < warm; ++i) f();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double profiled(const std::function<void()>& f, int warm, int steps, const std::string& path) {
  for (int i = 0; i < warm; ++i) f();
  double secs = 0;
  compat::record_profile(path, [&] {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) f();
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
  return secs;
}

struct Timings {
  double train_secs = 0, eval_secs = 0, mm_before = 0, mm_after = 0;
  int64_t mem_slots = 0, cmem_slots = 0, batch = 0;
  int warm = 0;
  double host_reads = 0;  // per training step: .item() calls and copies to the host
  bool deferred = false;
};

// Builds the config's model and times training steps, then evaluation forward passes.
Timings time_config(const RunConfig& cfg, const BenchOptions& b, const torch::Device& dev,
                    const std::string& trace) {
  PluginHost host;
  host.load_directories(PluginHost::search_path({}));
  auto resolved = resolve_plugins(host, cfg);
  torch::manual_seed(0);
  auto model = build_model(cfg, host, resolved);
  model->to(dev);
  model->train();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(cfg.train.lr));
  set_tf32(cfg.train.allow_tf32);
  TrainStep step(model, adam, cfg.train, b.bf16);
  step.set_deferred(defers_checks(cfg.train.checks, dev));  // as the trainer does
  auto memories = step.empty_memories();
  const auto& m = cfg.model;
  Timings t;
  t.batch = cfg.train.batch_size;
  t.warm = b.warmup > 0 ? b.warmup : static_cast<int>((m.mem_len + m.cmem_len * m.cmem_rate) / m.seq_len) + 2;
  auto segment = [&](int64_t) {
    auto x = torch::randint(m.vocab_size, {m.seq_len + 1, t.batch},
                            torch::TensorOptions().dtype(torch::kLong).device(dev));
    return TrainStep::Segment(x.narrow(0, 0, m.seq_len), x.narrow(0, 1, m.seq_len));
  };
  int64_t n = 0;
  auto train_step = [&] {
    step.run(n++, segment, memories);
    if (dev.is_cuda()) torch::cuda::synchronize();
  };
  Memories eval_memory;  // the evaluation stream's, from empty
  auto eval_step = [&] {
    auto [x, y] = segment(0);
    c10::InferenceMode guard;
    if (b.bf16) set_bf16_autocast(true);
    eval_memory = model->forward(x, y, eval_memory).memory;
    if (b.bf16) set_bf16_autocast(false);
    if (dev.is_cuda()) torch::cuda::synchronize();
  };
  // The matmul rate is measured again around this configuration's timed steps (shared
  // machines drift); the ratios use the mean of the two.
  const auto mm_dtype = b.bf16 ? torch::kBFloat16 : torch::kFloat32;
  t.mm_before = matmul_gflops(dev, mm_dtype);
  {
    HostReadCounter reads;  // every training step's host syncs, warm-up included
    t.train_secs =
        trace.empty() ? timed(train_step, t.warm, b.steps) : profiled(train_step, t.warm, b.steps, trace);
    t.host_reads = static_cast<double>(reads.total()) / (t.warm + b.steps);
    t.deferred = step.deferred();
  }
  const auto& lm = memories[0][0];
  t.mem_slots = lm.mem.defined() ? lm.mem.size(0) : 0;
  t.cmem_slots = lm.cmem.defined() ? lm.cmem.size(0) : 0;
  model->eval();
  t.eval_secs = timed(eval_step, t.warm, b.steps);
  t.mm_after = matmul_gflops(dev, mm_dtype);
  return t;
}

// One line of the closing table.
struct Summary {
  std::string name;
  double train_tps = 0, train_ratio = 0, eval_tps = 0, eval_ratio = 0, matmul = 0;
};

Summary print_result(const std::string& name, const BenchConfig& bc, const RunConfig& cfg, const Timings& t,
                     int steps, const torch::Device& dev) {
  const auto& m = cfg.model;
  const double mm_here = 0.5 * (t.mm_before + t.mm_after);
  const double tokens = static_cast<double>(steps) * m.seq_len * t.batch;
  const double fwd = forward_flops_per_token(m, t.batch);
  const auto [comp, comp_what] = compression_flops_per_token(cfg);
  const double train_tps = tokens / t.train_secs, eval_tps = tokens / t.eval_secs;
  const double train_gf = (3 * fwd + comp) * train_tps / 1e9, eval_gf = fwd * eval_tps / 1e9;
  std::printf("\nconfig      %s: %s\n", name.c_str(), bc.description.c_str());
  std::printf("compression %s + %s; memory when timed: mem %lld, cmem %lld slots per layer\n",
              cfg.compression.name.c_str(), cfg.compression_loss.name.c_str(),
              static_cast<long long>(t.mem_slots), static_cast<long long>(t.cmem_slots));
  std::printf("steps       %d timed after %d warm-up, batch %lld x seq %lld\n", steps, t.warm,
              static_cast<long long>(t.batch), static_cast<long long>(m.seq_len));
  std::printf(
      "FLOPs/token %.2f M forward (training step = 3x): per layer 2D^2 + 4D^2 k + 2D^2 k/B + 2D^2 + 4 D d_ff "
      "+ 6 D klen, plus 2 D V; D=%lld d_ff=%lld klen=%lld k=klen/L=%.2f B=%lld V=%lld layers=%lld\n",
      fwd / 1e6, static_cast<long long>(m.d_model), static_cast<long long>(m.d_ff),
      static_cast<long long>(m.seq_len + m.mem_len + m.cmem_len),
      static_cast<double>(m.seq_len + m.mem_len + m.cmem_len) / m.seq_len, static_cast<long long>(t.batch),
      static_cast<long long>(m.vocab_size), static_cast<long long>(m.n_layer));
  std::printf("FLOPs/token %.2f M compression per training step: %s\n", comp / 1e6, comp_what.c_str());
  std::printf(
      "matmul      %.1f GFLOP/s here (%.1f before training, %.1f after evaluation): the rate the ratios "
      "use\n",
      mm_here, t.mm_before, t.mm_after);
  std::printf(
      "train       %.1f ms/step, %.0f tokens/s, %.1f GFLOP/s = %.0f%% of the matmul rate (forward, backward, "
      "compression, clip, Adam) in the trainer's own step\n",
      1000.0 * t.train_secs / steps, train_tps, train_gf, 100.0 * train_gf / mm_here);
  std::printf(
      "eval        %.1f ms/step, %.0f tokens/s, %.1f GFLOP/s = %.0f%% of matmul rate; %.2fx training "
      "tokens/s\n",
      1000.0 * t.eval_secs / steps, eval_tps, eval_gf, 100.0 * eval_gf / mm_here, eval_tps / train_tps);
  std::printf("host syncs  %.2f per training step (.item() and copies to the host; checks = %s)\n",
              t.host_reads, t.deferred ? "deferred" : "step");
  std::printf("peak RSS    %.0f MiB (process so far)\n", peak_rss_mib());
  if (dev.is_cuda())
    std::printf("peak GPU    %.0f MiB allocated on %s (process so far)\n",
                compat::cuda_peak_allocated_bytes(dev.index()) / 1048576.0, dev.str().c_str());
  std::fflush(stdout);
  return {name, train_tps, train_gf / mm_here, eval_tps, eval_gf / mm_here, mm_here};
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return trim(line.substr(line.find(':') + 1));
  return "unknown CPU";
}

// Every configuration in one table, with the machine it ran on.
void print_summary(const std::vector<Summary>& rows, const torch::Device& dev, int threads) {
  std::printf("\nsummary     %s; %s; %s; %d thread(s)\n", host_name().c_str(),
              dev.is_cuda() ? "CUDA" : cpu_model().c_str(),
              dev.is_cuda() ? "" : blas_info().summary().c_str(), threads);
  std::printf("%-16s %12s %10s %12s %10s %11s %16s\n", "config", "train tok/s", "of matmul", "eval tok/s",
              "of matmul", "eval/train", "matmul GFLOP/s");
  for (const auto& r : rows)
    std::printf("%-16s %12.0f %9.0f%% %12.0f %9.0f%% %10.2fx %16.1f\n", r.name.c_str(), r.train_tps,
                100 * r.train_ratio, r.eval_tps, 100 * r.eval_ratio, r.eval_tps / r.train_tps, r.matmul);
}

void print_machine(const torch::Device& dev, bool bf16) {
  const auto blas = blas_info();
  const double mm = matmul_gflops(dev, bf16 ? torch::kBFloat16 : torch::kFloat32);
  std::printf("machine     %s, %s, %s, torch %s%s\n", host_name().c_str(),
              dev.is_cuda() ? "CUDA" : blas.summary().c_str(), thread_summary().c_str(),
              torch_version().c_str(), dev.is_cuda() ? "" : (", " + fused_kernels_summary()).c_str());
  std::printf("matmul      %.1f GFLOP/s (%s %s, this process, same threads)\n", mm, bf16 ? "bf16" : "fp32",
              dev.is_cuda() ? "8192^3" : "1024^3");
  if (!blas.warning.empty() && !dev.is_cuda()) std::printf("warning     %s\n", blas.warning.c_str());
}

// The named configuration with --batch and --set applied, plugins pinned.
RunConfig config_of(const BenchConfig& bc, const BenchOptions& b) {
  auto settings = bc.settings;
  settings.push_back("batch_size=" + std::to_string(b.batch > 0 ? b.batch : bc.batch));
  settings.insert(settings.end(), b.sets.begin(), b.sets.end());
  RunConfig cfg = load_run_config("", settings);
  PluginHost host;
  host.load_directories(PluginHost::search_path({}));
  pin_plugins(cfg, resolve_plugins(host, cfg));
  return cfg;
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions b;
  if (auto rc = parse_options(argc, argv, b)) return *rc;
  try {
    keep_freed_memory();
    set_threads(b.threads);
    if (b.kernels != "fused" && b.kernels != "reference")
      throw Error("--kernels: expected fused or reference, got '" + b.kernels + "'");
    set_fused_kernels(b.kernels == "fused");
    torch::Device dev(b.device);
    if (b.bf16) check_bf16(dev, "--precision bf16");
    print_machine(dev, b.bf16);
    std::vector<std::string> names =
        split(b.names == "suite" ? "cpu-small,cpu-small-conv,cpu-small-txl" : b.names, ',');
    std::vector<Summary> rows;
    for (const auto& n : names) {
      auto it = configs().find(n);
      if (it == configs().end()) throw Error("unknown config '" + n + "'");
      RunConfig cfg = config_of(it->second, b);
      const std::string trace = b.profile.empty() ? "" : b.profile + (names.size() > 1 ? "." + n : "");
      rows.push_back(print_result(n, it->second, cfg, time_config(cfg, b, dev, trace), b.steps, dev));
    }
    print_summary(rows, dev, static_cast<int>(b.threads > 0 ? b.threads : available_cpus()));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ctlab_bench: " << brief_what(e) << "\n";
    return 1;
  }
}
