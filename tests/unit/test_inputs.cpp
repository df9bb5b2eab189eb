// Input errors that used to be late or silent: a folder as the config file, '#' in values
// (quoted values are literal), data too short for one segment, and a results root that is
// a file or holds an empty database beside run folders.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

#include "config/options.h"
#include "config/run_data.h"
#include "data/dataset.h"
#include "store/results_layout.h"
#include "test_util.h"
#include "util/error.h"
#include "util/ini.h"

using namespace ctlab;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(Inputs, AFolderIsNotAConfigFile) {
  test::TempDir dir;
  EXPECT_EQ(error_of([&] { load_run_config(dir.path(), {}); }),
            "config file '" + dir.path() +
                "' is a folder; expected an INI file (e.g. experiments/default/run.ini)");
}

TEST(Inputs, HashInsideValuesAndQuotedValues) {
  auto ini = parse_ini(
      "[data]\ndata_path = /data/run#1/file  # a comment\n[train]\nlr = 0.1 ; comment\n"
      "[run]\nexperiment = \"a # not a comment\"\n",
      "x.ini");
  ASSERT_EQ(ini.entries.size(), 3u);
  EXPECT_EQ(ini.entries[0].value, "/data/run#1/file");
  EXPECT_EQ(ini.entries[1].value, "0.1");
  EXPECT_EQ(ini.entries[2].value, "a # not a comment");
  // The reported case: '#' after a non-space character, with or without spaces around '='.
  for (const char* line : {"data_path = /data/my#corpus.txt\n", "data_path=/data/my#corpus.txt #c\n"})
    EXPECT_EQ(parse_ini(std::string("[data]\n") + line, "z.ini").entries.at(0).value, "/data/my#corpus.txt");
  EXPECT_EQ(error_of([] { parse_ini("[data]\ndata_path = \"/a #b\n", "y.ini"); }),
            "y.ini:2: the value of 'data_path' opens a double quote that does not close");
  // The resolved configuration writes such values quoted, so they read back the same.
  RunConfig cfg;
  apply_setting(cfg, "data_path", "/my data #1/f.txt", "test");
  const std::string text = format_run_config(cfg);
  EXPECT_NE(text.find("data_path = \"/my data #1/f.txt\""), std::string::npos) << text;
  test::TempDir dir;
  auto path = dir.file("back.ini", text);
  EXPECT_EQ(load_run_config(path, {}).data.data_path, "/my data #1/f.txt");
}

TEST(Inputs, DataTooShortForOneSegmentIsRefusedUpFront) {
  auto cfg =
      load_run_config("", {"dataset=synthetic", "synthetic_tokens=1000", "batch_size=64", "seq_len=64"});
  auto msg = error_of([&] { bind_run_data(cfg, load_corpus(cfg.data)); });
  EXPECT_NE(msg.find("the training split of dataset synthetic has 1000 tokens, too few for one segment: "
                     "batch_size 64 x (seq_len 64 + 1) = 4160 needed"),
            std::string::npos)
      << msg;
  auto small_valid = load_run_config("", {"dataset=synthetic", "synthetic_tokens=1000", "synthetic_period=4",
                                          "batch_size=2", "seq_len=8", "eval_batch_size=64"});
  msg = error_of([&] { bind_run_data(small_valid, load_corpus(small_valid.data)); });
  EXPECT_NE(
      msg.find("the validation split of dataset synthetic has 100 tokens, too few for eval_batch_size 64"),
      std::string::npos)
      << msg;
}

TEST(Inputs, ResultsRootMustBeAWritableFolderWithAnIntactDatabase) {
  test::TempDir dir;
  auto file = dir.file("not_a_folder", "x");
  EXPECT_EQ(error_of([&] { ResultsLayout(file).prepare(); }),
            "results root '" + file + "' is a file; expected a folder (choose another with --results)");
  ResultsLayout ok(dir.path() + "/fresh");
  ok.prepare();
  EXPECT_TRUE(boost::filesystem::is_directory(ok.root()));
  // An empty database beside run folders: truncated or replaced, not a new store.
  boost::filesystem::create_directories(ok.runs_dir() + "/abc123");
  dir.file("fresh/ctlab.sqlite", "");
  auto msg = error_of([&] { ok.prepare(); });
  EXPECT_NE(msg.find("is empty but '" + ok.runs_dir() + "' holds 1 run folder(s)"), std::string::npos) << msg;
}
