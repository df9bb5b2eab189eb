// A background thread that keeps a held run's heartbeat fresh while its process lives,
// through long training steps, evaluation and analysis alike: a heartbeat older than a
// scheduler's --stale-after then means the process (or its machine) is gone, not busy.
// Each claim runs one (session/claim.h); it refreshes the row only while `owner` holds it,
// so a claim made for a child stops counting once the child takes it over.
// It uses its own database connection; a failed refresh (a busy or full disk) is retried
// at the next period and never stops the run.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace ctlab {

class HeartbeatThread {
 public:
  static constexpr int kPeriodSeconds = 15;

  HeartbeatThread(std::string db_path, std::string run_id, std::string owner,
                  std::chrono::milliseconds period = std::chrono::seconds(kPeriodSeconds));
  ~HeartbeatThread();  // stops and joins
  HeartbeatThread(const HeartbeatThread&) = delete;
  HeartbeatThread& operator=(const HeartbeatThread&) = delete;

 private:
  void loop();

  std::string db_path_, run_id_, owner_;
  std::chrono::milliseconds period_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ctlab
