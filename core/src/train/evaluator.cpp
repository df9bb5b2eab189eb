// Streaming evaluation over a split.
#include "train/evaluator.h"

#include <torch/torch.h>

#include <cmath>
#include <cstring>

#include "data/stream.h"
#include "runtime/host_sync.h"
#include "runtime/runtime.h"
#include "util/error.h"

namespace ctlab {

std::string EvalSettings::tag() const {
  return "seq" + std::to_string(seq_len) + "-mem" + std::to_string(memory.mem_len) + "-cmem" +
         std::to_string(memory.cmem_len) + "-clamp" + std::to_string(memory.clamp_len) + "-same" +
         (memory.same_length ? "1" : "0") + "-batch" + std::to_string(batch_size) +
         (segments > 0 ? "-first" + std::to_string(segments) : std::string("-all"));
}

EvalSettings eval_settings(const RunConfig& cfg, const std::string& split) {
  EvalSettings s;
  const auto& m = cfg.model;
  s.split = split;
  s.seq_len = cfg.eval.seq_len.value_or(m.seq_len);
  s.batch_size = cfg.eval.batch_size;
  s.segments = cfg.eval.segments;
  s.memory.mem_len = cfg.eval.mem_len.value_or(m.mem_len);
  s.memory.cmem_len = cfg.eval.cmem_len.value_or(m.cmem_len);
  s.memory.clamp_len = cfg.eval.clamp_len.value_or(m.clamp_len);
  s.memory.same_length = m.same_length;
  if (s.memory.cmem_len > 0 && s.seq_len % m.cmem_rate != 0)
    throw Error("evaluation seq_len = " + std::to_string(s.seq_len) +
                " is not a multiple of cmem_rate = " + std::to_string(m.cmem_rate));
  return s;
}

EvalModeGuard::EvalModeGuard(CompressiveTransformer& model, bool bf16)
    : model_(model), was_training_(model->is_training()), bf16_(bf16) {
  model_->eval();
}

EvalModeGuard::~EvalModeGuard() {
  if (bf16_) set_bf16_autocast(false);
  model_->train(was_training_);
}

EvalStream::EvalStream(CompressiveTransformer& model, const MemoryConfig& config)
    : model_(model), config_(config) {
  model_->check_memory_config(config_);
}

ForwardOutput EvalStream::forward(const torch::Tensor& x, const torch::Tensor& y, ForwardOptions options) {
  options.memory_config = &config_;
  auto out = model_->forward(x, y, memory_, options);
  memory_ = out.memory;
  return out;
}

const Comm* eval_shards(const Comm* comm, int64_t batch_size) {
  return comm && comm->distributed() && batch_size % comm->size() == 0 ? comm : nullptr;
}

namespace {

// The split's streams this rank evaluates.
SegmentStream eval_stream(const Corpus& corpus, const EvalSettings& s, const Comm* shards) {
  SegmentStream stream(corpus.split(s.split), s.batch_size, s.seq_len);
  if (!shards) return stream;
  const int64_t per = s.batch_size / shards->size();
  return stream.shard(shards->rank() * per, per);
}

}  // namespace

int64_t stream_split(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& s,
                     const torch::Device& device, bool bf16, const SegmentVisitor& visit, const Comm* comm) {
  EvalStream evaluation(model, s.memory);
  EvalModeGuard guard(model, bf16);
  torch::NoGradGuard no_grad;
  const SegmentStream stream = eval_stream(corpus, s, eval_shards(comm, s.batch_size));
  const int64_t n = s.segments > 0 ? std::min(s.segments, stream.segments()) : stream.segments();
  if (bf16) set_bf16_autocast(true);
  int64_t visited = 0;
  for (int64_t t = 0; t < n; ++t) {
    auto [x, y] = stream.segment(t, torch::kCPU);
    ++visited;
    if (!visit(t, to_device(x, device), to_device(y, device), evaluation)) break;
  }
  if (bf16) {
    set_bf16_autocast(false);
    clear_autocast_cache();
  }
  return visited;
}

namespace {

// sd(x) / sqrt(n) over the values; NaN for fewer than two.
double standard_error(const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  if (n < 2) return NAN;
  double mean = 0, var = 0;
  for (double v : x) mean += v / n;
  for (double v : x) var += (v - mean) * (v - mean) / (n - 1);
  return std::sqrt(var / n);
}

}  // namespace

double EvalResult::recovered_se() const { return standard_error(segment_recovered); }

EvalAccumulator::EvalAccumulator(const Corpus& corpus, const EvalSettings& s, const Comm* comm)
    : ideal_(corpus.ideal_loss(s.split)),
      comm_(eval_shards(comm, s.batch_size)),
      layout_(eval_stream(corpus, s, comm_)) {}

void EvalAccumulator::add(int64_t t, const torch::Tensor& nll) {
  // The host-only sums (the ideal losses are host data) are taken here; what reads the
  // model's losses is summed on their device and read in result().
  std::array<double, 6> h{static_cast<double>(nll.numel()), 0, 0, 0, 0, 0};
  auto model = nll.detach().to(torch::kFloat64);
  torch::Tensor relevant_nll = torch::zeros({}, model.options());
  if (ideal_) {
    const auto best = layout_.targets_of(ideal_->best, t), blind = layout_.targets_of(ideal_->blind, t);
    // relevant: 1 on the tokens that carry long-range information, else 0.
    auto relevant = torch::empty(best.sizes(), torch::kFloat64);
    const double *pb = best.data_ptr<double>(), *pl = blind.data_ptr<double>();
    double* pr = relevant.data_ptr<double>();
    for (int64_t k = 0; k < best.numel(); ++k) {
      pr[k] = pl[k] - pb[k] > 1e-12 ? 1.0 : 0.0;
      h[1] += pb[k];
      h[2] += pl[k];
      h[3] += pr[k];
      h[4] += pr[k] * pb[k];
      h[5] += pr[k] * pl[k];
    }
    if (h[3] > 0) relevant_nll = (model * to_device(relevant.view(model.sizes()), model.device())).sum();
  }
  device_sums_.push_back(torch::stack({model.sum(), relevant_nll}));
  host_sums_.push_back(h);
}

EvalResult EvalAccumulator::result() const {
  EvalResult r;
  const int64_t n_seg = static_cast<int64_t>(host_sums_.size());
  if (n_seg == 0) return r;
  // Per segment: nll, relevant nll | tokens, best, blind, relevant, relevant best, blind.
  auto host = torch::empty({n_seg, 6}, torch::kFloat64);
  std::memcpy(host.data_ptr<double>(), host_sums_.data(), sizeof(double) * 6 * n_seg);
  auto sums = torch::cat({to_host(torch::stack(device_sums_), torch::kFloat64), host}, 1).contiguous();
  if (comm_) comm_->all_reduce_sum(sums);
  auto v = sums.accessor<double, 2>();
  double nll_sum = 0, best_sum = 0, blind_sum = 0, rel_nll = 0, rel_best = 0, rel_blind = 0;
  for (int64_t i = 0; i < n_seg; ++i) {
    const double seg = v[i][0];
    const int64_t tokens = static_cast<int64_t>(v[i][2]);
    nll_sum += seg;
    r.tokens += tokens;
    r.segments++;
    r.segment_loss.push_back(seg / static_cast<double>(tokens));
    r.segment_tokens.push_back(tokens);
    if (!ideal_) continue;
    best_sum += v[i][3];
    blind_sum += v[i][4];
    const int64_t n = static_cast<int64_t>(v[i][5]);
    if (n == 0) continue;
    const double model = v[i][1], b = v[i][6], l = v[i][7];
    rel_nll += model;
    rel_best += b;
    rel_blind += l;
    r.relevant_tokens += n;
    r.segment_recovered.push_back((l - model) / (l - b));
  }
  const double n = static_cast<double>(r.tokens);
  r.loss = r.tokens > 0 ? nll_sum / n : 0.0;
  if (ideal_ && r.tokens > 0) {
    r.best_loss = best_sum / n;
    r.blind_loss = blind_sum / n;
  }
  if (r.relevant_tokens > 0) {
    const double m = static_cast<double>(r.relevant_tokens);
    r.relevant_loss = rel_nll / m;
    r.relevant_best = rel_best / m;
    r.relevant_blind = rel_blind / m;
  }
  if (r.segment_loss.size() >= 2) r.loss_se = standard_error(r.segment_loss);
  return r;
}

EvalResult evaluate(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& s,
                    const torch::Device& device, bool bf16, const Comm* comm) {
  EvalAccumulator acc(corpus, s, comm);
  stream_split(
      model, corpus, s, device, bf16,
      [&](int64_t t, const torch::Tensor& x, const torch::Tensor& y, EvalStream& stream) {
        auto out = stream.forward(x, y);
        acc.add(t, out.nll);
        return true;
      },
      comm);
  return acc.result();
}

const char* score_name(bool word_level) { return word_level ? "ppl" : "bpc"; }
double score_se_of(double loss, double loss_se, bool word_level) {
  return word_level ? std::exp(loss) * loss_se : loss_se / std::log(2.0);
}

double score_of(double loss, bool word_level) { return word_level ? std::exp(loss) : loss / std::log(2.0); }

}  // namespace ctlab
