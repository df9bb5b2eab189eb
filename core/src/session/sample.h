// Sampling from a trained run (`ctlab sample`): its checkpoint with the evaluation memory
// settings, memories and compressed memories carried from segment to segment exactly as
// in evaluation. The prompt (any length) is read first: its complete segments go through
// the model with the memory update, as `ctlab eval` streams a split. Each new token is
// drawn from the model's distribution at the end of the current, incomplete segment (over
// the memories, without updating them); when the segment is complete it goes through the
// model once more with the memory update, and the next segment starts.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "plugin/plugin_host.h"

namespace ctlab {

struct SampleRequest {
  std::string run_id;
  std::string results_root = "results";
  PluginSources plugins;
  std::string prompt;        // text: bytes, or words separated by white space for word-level data
  int64_t tokens = 200;      // tokens to generate
  double temperature = 1.0;  // 0: greedy (the most likely token)
  int64_t top_k = 0;         // > 0: draw from the k most likely tokens only
  uint64_t seed = 1;
  std::string device;  // "" = the run's
};

// One complete segment, when it entered the memories.
struct SampleSegment {
  int64_t index = 0;      // 0-based
  int64_t mem_slots = 0;  // filled slots of layer 0's memory and compressed memory after it
  int64_t cmem_slots = 0;
  bool generated = false;  // it holds generated tokens (else prompt only)
};

struct SampleResult {
  std::string run_id;
  int64_t step = 0;  // the checkpoint's
  int64_t seq_len = 0, mem_len = 0, cmem_len = 0;
  bool word_level = false;
  std::vector<int64_t> prompt, generated;
  std::vector<double> logprobs;   // the model's log-probability (temperature 1) of each generated token
  int64_t unknown_words = 0;      // prompt words outside a word-level vocabulary (read as <unk>)
  std::string prompt_text, text;  // `text`: the generated tokens as text
};

// Throws ctlab::Error, naming the value, for a missing run or checkpoint, bad settings, or
// a prompt byte outside the vocabulary; prompt words outside a word-level vocabulary are
// read as <unk> and counted (SampleResult::unknown_words).
// `on_segment` is called as each segment enters the memories.
SampleResult sample_run(const SampleRequest& request,
                        const std::function<void(const SampleSegment&)>& on_segment);

}  // namespace ctlab
