// Grid expansion: counts, variants, exclusions, seeds, duplicate runs, shards, stable run
// ids, and errors that name the cell and the problem.
#include <gtest/gtest.h>

#include "grid/grid.h"
#include "test_util.h"
#include "util/error.h"

using namespace ctlab;

namespace {

// The tiny model with the default rate and dropout (the run ids below depend on them).
const std::string kBase = "experiment = g\n" + test::tiny_model(1, "") + R"([data]
dataset = synthetic
synthetic_tokens = 2000
[train]
max_steps = 5
)";

Grid expand(const test::TempDir& dir, const std::string& extra, std::vector<std::string> sets = {}) {
  return expand_grid(dir.file("grid.ini", std::string(kBase) + extra),
                     PluginSources{{CTLAB_TEST_PLUGIN_DIR}, {}}, sets);
}

}  // namespace

TEST(Grid, CartesianProductWithSeedsAndExclusions) {
  test::TempDir dir;
  auto g = expand(dir,
                  "[grid]\ncmem_rate = 2, 4\ncompression = mean_pool, max_pool, most_used\nseeds = 1, 2\n"
                  "exclude = compression=most_used & cmem_rate=4\n");
  EXPECT_EQ(g.axes, (std::vector<std::string>{"cmem_rate", "compression", "seed"}));
  EXPECT_EQ(g.cells.size(), 10u);  // 2 x 3 x 2 = 12, minus most_used at rate 4 (2 seeds)
  EXPECT_EQ(g.excluded, 2);
  EXPECT_EQ(g.cells[0].name, "cmem_rate=2 compression=mean_pool seed=1");
  EXPECT_EQ(g.cells[1].name, "cmem_rate=2 compression=mean_pool seed=2");  // the last axis varies fastest
  EXPECT_EQ(g.cells[9].name, "cmem_rate=4 compression=max_pool seed=2");
  EXPECT_EQ(g.cells[9].cfg.seed, 2);
  EXPECT_EQ(g.cells[9].cfg.model.cmem_rate, 4);
  EXPECT_EQ(g.cells[9].cfg.compression.name, "max_pool@1");  // pinned
  EXPECT_EQ(g.cells[9].cfg.model.vocab_size, 16);            // from the data
  for (size_t i = 0; i < g.cells.size(); ++i) EXPECT_EQ(g.cells[i].index, static_cast<int64_t>(i));
}

TEST(Grid, PairedIsAGridSettingNotAnAxis) {
  test::TempDir dir;
  EXPECT_FALSE(expand(dir, "[grid]\ncmem_rate = 2, 4\n").paired);
  auto g = expand(dir, "[grid]\ncmem_rate = 2, 4\nseeds = 1, 2\npaired = true\n");
  EXPECT_TRUE(g.paired);
  EXPECT_EQ(g.axes, (std::vector<std::string>{"cmem_rate", "seed"}));
  EXPECT_EQ(g.cells.size(), 4u);
  const auto bad = test::error_of([&] { expand(dir, "[grid]\ncmem_rate = 2\npaired = yes\n"); });
  EXPECT_NE(bad.find("paired = 'yes': expected true or false"), std::string::npos) << bad;
}

TEST(Grid, VariantAxisComesFirstAndTxlCellsCollapseOverTheRate) {
  test::TempDir dir;
  auto g = expand(dir,
                  "[variant txl]\ncmem_len = 0\nmem_len = 12\n[variant ct]\ncompression = conv1d\n"
                  "compression_loss = attention_reconstruction\n[grid]\ncmem_rate = 2, 4\n");
  EXPECT_EQ(g.axes, (std::vector<std::string>{"variant", "cmem_rate"}));
  ASSERT_EQ(g.cells.size(), 3u);  // txl once, ct at two rates
  EXPECT_EQ(g.duplicates, 1);
  EXPECT_EQ(g.cells[0].name, "variant=txl cmem_rate=2");
  EXPECT_EQ(g.cells[0].cfg.model.mem_len, 12);
  EXPECT_EQ(g.cells[2].cfg.compression_loss.name, "attention_reconstruction@1");
}

