// `ctlab export <table>`: a registered export table (analysis/export.h) as CSV or JSON;
// `ctlab export weights <run_id> --out F`: a run's weights as safetensors
// (session/export_weights.h).
#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "export.h"
#include "session/export_weights.h"
#include "util/atomic_file.h"

namespace ctlab {
namespace {

int export_weights_command(const po::variables_map& vm) {
  if (!vm.count("run_id"))
    throw Error(
        "ctlab export weights: expected a run id, e.g. 'ctlab export weights <run_id> --out "
        "model.safetensors'");
  const auto out = vm["out"].as<std::string>();
  if (out.empty()) throw Error("ctlab export weights: expected --out FILE (e.g. model.safetensors)");
  const auto e =
      export_weights(results_layout(vm).root(), vm["run_id"].as<std::string>(), out, plugin_sources(vm));
  std::cerr << "wrote " << e.tensors << " tensors (" << e.parameters << " parameters) of run " << e.run_id
            << " at step " << e.step << " to " << e.out << " (" << e.bytes << " bytes, safetensors)\n";
  return kExitOk;
}

}  // namespace

int cmd_export(const std::vector<std::string>& args) {
  const CommandDef self = command("export");
  po::options_description desc("Options");
  std::string tables;
  for (const auto& t : export_tables().all()) tables += "\n  " + t.name + ": " + t.help;
  desc.add_options()("help,h", "show this help")(
      "what", po::value<std::string>(),
      ("the table to export, " + export_tables().expected() + ":" + tables +
       "\n  weights: a run's parameters as safetensors (export weights <run_id> --out F)")
          .c_str())("run_id", po::value<std::string>(), "weights: the run")(
      "experiment", po::value<std::string>()->default_value(""), "only this experiment")(
      "run", po::value<std::string>()->default_value(""), "only this run_id")(
      "key", po::value<std::string>()->default_value(""), "metrics: only keys starting with this")(
      "format", po::value<std::string>()->default_value("csv"), "csv | json")(
      "out", po::value<std::string>()->default_value(""), "output file (default: standard output)");
  add_results_option(desc);
  add_plugin_dir_option(desc);
  po::positional_options_description pos;
  pos.add("what", 1).add("run_id", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "export");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("what"))
    throw Error("ctlab export: expected a table, " + export_tables().expected() + ", or weights");
  if (vm["what"].as<std::string>() == "weights") return export_weights_command(vm);
  if (vm.count("run_id"))
    throw Error("ctlab export " + vm["what"].as<std::string>() + ": unexpected '" +
                vm["run_id"].as<std::string>() + "' (a table takes --run R to choose a run)");
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
  return {
      "export",
      "ctlab export <table> [--experiment E] [--run R] [--format csv|json] [--out F] | ctlab export weights "
      "<run_id> --out F",
      "export the run store and the analyses as long-format tables, or a run's weights as safetensors",
      cmd_export};
}

}  // namespace ctlab
