// Atomic file replacement with fsync.
#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "util/error.h"

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
  auto tmp = temp_path_for(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write '" + tmp + "': " + std::strerror(errno), ErrorKind::Run);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) throw Error("cannot write '" + tmp + "': " + std::strerror(errno), ErrorKind::Run);
  }
  commit_temp_file(tmp, path);
}

}  // namespace ctlab
