#include "study/scorecard.h"

#include <boost/filesystem.hpp>
#include <cstdio>

#include "compare.h"
#include "grid/grid.h"
#include "grid/scheduler.h"
#include "store/results_layout.h"
#include "store/run_store.h"
#include "util/atomic_file.h"
#include "util/text.h"

namespace ctlab {
namespace {

// The suite: one layer, segments of 32, memory 32 + compressed memory 32 at rate 2 (96
// key slots per query, reach 96 tokens before the segment); Transformer-XL with memory 64
// has the same cost and reaches 64.
const char* kSuite = R"INI(
[model]
n_layer = 1
d_model = 64
n_head = 4
d_ff = 256
seq_len = 32
mem_len = 32
cmem_len = 32
cmem_rate = 2
dropout = 0.0

[data]
synthetic_vocab = 16
synthetic_tokens = 400000
synthetic_period = 96
ref_distance = 96
recall_pairs = 4
recall_gap = 80

[train]
batch_size = 16
max_steps = 3000
warmup_steps = 100
lr = 0.003
log_every = 250
checkpoint_every = 1000
bptt_segments = 3

[eval]
eval_batch_size = 16
buckets_sequences = 0

[variant mean_pool]
compression = mean_pool
compression_loss = none

[variant txl_same_cost]
cmem_len = 0
mem_len = 64

[grid]
dataset = synthetic, distant_ref, recall
seeds = 1, 2, 3
)INI";

// "conv1d@1" -> "conv1d-1": usable as an experiment and folder name.
std::string slug(const std::string& name) {
  std::string s = name;
  for (auto& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) c = '-';
  return s;
}

std::string grid_text(const std::string& experiment, const std::string& fn, const std::string& loss) {
  return "# ctlab scorecard: the long-range suite for " + fn + " (written by ctlab; re-running resumes)\n" +
         "experiment = " + experiment + "\nseed = 1\n" + kSuite +
         "\n[variant candidate]\ncompression = " + fn + "\ncompression_loss = " + loss + "\n";
}

// The loss that trains the function: the user's, else none for a function without
// parameters and attention_reconstruction for one with.
std::string loss_for(const ScorecardRequest& q) {
  if (!q.loss.empty()) return q.loss;
  PluginHost host;
  host.load(q.plugins);
  const std::string& fn = q.function;
  return host.compression_fn(fn).spec.trainable ? "attention_reconstruction" : "none";
}

void print_scorecard(const Grid& grid, const ResultsLayout& layout, const std::string& fn,
                     const std::string& loss) {
  RunStore store(layout.database());
  std::vector<RunResult> results;
  for (const auto& c : grid.cells)
    if (auto r = final_result(store, c.run_id, c.axes)) results.push_back(*r);
  const auto cells = group_cells(results);
  auto versus = [&](const std::string& baseline) {
    return compare_to_baseline(cells, parse_conditions("variant=" + baseline, "scorecard"), {"recovered"},
                               segment_values(layout));
  };
  const auto vs_txl = versus("txl_same_cost"), vs_pool = versus("mean_pool");
  std::printf(
      "\nscorecard: %s trained by %s; share of the long-range information recovered (0 = none, 1 = "
      "ideal), mean [95%% CI] over seeds\n",
      fn.c_str(), loss.c_str());
  std::printf("%-12s %-26s %-26s %-26s %-34s %s\n", "task", fn.c_str(), "mean_pool", "txl_same_cost",
              "vs txl_same_cost", "vs mean_pool");
  for (const char* task : {"synthetic", "distant_ref", "recall"}) {
    auto is = [&](const Cell& c, const std::string& variant) {
      AxisValues want = {{"variant", variant}, {"dataset", task}};
      return c.axes == want;
    };
    auto cell = [&](const std::string& variant) -> std::string {
      for (const auto& c : cells)
        if (is(c, variant) && c.values.count("recovered"))
          return format_mean_ci(stats::summarize(c.values.at("recovered")), 3);
      return "-";
    };
    auto against = [&](const std::vector<ComparisonRow>& rows) -> std::string {
      for (const auto& c : cells)
        if (is(c, "candidate"))
          for (const auto& r : rows)
            if (r.cell == c.name)
              return format_diff_ci(r.c, 3) + " p " + format_p(r.c.p_value) + " " +
                     (r.c.significant() ? (r.c.diff > 0 ? "better" : "worse") : "n.s.");
      return "-";
    };
    std::printf("%-12s %-26s %-26s %-26s %-34s %s\n", task, cell("candidate").c_str(),
                cell("mean_pool").c_str(), cell("txl_same_cost").c_str(), against(vs_txl).c_str(),
                against(vs_pool).c_str());
  }
  std::printf("(n.s. = not significant at p < 0.05; `ctlab report %s --results %s` has every table)\n",
              grid.experiment.c_str(), layout.root().c_str());
}

}  // namespace

int run_scorecard(const ScorecardRequest& q) {
  const std::string& fn = q.function;
  const std::string loss = loss_for(q);
  const ResultsLayout layout(q.results_root);
  const std::string experiment = "scorecard-" + slug(fn) + (!q.loss.empty() ? "-" + slug(loss) : "");
  const std::string dir = layout.root() + "/scorecards/" + experiment;
  const std::string text = grid_text(experiment, fn, loss);
  // Validate before anything is written: expand a temporary copy first.
  namespace fs = boost::filesystem;
  const fs::path tmp = fs::temp_directory_path() / fs::unique_path("ctlab-scorecard-%%%%%%%%.ini");
  write_file_atomic(tmp.string(), text);
  Grid grid;
  try {
    grid = expand_grid(tmp.string(), q.plugins, q.sets);
  } catch (...) {
    fs::remove(tmp);
    throw;
  }
  fs::remove(tmp);
  fs::create_directories(dir);
  write_file_atomic(dir + "/grid.ini", text);
  grid.path = dir + "/grid.ini";
  GridRunOptions o;
  o.jobs = q.jobs;
  o.results_root = layout.root();
  o.plugins = q.plugins;
  const int rc = run_grid(grid, o);
  print_scorecard(grid, layout, fn, loss);
  return rc;
}

}  // namespace ctlab
