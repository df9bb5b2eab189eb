// Analyses end to end: a trained run's analysis.h5 (read with the HDF5 C API and with
// h5py), ctlab eval's analysis group, exports, the report and the figures.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <fstream>
#include <sstream>

#include "store/analysis_file.h"
#include "store/run_store.h"
#include "test_util.h"

using namespace ctlab;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {

bool contains(const std::string& h, const std::string& n) { return h.find(n) != std::string::npos; }

// A finished 4-cell grid on the default corpus at quickstart size (shorter), shared by
// the tests of this file.
class Analysis : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    grid_ = dir_->file("grid.ini", R"(experiment = analysis
threads = 1
[model]
n_layer = 2
d_model = 32
n_head = 2
d_ff = 64
seq_len = 16
mem_len = 16
cmem_len = 8
dropout = 0
[train]
batch_size = 4
max_steps = 40
log_every = 10
checkpoint_every = 100
[eval]
eval_segments = 5
buckets_sequences = 6
[variant mean_pool]
compression = mean_pool
[variant conv1d]
compression = conv1d
compression_loss = attention_reconstruction
[grid]
cmem_rate = 2, 4
)");
    root_ = dir_->path() + "/r";
    auto r = run_ctlab("grid run " + grid_ + " --results " + root_ + " --jobs 2");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::vector<RunRecord> runs() { return RunStore(root_ + "/ctlab.sqlite").runs("analysis"); }

  static TempDir* dir_;
  static std::string grid_, root_;
};
TempDir* Analysis::dir_ = nullptr;
std::string Analysis::grid_, Analysis::root_;

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (char c : line) {
      if (c == '"')
        quoted = !quoted;
      else if (c == ',' && !quoted) {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += c;
      }
    }
    cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

}  // namespace

TEST_F(Analysis, AttentionMassesPerQuerySumToOneOverAllBuckets) {
  auto all = runs();
  ASSERT_EQ(all.size(), 4u);
  for (const auto& run : all) {
    AttentionRecord a;
    ASSERT_TRUE(read_attention(root_ + "/runs/" + run.run_id + "/analysis.h5", "", a)) << run.run_id;
    EXPECT_EQ(a.regions, (std::vector<std::string>{"compressed memory", "memory", "sequence"}));
    EXPECT_EQ(a.n_layer, 2);
    EXPECT_EQ(a.n_head, 2);
    EXPECT_EQ(a.sequences, 6);
    EXPECT_EQ(a.samples, 6 * 8);  // eval_batch_size 8 streams per segment
    const size_t nb = a.region_of.size();
    EXPECT_EQ(nb, 18u);
    for (int64_t lh = 0; lh < a.n_layer * a.n_head; ++lh) {
      double sum = 0;
      for (size_t b = 0; b < nb; ++b) sum += a.mass[lh * nb + b];
      EXPECT_NEAR(sum, 1.0, 1e-6) << run.run_id << " layer/head " << lh;  // float32 softmax
    }
    double all_sum = 0;
    for (double x : a.all) all_sum += x;
    EXPECT_NEAR(all_sum, 1.0, 1e-6);
    FrequencyRecord f;
    ASSERT_TRUE(read_frequency(root_ + "/runs/" + run.run_id + "/analysis.h5", "", f));
    EXPECT_EQ(f.labels, (std::vector<std::string>{"< 100", "100-1K", "1K-10K", ">= 10K"}));
  }
}

TEST_F(Analysis, ReadableWithH5py) {
  if (!boost::filesystem::exists("/usr/bin/python3") ||
      test::run_command("/usr/bin/python3 -c 'import h5py'").exit_code != 0)
    GTEST_SKIP() << "Debian's python3-h5py is not installed";
  auto run = runs().front();
  auto path = root_ + "/runs/" + run.run_id + "/analysis.h5";
  auto r = test::run_command(
      "/usr/bin/python3 -c \"import h5py, numpy as np; f = h5py.File('" + path +
      "', 'r'); m = f['attention/mass'][()]; assert m.shape == (2, 2, 18), m.shape; "
      "assert np.allclose(m.sum(-1), 1); "
      "assert list(f['attention'].attrs['regions']) == ['compressed memory', 'memory', 'sequence']; "
      "assert f['frequency/count'][()].sum() == f['frequency'].attrs['tokens']; "
      "print('ok', f['attention'].attrs['run_id'])\"");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "ok " + run.run_id)) << r.output;
}

