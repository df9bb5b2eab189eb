// Studies end to end through the real binary: a grid with a baseline gives per-cell
// statistics and comparisons in `grid status` and `ctlab report` (data/comparisons.csv),
// the scorecard runs its suite on a tiny setting, and `ctlab config` prints cost and reach
// and warns when a bptt loss cannot reach the compression events.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_util.h"

using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {

bool contains(const std::string& h, const std::string& n) { return h.find(n) != std::string::npos; }

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST(Study, BaselineComparisonsInStatusAndReport) {
  TempDir dir;
  auto grid = dir.file("grid.ini", R"(experiment = study
threads = 1
)" + ctlab::test::kTinyModel + R"([data]
dataset = distant_ref
synthetic_tokens = 4000
ref_distance = 12
[train]
batch_size = 4
max_steps = 6
log_every = 3
checkpoint_every = 6
[eval]
eval_segments = 6
buckets_sequences = 0
[variant txl]
cmem_len = 0
mem_len = 12
[variant pool]
compression = mean_pool
[grid]
seeds = 1, 2
baseline = variant=txl
)");
  const std::string root = dir.path() + "/r";
  auto run = run_ctlab("grid run " + grid + " --jobs 2 --results " + root);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto status = run_ctlab("grid status " + grid + " --results " + root);
  EXPECT_TRUE(contains(status.output, "cells over seeds")) << status.output;
  EXPECT_TRUE(contains(status.output, "variant=pool (2 run(s))  bpc ")) << status.output;
  EXPECT_TRUE(contains(status.output, "against the baseline variant=txl")) << status.output;
  EXPECT_TRUE(contains(status.output, "variant=pool  recovered ")) << status.output;
  auto report = run_ctlab("report study --no-figures --results " + root);
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_TRUE(contains(report.output, "## Comparisons with the baseline (variant=txl)")) << report.output;
  EXPECT_TRUE(contains(report.output, "In plain words:")) << report.output;
  auto csv = lines(read(root + "/reports/study/data/comparisons.csv"));
  ASSERT_EQ(csv.size(), 3u) << read(root + "/reports/study/data/comparisons.csv");  // bpc and recovered
  EXPECT_EQ(
      csv[0],
      "baseline,cell,metric,mean_baseline,mean_cell,diff,ci_low,ci_high,p_value,seeds,test,p_value_exact");
  EXPECT_EQ(csv[1].rfind("variant=txl,variant=pool,bpc,", 0), 0u) << csv[1];
  EXPECT_TRUE(contains(csv[1], ",2/2,welch,")) << csv[1];
  EXPECT_EQ(csv[2].rfind("variant=txl,variant=pool,recovered,", 0), 0u) << csv[2];
  auto cells = read(root + "/reports/study/data/cells.csv");
  EXPECT_TRUE(contains(cells, "variant=txl,bpc,2,")) << cells;
  // The same grid, paired: matched by seed, a paired t-test and its exact sign-flip p.
  std::string paired_text = read(grid);
  paired_text.replace(paired_text.find("experiment = study"), 18, "experiment = paired");
  paired_text.insert(paired_text.find("baseline = variant=txl"), "paired = true\n");
  auto paired = dir.file("paired.ini", paired_text);
  ASSERT_EQ(run_ctlab("grid run " + paired + " --jobs 2 --results " + root).exit_code, 0);
  status = run_ctlab("grid status " + paired + " --results " + root);
  EXPECT_TRUE(contains(status.output, "(paired t), p ")) << status.output;
  EXPECT_TRUE(contains(status.output, "(sign-flip)")) << status.output;
  ASSERT_EQ(run_ctlab("report paired --no-figures --results " + root).exit_code, 0);
  const auto paired_csv = lines(read(root + "/reports/paired/data/comparisons.csv"));
  ASSERT_EQ(paired_csv.size(), 3u);
  EXPECT_TRUE(contains(paired_csv[1], ",2/2,paired t,")) << paired_csv[1];
  EXPECT_TRUE(contains(read(root + "/reports/paired/report.md"), "exact sign-flip test"));
  // A baseline that names no cell, or the seed, is refused before anything runs.
  auto bad = dir.file("bad.ini", read(grid).replace(read(grid).find("baseline = variant=txl"), 22,
                                                    "baseline = variant=nope"));
  auto refused = run_ctlab("grid run " + bad + " --results " + dir.path() + "/bad");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_TRUE(contains(refused.output, "baseline 'variant=nope' matches no cell")) << refused.output;
}

namespace {

size_t count_starts(const std::string& output) {
  size_t starts = 0;
  for (size_t at = output.find("start "); at != std::string::npos; at = output.find("start ", at + 1))
    ++starts;
  return starts;
}

// The one suite folder a scorecard wrote under a results root.
std::string suite_folder(const std::string& root) {
  for (const auto& f : boost::filesystem::directory_iterator(root + "/scorecards")) return f.path().string();
  return "";
}

}  // namespace

TEST(Study, ScorecardRunsTheSuiteOnATinySetting) {
  TempDir dir;
  const std::string tiny =
      " --set max_steps=2 --set synthetic_tokens=6000 --set d_model=16 --set n_head=2 --set d_ff=32"
      " --set eval_segments=2 --set threads=1";
  auto r = run_ctlab("scorecard max_pool --jobs 2 --seeds 2 --results " + dir.path() + tiny);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // 2 seeds x (4 arms scored on each of the 2 tasks: max_pool, mean_pool and the two
  // Transformer-XLs; max_pool and mean_pool at 3 more loads and 3 more distances, on the
  // copy task only).
  EXPECT_EQ(count_starts(r.output), 2u * (4 * 2 + 2 * 6)) << r.output;
  EXPECT_TRUE(contains(r.output, "capacity: recovered at each level (cmem_rate 1 cmem_len 64; cmem_rate 2"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "reach: recovered at each level (synthetic_period 24; synthetic_period 64"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "retained vs used")) << r.output;
  for (const char* column : {"gate", "max_pool", "mean_pool", "txl_same_cost", "txl_reach"})
    EXPECT_TRUE(contains(r.output, column)) << r.output;
  // Two steps teach nothing: the reach baseline fails every task, and nothing is compared.
  EXPECT_TRUE(contains(r.output, "synthetic: uninformative: txl_reach recovers")) << r.output;
  EXPECT_TRUE(contains(r.output, "(task uninformative: not compared)")) << r.output;
  // Standard output is not a terminal here: the recovered table is printed when an arm's
  // seeds on a task complete (4 arms x 2 tasks) and once at the end, not after each of
  // the 40 runs.
  size_t tables = 0;
  for (size_t at = r.output.find("\nscorecard: share"); at != std::string::npos;
       at = r.output.find("\nscorecard: share", at + 1))
    ++tables;
  EXPECT_GE(tables, 2u) << r.output;
  EXPECT_LE(tables, 9u) << r.output;
  const std::string folder = suite_folder(dir.path());
  EXPECT_TRUE(boost::filesystem::exists(folder + "/report.md")) << folder;
  EXPECT_TRUE(contains(read(folder + "/comparisons.csv"), "task,a,b,diff,ci_low,ci_high,p_t,p_t_holm"));
  EXPECT_TRUE(contains(read(folder + "/arms/max_pool.ini"), "compression = max_pool"));
  // Bad values are named before anything is written.
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"scorecard no_such_fn", "no_such_fn"},
           {"scorecard max_pool --seeds 1", "--seeds 1: expected 2 to 20 paired seeds"},
           {"scorecard max_pool --loss nope", "the loss 'nope'"},
           {"scorecard max_pool --cmem-positions nope",
            "--cmem-positions nope: expected a position map (aligned, deepmind, slot, true_distance)"},
           {"scorecard max_pool --set cmem_rate=4",
            "--set cmem_rate=4: 'cmem_rate' is set by an arm, a curve"}}) {
    auto bad = run_ctlab(args + " --results " + dir.path() + "/x");
    EXPECT_EQ(bad.exit_code, 2) << bad.output;
    EXPECT_TRUE(contains(bad.output, message)) << bad.output;
    EXPECT_FALSE(boost::filesystem::exists(dir.path() + "/x")) << args;  // nothing written
  }
}

