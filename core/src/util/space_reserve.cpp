// The reserve file.
#include "util/space_reserve.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

namespace ctlab {

bool SpaceReserve::hold(const std::string& path, int64_t bytes) {
  release();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const std::vector<char> zeros(64 << 10, 0);
  bool ok = true;
  for (int64_t left = bytes; ok && left > 0;) {
    const auto n = ::write(fd, zeros.data(), static_cast<size_t>(std::min<int64_t>(left, zeros.size())));
    ok = n > 0;
    left -= n > 0 ? n : 0;
  }
  ok = ::fsync(fd) == 0 && ok;  // a filesystem that allocates late reports ENOSPC here
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    std::remove(path.c_str());
    return false;
  }
  path_ = path;
  return true;
}

bool SpaceReserve::release() noexcept {
  if (path_.empty()) return false;
  std::remove(path_.c_str());
  path_.clear();
  return true;
}

}  // namespace ctlab
