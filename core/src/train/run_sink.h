// Where a training run's records go: the trainer reports metrics, progress, the files it
// wrote and its end through this interface, and reads back what an earlier attempt
// logged. The session layer implements it over the run store (session/store_sink.h);
// ranks other than 0 have none.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store/run_store.h"

namespace ctlab {

class RunSink {
 public:
  virtual ~RunSink() = default;
  // Training (re)starts after `step` (0, or the checkpoint's step): what an earlier attempt
  // logged after it will be logged again.
  virtual void begin(int64_t step) {}
  // Metric rows, and the run-folder files (paths) just written, whose new SHA-256 is
  // recorded in the same transaction as the rows.
  virtual void record(const std::vector<MetricRow>& rows, const std::vector<std::string>& written = {}) = 0;
  // The step reached (the run is alive and has got this far).
  virtual void progress(int64_t step) = 0;
  // How the run ended (diverged_at: the 0-based step whose loss was not finite).
  virtual void finish(RunStatus status, int64_t step, const std::string& error,
                      std::optional<int64_t> diverged_at = std::nullopt) = 0;
  // The rows an earlier attempt logged for exactly these keys, in key then step order.
  virtual std::vector<MetricRow> logged(const std::vector<std::string>& keys) = 0;
};

}  // namespace ctlab