// A suite of one's own (--suite): what it must hold is checked before anything runs; runs
// are shared by configuration (references, earlier arms, other suites), and every arm
// scored under the suite is in the next scorecard's tables.
TEST(Study, ScorecardSuiteFileIsCheckedAndItsReferencesAreReused) {
  TempDir dir;
  const std::string base = "seed = 1\nthreads = 1\n" + ctlab::test::kTinyModel + R"([data]
synthetic_tokens = 6000
[train]
batch_size = 4
max_steps = 2
[eval]
eval_segments = 2
buckets_sequences = 0
[variant txl_same_cost]
cmem_len = 0
mem_len = 12
)";
  const std::string grid = "[grid]\ndataset = synthetic\nseeds = 1, 2\npaired = true\n";
  const std::string ceiling = "[variant txl_reach]\ncmem_len = 0\nmem_len = 24\n";
  const auto no_ceiling = dir.file("no_ceiling.ini", base + grid);
  const std::string root = dir.path() + "/r";
  auto r = run_ctlab("scorecard max_pool --suite " + no_ceiling + " --results " + root);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "scorecard suite '" + no_ceiling + "': expected [variant txl_reach]"))
      << r.output;
  const auto named = dir.file("named.ini", "experiment = mine\n" + base + grid);
  r = run_ctlab("scorecard max_pool --suite " + named + " --results " + root);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "sets 'experiment'")) << r.output;
  // [capacity]: levels in ascending order, as many for every key.
  const auto descending = dir.file("descending.ini", base + "[capacity]\ncmem_rate = 4, 2\n" + grid);
  r = run_ctlab("scorecard max_pool --suite " + descending + " --results " + root);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "the levels must be positive numbers in ascending order")) << r.output;
  const auto uneven =
      dir.file("uneven.ini", base + "[capacity]\ncmem_rate = 1, 2\ncmem_len = 16, 8, 4\n" + grid);
  r = run_ctlab("scorecard max_pool --suite " + uneven + " --results " + root);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "[capacity] cmem_len has 3 levels, cmem_rate has 2")) << r.output;
  EXPECT_FALSE(boost::filesystem::exists(root));  // nothing written
  const auto suite = dir.file("suite.ini", base + ceiling + grid);
  r = run_ctlab("scorecard max_pool --suite " + suite + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_starts(r.output), 6u) << r.output;  // 3 arms x 2 seeds
  r = run_ctlab("scorecard mean_pool --suite " + suite + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_starts(r.output), 2u) << r.output;  // only the new function's two seeds ran
  const std::string final_tables = r.output.substr(r.output.rfind("\nscorecard: share"));
  EXPECT_TRUE(contains(final_tables, "\nmax_pool ")) << r.output;  // the earlier arm is in the table
  // A suite whose reference is mean_pool: the earlier mean_pool runs are its runs, and
  // `scorecard mean_pool` there is the reference (nothing trained, one row).
  const auto with_ref =
      dir.file("with_ref.ini", base + ceiling + "[variant mean_pool]\ncompression = mean_pool\n" + grid);
  r = run_ctlab("scorecard mean_pool --suite " + with_ref + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_starts(r.output), 0u) << r.output;
  const std::string last = r.output.substr(r.output.rfind("\nscorecard: share"));
  const std::string recovered = last.substr(0, last.find("\n\n", 1));
  EXPECT_EQ(recovered.find("\nmean_pool "), recovered.rfind("\nmean_pool ")) << r.output;  // one row
  // A function with parameters and no --loss: one arm per auxiliary loss; then one of those
  // arms on its own is the same runs.
  r = run_ctlab("scorecard conv1d --suite " + suite + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "conv1d+attention_reconstruction")) << r.output;
  EXPECT_TRUE(contains(r.output, "conv1d+autoencoding")) << r.output;
  EXPECT_EQ(count_starts(r.output), 4u) << r.output;  // 2 losses x 2 seeds
  r = run_ctlab("scorecard conv1d --loss autoencoding --suite " + suite + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(count_starts(r.output), 0u) << r.output;
  // One function under another position map is another arm.
  r = run_ctlab("scorecard max_pool --cmem-positions true_distance --suite " + suite + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "max_pool [true_distance]")) << r.output;
  EXPECT_EQ(count_starts(r.output), 2u) << r.output;
  // --full needs a [learning_rates] section; with one, every arm runs at each rate on the
  // selection seeds first, and is scored at its best on the scored seeds.
  r = run_ctlab("scorecard max_pool --full --suite " + suite + " --results " + root);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "has no [learning_rates] section")) << r.output;
  const auto swept =
      dir.file("swept.ini", base + ceiling + "[learning_rates]\nlr = 0.01\nselection_seeds = 1\n" + grid);
  r = run_ctlab("scorecard max_pool --full --suite " + swept + " --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GE(count_starts(r.output), 6u) << r.output;  // 3 arms x 2 rates x 1 selection seed, then the chosen
  EXPECT_TRUE(
      contains(r.output,
               "learning rates: each arm's rate chosen by mean recovered on the selection seeds 1001; "
               "its scores come from the scored seeds 1, 2"))
      << r.output;
}

