// Thread requests from a grid scheduler (see thread_request.h).
#include "runtime/thread_request.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "runtime/runtime.h"
#include "util/error.h"

namespace ctlab {

int parse_thread_request(const std::string& text, const std::string& path) {
  std::string body = text;
  while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
  const bool digits =
      !body.empty() && body.size() <= 6 && body.find_first_not_of("0123456789") == std::string::npos;
  const int n = digits ? std::stoi(body) : 0;
  if (n < 1) throw Error("threads file '" + path + "': '" + body + "', expected a thread count >= 1");
  return n;
}

int ThreadRequest::poll() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return 0;  // no request (a run outside a grid)
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (mtime == seen_mtime_ns_) return 0;
  seen_mtime_ns_ = mtime;
  std::ifstream in(path_);
  std::stringstream text;
  text << in.rdbuf();
  const int n = parse_thread_request(text.str(), path_);
  if (n == applied_) return 0;
  applied_ = set_threads(n);
  return applied_;
}

}  // namespace ctlab
