// ctlab_kernel_bench: times the attention core (shift, scale, mask, softmax, dropout) and
// dropout alone, forward, backward and inference, with ctlab's fused CPU kernels and with
// the reference chain of LibTorch ops, at the cpu-small shapes (or those given).
#include <torch/torch.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>

#include "model/attention.h"
#include "model/fused.h"
#include "runtime/runtime.h"
#include "util/error.h"

namespace po = boost::program_options;
using namespace ctlab;

namespace {
double time_ms(int reps, const std::function<void()>& f) {
  for (int i = 0; i < 2; ++i) f();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  return 1000.0 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}
}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 20;
  int64_t B = 8, H = 4, L = 128, K = 384, D = 256, F = 1024;
  double p = 0.1;
  po::options_description desc("ctlab_kernel_bench options");
  desc.add_options()("help,h", "show this help")("threads", po::value(&threads)->default_value(2), "threads")(
      "reps", po::value(&reps)->default_value(20), "timed repetitions")(
      "batch", po::value(&B)->default_value(8), "batch")("heads", po::value(&H)->default_value(4), "heads")(
      "d-model", po::value(&D)->default_value(256), "model width (for the products)")(
      "seq", po::value(&L)->default_value(128), "queries per segment")(
      "klen", po::value(&K)->default_value(384), "keys (memory + segment)")(
      "d-ff", po::value(&F)->default_value(1024), "width of the dropout/relu test tensor [seq, batch, d_ff]")(
      "p", po::value(&p)->default_value(0.1), "dropout probability");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "ctlab_kernel_bench: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  std::string bad;
  for (const auto& [opt, value] : {std::pair<const char*, int64_t>{"--threads", threads},
                                   {"--reps", reps},
                                   {"--batch", B},
                                   {"--heads", H},
                                   {"--seq", L},
                                   {"--klen", K},
                                   {"--d-model", D},
                                   {"--d-ff", F}})
    if (value < 1 && bad.empty())
      bad = std::string(opt) + " " + std::to_string(value) + ": expected an integer >= 1";
  if (bad.empty() && D % H != 0)
    bad = "--d-model " + std::to_string(D) + " is not a multiple of --heads " + std::to_string(H);
  if (bad.empty() && K < L)
    bad = "--klen " + std::to_string(K) + " is shorter than --seq " + std::to_string(L) +
          " (keys include the segment)";
  if (bad.empty() && !(p >= 0 && p < 1))
    bad = "--p " + std::to_string(p) + ": expected a probability in [0, 1)";
  if (!bad.empty()) {
    std::cerr << "ctlab_kernel_bench: " << bad << "\n";
    return 2;
  }
  keep_freed_memory();
  set_threads(threads);
  std::printf(
      "attention core [%lld, %lld, %lld, %lld], dropout p %.2f; relu+dropout [%lld, %lld, %lld]; %s\n",
      static_cast<long long>(B), static_cast<long long>(H), static_cast<long long>(L),
      static_cast<long long>(K), p, static_cast<long long>(L), static_cast<long long>(B),
      static_cast<long long>(F), thread_summary().c_str());
  std::printf("%-10s %-28s %10s %10s %10s\n", "kernels", "op", "fwd ms", "bwd ms", "infer ms");
  torch::manual_seed(0);
  auto ac = torch::randn({B, H, L, K}).requires_grad_(), bd = torch::randn({B, H, L, K}).requires_grad_();
  auto mask = causal_memory_mask(L, K - L, 0, torch::kCPU);
  auto g = torch::randn({B, H, L, K});
  auto x = torch::randn({L, B, F}).requires_grad_();
  auto gx = torch::randn({L, B, F});
  // The model's matrix products at these shapes (forward), each as LibTorch runs it.
  {
    const int64_t Dh = D / H, T = L * B;
    // Laid out as the model lays them out (model/attention.cpp): q, k, v [T, B, H, Dh].
    auto q = torch::randn({L, B, H, Dh}), k = torch::randn({K, B, H, Dh}), v = torch::randn({K, B, H, Dh});
    auto rk = torch::randn({K, H, Dh});
    auto probs = torch::randn({B, H, L, K});
    auto w = [&](int64_t o, int64_t i) { return torch::randn({o, i}); };
    auto xin = torch::randn({T, D}), xk = torch::randn({K * B, D}), xf = torch::randn({T, F});
    auto wq = w(D, D), wkv = w(2 * D, D), wf1 = w(F, D), wf2 = w(D, F);
    struct G {
      const char* name;
      double flops;
      std::function<void()> f;
    };
    std::vector<G> gs = {
        {"x W_q^T [T,D]x[D,D]", 2.0 * T * D * D, [&] { torch::matmul(xin, wq.t()); }},
        {"m W_kv^T [kB,D]x[D,2D]", 4.0 * K * B * D * D, [&] { torch::matmul(xk, wkv.t()); }},
        {"x W_1^T [T,D]x[D,F]", 2.0 * T * D * F, [&] { torch::matmul(xin, wf1.t()); }},
        {"h W_2^T [T,F]x[F,D]", 2.0 * T * D * F, [&] { torch::matmul(xf, wf2.t()); }},
        {"q k^T per (b, h) [L,Dh]x[Dh,K]", 2.0 * B * H * L * K * Dh,
         [&] {
           torch::matmul(q.permute({1, 2, 0, 3}), k.permute({1, 2, 3, 0}));
         }},
        {"q r^T per h [LB,Dh]x[Dh,K]", 2.0 * B * H * L * K * Dh,
         [&] {
           torch::matmul(q.view({L * B, H, Dh}).permute({1, 0, 2}), rk.permute({1, 2, 0}));
         }},
        {"p v per (b, h) [L,K]x[K,Dh]", 2.0 * B * H * L * K * Dh,
         [&] {
           torch::matmul(probs, v.permute({1, 2, 0, 3}));
         }},
    };
    std::printf("%-34s %10s %10s\n", "product", "ms", "GFLOP/s");
    for (auto& g : gs) {
      const double ms = time_ms(reps, g.f);
      std::printf("%-34s %10.3f %10.1f\n", g.name, ms, g.flops / ms / 1e6);
    }
    // Their backward passes (two products each, plus LibTorch's gradient layout copies):
    // time of forward + backward minus forward.
    {
      auto qg = q.clone().requires_grad_(), kg = k.clone().requires_grad_(), vg = v.clone().requires_grad_();
      auto rkg = rk.clone().requires_grad_(), pg = probs.clone().requires_grad_();
      auto gout = torch::randn({B, H, L, K}), gout2 = torch::randn({H, L * B, K}),
           gpv = torch::randn({B, H, L, Dh});
      auto bw = [&](const char* name, std::function<torch::Tensor()> f, const torch::Tensor& go) {
        auto fw = time_ms(reps, [&] { f(); });
        auto both = time_ms(reps, [&] { f().backward(go); });
        std::printf("%-34s %10.3f %10.1f\n", name, both - fw,
                    2 * 2.0 * B * H * L * K * Dh / (both - fw) / 1e6);
      };
      bw(
          "backward of q k^T",
          [&] {
            return torch::matmul(qg.permute({1, 2, 0, 3}), kg.permute({1, 2, 3, 0}));
          },
          gout);
      bw(
          "backward of q r^T",
          [&] {
            return torch::matmul(qg.view({L * B, H, Dh}).permute({1, 0, 2}), rkg.permute({1, 2, 0}));
          },
          gout2);
      bw(
          "backward of p v",
          [&] {
            return torch::matmul(pg, vg.permute({1, 2, 0, 3}));
          },
          gpv);
    }
  }
  for (const bool fused : {false, true}) {
    set_fused_kernels(fused);
    const char* name = fused ? "fused" : "reference";
    auto row = [&](const char* op, const std::function<torch::Tensor(bool)>& f, const torch::Tensor& grad) {
      torch::Tensor out;
      const double fwd = time_ms(reps, [&] { out = f(true); });
      const double bwd = time_ms(reps,
                                 [&] {
                                   out = f(true);
                                   out.backward(grad);
                                 }) -
                         fwd;
      const double inf = time_ms(reps, [&] {
        c10::InferenceMode guard;
        f(false);
      });
      std::printf("%-10s %-28s %10.2f %10.2f %10.2f\n", name, op, fwd, bwd, inf);
    };
    row(
        "attention probs, dropatt 0", [&](bool t) { return attention_probs(ac, bd, mask, 0.125, 0.0, t); },
        g);
    row(
        "attention probs, dropatt p", [&](bool t) { return attention_probs(ac, bd, mask, 0.125, p, t); }, g);
    row(
        "dropout", [&](bool t) { return ctlab::dropout(x, p, t); }, gx);
    row(
        "relu + dropout", [&](bool t) { return relu_dropout(x, p, t); }, gx);
  }
  return 0;
}
