// The Python documentation sources that Debian's python3.X-doc installs, found and read in
// one place for the datasets built from them: `default` (bytes) and `pydoc_words` (words).
// Defined in data/datasets/default.cpp.
#pragma once

#include <string>
#include <vector>

#include "data/data_options.h"

namespace ctlab {

struct PythonDocs {
  std::string root;                // the folder searched: data_path, else .../html/_sources
  std::vector<std::string> files;  // its *.rst.txt files (recursively), byte-wise sorted paths
  std::string source() const;      // "<root> (<n> files)", for logs and the run store
  // The files' concatenation in that order, from the byte cache in cache_dir() (one cache
  // for every dataset built from these files).
  std::string text() const;
};

// data_path when set, else the byte-wise first /usr/share/doc/python3.*/html/_sources.
// Throws ctlab::Error naming `dataset` and the folder when there is none, it is missing or
// it holds no *.rst.txt file.
PythonDocs python_docs(const DataOptions& o, const std::string& dataset);

}  // namespace ctlab
