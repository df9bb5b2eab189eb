// ctlab_bench: times forward+backward of the model for named configurations and prints
// tokens/s, ms/step and peak RSS. Memories are filled before timing starts, so every timed
// step attends over full memory and compressed memory and compresses one segment.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include <boost/program_options.hpp>
#include <torch/torch.h>

#include "config/resolve.h"
#include "model/factory.h"
#include "util/error.h"

namespace po = boost::program_options;
using namespace ctlab;

namespace {

struct BenchConfig {
  std::string description;
  std::vector<std::string> settings;  // run-config overrides
  int64_t batch;
  bool optimizer = false;  // full training steps: + gradient clipping and an Adam update
};

const std::map<std::string, BenchConfig>& configs() {
  static const std::map<std::string, BenchConfig> c = {
      {"cpu-small",
       {"d_model 256, 4 layers, 4 heads, d_ff 1024, seq 128, mem 128, cmem 128, rate 4, batch 8, bytes, mean_pool",
        {"d_model=256", "n_layer=4", "n_head=4", "d_ff=1024", "seq_len=128", "mem_len=128", "cmem_len=128",
         "cmem_rate=4", "vocab_size=256", "dropout=0.1", "compression=mean_pool", "compression_loss=none"},
        8}},
      {"train-cpu-small",
       {"cpu-small with full training steps (forward, backward, clip, Adam)",
        {"d_model=256", "n_layer=4", "n_head=4", "d_ff=1024", "seq_len=128", "mem_len=128", "cmem_len=128",
         "cmem_rate=4", "vocab_size=256", "dropout=0.1", "compression=mean_pool", "compression_loss=none"},
        8,
        true}},
      {"cpu-small-txl",
       {"cpu-small as Transformer-XL: cmem_len 0, mem_len 256",
        {"d_model=256", "n_layer=4", "n_head=4", "d_ff=1024", "seq_len=128", "mem_len=256", "cmem_len=0",
         "cmem_rate=4", "vocab_size=256", "dropout=0.1"},
        8}},
      {"gpu-paper",
       {"[CT] enwik8 scale: 24 layers, d 1024, 8 heads, d_ff 3072, seq 768, mem 768, cmem 1152, rate 3, mean_pool",
        {"d_model=1024", "n_layer=24", "n_head=8", "d_ff=3072", "seq_len=768", "mem_len=768", "cmem_len=1152",
         "cmem_rate=3", "vocab_size=256", "dropout=0.1", "compression=mean_pool", "compression_loss=none"},
        8}},
  };
  return c;
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // Linux reports KiB
}

}  // namespace

int main(int argc, char** argv) {
  std::string name, device = "cpu";
  int threads = 2, steps = 10, warmup = 0;
  int64_t batch = 0;
  po::options_description desc("ctlab_bench options");
  desc.add_options()("help,h", "show this help")("config", po::value(&name)->default_value("cpu-small"),
                                                 "named configuration (cpu-small, train-cpu-small, cpu-small-txl, gpu-paper)")(
      "steps", po::value(&steps)->default_value(10), "timed forward+backward steps")(
      "warmup", po::value(&warmup)->default_value(0),
      "untimed steps first (0 = enough to fill memory and compressed memory)")(
      "threads", po::value(&threads)->default_value(2), "intra-op threads")(
      "batch", po::value(&batch)->default_value(0), "batch size (0 = the config's)")(
      "device", po::value(&device)->default_value("cpu"), "cpu | cuda | cuda:N")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a configuration key of the named config: --set compression=conv1d (repeatable)");
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
  try {
    auto it = configs().find(name);
    if (it == configs().end()) throw Error("unknown config '" + name + "'");
    const auto& bc = it->second;
    if (batch == 0) batch = bc.batch;
    torch::set_num_threads(threads);
    auto settings = bc.settings;
    if (vm.count("set"))
      for (const auto& kv : vm["set"].as<std::vector<std::string>>()) settings.push_back(kv);
    RunConfig cfg = load_run_config("", settings);
    PluginHost host;
    host.load_directories(PluginHost::search_path({}));
    auto resolved = resolve_plugins(host, cfg);
    pin_plugins(cfg, resolved);
    torch::manual_seed(0);
    auto model = build_model(cfg, host, resolved);
    torch::Device dev(device);
    model->to(dev);
    model->train();
    torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(3e-4));
    const auto& m = cfg.model;
    if (warmup == 0) warmup = static_cast<int>((m.mem_len + m.cmem_len * m.cmem_rate) / m.seq_len) + 2;

    auto step = [&] {
      auto x = torch::randint(m.vocab_size, {m.seq_len, batch}, torch::TensorOptions().dtype(torch::kLong).device(dev));
      auto out = model->forward(x, x.roll(-1, 0));
      auto loss = out.nll.mean();
      auto closs = model->compression_losses(out.compression);
      for (auto& l : closs) loss = loss + l;
      model->zero_grad();
      loss.backward();
      if (bc.optimizer) {
        torch::nn::utils::clip_grad_norm_(model->parameters(), 0.1);
        adam.step();
      }
      if (dev.is_cuda()) torch::cuda::synchronize();
    };
    for (int i = 0; i < warmup; ++i) step();
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto& lm = model->memory()[0];
    double tokens = static_cast<double>(steps) * m.seq_len * batch;
    std::printf("config      %s (%s)\n", name.c_str(), bc.description.c_str());
    std::printf("compression %s + %s\n", cfg.compression.name.c_str(), cfg.compression_loss.name.c_str());
    std::printf("device      %s, intra-op threads %d, torch %s\n", device.c_str(), torch::get_num_threads(),
                CTLAB_TORCH_VERSION_STRING);
    std::printf("memory      mem %lld / cmem %lld slots per layer when timed\n",
                static_cast<long long>(lm.mem.defined() ? lm.mem.size(0) : 0),
                static_cast<long long>(lm.cmem.defined() ? lm.cmem.size(0) : 0));
    std::printf("steps       %d timed after %d warm-up, batch %lld x seq %lld\n", steps, warmup,
                static_cast<long long>(batch), static_cast<long long>(m.seq_len));
    std::printf("ms/step     %.1f\n", 1000.0 * secs / steps);
    std::printf("tokens/s    %.0f (%s)\n", tokens / secs, bc.optimizer ? "training step: forward, backward, clip, Adam" : "forward+backward");
    std::printf("peak RSS    %.0f MiB\n", peak_rss_mib());
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ctlab_bench: " << brief_what(e) << "\n";
    return 1;
  }
}
