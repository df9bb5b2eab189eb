// `ctlab scorecard <function>[@version]`: the long-range suite for one compression
// function. Three generated tasks whose answer lies 82-96 tokens back (copy, distant
// reference, associative recall), each trained with 3 seeds for the function under test,
// for mean_pool and for Transformer-XL with the same attention cost (which cannot reach
// that far); one table of the share of long-range information each recovers, with 95%
// confidence intervals and Welch's t-test against both references. It is an experiment
// grid like any other (resumable; `ctlab report scorecard-<name>` reports it).
#include <boost/filesystem.hpp>
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "compare.h"
#include "grid/grid.h"
#include "grid/scheduler.h"
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
std::string loss_for(const po::variables_map& vm, const PluginSources& plugins, const std::string& fn) {
  if (vm.count("loss")) return vm["loss"].as<std::string>();
  PluginHost host;
  host.load(plugins);
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

po::options_description scorecard_options() {
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("function", po::value<std::string>(),
                                                 "compression function to score: name or name@version")(
      "loss", po::value<std::string>(),
      "compression loss that trains it (default: none for a function without parameters, "
      "attention_reconstruction otherwise)")("jobs,j", po::value<int64_t>()->default_value(2),
                                             "local CPU worker processes")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a key in every cell (e.g. --set max_steps=100 for a quick look; the scores then mean less)");
  add_results_option(desc);
  add_plugin_dir_option(desc);
  return desc;
}

}  // namespace

int cmd_scorecard(const std::vector<std::string>& args) {
  const CommandDef self = command("scorecard");
  auto desc = scorecard_options();
  po::positional_options_description pos;
  pos.add("function", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "scorecard");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("function"))
    throw Error("ctlab scorecard: expected a compression function, e.g. 'ctlab scorecard conv1d'");
  if (vm["jobs"].as<int64_t>() < 1)
    throw Error("--jobs " + std::to_string(vm["jobs"].as<int64_t>()) + ": expected >= 1");
  std::vector<std::string> sets;
  const auto plugins = plugin_sources(vm);
  if (vm.count("set")) sets = vm["set"].as<std::vector<std::string>>();
  const std::string fn = vm["function"].as<std::string>();
  const std::string loss = loss_for(vm, plugins, fn);
  const ResultsLayout layout = results_layout(vm);
  const std::string experiment = "scorecard-" + slug(fn) + (vm.count("loss") ? "-" + slug(loss) : "");
  const std::string dir = layout.root() + "/scorecards/" + experiment;
  const std::string text = grid_text(experiment, fn, loss);
  // Validate before anything is written: expand a temporary copy first.
  namespace fs = boost::filesystem;
  const fs::path tmp = fs::temp_directory_path() / fs::unique_path("ctlab-scorecard-%%%%%%%%.ini");
  write_file_atomic(tmp.string(), text);
  Grid grid;
  try {
    grid = expand_grid(tmp.string(), plugins, sets);
  } catch (...) {
    fs::remove(tmp);
    throw;
  }
  fs::remove(tmp);
  fs::create_directories(dir);
  write_file_atomic(dir + "/grid.ini", text);
  grid.path = dir + "/grid.ini";
  GridRunOptions o;
  o.jobs = vm["jobs"].as<int64_t>();
  o.results_root = layout.root();
  o.plugins = plugins;
  const int rc = run_grid(grid, o);
  print_scorecard(grid, layout, fn, loss);
  return rc;
}

CommandDef scorecard_command() {
  return {
      "scorecard",
      "ctlab scorecard <function>[@version] [--loss L] [--plugin-dir DIR] [--jobs N] [--results DIR]",
      "score a compression function on the long-range suite against mean_pool and same-cost Transformer-XL",
      cmd_scorecard};
}

}  // namespace ctlab
