// dataset = enwik8 and dataset = text8: the Hutter Prize files (bytes) with the papers'
// 90M / 5M / 5M split.
#include "data/corpus_io.h"
#include "data/dataset.h"
#include "util/error.h"

namespace ctlab {
namespace {

// enwik8 / text8: the papers' split, first 90M / next 5M / last 5M of a 100M-byte file.
Corpus hutter(const std::string& dataset, const std::string& path) {
  if (path.empty())
    throw Error("dataset = " + dataset + " needs data_path = the " + dataset + " file (100,000,000 bytes)");
  auto bytes = read_file(path, dataset + " file");
  const size_t expect = 100000000;
  if (bytes.size() != expect)
    throw Error(dataset + " file '" + path + "' has " + std::to_string(bytes.size()) +
                " bytes, expected exactly 100,000,000 (the standard " + dataset +
                "; use dataset = text for other files)");
  return byte_corpus(dataset, path, bytes, 90000000, 5000000, 5000000);
}

}  // namespace

DatasetDef enwik8_dataset() {
  return {"enwik8", "enwik8 (bytes): data_path = the 100,000,000-byte file", false,
          [](const DataOptions& o) { return hutter("enwik8", o.data_path); }};
}

DatasetDef text8_dataset() {
  return {"text8", "text8 (bytes): data_path = the 100,000,000-byte file", false,
          [](const DataOptions& o) { return hutter("text8", o.data_path); }};
}

}  // namespace ctlab
