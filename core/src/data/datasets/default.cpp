// dataset = default: the Python documentation sources that Debian's python3.X-doc
// installs (bytes), bundled with every setup. Also finds those sources for the other
// datasets built from them (data/datasets/python_docs.h).
#include <algorithm>
#include <boost/filesystem.hpp>

#include "data/corpus_io.h"
#include "data/dataset.h"
#include "data/datasets/python_docs.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

// The _sources folders of every installed python3.X-doc, byte-wise sorted by package name.
std::vector<std::string> installed_python_docs() {
  boost::system::error_code ec;
  std::vector<std::string> found;
  for (fs::directory_iterator it("/usr/share/doc", ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (starts_with(name, "python3.") && fs::is_directory(it->path() / "html" / "_sources"))
      found.push_back(name);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> roots;
  for (const auto& f : found) roots.push_back("/usr/share/doc/" + f + "/html/_sources");
  return roots;
}

// Python documentation sources from Debian's python3.X-doc, concatenated in byte-wise
// sorted path order (cached as one file in cache_dir()).
Corpus default_corpus(const DataOptions& o) {
  const PythonDocs docs = python_docs(o, "default");
  return fractional("default", docs.source(), docs.text(), o.split);
}

}  // namespace

std::string PythonDocs::source() const { return root + " (" + std::to_string(files.size()) + " files)"; }

std::string PythonDocs::text() const { return concatenated("default", files); }

PythonDocs python_docs(const DataOptions& o, const std::string& dataset) {
  const std::vector<std::string> roots =
      o.data_path.empty() ? installed_python_docs() : std::vector<std::string>{o.data_path};
  if (roots.empty())
    throw Error("dataset = " + dataset +
                " needs the Python documentation sources from Debian's python3.11-doc "
                "(/usr/share/doc/python3.*/html/_sources): run scripts/setup.sh, or set data_path");
  PythonDocs docs;
  docs.root = roots.front();
  boost::system::error_code ec;
  if (!fs::is_directory(docs.root, ec))
    throw Error(dataset + " corpus folder '" + docs.root + "' does not exist");
  for (fs::recursive_directory_iterator it(docs.root, ec), end; !ec && it != end; it.increment(ec)) {
    auto p = it->path().string();
    if (fs::is_regular_file(it->path()) && p.size() > 8 && p.compare(p.size() - 8, 8, ".rst.txt") == 0)
      docs.files.push_back(p);
  }
  std::sort(docs.files.begin(), docs.files.end());  // byte-wise
  if (docs.files.empty())
    throw Error(dataset + " corpus folder '" + docs.root + "' holds no *.rst.txt files");
  return docs;
}

DatasetDef default_dataset() {
  return {"default", "the Python documentation sources of Debian's python3.11-doc (bytes, about 11 MB)",
          false, default_corpus};
}

}  // namespace ctlab
