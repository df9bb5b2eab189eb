// `ctlab scorecard <function>[@version]`: the long-range suite for one compression
// function (study/scorecard.h).
#include <boost/program_options.hpp>

#include "cli/cli.h"
#include "study/scorecard.h"
#include "util/text.h"

namespace ctlab {
namespace {

po::options_description scorecard_options() {
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("function", po::value<std::string>(),
                                                 "compression function to score: name or name@version")(
      "loss", po::value<std::string>(),
      "compression loss that trains it (default: none for a function without parameters, else every "
      "auxiliary loss installed, one arm each)")(
      "cmem-positions", po::value<std::string>(),
      "position map(s) the function is read through, comma-separated, one arm each, or 'all' (default: the "
      "suite's cmem_positions)")("seeds", po::value<int64_t>(),
                                 "paired seeds 1..N to score (2 to 20; default: the suite's, 8)")(
      "full",
      "first choose each arm's learning rate among the suite's [learning_rates] on selection seeds "
      "(1001, ...), then score the chosen rate on the scored seeds")(
      "jobs,j", po::value<int64_t>()->default_value(2), "local CPU worker processes")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a key in every run (e.g. --set max_steps=100 for a quick look; the scores then mean less)")(
      "suite", po::value<std::string>(),
      "the suite file (default: experiments/scorecard/suite.ini, installed beside ctlab)");
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
  ScorecardRequest q;
  q.function = vm["function"].as<std::string>();
  if (vm.count("loss")) q.loss = vm["loss"].as<std::string>();
  q.jobs = vm["jobs"].as<int64_t>();
  if (q.jobs < 1) throw Error("--jobs " + std::to_string(q.jobs) + ": expected >= 1");
  if (vm.count("set")) q.sets = vm["set"].as<std::vector<std::string>>();
  q.results_root = results_layout(vm).root();
  q.plugins = plugin_sources(vm);
  if (vm.count("suite")) q.suite = vm["suite"].as<std::string>();
  q.full = vm.count("full") > 0;
  if (vm.count("seeds")) {
    q.seeds = vm["seeds"].as<int64_t>();
    if (q.seeds < 2 || q.seeds > 20)
      throw Error("--seeds " + std::to_string(q.seeds) +
                  ": expected 2 to 20 paired seeds (a paired test needs two; the exact sign-flip test "
                  "enumerates 2^N sign patterns)");
  }
  if (vm.count("cmem-positions")) {
    q.positions = split(vm["cmem-positions"].as<std::string>(), ',');
    if (q.positions.empty() || std::find(q.positions.begin(), q.positions.end(), "") != q.positions.end())
      throw Error("--cmem-positions '" + vm["cmem-positions"].as<std::string>() +
                  "': expected position map names separated by commas, or 'all'");
  }
  return run_scorecard(q);
}

CommandDef scorecard_command() {
  return {
      "scorecard",
      "ctlab scorecard <function>[@version] [--loss L] [--cmem-positions MAP[,MAP]|all] [--seeds N] [--full] "
      "[--suite FILE] [--plugin-dir DIR] [--jobs N] [--results DIR]",
      "score a compression function on the long-range suite and rank it against every arm scored before",
      cmd_scorecard};
}

}  // namespace ctlab
