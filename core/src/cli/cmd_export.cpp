// `ctlab export runs|metrics|attention|frequency` and `ctlab report <experiment>`.
#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "export.h"
#include "report.h"
#include "util/atomic_file.h"

namespace ctlab {

int cmd_export(const std::vector<std::string>& args) {
  const Command self = command("export");  // a copy: GCC 13 warns on references from calls
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("what", po::value<std::string>(),
                                                 "runs | metrics | attention | frequency")(
      "experiment", po::value<std::string>()->default_value(""), "only this experiment")(
      "run", po::value<std::string>()->default_value(""), "only this run_id")(
      "key", po::value<std::string>()->default_value(""), "metrics: only keys starting with this")(
      "format", po::value<std::string>()->default_value("csv"), "csv | json")(
      "out", po::value<std::string>()->default_value(""), "output file (default: standard output)");
  add_results_option(desc);
  po::positional_options_description pos;
  pos.add("what", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "export");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("what")) throw Error("ctlab export: expected runs, metrics, attention or frequency");
  const auto format = vm["format"].as<std::string>();
  if (format != "csv" && format != "json") throw Error("--format '" + format + "': expected csv or json");
  ExportFilter f{vm["experiment"].as<std::string>(), vm["run"].as<std::string>(),
                 vm["key"].as<std::string>()};
  Table t = export_table(vm["what"].as<std::string>(), results_root(vm), f);
  std::ostringstream s;
  if (format == "csv")
    write_csv(t, s);
  else
    write_json(t, s);
  const auto out = vm["out"].as<std::string>();
  if (out.empty())
    std::cout << s.str();
  else {
    write_file_atomic(out, s.str());
    std::cerr << "wrote " << t.rows.size() << " rows to " << out << "\n";
  }
  return kExitOk;
}

int cmd_report(const std::vector<std::string>& args) {
  const Command self = command("report");
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
  ReportOptions o;
  o.results_root = results_root(vm);
  o.experiment = vm["experiment"].as<std::string>();
  o.out_dir = vm["out"].as<std::string>();
  o.figures = !vm.count("no-figures");
  auto path = write_report(o);
  std::ifstream in(path);
  std::cout << in.rdbuf() << "\n(report written to " << path << ")\n";
  return kExitOk;
}

}  // namespace ctlab
