// Resolving a run: the one pipeline from a configuration to a run id, shared by `ctlab
// train`, `ctlab eval`, grid expansion and workers. In order: the keys (file or grid cell,
// then overrides) are validated; the data are loaded and decide vocab_size; the plugins
// are resolved and pinned to name@version with every parameter; the run id is hashed from
// the result. Grid cells and `ctlab train` of the same settings get the same id because
// they go through the same function.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/options.h"
#include "config/plugin_binding.h"
#include "data/corpus.h"
#include "plugin/plugin_host.h"
#include "store/results_layout.h"
#include "store/run_store.h"

namespace ctlab {

// Corpora by data identity: configurations with equal data keys load their corpus once.
class CorpusCache {
 public:
  const Corpus& get(const RunConfig& cfg);

 private:
  std::map<std::string, Corpus> corpora_;
};

// A run configuration bound to its plugins and, when resolved with data, its corpus.
struct ResolvedRun {
  RunConfig cfg;
  std::shared_ptr<const PluginHost> host;
  ResolvedPlugins plugins;
  std::string run_id;
  const Corpus* corpus = nullptr;  // owned by the CorpusCache given to resolve_config
};

// The pipeline's steps after the keys: cfg (its keys applied and validated) is bound to
// its data (`data` null: the configuration's own vocab_size is trusted, as for a run's
// stored config.ini when no data are needed), then its plugins are resolved and pinned.
ResolvedRun resolve_config(RunConfig cfg, std::shared_ptr<const PluginHost> host, CorpusCache* data);
// A run file (path) with "key=value" overrides, plugins loaded from `sources`.
ResolvedRun resolve_run_file(const std::string& path, const std::vector<std::string>& overrides,
                             const PluginSources& sources, CorpusCache* data);
// The folder of a recorded run that a command reads (eval, sample, export weights): throws
// ctlab::Error, before anything is written, for a root without a database, a run the
// database does not know, or a run that has no checkpoint yet.
RunPaths trained_run(const ResultsLayout& layout, const std::string& run_id);

// A plugin host loaded from `sources`.
std::shared_ptr<const PluginHost> load_plugins(const PluginSources& sources);

// The SHA-256 of the plugin libraries a run uses, as stored in its params
// (plugin.compression.sha256, plugin.compression_loss.sha256); none for a run without
// compressed memory, which runs no plugin.
std::vector<std::pair<std::string, std::string>> plugin_hash_params(const ResolvedRun& run);
// Compares the plugin libraries recorded with an existing run with the ones resolved now.
// A difference is refused (ctlab::Error, exit 2) naming both hashes and files, unless
// `accept`, in which case it is written to the run's history and returned ("" when none).
std::string check_recorded_plugins(RunStore& store, const std::string& run_id, const ResolvedRun& run,
                                   bool accept, const std::string& doing);
// Refuses (ctlab::Error, exit 2) a run whose estimated training memory (config/run_shape.h)
// exceeds what this machine has available, naming the keys that set its size. Made for
// CPU devices only (a CUDA device's allocator reports its own out-of-memory errors, which
// the trainer names with the same estimate). `processes` processes of this size share the
// memory; each is one of `world` data-parallel ranks (batch_size / world streams).
void check_memory_fits(const RunConfig& cfg, bool bptt, const std::string& what, int64_t processes = 1,
                       int64_t world = 1);

}  // namespace ctlab
