// `ctlab eval <run_id>`: evaluate a trained run's checkpoint on a whole split, with the
// evaluation overrides of [CT] sec. 3.4, and record the result in the run store
// (session/eval_run.h).
#include <boost/program_options.hpp>
#include <cstdio>

#include "cli/cli.h"
#include "session/eval_run.h"

namespace ctlab {
namespace {

// The evaluation flags as run keys.
std::vector<std::string> eval_overrides(const po::variables_map& vm) {
  std::vector<std::string> overrides;
  const std::pair<const char*, const char*> keys[] = {
      {"seq_len", "eval_seq_len"},     {"mem_len", "eval_mem_len"},    {"cmem_len", "eval_cmem_len"},
      {"clamp_len", "eval_clamp_len"}, {"same_length", "same_length"}, {"batch_size", "eval_batch_size"},
      {"segments", "eval_segments"},   {"device", "device"},           {"threads", "threads"}};
  for (const auto& [flag, key] : keys)
    if (vm.count(flag)) overrides.push_back(std::string(key) + "=" + vm[flag].as<std::string>());
  return overrides;
}

po::options_description eval_options() {
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("run_id", po::value<std::string>(), "the run to evaluate")(
      "split", po::value<std::string>()->default_value("test"), "valid or test")(
      "seq_len", po::value<std::string>(), "evaluation segment length (default: the run's eval_seq_len)")(
      "mem_len", po::value<std::string>(), "evaluation memory length")("cmem_len", po::value<std::string>(),
                                                                       "evaluation compressed-memory length")(
      "clamp_len", po::value<std::string>(), "evaluation clamp_len (-1 = no clamp)")(
      "same_length", po::value<std::string>(), "true: every query sees exactly mem_len + cmem_len keys")(
      "batch_size", po::value<std::string>(), "evaluation streams")(
      "segments", po::value<std::string>(), "evaluate only the first N segments (0 = the whole split)")(
      "device", po::value<std::string>(), "auto | cpu | cuda | cuda:N (default: the run's)")(
      "threads", po::value<std::string>(), "cores to compute on (the `threads` key)");
  add_results_option(desc);
  add_plugin_dir_option(desc);
  add_accept_plugin_change_option(desc);
  return desc;
}

}  // namespace

int cmd_eval(const std::vector<std::string>& args) {
  const CommandDef self = command("eval");
  const po::options_description desc = eval_options();
  po::positional_options_description pos;
  pos.add("run_id", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "eval");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("run_id")) throw Error("ctlab eval: expected a run id (see the runs table or results/runs/)");
  EvalRequest q;
  q.run_id = vm["run_id"].as<std::string>();
  q.split = vm["split"].as<std::string>();
  if (q.split != "valid" && q.split != "test")
    throw Error("--split '" + q.split + "': expected valid or test");
  q.overrides = eval_overrides(vm);
  q.results_root = results_layout(vm).root();
  q.plugins = plugin_sources(vm);
  q.accept_plugin_change = vm.count("accept-plugin-change") > 0;
  const EvalReport r = eval_run(q);
  std::printf("run %s step %lld, %s split, %s: %s %.4f (loss %.4f nats over %lld tokens, %lld segments)\n",
              r.run_id.c_str(), static_cast<long long>(r.step), r.split.c_str(), r.tag.c_str(),
              r.score_name.c_str(), r.score, r.loss, static_cast<long long>(r.tokens),
              static_cast<long long>(r.segments));
  std::printf("analysis (attention over %lld segments with full memories, token frequencies) in %s:%s\n",
              static_cast<long long>(r.full_segments), r.analysis_file.c_str(), r.analysis_group.c_str());
  return kExitOk;
}

CommandDef eval_command() {
  return {"eval", "ctlab eval <run_id> [--split valid|test] [--mem-len N] [--cmem-len N] ... [--results DIR]",
          "evaluate a trained run on a whole split, possibly with other memory settings", cmd_eval};
}

}  // namespace ctlab
