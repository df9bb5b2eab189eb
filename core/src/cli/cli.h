// The command line: a registry of commands (cli/builtin_commands.def lists the built-in
// ones, each defined in its own cli/cmd_<name>.cpp), each parsing its own options with
// Boost.program_options, and the shared option groups (configuration keys, plugin dirs,
// the results root).
#pragma once

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/options.h"
#include "session/resolve.h"
#include "store/results_layout.h"
#include "store/run_store.h"
#include "util/registry.h"

namespace ctlab {

struct CommandDef {
  std::string name;
  std::string usage;                                             // "ctlab plugins list|info <name> [options]"
  std::string help;                                              // one line for `ctlab --help`
  std::function<int(const std::vector<std::string>& args)> run;  // args after the command name
  bool hidden = false;  // not listed by `ctlab --help` (internal commands)
};

// The registry, with the built-in commands registered at first use.
Registry<CommandDef>& commands();

// Entry point for main(): dispatches, catches errors, prints one line and a hint, and
// returns the process exit code.
int run_cli(int argc, char** argv);

// --- helpers shared by commands --------------------------------------------------------
namespace po = boost::program_options;

// Parses args into vm with `desc` (+ positional names); throws ctlab::Error for usage errors.
// One spelling per option: "--mem-len" and "--mem_len" both reach the option desc has.
void parse_command_line(const std::vector<std::string>& args, const po::options_description& desc,
                        const po::positional_options_description& positional, po::variables_map& vm,
                        const std::string& command);
// "--plugin-dir" and "--plugin-pin" (both repeatable).
void add_plugin_dir_option(po::options_description& desc);
// The plugin folders and pins given on the command line.
PluginSources plugin_sources(const po::variables_map& vm);
// "--set key=value" (repeatable) and one "--<key> value" flag per run option.
void add_config_options(po::options_description& desc);
// The overrides given on the command line, as key=value strings, in order.
std::vector<std::string> config_overrides(const po::variables_map& vm);
// Prints "usage" + desc, returns 0.
int print_help(const CommandDef& cmd, const po::options_description& desc);
// A copy of the registered command (copies stay valid when the registry changes).
CommandDef command(const std::string& name);

// "--accept-plugin-change".
void add_accept_plugin_change_option(po::options_description& desc);
// "--results DIR" (default "results").
void add_results_option(po::options_description& desc);
ResultsLayout results_layout(const po::variables_map& vm);

}  // namespace ctlab