TEST_F(Analysis, CompressionLossPerLayerIsStoredForTrainableFunctions) {
  if (test::run_command("/usr/bin/python3 -c 'import h5py'").exit_code != 0) GTEST_SKIP() << "no h5py";
  int with = 0;
  for (const auto& run : runs()) {
    auto path = root_ + "/runs/" + run.run_id + "/analysis.h5";
    auto r =
        test::run_command("/usr/bin/python3 -c \"import h5py; f = h5py.File('" + path +
                          "', 'r'); print('compression' in f and f['compression/loss_per_layer'].shape)\"");
    if (contains(run.config, "compression = conv1d@1")) {
      EXPECT_TRUE(contains(r.output, "(4, 2)")) << r.output;  // 40 steps logged every 10, 2 layers
      ++with;
    } else {
      EXPECT_TRUE(contains(r.output, "False")) << r.output;
    }
  }
  EXPECT_EQ(with, 2);
}

TEST_F(Analysis, EvalWritesItsOwnGroup) {
  auto run = runs().front();
  auto r =
      run_ctlab("eval " + run.run_id + " --results " + root_ + " --split test --mem-len 32 --segments 20");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  AttentionRecord a;
  ASSERT_TRUE(read_attention(root_ + "/runs/" + run.run_id + "/analysis.h5",
                             "/eval/test/seq16-mem32-cmem8-clamp-1-same0-batch8-first20", a))
      << r.output;
  EXPECT_EQ(a.edges.back(), 8 + 32 + 16);
  AttentionRecord top;
  EXPECT_TRUE(read_attention(root_ + "/runs/" + run.run_id + "/analysis.h5", "", top));  // untouched
  EXPECT_EQ(top.edges.back(), 8 + 16 + 16);
}

TEST_F(Analysis, ExportsRoundTrip) {
  auto csv = run_ctlab("export attention --results " + root_ + " --experiment analysis");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  auto rows = parse_csv(csv.output);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0],
            (std::vector<std::string>{"run_id", "experiment", "variant", "cmem_rate", "layer", "head",
                                      "bucket", "region", "slot_lo", "slot_hi", "mass", "mass_se",
                                      "slot_mean", "slot_mean_se", "samples", "sequences"}));
  // 4 runs x (2 layers x 2 heads + the all-layer mean) x 18 buckets.
  EXPECT_EQ(rows.size() - 1, 4u * (2 * 2 + 1) * 18);
  for (size_t i = 1; i < rows.size(); ++i) ASSERT_EQ(rows[i].size(), rows[0].size()) << "row " << i;

  auto runs_csv = parse_csv(run_ctlab("export runs --results " + root_).output);
  EXPECT_EQ(runs_csv.size(), 5u);
  auto freq = parse_csv(run_ctlab("export frequency --results " + root_).output);
  EXPECT_EQ(freq.size(), 1u + 4 * 5);  // 4 buckets + "all" per run
  auto metrics = parse_csv(run_ctlab("export metrics --results " + root_ + " --key train/loss").output);
  EXPECT_EQ(metrics.size(), 1u + 4 * 4);

  auto out = dir_->path() + "/attention.json";
  auto json = run_ctlab("export attention --results " + root_ + " --format json --out " + out);
  ASSERT_EQ(json.exit_code, 0) << json.output;
  auto check = test::run_command(
      "python3 -c \"import json; rows = json.load(open('" + out +
      "')); assert len(rows) == 360, len(rows); r = rows[0]; "
      "assert isinstance(r['mass'], float) and isinstance(r['run_id'], str); print('ok')\"");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  auto bad = run_ctlab("export everything --results " + root_);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.output, "unknown table 'everything'")) << bad.output;
}

