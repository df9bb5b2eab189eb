// `ctlab config [<run.ini>]`: the fully resolved, validated configuration of a run, with
// plugins pinned to name@version and every plugin parameter listed.
#include <iostream>

#include <boost/program_options.hpp>

#include "cli/cli.h"
#include "config/resolve.h"

namespace ctlab {

int cmd_config(const std::vector<std::string>& args) {
  const Command self = command("config");  // a copy: GCC 13 warns on references from calls
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
  RunConfig cfg = load_run_config(file, config_overrides(vm));
  std::vector<std::string> cli_dirs;
  if (vm.count("plugin-dir")) cli_dirs = vm["plugin-dir"].as<std::vector<std::string>>();
  PluginHost host;
  host.load_directories(PluginHost::search_path(cli_dirs));
  pin_plugins(cfg, resolve_plugins(host, cfg));
  std::cout << format_run_config(cfg);
  return kExitOk;
}

}  // namespace ctlab
