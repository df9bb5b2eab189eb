// CTLAB_FAIL_WRITE: see fault.h.
#include "util/fault.h"

#include <cerrno>
#include <cstdlib>
#include <map>
#include <mutex>

namespace ctlab {

bool inject_write_fault(const std::string& target) {
  static const char* env = std::getenv("CTLAB_FAIL_WRITE");
  if (!env || !*env) return false;
  static std::mutex mutex;
  static std::map<std::string, long> seen;
  std::string spec = env;
  long nth = 1;
  if (auto at = spec.rfind('@'); at != std::string::npos) {
    nth = std::strtol(spec.c_str() + at + 1, nullptr, 10);
    spec.resize(at);
  }
  if (spec != target) return false;
  std::lock_guard<std::mutex> lock(mutex);
  if (++seen[target] != nth) return false;
  errno = ENOSPC;
  return true;
}

}  // namespace ctlab
