// Process identity from gethostname, getpid and /proc.
#include "util/process.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace ctlab {
namespace {

// Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces).
std::string start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i)
    if (i == 22) return field;
  return "";
}

struct Owner {
  std::string host;
  pid_t pid = 0;
  std::string start;
};

bool parse(const std::string& text, Owner& o) {
  std::vector<std::string> parts;
  size_t from = 0;
  for (size_t at; (at = text.find(':', from)) != std::string::npos; from = at + 1)
    parts.push_back(text.substr(from, at - from));
  parts.push_back(text.substr(from));
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty()) return false;
  char* end = nullptr;
  const long pid = std::strtol(parts[1].c_str(), &end, 10);
  if (parts[1].empty() || *end != '\0' || pid <= 0) return false;
  o.host = parts[0];
  o.pid = static_cast<pid_t>(pid);
  o.start = parts.size() == 3 ? parts[2] : "";
  return true;
}

}  // namespace

std::string this_host() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string process_owner(pid_t pid) {
  if (pid == 0) pid = ::getpid();
  return this_host() + ":" + std::to_string(pid) + ":" + start_time(pid);
}

Liveness owner_liveness(const std::string& text) {
  Owner o;
  if (!parse(text, o)) return Liveness::Gone;
  if (o.host != this_host()) return Liveness::Unknown;
  if (::kill(o.pid, 0) != 0 && errno == ESRCH) return Liveness::Gone;
  if (!o.start.empty() && start_time(o.pid) != o.start) return Liveness::Gone;  // the pid was reused
  return Liveness::Alive;
}

bool owner_is_parent(const std::string& text) {
  Owner o;
  if (!parse(text, o) || o.host != this_host() || o.pid != ::getppid()) return false;
  return o.start.empty() || o.start == start_time(o.pid);
}

bool owner_has_start_time(const std::string& text) {
  Owner o;
  return parse(text, o) && !o.start.empty();
}

}  // namespace ctlab
