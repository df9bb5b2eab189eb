// `ctlab check [--results DIR]`: verifies a results root (verify/root_check.h) and lists
// every problem found. Exit 0 when there is none, 1 when there are (the list says what to
// do), 2 when the root has no database.
#include <boost/program_options.hpp>
#include <iostream>

#include "cli/cli.h"
#include "verify/root_check.h"

namespace ctlab {

int cmd_check(const std::vector<std::string>& args) {
  const CommandDef self = command("check");
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")(
      "remove-temp-files", "remove the temporary files of killed writers instead of listing them");
  add_results_option(desc);
  add_plugin_dir_option(desc);
  po::variables_map vm;
  parse_command_line(args, desc, {}, vm, "check");
  if (vm.count("help")) return print_help(self, desc);
  RootCheckOptions o;
  o.results_root = results_layout(vm).root();
  o.plugins = plugin_sources(vm);
  o.remove_temp_files = vm.count("remove-temp-files") > 0;
  const RootCheck f = check_root(o);
  std::cout << "checked " << o.results_root << ": " << f.runs << " runs, " << f.checkpoints
            << " checkpoints, " << f.analyses << " analysis files, " << f.artifacts << " recorded files\n";
  if (f.problems.empty()) {
    std::cout << "no problems found\n";
    return kExitOk;
  }
  std::cout << f.problems.size() << " problem(s):\n";
  for (const auto& p : f.problems) std::cout << "  " << p << "\n";
  return kExitRunFailed;
}

CommandDef check_command() {
  return {"check", "ctlab check [--results DIR] [--remove-temp-files]",
          "verify a results root: database, run folders, checkpoints, analysis files, leftovers", cmd_check};
}

}  // namespace ctlab
