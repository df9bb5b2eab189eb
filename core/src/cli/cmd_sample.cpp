// `ctlab sample <run_id>`: generate from a trained run's checkpoint with its memories and
// compressed memories carried as in evaluation (session/sample.h).
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "session/sample.h"
#include "util/file_io.h"

namespace ctlab {
namespace {

po::options_description sample_options() {
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("run_id", po::value<std::string>(),
                                                 "the run to sample from")(
      "prompt", po::value<std::string>(), "text to start from (bytes, or words for word-level data)")(
      "prompt-file", po::value<std::string>(),
      "read the prompt from this file (any length: it fills the memories)")(
      "tokens", po::value<int64_t>()->default_value(200), "tokens to generate")(
      "temperature", po::value<double>()->default_value(1.0), "softmax temperature; 0 = greedy")(
      "top-k", po::value<int64_t>()->default_value(0), "draw from the k most likely tokens only (0 = all)")(
      "seed", po::value<uint64_t>()->default_value(1), "random seed (the same seed gives the same text)")(
      "device", po::value<std::string>(), "auto | cpu | cuda | cuda:N (default: the run's)")(
      "show-memory",
      "print, per segment that enters the memories, the filled memory and compressed-memory slots")(
      "logprobs", "print each generated token's log-probability under the model (temperature 1)");
  add_results_option(desc);
  add_plugin_dir_option(desc);
  return desc;
}

std::string read_prompt(const po::variables_map& vm) {
  if (vm.count("prompt") && vm.count("prompt-file"))
    throw Error("ctlab sample: give --prompt or --prompt-file, not both");
  if (vm.count("prompt")) return vm["prompt"].as<std::string>();
  if (!vm.count("prompt-file")) return "";
  return read_file(vm["prompt-file"].as<std::string>(), "--prompt-file");
}

}  // namespace

int cmd_sample(const std::vector<std::string>& args) {
  const CommandDef self = command("sample");
  const auto desc = sample_options();
  po::positional_options_description pos;
  pos.add("run_id", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "sample");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("run_id"))
    throw Error("ctlab sample: expected a run id (see the runs table or results/runs/)");
  SampleRequest q;
  q.run_id = vm["run_id"].as<std::string>();
  q.results_root = results_layout(vm).root();
  q.plugins = plugin_sources(vm);
  q.prompt = read_prompt(vm);
  q.tokens = vm["tokens"].as<int64_t>();
  q.temperature = vm["temperature"].as<double>();
  q.top_k = vm["top-k"].as<int64_t>();
  q.seed = vm["seed"].as<uint64_t>();
  if (vm.count("device")) q.device = vm["device"].as<std::string>();
  const bool show_memory = vm.count("show-memory") > 0;
  const auto r = sample_run(q, [&](const SampleSegment& s) {
    if (show_memory)
      std::cerr << "segment " << s.index << (s.generated ? " (generated)" : " (prompt)") << ": memory "
                << s.mem_slots << " slots, compressed memory " << s.cmem_slots << " slots\n";
  });
  if (r.unknown_words > 0)
    std::cerr << "warning: " << r.unknown_words
              << " prompt word(s) are not in the vocabulary and were read as <unk>\n";
  std::cerr << "run " << r.run_id << " step " << r.step << ": " << r.prompt.size() << " prompt tokens, "
            << r.generated.size() << " generated (segments of " << r.seq_len << ", memory " << r.mem_len
            << ", compressed memory " << r.cmem_len << ")\n";
  std::cout << r.prompt_text << r.text << (r.text.empty() || r.text.back() == '\n' ? "" : "\n");
  if (vm.count("logprobs"))
    for (size_t i = 0; i < r.generated.size(); ++i)
      std::printf("logprob %zu %lld %.9f\n", i, static_cast<long long>(r.generated[i]), r.logprobs[i]);
  return kExitOk;
}

CommandDef sample_command() {
  return {
      "sample",
      "ctlab sample <run_id> [--prompt TEXT | --prompt-file F] [--tokens N] [--temperature T] [--top-k K] "
      "[--seed S] [--show-memory]",
      "generate text from a trained run, with memories carried as in evaluation", cmd_sample};
}

}  // namespace ctlab
