// dataset = wikitext103: WikiText-103 (words), tokenised once and cached.
#include <boost/filesystem.hpp>
#include <sstream>

#include "data/corpus_io.h"
#include "data/dataset.h"
#include "util/error.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

Corpus wikitext(const std::string& folder) {
  if (folder.empty())
    throw Error("dataset = wikitext103 needs data_path = the folder holding wiki.{train,valid,test}.tokens");
  WordSplits w;
  const char* names[3] = {"wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"};
  for (int s = 0; s < 3; ++s) {
    auto path = (fs::path(folder) / names[s]).string();
    auto text = read_file(path, "WikiText-103 file");
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      auto words = words_of(line);
      if (!words.empty()) w.lines[s].push_back(std::move(words));  // <eos> per non-empty line
    }
    if (w.lines[s].empty()) throw Error("WikiText-103 file '" + path + "' holds no tokens");
  }
  return word_corpus("wikitext103", folder, w);
}

}  // namespace

DatasetDef wikitext103_dataset() {
  return {"wikitext103", "WikiText-103 (words): data_path = the folder of wiki.{train,valid,test}.tokens",
          true, [](const DataOptions& o) {
            std::vector<std::string> files;
            for (auto n : {"wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"})
              files.push_back((fs::path(o.data_path) / n).string());
            return cached_words("wikitext103", files, o.data_path, [&] { return wikitext(o.data_path); });
          }};
}

}  // namespace ctlab