TEST(Study, ConfigPrintsCostAndReachAndWarnsForShortBptt) {
  auto r = run_ctlab(
      "config --set n_layer=2 --set seq_len=32 --set mem_len=32 --set cmem_len=32 --set cmem_rate=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "# attention cost 96 key slots per query (mem_len 32 + cmem_len 32 + seq_len 32); "
                       "reach 96 tokens before the segment per layer"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "at most 192 through 2 layer(s)")) << r.output;
  EXPECT_FALSE(contains(r.output, "warning")) << r.output;
  auto w = run_ctlab(
      "config --set seq_len=32 --set mem_len=32 --set cmem_len=32 --set cmem_rate=2 --set compression=conv1d "
      "--set compression_loss=bptt --set bptt_segments=2");
  ASSERT_EQ(w.exit_code, 0) << w.output;
  EXPECT_TRUE(contains(w.output,
                       "warning: bptt_segments = 2 unrolls 1 compression event(s), but a segment's loss "
                       "reads compressed slots made by the last 2"))
      << w.output;
  EXPECT_TRUE(contains(w.output, "bptt_segments >= 3 reaches them all")) << w.output;
  auto ok = run_ctlab(
      "config --set seq_len=32 --set mem_len=32 --set cmem_len=32 --set cmem_rate=2 --set compression=conv1d "
      "--set compression_loss=bptt --set bptt_segments=3");
  EXPECT_FALSE(contains(ok.output, "warning")) << ok.output;
}