TEST_F(Analysis, ReportHasEveryCellThePivotAndFigures) {
  auto out = dir_->path() + "/report";
  auto r = run_ctlab("report analysis --results " + root_ + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(out + "/report.md");
  std::stringstream ss;
  ss << in.rdbuf();
  auto md = ss.str();
  EXPECT_TRUE(contains(md, "| variant | cmem_rate=2 | cmem_rate=4 |")) << md;
  EXPECT_TRUE(contains(md, "| variant=conv1d |")) << md;
  EXPECT_TRUE(contains(md, "| variant=mean_pool |")) << md;
  for (const auto& run : runs()) EXPECT_TRUE(contains(md, "`" + run.run_id + "`")) << run.run_id;
  EXPECT_TRUE(contains(md, "## Attention by bucket")) << md;
  EXPECT_TRUE(contains(md, "## Perplexity by token frequency")) << md;
  if (test::run_command("/usr/bin/python3 -c 'import matplotlib'").exit_code == 0) {
    for (auto f : {"attention_by_bucket.png", "learning_curves.png", "compression_loss.png"}) {
      EXPECT_TRUE(boost::filesystem::exists(out + "/figures/" + f)) << f;
      EXPECT_GT(boost::filesystem::file_size(out + "/figures/" + f), 10000u) << f;
      EXPECT_TRUE(contains(md, std::string("](figures/") + f + ")")) << md;
    }
  }
}

// The figures are drawn per cell (seeds pooled), in the report's order, with pages of small
// multiples for many cells; checked on constructed tables so that every count is known.
TEST(Figures, PerCellMeansOverSeedsInTheReportsOrderWithPages) {
  if (test::run_command("/usr/bin/python3 -c 'import matplotlib'").exit_code != 0)
    GTEST_SKIP() << "no matplotlib for /usr/bin/python3 (Debian: python3-matplotlib)";
  test::TempDir dir;
  std::string attention =
      "run_id,experiment,variant,seed,layer,head,bucket,region,slot_lo,slot_hi,mass,mass_se,"
      "slot_mean,slot_mean_se,samples,sequences\n";
  std::string metrics = "run_id,experiment,variant,seed,key,step,value,wall_time\n";
  std::string cells = "cell,metric,runs,mean,ci_low,ci_high\n";
  for (int c = 0; c < 14; ++c) {  // 14 cells x 2 seeds: two pages of 12 panels
    cells += "variant=v" + std::to_string(13 - c) + ",bpc,2,1,1,1\n";
    for (int seed = 1; seed <= 2; ++seed) {
      const std::string run = "r" + std::to_string(c) + "s" + std::to_string(seed);
      const std::string cols = run + ",figs,v" + std::to_string(c) + "," + std::to_string(seed) + ",";
      for (int b = 0; b < 3; ++b)
        attention += cols + "all,all," + std::to_string(b) + ",memory,0,1,0." + std::to_string(3 + b) +
                     ",0.01,0.1,0.01,10,2\n";
      for (int step = 10; step <= 30; step += 10)
        metrics += cols + "train/loss," + std::to_string(step) + "," +
                   std::to_string(3.0 - step / 100.0 + seed / 10.0) + ",0\n";
    }
  }
  boost::filesystem::create_directories(dir.path() + "/data");
  dir.file("data/attention.csv", attention);
  dir.file("data/metrics.csv", metrics);
  dir.file("data/cells.csv", cells);
  auto r = test::run_command("/usr/bin/python3 '" CTLAB_TEST_SOURCE_DIR "/analysis/figures.py' --data " +
                             dir.path() + "/data --out " + dir.path() + "/figures 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (auto f : {"attention_by_bucket.png", "attention_by_bucket_2.png", "learning_curves.png",
                 "learning_curves_2.png"})
    EXPECT_TRUE(contains(r.output, std::string("/figures/") + f)) << f << "\n" << r.output;
  EXPECT_FALSE(contains(r.output, "attention_by_bucket_3.png")) << r.output;
  // The statistics: the mean over seeds and a Student's t interval (t(2 df) = 4.303 for 3 values).
  auto stats =
      test::run_command("/usr/bin/python3 -c \"import sys; sys.path.insert(0, '" CTLAB_TEST_SOURCE_DIR
                        "/analysis'); import figures; print('%.4f %.4f' % figures.mean_ci([1.0, 2.0, 3.0])); "
                        "print('%.4f %.4f' % figures.mean_ci([2.5], 0.1)); print(figures.cell_order('" +
                        dir.path() + "/data', ['variant=v0', 'variant=v13', 'other']))\" 2>&1");
  EXPECT_TRUE(contains(stats.output, "2.0000 2.4843")) << stats.output;
  EXPECT_TRUE(contains(stats.output, "2.5000 0.1960")) << stats.output;
  EXPECT_TRUE(contains(stats.output, "['variant=v13', 'variant=v0', 'other']")) << stats.output;
}
