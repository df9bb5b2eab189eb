// The run store as a training run's sink, and the one way a command records what it
// wrote: files of the run folder are recorded by their path relative to the results root
// and their SHA-256, in the same transaction as the metric rows that describe them, so
// `ctlab check` finds every file as its last writer recorded it.
#pragma once

#include <string>
#include <vector>

#include "store/results_layout.h"
#include "store/run_store.h"
#include "train/run_sink.h"

namespace ctlab {

// Records rows and the files in one transaction. `written`: files directly in the run's
// folder (runs/<run_id>/), by any path to them; each is recorded as runs/<run_id>/<file
// name>, with its stem as the kind (checkpoint, analysis, config) and its SHA-256.
void record_outputs(RunStore& store, const std::string& run_id, const std::vector<MetricRow>& rows,
                    const std::vector<std::string>& written);

class StoreSink : public RunSink {
 public:
  StoreSink(RunStore& store, std::string run_id) : store_(store), run_id_(std::move(run_id)) {}
  void record(const std::vector<MetricRow>& rows, const std::vector<std::string>& written) override;
  void progress(int64_t step) override;
  void finish(RunStatus status, int64_t step, const std::string& error,
              std::optional<int64_t> diverged_at) override;
  std::vector<MetricRow> logged(const std::vector<std::string>& keys) override;

 private:
  RunStore& store_;
  std::string run_id_;
};

}  // namespace ctlab
