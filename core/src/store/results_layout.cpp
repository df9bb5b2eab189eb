// Paths of a results root.
#include "store/results_layout.h"

#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace ctlab {

std::string RunPaths::relative(const std::string& run_id, const std::string& file) {
  return "runs/" + run_id + "/" + file;
}

RunPaths ResultsLayout::run(const std::string& run_id) const {
  RunPaths p;
  p.dir = runs_dir() + "/" + run_id;
  p.checkpoint = p.dir + "/checkpoint.pt";
  p.log = p.dir + "/log.txt";
  p.config = p.dir + "/config.ini";
  p.stdout_log = p.dir + "/stdout.txt";
  p.analysis = p.dir + "/analysis.h5";
  p.tensorboard = p.dir + "/tensorboard";
  p.threads = p.dir + "/threads";
  return p;
}

void ResultsLayout::prepare() const {
  namespace fs = boost::filesystem;
  boost::system::error_code ec;
  if (fs::exists(root_, ec) && !fs::is_directory(root_, ec))
    throw Error("results root '" + root_ + "' is a file; expected a folder (choose another with --results)");
  fs::create_directories(root_, ec);
  if (ec) throw Error("cannot create the results root '" + root_ + "': " + ec.message());
  if (::access(root_.c_str(), W_OK) != 0)
    throw Error("the results root '" + root_ + "' is not writable: " + std::strerror(errno) +
                " (a read-only mount? choose another with --results)");
  if (fs::exists(database(), ec) && fs::file_size(database(), ec) == 0 && fs::is_directory(runs_dir(), ec)) {
    int64_t folders = 0;
    for (fs::directory_iterator it(runs_dir(), ec), end; !ec && it != end; it.increment(ec)) ++folders;
    if (folders > 0)
      throw Error(
          "the results database '" + database() + "' is empty but '" + runs_dir() + "' holds " +
          std::to_string(folders) +
          " run folder(s): the database was truncated or replaced. Restore it, or move the runs folder "
          "away to start a new store");
  }
}

}  // namespace ctlab
