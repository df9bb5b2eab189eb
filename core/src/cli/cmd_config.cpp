// `ctlab config [<run.ini>]`: the fully resolved, validated configuration of a run, with
// plugins pinned to name@version and every plugin parameter listed.
#include <boost/program_options.hpp>
#include <iostream>

#include "cli/cli.h"
#include "config/run_shape.h"

namespace ctlab {

int cmd_config(const std::vector<std::string>& args) {
  const CommandDef self = command("config");
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("file", po::value<std::string>(), "run file (INI)");
  add_plugin_dir_option(desc);
  add_config_options(desc);
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "config");
  if (vm.count("help")) return print_help(self, desc);

  std::string file = vm.count("file") ? vm["file"].as<std::string>() : "";
  // With its data, as training resolves it: the data set the vocabulary (word-level data)
  // and must hold one segment per stream, so the run id printed is the one `ctlab train` uses.
  CorpusCache data;
  const auto run = resolve_run_file(file, config_overrides(vm), plugin_sources(vm), &data);
  const bool bptt = run.plugins.loss->spec.mode == LossMode::Bptt;
  std::cout << "# run_id = " << run.run_id << "\n"
            << "# " << cost_and_reach(run.cfg.model).describe(run.cfg.model) << "\n"
            << "# training memory (estimate): " << estimate_memory(run.cfg, bptt).describe(run.cfg) << "\n"
            << format_run_config(run.cfg);
  const auto warning = bptt_reach_warning(run.cfg, bptt);
  if (!warning.empty()) std::cerr << "warning: " << warning << "\n";
  return kExitOk;
}

CommandDef config_command() {
  return {"config", "ctlab config [<run.ini>] [--set key=value]... [--<key> value]...",
          "resolve and validate a run configuration (with its data) and print it as INI", cmd_config};
}

}  // namespace ctlab
