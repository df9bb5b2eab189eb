// Retained vs used: does a compression function keep the evicted tokens, and does
// attention find what it keeps?
//   retained: a linear probe, fitted on frozen compressed memories of training segments,
//     decodes the identity of the tokens each compressed slot was made from; scored on
//     validation segments as 1 - CE(probe) / CE(training marginal), averaged over the
//     slot's source positions (1 = every source token decodable, 0 = nothing beyond token
//     frequencies). A slot that keeps one of its c sources verbatim scores about 1/c.
//   used: on generated tasks, `recovered` of the tokens whose planted source lies in each
//     key region, and again with compressed memory knocked out (evaluated with
//     cmem_len = 0): what the model recovers through compressed memory.
// Both per distance bucket: the compressed-memory buckets of the attention analysis.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "data/corpus.h"
#include "model/model.h"
#include "store/analysis_file.h"
#include "train/evaluator.h"

namespace ctlab {

// The probe's data for one layer: one row per (stream, compressed slot).
struct ProbeSet {
  torch::Tensor features;  // [N, D] float32: the compressed slots
  torch::Tensor labels;    // [N, R] int64: the token ids of each slot's R sources, oldest first
  torch::Tensor bucket;    // [N] int64: the slot's distance bucket
  int64_t rows() const { return features.defined() ? features.size(0) : 0; }
};

struct ProbeResult {
  std::vector<double> retained;    // [n_buckets]; NaN for a bucket without validation rows
  std::vector<double> per_source;  // [R]: retained of each source position, oldest first
  double overall = NAN;            // over every validation row and source position
  double baseline_nats = NAN;      // CE (nats) of the training marginal on the validation labels
  double probe_nats = NAN;         // CE (nats) of the probe on the validation labels
  int64_t classes = 0;             // token classes the probe tells apart (the rarest pooled)
};

// Fits one linear softmax classifier per source position on `train` (features standardised
// with the training mean and deviation; full-batch Adam from zero weights, so the fit is
// deterministic; an L2 penalty per source position, the one of 1e-4 .. 1e-1 that does best
// on every fifth training row when fitted on the others) and scores it on `valid`. At most max_classes token
// classes: the most frequent training ids, every other id one pooled class. Throws
// ctlab::Error when either set is empty or their shapes disagree.
ProbeResult fit_probe(const ProbeSet& train, const ProbeSet& valid, int64_t n_buckets, int64_t steps = 300,
                      int64_t max_classes = 512);

// The compressed slots of every layer and their sources, from the first `segments` segments
// of the settings' split whose compressed memory is full (settings.segments is ignored), with
// the bucket edges `edges` over compressed-memory slots. Leaves the model as it found it.
std::vector<ProbeSet> collect_probe_sets(CompressiveTransformer& model, const Corpus& corpus,
                                         const EvalSettings& settings, int64_t segments,
                                         const std::vector<int64_t>& edges, const torch::Device& device,
                                         bool bf16);

// `recovered` per source region over one evaluation of the split (settings.segments
// honoured; only segments that start with full memories): each relevant target goes to
// the region its planted source lies in, seen from the query's segment: the
// compressed-memory buckets (slots cut at `edges`), then memory, the segment itself, and
// beyond reach. NaN where a region has no such token. Needs the task's source distances
// (IdealLoss::distance).
// For the tokens whose source lies in compressed memory, also the read-out by query phase
// (query position mod rate) and by query position: recovered, and the attention mass
// (mean over layers and heads) on the compressed slot that holds the source.
struct SourceRecovery {
  std::vector<int64_t> relevant;                                       // tokens per region
  std::vector<double> recovered;                                       // per region
  double overall = NAN;                                                // over every relevant token
  std::vector<double> recovered_by_phase, source_mass_by_phase;        // [rate]
  std::vector<double> recovered_by_position, source_mass_by_position;  // [seq_len]
};
SourceRecovery recovered_by_source(CompressiveTransformer& model, const Corpus& corpus,
                                   const EvalSettings& settings, int64_t cmem_slots, int64_t rate,
                                   const std::vector<int64_t>& edges, const torch::Device& device, bool bf16);

// The read-out in three numbers (NaN without it): the lowest and highest recovered over
// query phases, and the mean attention mass on the source's slot over phases. Stored as the
// metrics valid/recovered_phase_min, valid/recovered_phase_max and valid/source_mass.
struct ReadoutSummary {
  double phase_min = NAN, phase_max = NAN, source_mass = NAN;
};
ReadoutSummary summarize_readout(const RetentionRecord& record);

// The whole analysis: the probe of every layer (training segments to fit, validation
// segments to score) and, for a generated task with source distances, recovered per region
// with and without compressed memory. Needs compressed memory (settings.memory.cmem_len >
// 0). `rate` is the model's cmem_rate.
RetentionRecord analyze_retention(CompressiveTransformer& model, const Corpus& corpus,
                                  const EvalSettings& valid_settings, int64_t segments, int64_t rate,
                                  int64_t buckets_per_region, const torch::Device& device, bool bf16);

// Why the analysis cannot run on these data ("" when it can): a split whose streams are too
// short to fill memory and compressed memory (mem_len + cmem_len x rate tokens) and leave a
// segment after that. The trainer then skips it with a warning.
std::string retention_unavailable(const Corpus& corpus, const EvalSettings& valid_settings, int64_t rate);

// Bucket edges over `slots` compressed-memory slots (the attention analysis's: at most
// per_region buckets) and their labels by distance: "tokens 65-80 back" (from the segment
// start; slot 0 is the oldest).
std::vector<int64_t> retention_edges(int64_t slots, int64_t per_region);
std::vector<std::string> retention_labels(const std::vector<int64_t>& edges, int64_t slots, int64_t mem_len,
                                          int64_t rate);

}  // namespace ctlab
