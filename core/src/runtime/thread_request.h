// A running process's threads, raised from outside while it trains: the grid scheduler
// writes a thread count into a run's threads file (RunPaths::threads) when cores go idle at
// the grid's tail, and the worker polls that file between steps and applies it.
#pragma once

#include <cstdint>
#include <string>

namespace ctlab {

// "N" or "N\n" with N >= 1 -> N. Throws ctlab::Error naming `path` otherwise.
int parse_thread_request(const std::string& text, const std::string& path);

class ThreadRequest {
 public:
  explicit ThreadRequest(std::string path) : path_(std::move(path)) {}
  // When the file exists and was changed since the last poll and names a count other than
  // the one applied last, applies it (set_threads) and returns it; else 0. One stat() per
  // call when nothing changed.
  int poll();

 private:
  std::string path_;
  int64_t seen_mtime_ns_ = -1;
  int applied_ = 0;
};

}  // namespace ctlab
