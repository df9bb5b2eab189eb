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
#include "config/resolve.h"
#include "store/results_layout.h"
#include "store/run_store.h"
#include "util/registry.h"

namespace ctlab {

struct CommandDef {
  std::string name;
  std::string usage;                                             // "ctlab plugins list|info <name> [options]"
  std::string help;                                              // one line for `ctlab --help`
  std::function<int(const std::vector<std::string>& args)> run;  // args after the command name
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

// A run configuration bound to its plugins: defaults, file, overrides; plugins loaded from
// the search path (--plugin-dir first), resolved and pinned to name@version.
struct ResolvedRun {
  RunConfig cfg;
  std::unique_ptr<PluginHost> host;
  ResolvedPlugins plugins;
};
ResolvedRun resolve_run(const std::string& file, const std::vector<std::string>& overrides,
                        const po::variables_map& vm);
// The SHA-256 of the plugin libraries a run uses, as stored in its params
// (plugin.compression.sha256, plugin.compression_loss.sha256); none for a run without
// compressed memory, which runs no plugin.
std::vector<std::pair<std::string, std::string>> plugin_hash_params(const ResolvedRun& run);
// Refuses (ctlab::Error, exit 2) a run whose estimated training memory (config/run_shape.h)
// exceeds what this machine has available, naming the keys that set its size. Made for
// CPU devices only (a CUDA device's allocator reports its own out-of-memory errors, which
// the trainer names with the same estimate). `processes` processes of this size share the
// memory; each is one of `world` data-parallel ranks (batch_size / world streams).
void check_memory_fits(const RunConfig& cfg, bool bptt, const std::string& what, int64_t processes = 1,
                       int64_t world = 1);
// "--accept-plugin-change".
void add_accept_plugin_change_option(po::options_description& desc);
// Compares the plugin libraries recorded with an existing run with the ones resolved now.
// A difference is refused (ctlab::Error, exit 2) naming both hashes and files, unless
// `accept`, in which case it is written to the run's history and returned ("" when none).
std::string check_recorded_plugins(RunStore& store, const std::string& run_id, const ResolvedRun& run,
                                   bool accept, const std::string& doing);

// "--results DIR" (default "results").
void add_results_option(po::options_description& desc);
ResultsLayout results_layout(const po::variables_map& vm);

}  // namespace ctlab
