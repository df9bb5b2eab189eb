// Wall-clock time as the stores record it: seconds since the Unix epoch, with the fraction
// (metric rows' wall_time, TensorBoard events). Durations use std::chrono::steady_clock.
#pragma once

#include <chrono>

namespace ctlab {

inline double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace ctlab
