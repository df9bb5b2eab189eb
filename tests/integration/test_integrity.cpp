// Results that cannot silently mix: overrides that would change what a grid cell is,
// checkpoints bound to their run, leftover temporary files, what a Transformer-XL run
// records, safe names and no shell, valid JSON, and workers sized from the CPUs given.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/filesystem.hpp>
#include <sstream>

#include "export.h"
#include "store/run_store.h"
#include "test_util.h"

using namespace ctlab;
using ctlab::test::contains;
using ctlab::test::run_command;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {

const std::string kTiny = test::tiny_run("integrity");

std::string param(const std::string& root, const std::string& run_id, const std::string& key) {
  RunStore s(root + "/ctlab.sqlite");
  auto p = s.params(run_id);
  return p.count(key) ? p[key] : "(absent)";
}

}  // namespace

TEST(Integrity, SetMayNotOverrideAVariantOrAxisKey) {
  TempDir dir;
  auto grid = dir.file("grid.ini", std::string(kTiny) + R"(
[variant txl]
cmem_len = 0
mem_len = 12
[variant pool]
compression = mean_pool
[grid]
cmem_rate = 2, 4
)");
  auto variant = run_ctlab("grid expand " + grid + " --set cmem_len=2");
  EXPECT_EQ(variant.exit_code, 2);
  EXPECT_TRUE(contains(variant.output, "--set cmem_len=2: variant 'txl' sets 'cmem_len'")) << variant.output;
  auto axis = run_ctlab("grid expand " + grid + " --set cmem_rate=4");
  EXPECT_EQ(axis.exit_code, 2);
  EXPECT_TRUE(contains(axis.output, "'cmem_rate' is an axis of the grid")) << axis.output;
  EXPECT_EQ(run_ctlab("grid expand " + grid + " --set max_steps=2").exit_code, 0);  // a base key is fine
}

