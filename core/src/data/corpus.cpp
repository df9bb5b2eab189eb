// Corpus splitting, reading and the caches (data/corpus_io.h).
#include <algorithm>
#include <boost/filesystem.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "data/corpus_io.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/sha256.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

torch::Tensor bytes_tensor(const std::string& s, size_t begin, size_t end) {
  auto t = torch::empty({static_cast<int64_t>(end - begin)}, torch::kUInt8);
  std::memcpy(t.data_ptr<uint8_t>(), s.data() + begin, end - begin);
  return t;
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

}  // namespace

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

std::array<size_t, 3> split_sizes(const std::string& dataset, const std::string& source, size_t n,
                                  const std::vector<double>& split) {
  const size_t n_train = static_cast<size_t>(n * split[0]);
  const size_t n_valid = static_cast<size_t>(n * split[1]);
  const size_t n_test = n - n_train - n_valid;
  if (n_train < 2 || (split[1] > 0 && n_valid < 2) || (split[2] > 0 && n_test < 2))
    throw Error(dataset + " data '" + source + "' has " + std::to_string(n) +
                " bytes, too few for the split " +
                join({std::to_string(split[0]), std::to_string(split[1]), std::to_string(split[2])}, ","));
  return {n_train, n_valid, n_test};
}

Corpus fractional(const std::string& dataset, const std::string& source, const std::string& bytes,
                  const std::vector<double>& split) {
  const auto [n_train, n_valid, n_test] = split_sizes(dataset, source, bytes.size(), split);
  return byte_corpus(dataset, source, bytes, n_train, n_valid, n_test);
}

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

Corpus word_corpus(const std::string& dataset, const std::string& source, const WordSplits& w,
                   int64_t min_count) {
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
    if (n >= min_count && !id.count(word)) {
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

const IdealLoss* Corpus::ideal_loss(const std::string& name) const {
  split(name);  // checks the name
  auto it = ideal.find(name);
  return it == ideal.end() ? nullptr : &it->second;
}

torch::Tensor Corpus::train_counts() const { return torch::bincount(train.to(torch::kLong), {}, vocab_size); }

}  // namespace ctlab
