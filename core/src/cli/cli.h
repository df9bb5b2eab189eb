// The command line: a table of commands, each parsing its own options with
// Boost.program_options, and the shared option groups (configuration keys, plugin dirs).
#pragma once

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/options.h"
#include "config/resolve.h"

namespace ctlab {

struct Command {
  std::string name;
  std::string usage;                                 // "ctlab plugins list|info <name> [options]"
  std::string summary;                               // one line
  int (*run)(const std::vector<std::string>& args);  // args after the command name
};

const std::vector<Command>& commands();

// Entry point for main(): dispatches, catches errors, prints one line and a hint, and
// returns the process exit code.
int run_cli(int argc, char** argv);

// --- helpers shared by commands --------------------------------------------------------
namespace po = boost::program_options;

// Parses args into vm with `desc` (+ positional names); throws ctlab::Error for usage errors.
void parse_command_line(const std::vector<std::string>& args, const po::options_description& desc,
                        const po::positional_options_description& positional, po::variables_map& vm,
                        const std::string& command);
// "--plugin-dir" (repeatable).
void add_plugin_dir_option(po::options_description& desc);
// "--set key=value" (repeatable) and one "--<key> value" flag per run option.
void add_config_options(po::options_description& desc);
// The overrides given on the command line, as key=value strings, in order.
std::vector<std::string> config_overrides(const po::variables_map& vm);
// Prints "usage" + desc, returns 0.
int print_help(const Command& cmd, const po::options_description& desc);
const Command& command(const std::string& name);

// A run configuration bound to its plugins: defaults, file, overrides; plugins loaded from
// the search path (--plugin-dir first), resolved and pinned to name@version.
struct ResolvedRun {
  RunConfig cfg;
  std::unique_ptr<PluginHost> host;
  ResolvedPlugins plugins;
};
ResolvedRun resolve_run(const std::string& file, const std::vector<std::string>& overrides,
                        const po::variables_map& vm);
// "--results DIR" (default "results").
void add_results_option(po::options_description& desc);
std::string results_root(const po::variables_map& vm);

}  // namespace ctlab
