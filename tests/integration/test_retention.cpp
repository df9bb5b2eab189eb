// Retained vs used end to end: runs with retention_segments on the copy task, with
// compression functions whose retention is known (the calibration fixture), their
// analysis.h5 records, metrics and export.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <fstream>

#include "store/analysis_file.h"
#include "store/run_store.h"
#include "test_util.h"

using namespace ctlab;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {

// Barely trained one-layer models: the compressed memory of the only layer holds (functions
// of) token embeddings, so what it retains is fixed by the function.
class Retention : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const auto grid = dir_->file("grid.ini", R"(experiment = retention
threads = 1
dataset = synthetic
[model]
n_layer = 1
d_model = 32
n_head = 2
d_ff = 64
seq_len = 16
mem_len = 16
cmem_len = 16
cmem_rate = 2
dropout = 0
[data]
synthetic_vocab = 16
synthetic_tokens = 20000
synthetic_period = 40
[train]
batch_size = 4
max_steps = 5
log_every = 5
[eval]
buckets_sequences = 0
retention_segments = 12
buckets_per_region = 4
[variant keep_first]
compression = keep_first
[variant zeros]
compression = zeros
[variant identity]
compression = mean_pool
cmem_rate = 1
[grid]
)");
    root_ = dir_->path() + "/r";
    auto r = run_ctlab("grid run " + grid + " --results " + root_ + " --jobs 2 --plugin-dir " +
                       CTLAB_TEST_FIXTURE_DIR "/calibration");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { delete dir_; }
  static RetentionRecord record(const std::string& variant) {
    RunStore store(root_ + "/ctlab.sqlite");
    for (const auto& run : store.runs("retention"))
      if (store.params(run.run_id)["grid.variant"] == variant) {
        RetentionRecord r;
        EXPECT_TRUE(read_retention(root_ + "/runs/" + run.run_id + "/analysis.h5", "", r)) << variant;
        EXPECT_FALSE(store.metrics_exact(run.run_id, {"valid/retained"}).empty()) << variant;
        EXPECT_FALSE(store.metrics_exact(run.run_id, {"valid/recovered_no_cmem"}).empty()) << variant;
        return r;
      }
    ADD_FAILURE() << "no run of variant " << variant;
    return {};
  }
  static TempDir* dir_;
  static std::string root_;
};
TempDir* Retention::dir_ = nullptr;
std::string Retention::root_;

}  // namespace

TEST_F(Retention, AVerbatimSlotPerPairRetainsHalfAndZerosNothing) {
  const auto half = record("keep_first");
  ASSERT_EQ(half.n_layer, 1);
  ASSERT_EQ(half.per_source.size(), 2u);
  EXPECT_GT(half.per_source[0], 0.9);  // the kept (oldest) token of each pair
  EXPECT_NEAR(half.per_source[1], 0.0, 0.05);
  EXPECT_NEAR(half.retained_all, 0.5, 0.06);  // 1 / cmem_rate
  EXPECT_EQ(half.buckets.size(), 4u);
  for (double b : half.retained) EXPECT_NEAR(b, 0.5, 0.1);

  const auto none = record("zeros");
  EXPECT_NEAR(none.retained_all, 0.0, 0.03);

  const auto all = record("identity");  // mean of blocks of one slot
  EXPECT_GT(all.retained_all, 0.9);
  EXPECT_EQ(all.rate, 1);
}

TEST_F(Retention, UsedIsSplitBySourceRegionWithAndWithoutCompressedMemory) {
  const auto r = record("keep_first");
  // 4 compressed-memory buckets, then memory, the segment, beyond reach.
  ASSERT_EQ(r.regions.size(), 7u);
  EXPECT_EQ(r.regions[0], "tokens 41-48 back");  // 16 memory slots, then 16 slots of 2
  EXPECT_EQ(r.regions[3], "tokens 17-24 back");
  EXPECT_EQ(r.regions[4], "memory");
  ASSERT_EQ(r.relevant.size(), 7u);
  // Period 40: a copy's source is 40 back, so seen from a segment of 16 it lies 24-39 tokens
  // before the segment's start: in the three newest compressed buckets only.
  EXPECT_EQ(r.relevant[0], 0);
  for (int b = 1; b <= 3; ++b) EXPECT_GT(r.relevant[b], 0) << b;
  EXPECT_EQ(r.relevant[4], 0);
  EXPECT_EQ(r.relevant[5], 0);
  EXPECT_EQ(r.relevant[6], 0);  // segments before memories are full are not counted
  ASSERT_EQ(r.recovered_no_cmem.size(), 7u);
  EXPECT_TRUE(std::isfinite(r.recovered_all));
  EXPECT_TRUE(std::isfinite(r.recovered_no_cmem_all));
}

TEST_F(Retention, ExportedOneRowPerRegionAndAnAllRow) {
  auto r = run_ctlab("export retention --results " + root_ + " --format csv");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("region,label,retained,relevant_tokens,recovered,recovered_no_cmem"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("tokens 41-48 back"), std::string::npos) << r.output;
  size_t rows = 0;
  for (size_t p = 0; (p = r.output.find(",all,", p)) != std::string::npos; ++p) ++rows;
  EXPECT_EQ(rows, 3u) << r.output;  // one per run
}

TEST_F(Retention, ReportHasTheTableAndTheFigure) {
  auto r = run_ctlab("report retention --results " + root_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string dir = root_ + "/reports/retention";
  std::ifstream in(dir + "/report.md");
  const std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(md.find("## Retained vs used"), std::string::npos) << md;
  EXPECT_NE(md.find("| variant=keep_first | tokens 41-48 back |"), std::string::npos) << md;
  EXPECT_TRUE(boost::filesystem::exists(dir + "/data/retention.csv"));
  if (test::run_command("/usr/bin/python3 -c 'import matplotlib'").exit_code == 0) {
    EXPECT_NE(md.find("![retained_vs_used.png](figures/retained_vs_used.png)"), std::string::npos) << md;
    EXPECT_TRUE(boost::filesystem::exists(dir + "/figures/retained_vs_used.png"));
  }
}
