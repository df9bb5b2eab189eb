// SIGINT/SIGTERM as a flag: while a StopSignals object lives, those signals set a flag
// (read with stop_signal()) instead of ending the process, so the trainer can checkpoint
// and the grid scheduler can stop its workers in order. The previous handlers come back
// when it goes out of scope. Used by one thread of one process at a time.
#pragma once

namespace ctlab {

class StopSignals {
 public:
  StopSignals();  // clears the flag
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct Saved;
  Saved* saved_;
};

// The last SIGINT/SIGTERM received while a StopSignals lived, or 0.
int stop_signal();

}  // namespace ctlab