TEST(Integrity, TransformerXlRecordsNoCompression) {
  TempDir dir;
  auto ini = dir.file("txl.ini", kTiny);
  const std::string root = dir.path() + "/r";
  auto r = run_ctlab("train " + ini + " --set cmem_len=0 --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  RunStore s(root + "/ctlab.sqlite");
  const auto id = s.runs().front().run_id;
  EXPECT_EQ(param(root, id, "compression"), "none");
  EXPECT_EQ(param(root, id, "compression_loss"), "none");
  EXPECT_EQ(param(root, id, "derived.attention_cost"), "16");  // mem 8 + seq 8
}

TEST(Integrity, CheckpointsBelongToTheirRunAndStaleTempFilesGo) {
  TempDir dir;
  auto a = dir.file("a.ini", kTiny);
  auto b = dir.file("b.ini", std::string(kTiny) + "seed = 2\n");
  const std::string root = dir.path() + "/r";
  ASSERT_EQ(run_ctlab("train " + a + " --results " + root).exit_code, 0);
  // Run b's id, from training it once elsewhere.
  ASSERT_EQ(run_ctlab("train " + b + " --results " + dir.path() + "/elsewhere").exit_code, 0);
  const std::string id_b = RunStore(dir.path() + "/elsewhere/ctlab.sqlite").runs().front().run_id;
  RunStore s(root + "/ctlab.sqlite");
  const std::string id_a = s.runs().front().run_id;
  boost::filesystem::create_directories(root + "/runs/" + id_b);
  boost::filesystem::copy_file(root + "/runs/" + id_a + "/checkpoint.pt",
                               root + "/runs/" + id_b + "/checkpoint.pt");
  // A killed writer's temporary file (pid 999999 does not exist).
  dir.file("r/runs/" + id_b + "/checkpoint.pt.tmp.999999", "partial");
  auto refused = run_ctlab("train " + b + " --results " + root);
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_TRUE(contains(refused.output, "belongs to run " + id_a + ", not to run " + id_b)) << refused.output;
  EXPECT_FALSE(s.find_run(id_b).has_value());  // nothing was recorded
  boost::filesystem::remove(root + "/runs/" + id_b + "/checkpoint.pt");
  auto ok = run_ctlab("train " + b + " --results " + root);
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(contains(ok.output, "removed 1 temporary file(s)")) << ok.output;
  EXPECT_FALSE(boost::filesystem::exists(root + "/runs/" + id_b + "/checkpoint.pt.tmp.999999"));
}

TEST(Integrity, NamesAreSafeAndNoShellRunsTheFigures) {
  TempDir dir;
  auto bad = run_ctlab("config --set \"experiment=it's\"");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(contains(bad.output, "bad value for 'experiment'")) << bad.output;
  EXPECT_EQ(run_ctlab("report \"x'; touch pwned; '\" --results " + dir.path()).exit_code, 2);
  EXPECT_FALSE(boost::filesystem::exists("pwned"));
  // A report folder with a quote and a space works: the figure script gets it as one argument.
  auto ini = dir.file("a.ini", kTiny);
  const std::string root = dir.path() + "/r";
  ASSERT_EQ(run_ctlab("train " + ini + " --results " + root).exit_code, 0);
  const std::string out = dir.path() + "/it's here";
  auto rep = run_ctlab("report integrity --results " + root + " --out \"" + out + "\"");
  ASSERT_EQ(rep.exit_code, 0) << rep.output;
  EXPECT_TRUE(boost::filesystem::exists(out + "/figures/learning_curves.png")) << rep.output;
}

TEST(Integrity, JsonWritesNonFiniteNumbersAsNull) {
  Table t;
  t.columns = {"name", "value"};
  t.numeric = {false, true};
  t.rows = {{"a \"quoted\"\nname", "1.5"}, {"b", "inf"}, {"c", "nan"}, {"d", ""}, {"e", "7"}};
  std::ostringstream s;
  write_json(t, s);
  EXPECT_EQ(s.str(),
            "[\n {\"name\":\"a \\\"quoted\\\"\\nname\",\"value\":1.5},\n {\"name\":\"b\",\"value\":null},\n"
            " {\"name\":\"c\",\"value\":null},\n {\"name\":\"d\",\"value\":null},\n "
            "{\"name\":\"e\",\"value\":7}\n]\n");
}

TEST(Integrity, WorkersAreSizedFromTheCpusGiven) {
  TempDir dir;
  auto grid = dir.file("g.ini", std::string(kTiny) + "[grid]\nseeds = 1\n");
  auto r = run_command("SLURM_CPUS_PER_TASK=1 " + std::string(CTLAB_TEST_BIN) + " grid run " + grid +
                       " --dry-run --jobs 1 --results " + dir.path() + "/r 2>&1");
  EXPECT_TRUE(contains(r.output, "1 worker(s) x 1 thread(s)")) << r.output;
  auto pinned = run_command("taskset -c 0 " + std::string(CTLAB_TEST_BIN) + " grid run " + grid +
                            " --dry-run --jobs 1 --results " + dir.path() + "/r 2>&1");
  EXPECT_TRUE(contains(pinned.output, "1 worker(s) x 1 thread(s)")) << pinned.output;
}

TEST(Integrity, AKeySetTwiceInOneFileIsAnError) {
  // Sections only group keys: `batch_size` under [eval] is the training batch again, which
  // used to override [train]'s silently.
  TempDir dir;
  auto ini = dir.file("twice.ini", kTiny + "batch_size = 8\n");
  auto r = run_ctlab("train " + ini + " --results " + dir.path() + "/r");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(
      contains(r.output, "twice.ini:24: key 'batch_size' is already set at " + dir.path() + "/twice.ini:17"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "eval_batch_size")) << r.output;
  EXPECT_FALSE(boost::filesystem::exists(dir.path() + "/r"));
  auto grid = dir.file("twice-grid.ini", kTiny + "batch_size = 8\n[grid]\nseed = 1, 2\n");
  r = run_ctlab("grid run " + grid + " --results " + dir.path() + "/g");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "key 'batch_size' is already set at")) << r.output;
  EXPECT_FALSE(boost::filesystem::exists(dir.path() + "/g"));
}
