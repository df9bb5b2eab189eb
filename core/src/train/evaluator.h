// Evaluation ([CT] sec. 3.4): stream a whole split in order with memories carried across
// segments, possibly with other seq_len / mem_len / cmem_len / clamp_len than training.
#pragma once

#include <array>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "config/options.h"
#include "data/corpus.h"
#include "data/stream.h"
#include "model/model.h"
#include "runtime/distributed.h"

namespace ctlab {

struct EvalSettings {
  std::string split = "valid";
  int64_t seq_len = 0;
  int64_t batch_size = 1;
  int64_t segments = 0;  // 0 = the whole split
  MemoryConfig memory;
  // "seq64-mem64-cmem32-clamp-1-same0-batch8-all" (or "...-first50"): names every setting
  // that changes an evaluation's value, in metric keys and analysis groups, so different
  // evaluations never overwrite each other.
  std::string tag() const;
};

struct EvalResult {
  double loss = 0;  // mean NLL per token, nats
  int64_t tokens = 0;
  int64_t segments = 0;
  // Per segment (all streams of it): mean NLL and tokens, in stream order.
  std::vector<double> segment_loss;
  std::vector<int64_t> segment_tokens;
  // Standard error of `loss` over segments: sd(segment_loss) / sqrt(segments) (0 for one
  // segment). The evaluation noise of one model on this split, not the seed noise.
  double loss_se = 0;
  // Generated tasks (data/corpus.h IdealLoss), over the same target tokens: the ideal
  // losses (mean nats per token), and on the tokens that carry long-range information
  // (best < blind) the model's and the ideal losses; NaN for natural data.
  double best_loss = NAN, blind_loss = NAN;
  int64_t relevant_tokens = 0;
  double relevant_loss = NAN, relevant_best = NAN, relevant_blind = NAN;
  std::vector<double> segment_recovered;  // recovered() of each segment that has such tokens
  bool has_bounds() const { return relevant_tokens > 0; }
  // Share of the recoverable long-range information the model recovered, on the tokens
  // that carry it: (blind - loss) / (blind - best); 0 = no long-range use, 1 = the ideal
  // predictor (negative when worse than a model that ignores the distant tokens).
  double recovered() const { return (relevant_blind - relevant_loss) / (relevant_blind - relevant_best); }
  // Its standard error over segments.
  double recovered_se() const;
};

// The settings of cfg's [eval] keys, unset ones taken from training.
EvalSettings eval_settings(const RunConfig& cfg, const std::string& split);

// Puts the model in evaluation mode and, on scope exit (also when an error unwinds),
// restores its training/eval mode and turns bf16 autocast off. The model holds no memories,
// so there are none to save or restore.
class EvalModeGuard {
 public:
  EvalModeGuard(CompressiveTransformer& model, bool bf16);
  ~EvalModeGuard();
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  CompressiveTransformer& model_;
  bool was_training_, bf16_;
};

// The memories of one evaluation stream and the memory settings it runs under: forward()
// runs the model on the stream's next segment and keeps the memories it returns.
class EvalStream {
 public:
  // Throws ctlab::Error when the model cannot run under `config` (check_memory_config).
  EvalStream(CompressiveTransformer& model, const MemoryConfig& config);
  // The next segment (x, y [L, B]); options.memory_config is set to the stream's.
  ForwardOutput forward(const torch::Tensor& x, const torch::Tensor& y, ForwardOptions options = {});
  // The memories the next segment will read (empty before the first).
  const Memories& memory() const { return memory_; }
  const MemoryConfig& config() const { return config_; }

 private:
  CompressiveTransformer& model_;
  MemoryConfig config_;
  Memories memory_;
};

// What stream_split calls for each segment t of the split: x, y [L, B] on the device, and
// the stream to run them through (visit runs the forward pass itself). Returns false to stop.
using SegmentVisitor =
    std::function<bool(int64_t t, const torch::Tensor& x, const torch::Tensor& y, EvalStream& stream)>;

// One evaluation stream, shared by evaluate() and the analyses: an EvalStream from empty
// memories under the settings' memory configuration, with the model in evaluation mode
// (EvalModeGuard), no_grad and bf16 autocast when asked; calls visit for the split's
// segments t = 0, 1, ... in order (the first settings.segments of them, or all when 0)
// until it returns false. Returns the number of segments visited.
// With a distributed `comm` whose size divides settings.batch_size, x and y hold only this
// rank's streams (see eval_shards); otherwise every rank streams all of them.
int64_t stream_split(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& settings,
                     const torch::Device& device, bool bf16, const SegmentVisitor& visit,
                     const Comm* comm = nullptr);

// The comm an evaluation of `batch_size` streams is divided over: `comm` when it is
// distributed and its size divides batch_size, else null (each rank evaluates every stream,
// which gives the same numbers on every rank without communication).
const Comm* eval_shards(const Comm* comm, int64_t batch_size);

// Sums one evaluation stream into an EvalResult: per-segment losses, the standard error
// over segments and, for generated tasks, the ideal losses of the same targets. The sums
// that read the model's losses stay on their device until result(), which copies them to
// the host once (so an evaluation on CUDA waits for the device once, not every segment).
class EvalAccumulator {
 public:
  // `comm`: as for stream_split; each segment's sums are then added over ranks (in one
  // collective, in result()), so the result is that of one process over all the streams.
  EvalAccumulator(const Corpus& corpus, const EvalSettings& settings, const Comm* comm = nullptr);
  // Segment t of the stream with its per-target NLL [L, B] (any device; not read here).
  void add(int64_t t, const torch::Tensor& nll);
  // One host copy of the device sums (and with `comm`, one collective: every rank calls it).
  EvalResult result() const;

 private:
  const IdealLoss* ideal_;
  const Comm* comm_;
  SegmentStream layout_;
  // Per segment: [nll sum, nll sum on the relevant tokens] (float64, on nll's device) and
  // [tokens, best, blind, relevant tokens, best and blind on them] (float64, host).
  std::vector<torch::Tensor> device_sums_;
  std::vector<std::array<double, 6>> host_sums_;
};

// Mean NLL over the streamed segments. Leaves the model's training/eval mode as it was. Every rank of `comm`
// must call it; all get the result.
EvalResult evaluate(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& settings,
                    const torch::Device& device, bool bf16, const Comm* comm = nullptr);

// bpc (bits per byte/char = loss / ln 2) for byte data, perplexity exp(loss) for words.
const char* score_name(bool word_level);
double score_of(double loss, bool word_level);
// The standard error of score_of(loss) from that of the loss (exact for bpc, first order
// for perplexity).
double score_se_of(double loss, double loss_se, bool word_level);

}  // namespace ctlab
