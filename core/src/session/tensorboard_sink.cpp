#include "session/tensorboard_sink.h"

#include <chrono>

namespace ctlab {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string hparams_group(const std::vector<std::pair<std::string, std::string>>& hparams) {
  std::string group;
  for (const auto& [k, v] : hparams)
    if (k != "seed") group += (group.empty() ? "" : " ") + k + "=" + v;
  return group;
}

void TensorBoardSink::begin(int64_t step) {
  inner_.begin(step);
  file_ = std::make_unique<TbEventFile>(dir_, step);
  if (!file_->has_session_start()) file_->session_start(hparams_, group_, now_seconds());
}

void TensorBoardSink::record(const std::vector<MetricRow>& rows, const std::vector<std::string>& written) {
  inner_.record(rows, written);
  if (!file_) return;  // the run failed before it began
  std::vector<TbScalar> scalars;
  scalars.reserve(rows.size());
  for (const auto& r : rows) scalars.push_back({r.key, r.step, r.value, r.wall_time});
  file_->scalars(scalars);
}

void TensorBoardSink::finish(RunStatus status, int64_t step, const std::string& error,
                             std::optional<int64_t> diverged_at) {
  inner_.finish(status, step, error, diverged_at);
  if (!file_ || status == RunStatus::Interrupted) return;
  file_->session_end(status == RunStatus::Completed ? TbSessionEnd::Success : TbSessionEnd::Failure, step,
                     now_seconds());
}

}  // namespace ctlab
