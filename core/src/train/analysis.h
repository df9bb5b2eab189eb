// Evaluation-time analyses: attention mass by bucket ([CT] Fig. 2) and perplexity by token
// frequency ([CT] Table 7), accumulated over an evaluation pass.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "data/corpus.h"
#include "model/model.h"
#include "store/analysis_file.h"
#include "train/evaluator.h"

namespace ctlab {

// Key slots split into equal buckets per region: compressed memory (oldest), memory,
// current segment (newest).
struct BucketLayout {
  std::vector<std::string> regions;  // "compressed memory", "memory", "sequence" (present ones)
  std::vector<int64_t> edges;        // [n_buckets + 1] key-slot boundaries
  std::vector<int64_t> region_of;    // [n_buckets] index into regions
  int64_t buckets() const { return static_cast<int64_t>(region_of.size()); }
  // Regions with 0 slots are left out; a region of n slots gets min(per_region, n) buckets
  // whose edges are round(k * n / per_region).
  static BucketLayout make(int64_t cmem_slots, int64_t mem_slots, int64_t seq_len, int64_t per_region);
};

// Per (layer, head, bucket), over samples (one sample = one batch stream of one segment):
// the attention mass a bucket receives (sum over its slots, mean over queries) and the
// mean weight per slot (mass / slots), with second moments for standard errors.
class AttentionBuckets {
 public:
  AttentionBuckets(int64_t n_layer, int64_t n_head, BucketLayout layout);
  // One segment: every layer's attention [B, H, L, klen] with klen = layout.edges.back(),
  // on any device: the sums stay there (mean over queries in float32, the rest float64)
  // until a mean is read, which copies them to the host once. Also accumulates the
  // all-layer mean (over layers and heads) per sample.
  void add_segment(const std::vector<torch::Tensor>& probs);
  const BucketLayout& layout() const { return layout_; }
  int64_t samples() const { return samples_; }
  // Means over samples [n_layer, n_head, n_buckets], float64, on the host.
  torch::Tensor mass_mean() const;
  torch::Tensor mass_sq_mean() const;
  torch::Tensor slot_mean() const;
  torch::Tensor slot_sq_mean() const;
  // [n_buckets]: mean over samples of the mass averaged over layers and heads, and of its
  // square (for a standard error of the all-layer mean).
  torch::Tensor all_mass_mean() const;
  torch::Tensor all_mass_sq_mean() const;
  // Adds every rank's sums and sample counts (each rank having counted its own streams).
  void reduce(const Comm& comm);

 private:
  // Part `which` of `sums`: 0-3 mass, mass^2, slot, slot^2 [n_layer, n_head, nb]; 4-5 the
  // all-layer mean and its square [nb].
  torch::Tensor part(const torch::Tensor& sums, int which) const;
  const torch::Tensor& host_sums() const;
  torch::Tensor mean_of(int which) const;

  BucketLayout layout_;
  int64_t n_head_;
  torch::Tensor sums_;           // every sum, float64, on the attention's device
  torch::Tensor edges_, sizes_;  // bucket edges (int64) and slots per bucket, on that device
  mutable torch::Tensor host_;   // sums_ on the host, copied once after the last change
  std::vector<int64_t> layer_samples_;
  int64_t samples_ = 0;
};

// Perplexity per token-frequency bucket: each target is bucketed by its count in the
// training split; edges e1 < e2 < ... give buckets [0, e1), [e1, e2), ..., [ek, inf).
class FrequencyBuckets {
 public:
  FrequencyBuckets(const torch::Tensor& train_counts, std::vector<int64_t> edges);
  void add(const torch::Tensor& nll, const torch::Tensor& targets);  // [L, B] each
  const std::vector<int64_t>& edges() const { return edges_; }
  std::vector<std::string> labels() const;  // "< 100", "100-1K", ..., "> 10K"
  // Sums accumulate on the device of the NLL given to add(); these read them on the host
  // (one copy after the last add or reduce).
  torch::Tensor nll_sum() const;  // [n_buckets] float64
  torch::Tensor count() const;    // [n_buckets] int64
  // Tokens of the vocabulary in each bucket (how many distinct ids).
  torch::Tensor types() const;
  // Adds every rank's sums and counts.
  void reduce(const Comm& comm);

 private:
  const torch::Tensor& host_sums() const;

  std::vector<int64_t> edges_;
  torch::Tensor bucket_of_;         // [vocab] int64, host
  torch::Tensor device_bucket_of_;  // the same on the device of the NLL
  torch::Tensor sums_;              // [2 n_buckets] float64: NLL sums, counts; on that device
  mutable torch::Tensor host_;      // sums_ on the host, copied once after the last change
};

struct AnalysisResult {
  EvalResult eval;                              // loss over every analysed segment
  std::shared_ptr<AttentionBuckets> attention;  // null when buckets_sequences = 0
  int64_t full_segments = 0;                    // segments with full memories (counted for attention)
  int64_t warmup_segments = 0;                  // segments before memories were full (not counted)
  std::shared_ptr<FrequencyBuckets> frequency;
};

// Streams the split from its start with the evaluation settings (all of it, or its first
// settings.segments segments); attention is taken from the first `buckets_sequences`
// segments whose memories are full; the loss and frequencies over every segment streamed.
// With stop_when_counted, streaming ends once those segments are counted. Leaves the
// model as it found it. Every rank of `comm` must call it; the streams are divided as in
// evaluate() and every rank gets the numbers of one process over all of them.
AnalysisResult analyze(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& settings,
                       int64_t buckets_sequences, int64_t buckets_per_region,
                       const std::vector<int64_t>& freq_edges, const torch::Device& device, bool bf16,
                       bool stop_when_counted = false, const Comm* comm = nullptr);

// The plain records the analysis file stores (store/analysis_file.h), from a result.
AttentionRecord attention_record(const AnalysisResult& r);  // needs r.attention
FrequencyRecord frequency_record(const AnalysisResult& r);  // needs r.frequency
ValidationRecord validation_record(const EvalResult& r);
// Writes the result's records (and, when given, an evaluation's per-segment losses and the
// retained-vs-used record) under `group` of the analysis file at `path` (see
// write_analysis_file). Throws ctlab::Error.
void write_analysis(const std::string& path, const std::string& group, const AnalysisResult& r,
                    const AnalysisMeta& meta, const CompressionSeries& series,
                    const EvalResult* validation = nullptr, const RetentionRecord* retention = nullptr);

}  // namespace ctlab
