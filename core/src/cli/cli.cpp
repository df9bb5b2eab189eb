// Command dispatch, error reporting and the option groups shared by commands.
#include "cli/cli.h"

#include <boost/program_options.hpp>
#include <iostream>

#include "util/error.h"
#include "util/text.h"

namespace ctlab {

int cmd_plugins(const std::vector<std::string>& args);
int cmd_config(const std::vector<std::string>& args);
int cmd_train(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_grid(const std::vector<std::string>& args);
int cmd_merge(const std::vector<std::string>& args);
int cmd_export(const std::vector<std::string>& args);
int cmd_report(const std::vector<std::string>& args);

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"plugins", "ctlab plugins list|info <name> [--plugin-dir DIR]...",
       "list the compression plugins found, or show one in full", cmd_plugins},
      {"config", "ctlab config [<run.ini>] [--set key=value]... [--<key> value]...",
       "resolve and validate a run configuration and print it as INI", cmd_config},
      {"train", "ctlab train <run.ini> [--set key=value]... [--results DIR]",
       "train one run (resumes from its checkpoint when re-run); results go to the run store", cmd_train},
      {"eval", "ctlab eval <run_id> [--split valid|test] [--mem-len N] [--cmem-len N] ... [--results DIR]",
       "evaluate a trained run on a whole split, possibly with other memory settings", cmd_eval},
      {"grid", "ctlab grid run|status|expand <grid.ini> [--jobs N] [--devices cuda:0,...] [--shard i/N] ...",
       "expand, run (in parallel, resumable, shardable) and follow an experiment grid", cmd_grid},
      {"merge", "ctlab merge <root>... --into <root>",
       "merge results roots (e.g. of shards) into one, idempotently", cmd_merge},
      {"export",
       "ctlab export runs|metrics|attention|frequency [--experiment E] [--run R] [--format csv|json] [--out "
       "F]",
       "export the run store and the analyses as long-format tables", cmd_export},
      {"report", "ctlab report <experiment> [--out DIR] [--results DIR]",
       "Markdown report: score pivot over the grid (mean ± std over seeds), attention, frequency, figures",
       cmd_report},
  };
  return table;
}

const Command& command(const std::string& name) {
  for (const auto& c : commands())
    if (c.name == name) return c;
  throw Error("unknown command '" + name + "'");
}

void parse_command_line(const std::vector<std::string>& args, const po::options_description& desc,
                        const po::positional_options_description& positional, po::variables_map& vm,
                        const std::string& cmd) {
  try {
    po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error(std::string("ctlab ") + cmd + ": " + e.what() + "; see 'ctlab " + cmd + " --help'");
  }
}

void add_plugin_dir_option(po::options_description& desc) {
  desc.add_options()("plugin-dir", po::value<std::vector<std::string>>()->composing(),
                     "extra folder searched for libctlab_plugin_*.so before $CTLAB_PLUGIN_PATH and the "
                     "installed plugins (repeatable)");
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

ResolvedRun resolve_run(const std::string& file, const std::vector<std::string>& overrides,
                        const po::variables_map& vm) {
  ResolvedRun r;
  r.cfg = load_run_config(file, overrides);
  std::vector<std::string> cli_dirs;
  if (vm.count("plugin-dir")) cli_dirs = vm["plugin-dir"].as<std::vector<std::string>>();
  r.host = std::make_unique<PluginHost>();
  r.host->load_directories(PluginHost::search_path(cli_dirs));
  r.plugins = resolve_plugins(*r.host, r.cfg);
  pin_plugins(r.cfg, r.plugins);
  return r;
}

void add_results_option(po::options_description& desc) {
  desc.add_options()("results", po::value<std::string>()->default_value("results"),
                     "results root: ctlab.sqlite and runs/<run_id>/");
}

std::string results_root(const po::variables_map& vm) { return vm["results"].as<std::string>(); }

int print_help(const Command& cmd, const po::options_description& desc) {
  std::cout << "usage: " << cmd.usage << "\n\n" << cmd.summary << "\n\n" << desc << "\n";
  return kExitOk;
}

static void print_main_help() {
  std::cout << "ctlab " << CTLAB_VERSION
            << ": Transformer-XL and Compressive Transformer experiments\n\n"
               "usage: ctlab <command> [options]    (ctlab <command> --help for details)\n\ncommands:\n";
  for (const auto& c : commands()) {
    std::string pad(10 > c.name.size() ? 10 - c.name.size() : 1, ' ');
    std::cout << "  " << c.name << pad << c.summary << "\n";
  }
  std::cout << "\nexit codes: 0 ok, 1 run failed, 2 bad input (usage, config, data, plugin), 3 diverged\n";
}

int run_cli(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // One spelling per key: "--mem-len" is accepted as "--mem_len".
  for (auto& a : args) {
    if (!starts_with(a, "--")) continue;
    auto end = a.find('=');
    for (size_t i = 2; i < std::min(end, a.size()); ++i)
      if (a[i] == '-') a[i] = '_';
    if (starts_with(a, "--plugin_dir")) a.replace(0, 12, "--plugin-dir");
    for (const char* flag : {"--max-attempts", "--retry-diverged", "--stale-after", "--dry-run",
                             "--no-figures", "--expect-run-id"}) {
      std::string underscored = flag;
      for (size_t i = 2; i < underscored.size(); ++i)
        if (underscored[i] == '-') underscored[i] = '_';
      if (starts_with(a, underscored)) a.replace(0, underscored.size(), flag);
    }
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    if (args.size() >= 2 && args[0] == "help")
      args = {args[1], "--help"};
    else {
      print_main_help();
      return args.empty() ? kExitUsage : kExitOk;
    }
  }
  if (args[0] == "--version") {
    std::cout << "ctlab " << CTLAB_VERSION << "\n";
    return kExitOk;
  }
  try {
    const Command* cmd = nullptr;
    for (const auto& c : commands())
      if (c.name == args[0]) cmd = &c;
    if (!cmd) {
      std::vector<std::string> names;
      for (const auto& c : commands()) names.push_back(c.name);
      throw Error("unknown command '" + args[0] + "'" + did_you_mean(args[0], names) +
                  "; commands: " + join(names, ", "));
    }
    return cmd->run(std::vector<std::string>(args.begin() + 1, args.end()));
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
