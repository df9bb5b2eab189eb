#include "session/merge.h"

#include <boost/filesystem.hpp>

#include "store/results_layout.h"
#include "store/run_store.h"
#include "util/error.h"

namespace ctlab {
namespace {

namespace fs = boost::filesystem;

void copy_tree(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (fs::directory_iterator it(from), end; it != end; ++it) {
    auto target = to / it->path().filename();
    if (fs::is_directory(it->path()))
      copy_tree(it->path(), target);
    else
      fs::copy_file(it->path(), target, fs::copy_options::overwrite_existing);
  }
}

}  // namespace

size_t merge_roots(const std::vector<std::string>& roots, const std::string& into,
                   const MergeProgress& progress) {
  for (const auto& r : roots) {
    if (!fs::exists(ResultsLayout(r).database()))
      throw Error("'" + r + "' is not a results root: it has no ctlab.sqlite");
    boost::system::error_code ec;
    if (fs::equivalent(r, into, ec)) throw Error("'" + r + "' is the root being merged into");
  }
  fs::create_directories(into);
  const ResultsLayout dest_layout(into);
  RunStore dest(dest_layout.database());
  for (const auto& r : roots) {
    const ResultsLayout src_layout(r);
    auto taken = dest.merge_from(src_layout.database());
    int64_t copied = 0;
    for (const auto& id : taken) {
      fs::path src = src_layout.run(id).dir;
      if (fs::is_directory(src)) {
        copy_tree(src, dest_layout.run(id).dir);
        ++copied;
      }
    }
    progress(r, taken.size(), copied);
  }
  return dest.runs().size();
}

}  // namespace ctlab
