#include "session/store_sink.h"

#include <boost/filesystem/path.hpp>

#include "util/sha256.h"

namespace ctlab {

void record_outputs(RunStore& store, const std::string& run_id, const std::vector<MetricRow>& rows,
                    const std::vector<std::string>& written) {
  std::vector<ArtifactRow> files;
  for (const auto& path : written) {
    const boost::filesystem::path p(path);
    // The kind is the file's stem: analysis (analysis.h5), checkpoint, config.
    files.push_back(
        {p.stem().string(), RunPaths::relative(run_id, p.filename().string()), sha256_file(path)});
  }
  store.add_metrics(run_id, rows, files);
}

void StoreSink::record(const std::vector<MetricRow>& rows, const std::vector<std::string>& written) {
  record_outputs(store_, run_id_, rows, written);
}

void StoreSink::progress(int64_t step) { store_.record_progress(run_id_, step); }

void StoreSink::finish(RunStatus status, int64_t step, const std::string& error,
                       std::optional<int64_t> diverged_at) {
  store_.finish_run(run_id_, status, step, error, diverged_at);
}

std::vector<MetricRow> StoreSink::logged(const std::vector<std::string>& keys) {
  return store_.metrics_exact(run_id_, keys);
}

}  // namespace ctlab
