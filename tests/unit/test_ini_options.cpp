// Unit tests: INI parsing and the run configuration table (defaults, files, overrides,
// errors that name file, line, key and value).
#include <gtest/gtest.h>

#include "config/options.h"
#include "test_util.h"
#include "util/error.h"
#include "util/ini.h"

using namespace ctlab;

namespace {
using test::error_of;
}  // namespace

TEST(Ini, SectionsCommentsAndLines) {
  auto ini = parse_ini(
      "# top\nseed = 3\n\n[model]\nmem_len = 16  # inline\n; other\n[compression]\nkernel=2\n", "x.ini");
  ASSERT_EQ(ini.entries.size(), 3u);
  EXPECT_EQ(ini.entries[0].key, "seed");
  EXPECT_EQ(ini.entries[0].line, 2);
  EXPECT_EQ(ini.entries[1].section, "model");
  EXPECT_EQ(ini.entries[1].value, "16");
  EXPECT_EQ(ini.entries[2].section, "compression");
  EXPECT_EQ(ini.entries[2].line, 8);
}

TEST(Ini, MalformedLinesNameFileAndLine) {
  EXPECT_EQ(error_of([] { parse_ini("seed = 1\nmem_len 16\n", "run.ini"); }),
            "run.ini:2: expected 'key = value', got 'mem_len 16'");
  EXPECT_EQ(error_of([] { parse_ini("[model\n", "run.ini"); }),
            "run.ini:1: section header '[model' lacks a closing ']'");
  EXPECT_EQ(error_of([] { parse_ini("seed = 1\nseed = 2\n", "run.ini"); }),
            "run.ini:2: key 'seed' already set on line 1");
  EXPECT_NE(error_of([] { read_ini("/nonexistent/run.ini"); }).find("'/nonexistent/run.ini'"),
            std::string::npos);
}

TEST(Options, DefaultsValidate) {
  RunConfig cfg;
  EXPECT_NO_THROW(validate_run_config(cfg));
  EXPECT_EQ(get_setting(cfg, "mem_len"), "64");
}

TEST(Options, FileThenOverrides) {
  test::TempDir dir;
  auto path =
      dir.file("run.ini",
               "experiment = demo\n[model]\nmem_len = 16\nseq_len = 8\ncmem_rate = 4\ncutoffs = 10, 20\n"
               "[compression]\ncompression = template\nposition = 0\n[compression_loss]\nweight = 2\n");
  auto cfg = load_run_config(path, {"mem_len=32", "dropout=0.25"});
  EXPECT_EQ(cfg.experiment, "demo");
  EXPECT_EQ(cfg.model.mem_len, 32);  // --set wins over the file
  EXPECT_EQ(cfg.model.seq_len, 8);
  EXPECT_DOUBLE_EQ(cfg.model.dropout, 0.25);
  EXPECT_EQ(cfg.model.cutoffs, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(cfg.compression.name, "template");
  EXPECT_EQ(cfg.compression.params.at("position"), "0");
  EXPECT_EQ(cfg.compression_loss.params.at("weight"), "2");
}

TEST(Options, FormatRoundTrips) {
  RunConfig cfg;
  cfg.model.mem_len = 48;
  cfg.model.cutoffs = {5, 9};
  cfg.model.same_length = true;
  cfg.compression.params["position"] = "1";
  cfg.compression_loss.params["reduce"] = "l2";
  test::TempDir dir;
  auto text = format_run_config(cfg);
  auto back = load_run_config(dir.file("r.ini", text), {});
  EXPECT_EQ(format_run_config(back), text);
  EXPECT_EQ(back.model.cutoffs, cfg.model.cutoffs);
  EXPECT_EQ(back.compression_loss.params.at("reduce"), "l2");
}

TEST(Options, UnknownKeyNamesFileLineAndSuggestion) {
  test::TempDir dir;
  auto path = dir.file("run.ini", "[model]\nmem_lenn = 16\n");
  auto msg = error_of([&] { load_run_config(path, {}); });
  EXPECT_NE(msg.find(path + ":2: unknown key 'mem_lenn' (did you mean 'mem_len'?)"), std::string::npos)
      << msg;
}

TEST(Options, BadValuesSayWhatWasExpected) {
  EXPECT_EQ(error_of([] { load_run_config("", {"mem_len=-3"}); }),
            "--set mem_len: bad value for 'mem_len' = '-3': expected a non-negative integer");
  EXPECT_EQ(error_of([] { load_run_config("", {"dropout=1.5"}); }),
            "--set dropout: bad value for 'dropout' = '1.5': expected a number in [0, 1)");
  EXPECT_EQ(error_of([] { load_run_config("", {"norm=middle"}); }),
            "--set norm: bad value for 'norm' = 'middle': expected post or pre");
  EXPECT_EQ(error_of([] { load_run_config("", {"device=gpu"}); }),
            "--set device: bad value for 'device' = 'gpu': expected auto, cpu, cuda or cuda:N");
  EXPECT_EQ(error_of([] { load_run_config("", {"cutoffs=20,10"}); }),
            "--set cutoffs: bad value for 'cutoffs' = '20,10': expected a comma-separated list of increasing "
            "positive integers, or empty");
  EXPECT_EQ(error_of([] { load_run_config("", {"mem_len"}); }),
            "--set 'mem_len': expected key=value (for example --set mem_len=128)");
  EXPECT_NO_THROW(load_run_config("", {"device=cuda:1", "same_length=yes"}));
}

TEST(Options, UnknownSectionIsAnError) {
  test::TempDir dir;
  auto path = dir.file("run.ini", "[modle]\nmem_len = 16\n");
  auto msg = error_of([&] { load_run_config(path, {}); });
  EXPECT_NE(msg.find(path + ":2: unknown section [modle]"), std::string::npos) << msg;
}

TEST(Options, DivisibilityIsCheckedUpFront) {
  EXPECT_EQ(
      error_of([] {
        load_run_config("", {"seq_len=30", "cmem_rate=4", "mem_len=32"});
      }),
      "seq_len = 30 is not a multiple of cmem_rate = 4: evictions must be whole blocks of cmem_rate slots");
  EXPECT_EQ(
      error_of([] {
        load_run_config("", {"seq_len=32", "cmem_rate=3", "mem_len=30"});
      }),
      "seq_len = 32 is not a multiple of cmem_rate = 3: evictions must be whole blocks of cmem_rate slots");
  EXPECT_EQ(
      error_of([] {
        load_run_config("", {"seq_len=30", "cmem_rate=3", "mem_len=32"});
      }),
      "mem_len = 32 is not a multiple of cmem_rate = 3: evictions must be whole blocks of cmem_rate slots");
  // Transformer-XL (no compressed memory) does not care about the rate.
  EXPECT_NO_THROW(load_run_config("", {"seq_len=30", "cmem_rate=4", "cmem_len=0"}));
  EXPECT_EQ(error_of([] {
              load_run_config("", {"d_model=30", "n_head=4"});
            }),
            "d_model = 30 is not divisible by n_head = 4: expected d_model a multiple of n_head");
}
