// `ctlab report <experiment>`: the Markdown report of an experiment (analysis/report.h).
#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>

#include "cli/cli.h"
#include "report.h"
#include "util/text.h"

namespace ctlab {

int cmd_report(const std::vector<std::string>& args) {
  const CommandDef self = command("report");
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("experiment", po::value<std::string>(),
                                                 "the experiment to report")(
      "out", po::value<std::string>()->default_value(""),
      "output folder (default: <results>/reports/<experiment>)")("no-figures",
                                                                 "skip the figures (analysis/figures.py)");
  add_results_option(desc);
  po::positional_options_description pos;
  pos.add("experiment", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "report");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("experiment"))
    throw Error("ctlab report: expected an experiment name, e.g. 'ctlab report quickstart'");
  const auto experiment = vm["experiment"].as<std::string>();
  if (!is_safe_name(experiment))
    throw Error("ctlab report: experiment '" + experiment +
                "' is not a valid experiment name (letters, digits, '.', '_' and '-')");
  ReportOptions o;
  o.results_root = results_layout(vm).root();
  o.experiment = vm["experiment"].as<std::string>();
  o.out_dir = vm["out"].as<std::string>();
  o.figures = !vm.count("no-figures");
  auto path = write_report(o);
  std::ifstream in(path);
  std::cout << in.rdbuf() << "\n(report written to " << path << ")\n";
  return kExitOk;
}

CommandDef report_command() {
  return {"report", "ctlab report <experiment> [--out DIR] [--results DIR]",
          "Markdown report: score pivot over the grid (mean ± std over seeds), attention, frequency, figures",
          cmd_report};
}

}  // namespace ctlab
