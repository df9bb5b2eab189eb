// Data: TXL batching, every corpus loader on small files in the real formats, and the
// errors for missing, empty, short and malformed inputs.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

#include "data/corpus.h"
#include "data/stream.h"
#include "test_util.h"
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
