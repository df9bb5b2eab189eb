// Command dispatch, error reporting and the option groups shared by commands.
#include "cli/cli.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <iostream>

#include "model/kernels.h"
#include "runtime/distributed.h"
#include "runtime/runtime.h"
#include "store/analysis_file.h"
#include "util/error.h"
#include "util/text.h"

namespace ctlab {

#define CTLAB_COMMAND(f) CTLAB_REGISTRY_ENTRY(CommandDef, f)
CTLAB_REGISTRY_BEGIN(CommandDef, commands, "command")
#include "cli/builtin_commands.def"
CTLAB_REGISTRY_END
#undef CTLAB_COMMAND

CommandDef command(const std::string& name) { return commands().get(name); }

namespace {

// "--mem-len" -> "--mem_len" (or the reverse) when only the other spelling is an option.
std::vector<std::string> canonical_spelling(const std::vector<std::string>& args,
                                            const po::options_description& desc) {
  std::vector<std::string> out = args;
  for (auto& a : out) {
    if (!starts_with(a, "--") || a.size() == 2) continue;
    const auto end = std::min(a.find('='), a.size());
    const std::string name = a.substr(2, end - 2);
    if (desc.find_nothrow(name, false)) continue;
    for (auto [from, to] : {std::pair{'-', '_'}, std::pair{'_', '-'}}) {
      std::string other = name;
      std::replace(other.begin(), other.end(), from, to);
      if (desc.find_nothrow(other, false)) {
        a.replace(2, name.size(), other);
        break;
      }
    }
  }
  return out;
}

}  // namespace

void parse_command_line(const std::vector<std::string>& args, const po::options_description& desc,
                        const po::positional_options_description& positional, po::variables_map& vm,
                        const std::string& cmd) {
  try {
    po::store(
        po::command_line_parser(canonical_spelling(args, desc)).options(desc).positional(positional).run(),
        vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error(std::string("ctlab ") + cmd + ": " + e.what() + "; see 'ctlab " + cmd + " --help'");
  }
}

void add_plugin_dir_option(po::options_description& desc) {
  desc.add_options()("plugin-dir", po::value<std::vector<std::string>>()->composing(),
                     "extra folder searched for libctlab_plugin_*.so before $CTLAB_PLUGIN_PATH and the "
                     "installed plugins (repeatable)")(
      "plugin-pin", po::value<std::vector<std::string>>()->composing()->value_name("ID=FILE"),
      "use this library for name@version when libraries with different contents offer it, e.g. "
      "mean_pool@1=/opt/plugins/libctlab_plugin_mean_pool.so (repeatable; also $CTLAB_PLUGIN_PIN, "
      "comma-separated)");
}

PluginSources plugin_sources(const po::variables_map& vm) {
  PluginSources s;
  if (vm.count("plugin-dir")) s.dirs = vm["plugin-dir"].as<std::vector<std::string>>();
  if (vm.count("plugin-pin")) s.pins = vm["plugin-pin"].as<std::vector<std::string>>();
  return s;
}

void add_config_options(po::options_description& desc) {
  desc.add_options()("set", po::value<std::vector<std::string>>()->composing(),
                     "override one key: --set key=value (repeatable; also compression.<param>=v and "
                     "compression_loss.<param>=v)");
  po::options_description keys("Configuration keys (INI keys; also accepted as --key value)");
  for (const auto& o : option_infos()) {
    keys.add_options()(o.key.c_str(), po::value<std::string>()->value_name("V"),
                       (o.help + " [" + o.group + "; " + o.expected + "]").c_str());
  }
  desc.add(keys);
}

std::vector<std::string> config_overrides(const po::variables_map& vm) {
  std::vector<std::string> out;
  for (const auto& o : option_infos())
    if (vm.count(o.key)) out.push_back(o.key + "=" + vm[o.key].as<std::string>());
  if (vm.count("set"))
    for (const auto& s : vm["set"].as<std::vector<std::string>>()) out.push_back(s);
  return out;
}

void add_accept_plugin_change_option(po::options_description& desc) {
  desc.add_options()("accept-plugin-change",
                     "go on although a plugin library's SHA-256 differs from the one recorded with the run "
                     "(the change is written to the run's history)");
}

void add_results_option(po::options_description& desc) {
  desc.add_options()("results", po::value<std::string>()->default_value("results"),
                     "results root: ctlab.sqlite and runs/<run_id>/");
}

ResultsLayout results_layout(const po::variables_map& vm) {
  return ResultsLayout(vm["results"].as<std::string>());
}

int print_help(const CommandDef& cmd, const po::options_description& desc) {
  std::cout << "usage: " << cmd.usage << "\n\n" << cmd.help << "\n\n" << desc << "\n";
  return kExitOk;
}

static void print_main_help() {
  std::cout << "ctlab " << ctlab_version()
            << ": Transformer-XL and Compressive Transformer experiments\n\n"
               "usage: ctlab <command> [options]    (ctlab <command> --help for details)\n\ncommands:\n";
  for (const auto& c : commands().all()) {
    if (c.hidden) continue;
    std::string pad(10 > c.name.size() ? 10 - c.name.size() : 1, ' ');
    std::cout << "  " << c.name << pad << c.help << "\n";
  }
  std::cout << "\nexit codes: 0 ok, 1 run failed, 2 bad input (usage, config, data, plugin), 3 diverged, 130 "
               "interrupted\n";
}

// The build's features, one per line: what a bug report or a GPU machine's log needs.
static void print_version() {
  const auto yes_no = [](bool on, const std::string& detail) {
    return std::string(on ? "yes" : "no") + (detail.empty() ? "" : " (" + detail + ")");
  };
  const std::string cuda = cuda_summary(), hdf5 = hdf5_version();
  std::cout << "ctlab " << ctlab_version() << " (commit " << git_commit() << ")\n"
            << "  LibTorch     " << torch_version() << "\n"
            << "  CUDA         " << yes_no(!cuda.empty(), cuda.empty() ? "LibTorch built for CPU only" : cuda)
            << "\n"
            << "  NCCL         " << yes_no(backend_available(DistBackend::Nccl), "") << "\n"
            << "  Gloo         " << yes_no(backend_available(DistBackend::Gloo), "") << "\n"
            << "  HDF5         " << yes_no(!hdf5.empty(), hdf5.empty() ? "no analysis.h5" : hdf5) << "\n"
            << "  CPU kernels  " << kernels::isa_name() << "\n";
  const auto blas = blas_info();
  std::cout << "  BLAS         " << blas.summary() << "\n";
  if (!blas.warning.empty()) std::cout << "warning: " << blas.warning << "\n";
}

int run_cli(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.size() >= 2 && args[0] == "help")
      args = {args[1], "--help"};
    else {
      print_main_help();
      return args.empty() ? kExitUsage : kExitOk;
    }
  }
  if (args[0] == "--version") {
    print_version();
    return kExitOk;
  }
  try {
    const CommandDef* cmd = commands().find(args[0]);
    if (!cmd) {
      const auto names = commands().names();
      throw Error("unknown command '" + args[0] + "'" + did_you_mean(args[0], names) +
                  "; commands: " + join(names, ", "));
    }
    const auto run = cmd->run;  // a copy: a command may change the registry
    return run(std::vector<std::string>(args.begin() + 1, args.end()));
  } catch (const Error& e) {
    std::cerr << "ctlab: error: " << e.what() << "\n";
    if (e.kind() == ErrorKind::Usage)
      std::cerr << "hint: 'ctlab --help' lists commands and 'ctlab <command> --help' their options\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "ctlab: error: " << brief_what(e) << "\n";
    return kExitRunFailed;
  }
}

}  // namespace ctlab
