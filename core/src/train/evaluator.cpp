// Streaming evaluation over a split.
#include "train/evaluator.h"

#include <torch/torch.h>

#include <cmath>

#include "data/stream.h"
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

EvalModeGuard::EvalModeGuard(CompressiveTransformer& model, const MemoryConfig& memory, bool bf16)
    : model_(model),
      was_training_(model->is_training()),
      bf16_(bf16),
      memory_config_(model->memory_config()),
      memory_(model->memory()) {
  model_->eval();
  model_->set_memory_config(memory);  // validates and starts from empty memories
}

EvalModeGuard::~EvalModeGuard() {
  if (bf16_) set_bf16_autocast(false);
  model_->set_memory_config(memory_config_);
  model_->set_memory(memory_);
  model_->train(was_training_);
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
                     const torch::Device& device, bool bf16,
                     const std::function<bool(int64_t, const torch::Tensor&, const torch::Tensor&)>& visit,
                     const Comm* comm) {
  EvalModeGuard guard(model, s.memory, bf16);
  torch::NoGradGuard no_grad;
  const SegmentStream stream = eval_stream(corpus, s, eval_shards(comm, s.batch_size));
  const int64_t n = s.segments > 0 ? std::min(s.segments, stream.segments()) : stream.segments();
  if (bf16) set_bf16_autocast(true);
  int64_t visited = 0;
  for (int64_t t = 0; t < n; ++t) {
    auto [x, y] = stream.segment(t, device);
    ++visited;
    if (!visit(t, x, y)) break;
  }
  if (bf16) {
    set_bf16_autocast(false);
    clear_autocast_cache();
  }
  return visited;
}

double EvalResult::recovered_se() const {
  const double n = static_cast<double>(segment_recovered.size());
  if (n < 2) return NAN;
  double mean = 0, var = 0;
  for (double x : segment_recovered) mean += x / n;
  for (double x : segment_recovered) var += (x - mean) * (x - mean) / (n - 1);
  return std::sqrt(var / n);
}

EvalAccumulator::EvalAccumulator(const Corpus& corpus, const EvalSettings& s, const Comm* comm)
    : ideal_(corpus.ideal_loss(s.split)),
      comm_(eval_shards(comm, s.batch_size)),
      layout_(eval_stream(corpus, s, comm_)) {}

void EvalAccumulator::add(int64_t t, const torch::Tensor& nll) {
  // This rank's sums: nll, tokens, ideal best and blind, and on the relevant tokens their
  // count, the model's, the best and the blind losses; then those of every rank.
  double v[8] = {nll.sum().item<double>(), static_cast<double>(nll.numel()), 0, 0, 0, 0, 0, 0};
  if (ideal_) {
    auto best = layout_.targets_of(ideal_->best, t), blind = layout_.targets_of(ideal_->blind, t);
    auto relevant = (blind - best) > 1e-12;  // the tokens that carry long-range information
    v[2] = best.sum().item<double>();
    v[3] = blind.sum().item<double>();
    v[4] = static_cast<double>(relevant.sum().item<int64_t>());
    if (v[4] > 0) {
      v[5] = nll.detach().to(torch::kCPU, torch::kFloat64).masked_select(relevant).sum().item<double>();
      v[6] = best.masked_select(relevant).sum().item<double>();
      v[7] = blind.masked_select(relevant).sum().item<double>();
    }
  }
  if (comm_) {
    auto sums = torch::from_blob(v, {8}, torch::kFloat64).clone();
    comm_->all_reduce_sum(sums);
    for (int i = 0; i < 8; ++i) v[i] = sums[i].item<double>();
  }
  const double seg = v[0];
  const int64_t tokens = static_cast<int64_t>(v[1]);
  nll_sum_ += seg;
  r_.tokens += tokens;
  r_.segments++;
  r_.segment_loss.push_back(seg / static_cast<double>(tokens));
  r_.segment_tokens.push_back(tokens);
  if (!ideal_) return;
  best_sum_ += v[2];
  blind_sum_ += v[3];
  const int64_t n = static_cast<int64_t>(v[4]);
  if (n == 0) return;
  const double model = v[5], b = v[6], l = v[7];
  rel_nll_ += model;
  rel_best_ += b;
  rel_blind_ += l;
  r_.relevant_tokens += n;
  r_.segment_recovered.push_back((l - model) / (l - b));
}

EvalResult EvalAccumulator::result() const {
  EvalResult r = r_;
  const double n = static_cast<double>(r.tokens);
  r.loss = r.tokens > 0 ? nll_sum_ / n : 0.0;
  if (ideal_ && r.tokens > 0) {
    r.best_loss = best_sum_ / n;
    r.blind_loss = blind_sum_ / n;
  }
  if (r.relevant_tokens > 0) {
    const double m = static_cast<double>(r.relevant_tokens);
    r.relevant_loss = rel_nll_ / m;
    r.relevant_best = rel_best_ / m;
    r.relevant_blind = rel_blind_ / m;
  }
  const double k = static_cast<double>(r.segment_loss.size());
  if (k >= 2) {
    double mean = 0, var = 0;
    for (double x : r.segment_loss) mean += x / k;
    for (double x : r.segment_loss) var += (x - mean) * (x - mean) / (k - 1);
    r.loss_se = std::sqrt(var / k);
  }
  return r;
}

EvalResult evaluate(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& s,
                    const torch::Device& device, bool bf16, const Comm* comm) {
  EvalAccumulator acc(corpus, s, comm);
  stream_split(
      model, corpus, s, device, bf16,
      [&](int64_t t, const torch::Tensor& x, const torch::Tensor& y) {
        auto out = model->forward(x, y);
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
