// The TensorBoard sink: a run's metric rows, after the store has them, as event files.
#include "session/tensorboard_sink.h"

#include <iostream>

#include "util/clock.h"

namespace ctlab {

std::string hparams_group(const std::vector<std::pair<std::string, std::string>>& hparams) {
  std::string group;
  for (const auto& [k, v] : hparams)
    if (k != "seed") group += (group.empty() ? "" : " ") + k + "=" + v;
  return group;
}

void TensorBoardSink::guarded(const std::function<void()>& write) {
  try {
    write();
  } catch (const std::exception& e) {
    // The event files are a view of the run store, which has every row: a failure to
    // write them (a full disk, a path that is not a folder) must not end the run.
    std::cerr << "warning: TensorBoard: " << e.what()
              << "; no more TensorBoard records in this attempt (the run store keeps every row)\n";
    file_.reset();
  }
}

void TensorBoardSink::begin(int64_t step) {
  inner_.begin(step);
  guarded([&] {
    file_ = std::make_unique<TbEventFile>(dir_, step);
    if (!file_->has_session_start()) file_->session_start(hparams_, group_, unix_seconds());
  });
}

void TensorBoardSink::record(const std::vector<MetricRow>& rows, const std::vector<std::string>& written) {
  inner_.record(rows, written);
  if (!file_) return;  // not begun (the run failed before), or given up after a failed write
  std::vector<TbScalar> scalars;
  scalars.reserve(rows.size());
  for (const auto& r : rows) scalars.push_back({r.key, r.step, r.value, r.wall_time});
  guarded([&] { file_->scalars(scalars); });
}

void TensorBoardSink::finish(RunStatus status, int64_t step, const std::string& error,
                             std::optional<int64_t> diverged_at) {
  inner_.finish(status, step, error, diverged_at);
  if (!file_ || status == RunStatus::Interrupted) return;
  guarded([&] {
    file_->session_end(status == RunStatus::Completed ? TbSessionEnd::Success : TbSessionEnd::Failure, step,
                       unix_seconds());
  });
}

}  // namespace ctlab
