// The grid's tail through the real binary: once no cell is left to start, a cell still
// running gets the cores of the finished ones (its threads file, applied between steps).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "runtime/runtime.h"
#include "store/run_store.h"
#include "test_util.h"

using namespace ctlab;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

namespace {

// Two cells of the tiny model: 4 steps and 5000 steps. The long one must outlast the
// scheduler's notice of the short one's end (it looks every 200 ms) on an idle machine, where
// the tiny model runs over a thousand steps a second.
std::string tail_grid(const std::string& experiment, const std::string& threads) {
  return "experiment = " + experiment + "\nthreads = " + threads + "\n" + test::kTinyModel +
         "[data]\ndataset = synthetic\nsynthetic_tokens = 20000\n"
         "[train]\nbatch_size = 4\nlog_every = 1000\ncheckpoint_every = 10000\n"
         "[eval]\neval_segments = 2\nbuckets_sequences = 0\n[grid]\nmax_steps = 4, 5000\n";
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

// Two workers on two cells, one of 4 steps and one of 5000: the short one ends while the long
// one has most of its steps left, which then runs on both cores. A cell with `threads` set
// keeps its own.
TEST(GridTail, TheLastCellRunningGetsTheIdleCores) {
  if (available_cpus() < 2) GTEST_SKIP() << "one CPU: no core falls idle";
  TempDir dir;
  const auto grid = dir.file("grid.ini", tail_grid("tail", "0"));
  const std::string root = dir.path() + "/results";
  auto r = run_ctlab("grid run " + grid + " --jobs 2 --results " + root);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  RunStore store(root + "/ctlab.sqlite");
  std::string long_log, short_log;
  for (const auto& run : store.runs()) {
    const auto log = read_all(root + "/runs/" + run.run_id + "/log.txt");
    (store.params(run.run_id)["max_steps"] == "5000" ? long_log : short_log) = log;
  }
  const std::string raised = "threads raised to " + std::to_string(available_cpus());
  EXPECT_TRUE(test::contains(long_log, raised)) << r.output << long_log;
  EXPECT_FALSE(test::contains(short_log, "threads raised")) << short_log;
  EXPECT_TRUE(
      test::contains(r.output, ": " + std::to_string(available_cpus()) + " (cores of finished cells)"))
      << r.output;

  // The same grid with threads = 1 set by the cells: nothing is raised.
  const auto pinned = dir.file("pinned.ini", tail_grid("tail1", "1"));
  auto p = run_ctlab("grid run " + pinned + " --jobs 2 --results " + root);
  ASSERT_EQ(p.exit_code, 0) << p.output;
  EXPECT_FALSE(test::contains(p.output, "cores of finished cells")) << p.output;
}
