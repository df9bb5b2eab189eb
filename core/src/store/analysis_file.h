// The per-run HDF5 file (runs/<run_id>/analysis.h5): attention by bucket, perplexity by
// token frequency, compression loss per layer. Written to a temporary copy and renamed,
// so a kill never leaves a half-written file; one writer per run. Layout in
// results/README.md; readable with h5py.
#pragma once

#include <string>
#include <vector>

#include "train/analysis.h"

namespace ctlab {

struct CompressionSeries {
  std::vector<int64_t> steps;
  std::vector<std::vector<double>> loss;  // [n_points][n_layer]
};

struct AnalysisMeta {
  std::string run_id;
  int64_t step = 0;
  std::string split;
  std::string settings;  // EvalSettings::tag()
};

// Writes `result` under `group` ("" = the file's root, or e.g. "/eval/test/<settings>"),
// replacing what was there; `series` (may be empty) goes to /compression.
void write_analysis_file(const std::string& path, const std::string& group, const AnalysisResult& result,
                         const AnalysisMeta& meta, const CompressionSeries& series);

// What export and report read back.
struct AttentionRecord {
  std::vector<std::string> regions;
  std::vector<int64_t> edges, region_of;
  int64_t n_layer = 0, n_head = 0, samples = 0, sequences = 0;
  std::vector<double> mass, mass_sq, slot, slot_sq;  // [n_layer * n_head * n_buckets], row-major
  std::vector<double> all, all_sq;                   // [n_buckets]: mean over layers and heads
};
struct FrequencyRecord {
  std::vector<std::string> labels;
  std::vector<double> nll_sum;
  std::vector<int64_t> count, types;
};
// Return false when the file or the group does not exist; throw ctlab::Error for a file
// that exists but cannot be read.
bool read_attention(const std::string& path, const std::string& group, AttentionRecord& out);
bool read_frequency(const std::string& path, const std::string& group, FrequencyRecord& out);

}  // namespace ctlab
