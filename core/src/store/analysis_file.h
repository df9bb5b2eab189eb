// The per-run HDF5 file (runs/<run_id>/analysis.h5): attention by bucket, perplexity by
// token frequency, compression loss per layer, retained vs used. Written to a temporary copy and renamed,
// so a kill never leaves a half-written file; one writer per run. Layout in
// results/README.md; readable with h5py. The records here are plain data: the training
// side (train/analysis.h) fills them, export and report read them back.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace ctlab {

// Attention by bucket over an evaluation pass. Per (layer, head, bucket) flattened
// row-major [n_layer * n_head * n_buckets]: means over samples (one sample = one stream of
// one segment) and mean squares.
struct AttentionRecord {
  std::vector<std::string> regions;  // "compressed memory", "memory", "sequence" (present ones)
  std::vector<int64_t> edges;        // [n_buckets + 1] key-slot boundaries
  std::vector<int64_t> region_of;    // [n_buckets] index into regions
  int64_t n_layer = 0, n_head = 0;
  int64_t samples = 0;           // streams x segments counted
  int64_t sequences = 0;         // segments with full memories counted
  int64_t warmup_sequences = 0;  // segments streamed before memories were full
  std::vector<double> mass, mass_sq, slot, slot_sq;
  std::vector<double> all, all_sq;  // [n_buckets]: mass averaged over layers and heads
  std::vector<double> slot_all;     // [n_buckets]: slot means averaged over layers and heads
};

// Perplexity by token frequency: targets bucketed by their count in the training split.
struct FrequencyRecord {
  std::vector<std::string> labels;    // "< 100", "100-1K", ...
  std::vector<int64_t> edges;         // count edges between the buckets
  std::vector<double> nll_sum;        // [n_buckets] nats
  std::vector<int64_t> count, types;  // tokens and distinct token ids per bucket
  double loss = 0;                    // mean NLL over every token of the pass
  int64_t tokens = 0;
};

// One evaluation pass's losses per segment (for paired comparisons between models on the
// same segments) and its summary.
struct ValidationRecord {
  std::vector<double> segment_loss;          // mean NLL (nats) of each segment, in stream order
  std::vector<int64_t> segment_tokens;       // target tokens of each segment
  double loss = 0, loss_se = 0;              // mean NLL per token and its standard error over segments
  double best_loss = NAN, blind_loss = NAN;  // generated tasks: ideal losses over the same tokens
  std::vector<double> segment_recovered;     // generated tasks: each segment's share recovered
};

// Retained vs used (train/retention.h): what a linear probe decodes from the compressed
// slots, and what the model recovers through them, per distance bucket of compressed memory.
struct RetentionRecord {
  std::vector<std::string> buckets;  // [n_buckets] "tokens 65-80 back" (from the segment start), oldest first
  std::vector<int64_t> edges;        // [n_buckets + 1] compressed-memory slot boundaries
  int64_t n_layer = 0, rate = 0;
  int64_t segments = 0;                    // segments per split the probe read (full compressed memory)
  int64_t train_rows = 0, valid_rows = 0;  // probe rows per layer (stream x slot)
  int64_t classes = 0;                     // token classes the probe tells apart
  std::vector<double> retained;            // [n_layer * n_buckets]
  std::vector<double> retained_layer;      // [n_layer]: over every bucket
  std::vector<double> per_source;          // [n_layer * rate]: by source position in the slot, oldest first
  std::vector<double> baseline_nats, probe_nats;  // [n_layer]: CE of the marginal and of the probe
  double retained_all = NAN;                      // mean of retained_layer
  // Generated tasks with known source distances (empty / NaN otherwise): per region the
  // source lies in (the buckets, then "memory", "sequence", "beyond reach").
  std::vector<std::string> regions;
  std::vector<int64_t> relevant;                     // relevant target tokens per region
  std::vector<double> recovered, recovered_no_cmem;  // per region: as trained, compressed memory knocked out
  double recovered_all = NAN, recovered_no_cmem_all = NAN;
  // The read-out of sources in compressed memory (empty in files written before it): by
  // query phase (query position mod rate) and by query position, recovered and the mean
  // attention mass on the slot that holds the source.
  std::vector<double> recovered_by_phase, source_mass_by_phase;        // [rate]
  std::vector<double> recovered_by_position, source_mass_by_position;  // [seq_len]
};

// What one call writes; a null member is left out.
struct AnalysisRecords {
  const AttentionRecord* attention = nullptr;
  const FrequencyRecord* frequency = nullptr;
  const ValidationRecord* validation = nullptr;
  const RetentionRecord* retention = nullptr;
};

struct CompressionSeries {
  std::vector<int64_t> steps;
  std::vector<std::vector<double>> loss;  // [n_points][n_layer]
};

struct AnalysisMeta {
  std::string run_id;
  int64_t step = 0;
  std::string split;
  std::string settings;  // the evaluation settings' tag
};

// Writes the records that are given under `group` ("" = the file's root, or e.g.
// "/eval/test/<settings>") as attention/, frequency/ and validation/, replacing what was
// there; `series` (may be empty) goes to /compression. Throws ctlab::Error naming the file
// and the failed step.
void write_analysis_file(const std::string& path, const std::string& group, const AnalysisRecords& records,
                         const AnalysisMeta& meta, const CompressionSeries& series);

// Return false when the file or the group does not exist; throw ctlab::Error for a file
// that exists but cannot be read.
bool read_attention(const std::string& path, const std::string& group, AttentionRecord& out);
bool read_frequency(const std::string& path, const std::string& group, FrequencyRecord& out);
bool read_validation(const std::string& path, const std::string& group, ValidationRecord& out);
bool read_retention(const std::string& path, const std::string& group, RetentionRecord& out);

// "1.10.8" (the HDF5 library this build writes with), or "" when built without HDF5.
std::string hdf5_version();

}  // namespace ctlab
