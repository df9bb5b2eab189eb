// The heartbeat thread.
#include "store/heartbeat.h"

#include <memory>

#include "store/run_store.h"

namespace ctlab {

HeartbeatThread::HeartbeatThread(std::string db_path, std::string run_id, std::string owner,
                                 std::chrono::milliseconds period)
    : db_path_(std::move(db_path)), run_id_(std::move(run_id)), owner_(std::move(owner)), period_(period) {
  thread_ = std::thread([this] { loop(); });
}

HeartbeatThread::~HeartbeatThread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void HeartbeatThread::loop() {
  std::unique_ptr<RunStore> store;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, period_, [this] { return stop_; })) {
    try {
      if (!store) store = std::make_unique<RunStore>(db_path_);
      store->touch(run_id_, owner_);
    } catch (...) {
      store.reset();  // reopen and retry at the next period
    }
  }
}

}  // namespace ctlab
