// `ctlab export <table>`: a registered export table (analysis/export.h) as CSV or JSON.
#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "export.h"
#include "util/atomic_file.h"

namespace ctlab {

int cmd_export(const std::vector<std::string>& args) {
  const CommandDef self = command("export");
  po::options_description desc("Options");
  std::string tables;
  for (const auto& t : export_tables().all()) tables += "\n  " + t.name + ": " + t.help;
  desc.add_options()("help,h", "show this help")(
      "what", po::value<std::string>(),
      ("the table to export, " + export_tables().expected() + ":" + tables).c_str())(
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
  if (!vm.count("what")) throw Error("ctlab export: expected a table, " + export_tables().expected());
  const auto format = vm["format"].as<std::string>();
  if (format != "csv" && format != "json") throw Error("--format '" + format + "': expected csv or json");
  ExportFilter f{vm["experiment"].as<std::string>(), vm["run"].as<std::string>(),
                 vm["key"].as<std::string>()};
  Table t = export_table(vm["what"].as<std::string>(), results_layout(vm), f);
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

CommandDef export_command() {
  return {"export", "ctlab export <table> [--experiment E] [--run R] [--format csv|json] [--out F]",
          "export the run store and the analyses as long-format tables", cmd_export};
}

}  // namespace ctlab
