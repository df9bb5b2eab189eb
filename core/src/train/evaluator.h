// Evaluation ([CT] sec. 3.4): stream a whole split in order with memories carried across
// segments, possibly with other seq_len / mem_len / cmem_len / clamp_len than training.
#pragma once

#include <string>

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

// Leaves the model's training/eval mode, memory settings and memories as they were.
EvalResult evaluate(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& settings,
                    const torch::Device& device, bool bf16);

// bpc (bits per byte/char = loss / ln 2) for byte data, perplexity exp(loss) for words.
const char* score_name(bool word_level);
double score_of(double loss, bool word_level);

}  // namespace ctlab
