// Evaluation ([CT] sec. 3.4): stream a whole split in order with memories carried across
// segments, possibly with other seq_len / mem_len / cmem_len / clamp_len than training.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/options.h"
#include "data/corpus.h"
#include "model/model.h"

namespace ctlab {

struct EvalSettings {
  std::string split = "valid";
  int64_t seq_len = 0;
  int64_t batch_size = 1;
  int64_t segments = 0;  // 0 = the whole split
  MemoryConfig memory;
  // "seq64-mem64-cmem32-clamp-1-same0": names the settings in metric keys.
  std::string tag() const;
};

struct EvalResult {
  double loss = 0;  // mean NLL per token, nats
  int64_t tokens = 0;
  int64_t segments = 0;
};

// The settings of cfg's [eval] keys, unset ones taken from training.
EvalSettings eval_settings(const RunConfig& cfg, const std::string& split);

// Puts the model in evaluation mode with the settings' memory configuration (starting from
// empty memories) and, on scope exit (also when an error unwinds), restores its
// training/eval mode, memory settings and memories and turns bf16 autocast off.
class EvalModeGuard {
 public:
  EvalModeGuard(CompressiveTransformer& model, const MemoryConfig& memory, bool bf16);
  ~EvalModeGuard();
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  CompressiveTransformer& model_;
  bool was_training_, bf16_;
  MemoryConfig memory_config_;
  std::vector<LayerMemory> memory_;
};

// One evaluation stream, shared by evaluate() and the analyses: under an EvalModeGuard and
// no_grad (bf16 autocast when asked), calls visit(t, x, y) for the split's segments t = 0,
// 1, ... in order (the first settings.segments of them, or all when 0) until visit returns
// false. visit runs the forward pass itself. Returns the number of segments visited.
int64_t stream_split(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& settings,
                     const torch::Device& device, bool bf16,
                     const std::function<bool(int64_t, const torch::Tensor&, const torch::Tensor&)>& visit);

// Mean NLL over the streamed segments. Leaves the model's training/eval mode, memory
// settings and memories as they were.
EvalResult evaluate(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& settings,
                    const torch::Device& device, bool bf16);

// bpc (bits per byte/char = loss / ln 2) for byte data, perplexity exp(loss) for words.
const char* score_name(bool word_level);
double score_of(double loss, bool word_level);

}  // namespace ctlab