TEST(Grid, RunIdsAreStable) {
  test::TempDir dir;
  auto a = expand(dir, "[grid]\ncmem_rate = 2, 4\n");
  auto b = expand(dir, "[grid]\ncmem_rate = 2, 4\n");
  ASSERT_EQ(a.cells.size(), 2u);
  EXPECT_EQ(a.cells[0].run_id, b.cells[0].run_id);
  EXPECT_NE(a.cells[0].run_id, a.cells[1].run_id);
  // Operational keys do not change the identity; everything that is computed does.
  auto c = expand(dir, "[grid]\ncmem_rate = 2, 4\n", {"threads=1", "device=cpu", "log_every=1"});
  EXPECT_EQ(a.cells[1].run_id, c.cells[1].run_id);
  auto d = expand(dir, "[grid]\ncmem_rate = 2, 4\n", {"dropout=0.2"});
  EXPECT_NE(a.cells[1].run_id, d.cells[1].run_id);
  // A fixed configuration has a fixed id on every machine. This value changes only when
  // the set of configuration keys or a default changes (which makes earlier results new
  // runs): update it deliberately, and say so in the change.
  EXPECT_EQ(a.cells[0].run_id, "c985cdb73029") << identity_text(a.cells[0].cfg);
}

TEST(Grid, BadCellsFailTheWholeGridUpFront) {
  test::TempDir dir;
  auto msg = test::error_of([&] { expand(dir, "[grid]\ncmem_rate = 2, 3\nseq_len = 8, 9\n"); });
  EXPECT_NE(msg.find("3 of 4 cells are invalid; nothing was run"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cell 1 (cmem_rate=2 seq_len=9): seq_len = 9 is not a multiple of cmem_rate = 2"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("cell 2 (cmem_rate=3 seq_len=8)"), std::string::npos) << msg;
  msg = test::error_of([&] { expand(dir, "[grid]\ndropout = 0.1, 2\n"); });
  EXPECT_NE(msg.find("cell 1 (dropout=2): "), std::string::npos) << msg;
  EXPECT_NE(msg.find("(axis dropout): bad value for 'dropout' = '2': expected a number in [0, 1)"),
            std::string::npos)
      << msg;
  msg = test::error_of([&] { expand(dir, "[grid]\nmem_lenn = 1, 2\n"); });
  EXPECT_NE(msg.find("grid axis: unknown key 'mem_lenn' (did you mean 'mem_len'?)"), std::string::npos)
      << msg;
  msg = test::error_of([&] { expand(dir, "[grid]\ncmem_rate = 2\nexclude = seed=3\n"); });
  EXPECT_NE(msg.find("exclude rule 'seed=3' names 'seed', which is not an axis (cmem_rate)"),
            std::string::npos)
      << msg;
  msg = test::error_of([&] { expand(dir, "[grid]\ncompression = mean_pool, conv1d\n"); });
  EXPECT_NE(msg.find("cell 1 (compression=conv1d): compression = conv1d@1 has parameters to learn"),
            std::string::npos)
      << msg;
  msg = test::error_of([&] { expand(dir, "[grid]\ncompression.kernel = 3\n"); });
  EXPECT_NE(msg.find("unknown key 'compression.kernel': plugin mean_pool@1 takes no parameters"),
            std::string::npos)
      << msg;
  msg = test::error_of([&] { expand(dir, "[grid]\ndataset = synthetic, text\n"); });
  EXPECT_NE(msg.find("cell 1 (dataset=text): dataset = text needs data_path"), std::string::npos) << msg;
}

TEST(Grid, ShardsPartitionTheCells) {
  test::TempDir dir;
  auto g = expand(dir, "[grid]\nseeds = 1, 2, 3, 4, 5\n");
  std::vector<int64_t> seen(5, 0);
  for (int64_t s = 0; s < 3; ++s)
    for (const auto* c : shard_cells(g, s, 3)) seen[c->index]++;
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 1, 1, 1, 1}));
  EXPECT_EQ(shard_cells(g, 1, 3).size(), 2u);
  EXPECT_EQ(parse_shard("2/4"), (std::pair<int64_t, int64_t>{2, 4}));
  EXPECT_NE(test::error_of([] { parse_shard("4/4"); }).find("expected i/N with 0 <= i < N"),
            std::string::npos);
  setenv("SLURM_ARRAY_TASK_ID", "1", 1);
  setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
  EXPECT_EQ(parse_shard(""), (std::pair<int64_t, int64_t>{1, 3}));
  unsetenv("SLURM_ARRAY_TASK_ID");
  unsetenv("SLURM_ARRAY_TASK_COUNT");
  EXPECT_EQ(parse_shard(""), (std::pair<int64_t, int64_t>{0, 1}));
}
