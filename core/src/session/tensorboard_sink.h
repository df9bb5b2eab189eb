// A run's scalars as TensorBoard curves: a sink that passes everything on to the run store
// and writes every metric row to the run's event file (runs/<run_id>/tensorboard/), with
// the run's hyperparameters (a grid cell's axes) for TensorBoard's HParams view. Only rank
// 0 has a sink, so only rank 0 writes. A failed write (full disk, a path that is not a
// folder) is a warning on standard error, and the attempt goes on without TensorBoard
// records: the event files are a view of the run store, which has every row.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/tensorboard.h"
#include "train/run_sink.h"

namespace ctlab {

class TensorBoardSink : public RunSink {
 public:
  // `hparams`: name and value of each hyperparameter; `group`: the name runs that differ
  // only in their seed share (TensorBoard aggregates them).
  TensorBoardSink(RunSink& inner, std::string dir, std::vector<std::pair<std::string, std::string>> hparams,
                  std::string group)
      : inner_(inner), dir_(std::move(dir)), hparams_(std::move(hparams)), group_(std::move(group)) {}
  // Opens the event file, cutting what an earlier attempt wrote after `step`.
  void begin(int64_t step) override;
  void record(const std::vector<MetricRow>& rows, const std::vector<std::string>& written) override;
  void progress(int64_t step) override { inner_.progress(step); }
  // A completed run ends its session as a success; a failed or diverged one as a failure;
  // an interrupted one is left open (it will be resumed).
  void finish(RunStatus status, int64_t step, const std::string& error,
              std::optional<int64_t> diverged_at) override;
  std::vector<MetricRow> logged(const std::vector<std::string>& keys) override { return inner_.logged(keys); }

 private:
  void guarded(const std::function<void()>& write);
  RunSink& inner_;
  std::string dir_;
  std::vector<std::pair<std::string, std::string>> hparams_;
  std::string group_;
  std::unique_ptr<TbEventFile> file_;  // open from begin() on
};

// The hyperparameters' group: every name=value but the seed's, space-separated.
std::string hparams_group(const std::vector<std::pair<std::string, std::string>>& hparams);

}  // namespace ctlab
