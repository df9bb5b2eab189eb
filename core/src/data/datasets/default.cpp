// dataset = default: the Python documentation sources that Debian's python3.X-doc
// installs (bytes), bundled with every setup.
#include <algorithm>
#include <boost/filesystem.hpp>

#include "data/corpus_io.h"
#include "data/dataset.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

// Python documentation sources from Debian's python3.X-doc, concatenated in byte-wise
// sorted path order (cached as one file in cache_dir()).
Corpus default_corpus(const DataOptions& o) {
  std::vector<std::string> roots;
  if (!o.data_path.empty())
    roots.push_back(o.data_path);
  else {
    boost::system::error_code ec;
    std::vector<std::string> found;
    for (fs::directory_iterator it("/usr/share/doc", ec), end; !ec && it != end; it.increment(ec)) {
      auto name = it->path().filename().string();
      if (starts_with(name, "python3.") && fs::is_directory(it->path() / "html" / "_sources"))
        found.push_back(name);
    }
    std::sort(found.begin(), found.end());
    for (const auto& f : found) roots.push_back("/usr/share/doc/" + f + "/html/_sources");
  }
  if (roots.empty())
    throw Error(
        "dataset = default needs the Python documentation sources from Debian's python3.11-doc "
        "(/usr/share/doc/python3.*/html/_sources): run scripts/setup.sh, or set data_path");
  const std::string root = roots.front();
  boost::system::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error("default corpus folder '" + root + "' does not exist");
  std::vector<std::string> files;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    auto p = it->path().string();
    if (fs::is_regular_file(it->path()) && p.size() > 8 && p.compare(p.size() - 8, 8, ".rst.txt") == 0)
      files.push_back(p);
  }
  std::sort(files.begin(), files.end());  // byte-wise
  if (files.empty()) throw Error("default corpus folder '" + root + "' holds no *.rst.txt files");
  return fractional("default", root + " (" + std::to_string(files.size()) + " files)",
                    concatenated("default", files), o.split);
}

}  // namespace

DatasetDef default_dataset() {
  return {"default",
          "the Python documentation sources of Debian's python3.11-doc (bytes, about 11 MB)",
          false,
          default_corpus,
          {}};
}

}  // namespace ctlab
