// Atomic file replacement with fsync.
#include "util/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "util/error.h"
#include "util/fault.h"

namespace ctlab {

std::string temp_path_for(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

static void fsync_path(const std::string& p, int flags) {
  int fd = ::open(p.c_str(), flags);
  if (fd < 0) throw Error("cannot open '" + p + "' to sync it: " + std::strerror(errno), ErrorKind::Run);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw Error("cannot sync '" + p + "': " + std::strerror(err), ErrorKind::Run);
}

void commit_temp_file(const std::string& tmp, const std::string& path) {
  fsync_path(tmp, O_RDONLY);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(errno), ErrorKind::Run);
  auto slash = path.rfind('/');
  fsync_path(slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash)),
             O_RDONLY | O_DIRECTORY);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  const auto tmp = temp_path_for(path);
  // POSIX writes, each checked: a full disk or an I/O error is reported here (an ofstream
  // would lose an error raised when it flushes on close) and the previous file stays.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write '" + tmp + "': " + std::strerror(errno), ErrorKind::Run);
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(std::string("cannot ") + what + " '" + tmp + "' (for '" + path + "'): " + std::strerror(err) +
                    "; the previous file is unchanged",
                ErrorKind::Run);
  };
  const char* p = content.data();
  size_t left = content.size();
  const auto slash = path.rfind('/');
  if (inject_write_fault(slash == std::string::npos ? path : path.substr(slash + 1))) {
    if (::write(fd, p, left / 2) < 0) fail("write");  // half written, then the disk is "full"
    errno = ENOSPC;
    fail("write");
  }
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail("sync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error("cannot close '" + tmp + "': " + std::strerror(err) + "; the previous file is unchanged",
                ErrorKind::Run);
  }
  try {
    commit_temp_file(tmp, path);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

std::vector<std::string> stale_temp_files(const std::string& dir) {
  namespace fs = boost::filesystem;
  boost::system::error_code ec;
  std::vector<std::string> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto mark = name.rfind(".tmp.");
    if (mark == std::string::npos || mark + 5 >= name.size()) continue;
    const std::string pid_text = name.substr(mark + 5);
    if (pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atoll(pid_text.c_str()));
    const bool alive = pid == ::getpid() || (::kill(pid, 0) == 0 || errno != ESRCH);
    if (!alive) out.push_back(it->path().string());
  }
  return out;
}

int remove_stale_temp_files(const std::string& dir) {
  int removed = 0;
  for (const auto& path : stale_temp_files(dir)) {
    boost::system::error_code ec;
    if (boost::filesystem::remove(path, ec)) ++removed;
  }
  return removed;
}

}  // namespace ctlab
