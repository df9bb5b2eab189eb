// The plugin host: finds plugin libraries on the search path, loads them with Boost.DLL,
// checks the API and LibTorch versions before touching any C++ type, registers their
// compression functions, losses and position maps by name@version, and guards every call into plugin
// code so that failures name the plugin. Libraries are never unloaded.
#pragma once

#include <ctlab/plugin_api.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/error.h"

namespace boost::dll {
class shared_library;
}

namespace ctlab {

// One library file seen on the search path, loaded or rejected.
struct PluginFile {
  std::string path;    // canonical absolute path
  std::string sha256;  // of the file's bytes ("" when unreadable)
  bool loaded = false;
  std::string error;                  // why it was rejected, when !loaded
  std::vector<std::string> provides;  // "fn mean_pool@1", "loss none@1", "map true_distance@1"
  int api = 0;                        // the plugin API version it was built against
};

// Where plugins come from: extra folders searched first (--plugin-dir) and pins that say
// which library provides a name@version when several libraries with different contents
// offer it ("mean_pool@1=/path/libctlab_plugin_x.so", from --plugin-pin and from
// $CTLAB_PLUGIN_PIN, comma-separated).
struct PluginSources {
  std::vector<std::string> dirs;
  std::vector<std::string> pins;
};

// One library offering a name@version.
struct Provider {
  std::string path;
  std::string sha256;
};

struct FnEntry {
  CompressionFnSpec spec;
  std::string id;    // name@version
  std::string path;  // library file
  std::string sha256;
  int api = CTLAB_PLUGIN_API_VERSION;  // the library's API version (1: no slot_times())
};

struct LossEntry {
  CompressionLossSpec spec;
  std::string id;
  std::string path;
  std::string sha256;
  int api = CTLAB_PLUGIN_API_VERSION;
};

struct MapEntry {
  PositionMapSpec spec;
  std::string id;
  std::string path;
  std::string sha256;
  int api = CTLAB_PLUGIN_API_VERSION;
};

class PluginHost {
 public:
  // Directories in search order: --plugin-dir values, then $CTLAB_PLUGIN_PATH (':'-separated),
  // then <prefix>/lib/ctlab/plugins where <prefix> is the directory above the running
  // executable's bin/ (the install prefix for an installed ctlab, the build tree for a
  // build), then the compiled-in install prefix's plugin folder.
  static std::vector<std::string> search_path(const std::vector<std::string>& cli_dirs);

  // Sets the pins (from `sources` and $CTLAB_PLUGIN_PIN), then loads the search path of
  // `sources.dirs`. Throws ctlab::Error for a malformed pin.
  void load(const PluginSources& sources);
  // Pins: "name@version=FILE". Must come before loading. Throws for a malformed pin.
  void set_pins(const std::vector<std::string>& pins);

  // Loads every libctlab_plugin_*.so in the directories (sorted by name within each). Bad
  // files are recorded in files() with the reason; this never throws for them.
  void load_directories(const std::vector<std::string>& dirs);
  // Loads one library file; throws ctlab::Error (kind Plugin) with the reason when rejected.
  // The rejection is recorded in files() as well.
  void load_file(const std::string& path);

  const std::vector<PluginFile>& files() const { return files_; }
  std::vector<const FnEntry*> compression_fns() const;
  std::vector<const LossEntry*> compression_losses() const;
  std::vector<const MapEntry*> position_maps() const;

  // Looks up "name" (highest version) or "name@version". Throws ctlab::Error listing what
  // is available and any rejected files, when nothing matches, and naming every library
  // when libraries with different contents offer the name@version and no pin chooses one
  // (or the pin names a file that does not offer it).
  const FnEntry& compression_fn(const std::string& name) const;
  const LossEntry& compression_loss(const std::string& name) const;
  const MapEntry& position_map(const std::string& name) const;

  // "fn mean_pool@1" -> every library offering it, when their contents differ.
  const std::map<std::string, std::vector<Provider>>& conflicts() const { return conflicts_; }
  const std::map<std::string, std::string>& pins() const { return pins_; }

  // Instantiates one plugin object per layer; exceptions are rethrown naming the plugin.
  std::shared_ptr<CompressionFn> create(const FnEntry& e, const PluginContext& ctx) const;
  std::shared_ptr<CompressionLoss> create(const LossEntry& e, const PluginContext& ctx) const;
  std::shared_ptr<PositionMap> create(const MapEntry& e, const PluginContext& ctx) const;

 private:
  [[noreturn]] void record_failure(PluginFile file, const std::string& why);
  // Loads the library and checks its entry points, API and LibTorch versions.
  boost::dll::shared_library* open_library(PluginFile& file);
  void validate_registrations(PluginFile& file, const std::vector<CompressionFnSpec>& fns,
                              const std::vector<CompressionLossSpec>& losses,
                              const std::vector<PositionMapSpec>& maps);
  std::string rejected_summary() const;
  // The entry `name` (or name@version) names in `entries`, checked by check_identity; else an
  // error naming the `what` asked for, the nearest names and every one available.
  template <class Entry>
  const Entry& find_entry(const std::map<std::string, Entry>& entries, const std::string& name,
                          const std::string& kind, const std::string& what) const;
  // Registers one entry of a loaded library, or records the conflict when another library
  // with different contents offers the same id (a pin on this file makes it the entry).
  template <class Map, class Spec>
  void add_entry(Map& map, const std::string& kind, Spec spec, const PluginFile& file);
  // Throws when `kind id` is in conflict and not settled by a pin naming `chosen`.
  void check_identity(const std::string& kind, const std::string& id, const std::string& chosen) const;

  std::vector<PluginFile> files_;
  std::map<std::string, FnEntry> fns_;       // by id
  std::map<std::string, LossEntry> losses_;  // by id
  std::map<std::string, MapEntry> maps_;     // by id
  std::map<std::string, std::vector<Provider>> conflicts_;
  std::map<std::string, std::string> pins_;  // id -> canonical path of the library
};

// Runs f(); any exception other than ctlab::Error is rethrown as ctlab::Error(kind Plugin)
// "plugin <id> (<path>): <message>" with `what` saying what was being done.
template <class F>
auto call_plugin(const std::string& id, const std::string& path, const std::string& what, F&& f)
    -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("plugin " + id + " (" + path + ") failed in " + what + ": " + brief_what(e),
                ErrorKind::Plugin);
  } catch (...) {
    throw Error("plugin " + id + " (" + path + ") failed in " + what + ": unknown exception",
                ErrorKind::Plugin);
  }
}

// Checks a compression function's output against the plugin contract (plugin_api.h): shape
// [n / rate, B, D], the input's dtype and device, and finite values. Throws
// ctlab::Error(kind Run) naming the plugin, the layer and both shapes. With `nonfinite`
// given, the finiteness check does not wait for the device: it ORs "some value is not
// finite" into *nonfinite (a bool tensor on the output's device), to be read later.
void check_compression_output(const std::string& plugin_id, const CompressionInput& in,
                              const torch::Tensor& out, torch::Tensor* nonfinite = nullptr);

// Checks a position map's compressed_scores against the contract: shape [B, H, L, n_cm]
// for queries in.q [L, B, H, d_head], on the queries' device. Throws ctlab::Error(kind
// Run) naming the map, the layer and both shapes. (Its dtype is cast to the scores'.)
void check_position_output(const std::string& map_id, const PositionInput& in, int64_t n_cm,
                           const torch::Tensor& out);

}  // namespace ctlab
