// Signal flag handling.
#include "util/signals.h"

#include <atomic>
#include <csignal>

namespace ctlab {
namespace {

std::atomic<int> g_stop_signal{0};
void on_stop_signal(int sig) { g_stop_signal = sig; }

}  // namespace

struct StopSignals::Saved {
  struct sigaction old_int {
  }, old_term{};
};

StopSignals::StopSignals() : saved_(new Saved) {
  g_stop_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &saved_->old_int);
  sigaction(SIGTERM, &sa, &saved_->old_term);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &saved_->old_int, nullptr);
  sigaction(SIGTERM, &saved_->old_term, nullptr);
  delete saved_;
}

int stop_signal() { return g_stop_signal.load(); }

}  // namespace ctlab
