// `ctlab plugins list|info <name>`: what the plugin host found on the search path.
#include <boost/program_options.hpp>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "plugin/plugin_host.h"
#include "util/text.h"

namespace ctlab {
namespace {

std::string params_brief(const std::vector<ParamSpec>& params) {
  if (params.empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& p : params) parts.push_back(p.name + "=" + p.default_value);
  return join(parts, ",");
}

void print_params(const std::vector<ParamSpec>& params, const std::string& prefix) {
  if (params.empty()) {
    std::cout << "  parameters: none\n";
    return;
  }
  std::cout << "  parameters (set as " << prefix << "<name>):\n";
  for (const auto& p : params) {
    std::cout << "    " << std::left << std::setw(16) << p.name << std::setw(7) << param_type_name(p.type)
              << "default " << std::setw(8) << p.default_value << " " << p.help << "\n";
  }
}

// Names offered by libraries with different contents, and whether a pin settles them.
void print_conflicts(const PluginHost& host) {
  for (const auto& [what, offered] : host.conflicts()) {
    const auto id = what.substr(what.find(' ') + 1);
    const auto pin = host.pins().find(id);
    std::cout << "\n"
              << what << " is offered by libraries with different contents"
              << (pin == host.pins().end()
                      ? " (not usable until one is pinned with --plugin-pin " + id + "=FILE)"
                      : " (pinned to " + pin->second + ")")
              << ":\n";
    for (const auto& p : offered) std::cout << "  " << p.path << "  sha256 " << p.sha256 << "\n";
  }
}

int print_plugin_list(const PluginHost& host, const std::vector<std::string>& dirs) {
  std::cout << std::left << std::setw(6) << "KIND" << std::setw(30) << "NAME@VERSION" << std::setw(18)
            << "TRAINS/MODE" << std::setw(34) << "PARAMS (defaults)"
            << "FILE\n";
  for (const auto* e : host.compression_fns())
    std::cout << std::setw(6) << "fn" << std::setw(30) << e->id << std::setw(18)
              << (e->spec.trainable ? "trainable" : "parameter-free") << std::setw(34)
              << params_brief(e->spec.params) << e->path << "\n";
  for (const auto* e : host.compression_losses())
    std::cout << std::setw(6) << "loss" << std::setw(30) << e->id << std::setw(18)
              << loss_mode_name(e->spec.mode) << std::setw(34) << params_brief(e->spec.params) << e->path
              << "\n";
  for (const auto* e : host.position_maps())
    std::cout << std::setw(6) << "map" << std::setw(30) << e->id << std::setw(18)
              << (e->spec.contiguous ? "contiguous" : "own term") << std::setw(34) << "-" << e->path << "\n";
  bool any_bad = false;
  for (const auto& f : host.files()) {
    if (f.loaded) continue;
    if (!any_bad) std::cout << "\nrejected files:\n";
    any_bad = true;
    std::cout << "  " << f.path << "\n    " << f.error << "\n";
  }
  print_conflicts(host);
  std::cout << "\nsearched: " << join(dirs, ":") << "\n";
  return kExitOk;
}

int print_plugin_info(const PluginHost& host, const std::string& name) {
  const FnEntry* fn = nullptr;
  const LossEntry* loss = nullptr;
  const MapEntry* map = nullptr;
  try {
    fn = &host.compression_fn(name);
  } catch (const Error&) {
  }
  try {
    map = &host.position_map(name);
  } catch (const Error&) {
  }
  try {
    loss = &host.compression_loss(name);
  } catch (const Error&) {
  }
  if (!fn && !loss && !map) host.compression_fn(name);  // throws the full "available: ..." message
  if (fn) {
    std::cout << fn->id << "  (compression function)\n  summary: " << fn->spec.summary << "\n"
              << "  trainable: " << (fn->spec.trainable ? "yes" : "no")
              << "    uses slot usage: " << (fn->spec.needs_usage ? "yes" : "no") << "\n";
    print_params(fn->spec.params, "compression.");
    std::cout << "  file:   " << fn->path << "\n  sha256: " << fn->sha256 << "\n";
  }
  if (loss) {
    if (fn) std::cout << "\n";
    std::cout << loss->id << "  (compression loss)\n  summary: " << loss->spec.summary << "\n"
              << "  mode: " << loss_mode_name(loss->spec.mode) << "\n";
    print_params(loss->spec.params, "compression_loss.");
    std::cout << "  file:   " << loss->path << "\n  sha256: " << loss->sha256 << "\n";
  }
  if (map) {
    if (fn || loss) std::cout << "\n";
    std::cout << map->id << "  (position map, set as cmem_positions = " << map->spec.name
              << ")\n  summary: " << map->spec.summary << "\n"
              << "  scheme: "
              << (map->spec.contiguous ? "one relative table over [cm; m; h]"
                                       : "its own term for compressed keys")
              << "\n";
    std::cout << "  file:   " << map->path << "\n  sha256: " << map->sha256 << "\n";
  }
  return kExitOk;
}

}  // namespace

int cmd_plugins(const std::vector<std::string>& args) {
  const CommandDef self = command("plugins");
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("action", po::value<std::string>()->value_name("list|info"),
                                                 "list (default) or info")(
      "name", po::value<std::string>(), "plugin name or name@version (for info)");
  add_plugin_dir_option(desc);
  po::positional_options_description pos;
  pos.add("action", 1).add("name", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "plugins");
  if (vm.count("help")) return print_help(self, desc);

  std::string action = vm.count("action") ? vm["action"].as<std::string>() : "list";
  const auto sources = plugin_sources(vm);
  PluginHost host;
  host.load(sources);
  if (action == "list") {
    if (vm.count("name"))
      throw Error("ctlab plugins list takes no name; did you mean 'ctlab plugins info " +
                  vm["name"].as<std::string>() + "'?");
    return print_plugin_list(host, PluginHost::search_path(sources.dirs));
  }
  if (action != "info") throw Error("ctlab plugins: unknown action '" + action + "'; expected list or info");
  if (!vm.count("name"))
    throw Error("ctlab plugins info: expected a plugin name, e.g. 'ctlab plugins info mean_pool'");
  return print_plugin_info(host, vm["name"].as<std::string>());
}

CommandDef plugins_command() {
  return {"plugins", "ctlab plugins list|info <name> [--plugin-dir DIR]...",
          "list the compression plugins found, or show one in full", cmd_plugins};
}

}  // namespace ctlab
