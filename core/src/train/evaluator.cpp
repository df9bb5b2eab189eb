// Streaming evaluation over a split.
#include "train/evaluator.h"

#include <torch/torch.h>

#include <cmath>

#include "data/stream.h"
#include "train/runtime.h"
#include "util/error.h"

namespace ctlab {

std::string EvalSettings::tag() const {
  return "seq" + std::to_string(seq_len) + "-mem" + std::to_string(memory.mem_len) + "-cmem" +
         std::to_string(memory.cmem_len) + "-clamp" + std::to_string(memory.clamp_len) + "-same" +
         (memory.same_length ? "1" : "0");
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

EvalResult evaluate(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& s,
                    const torch::Device& device, bool bf16) {
  const bool was_training = model->is_training();
  const auto train_cfg = model->memory_config();
  const auto train_memory = model->memory();
  model->eval();
  model->set_memory_config(s.memory);  // validates and starts from empty memories
  EvalResult r;
  try {
    torch::NoGradGuard no_grad;
    SegmentStream stream(corpus.split(s.split), s.batch_size, s.seq_len);
    const int64_t n = s.segments > 0 ? std::min(s.segments, stream.segments()) : stream.segments();
    double nll_sum = 0;
    if (bf16) set_cuda_bf16_autocast(true);
    for (int64_t t = 0; t < n; ++t) {
      auto [x, y] = stream.segment(t, device);
      auto out = model->forward(x, y);
      nll_sum += out.nll.sum().item<double>();
      r.tokens += y.numel();
    }
    if (bf16) {
      set_cuda_bf16_autocast(false);
      clear_autocast_cache();
    }
    r.segments = n;
    r.loss = r.tokens > 0 ? nll_sum / static_cast<double>(r.tokens) : 0.0;
  } catch (...) {
    if (bf16) set_cuda_bf16_autocast(false);
    model->set_memory_config(train_cfg);
    model->set_memory(train_memory);
    model->train(was_training);
    throw;
  }
  model->set_memory_config(train_cfg);
  model->set_memory(train_memory);
  model->train(was_training);
  return r;
}

const char* score_name(bool word_level) { return word_level ? "ppl" : "bpc"; }
double score_of(double loss, bool word_level) { return word_level ? std::exp(loss) : loss / std::log(2.0); }

}  // namespace ctlab
