// The one resolve pipeline and the checks every way of starting a run shares.
#include "session/resolve.h"

#include <algorithm>
#include <boost/filesystem.hpp>

#include "config/run_data.h"
#include "config/run_shape.h"
#include "runtime/runtime.h"
#include "util/error.h"
#include "util/text.h"

namespace ctlab {

const Corpus& CorpusCache::get(const RunConfig& cfg) {
  const auto key = data_identity(cfg);
  auto it = corpora_.find(key);
  if (it == corpora_.end()) it = corpora_.emplace(key, load_corpus(cfg.data)).first;
  return it->second;
}

std::shared_ptr<const PluginHost> load_plugins(const PluginSources& sources) {
  auto host = std::make_shared<PluginHost>();
  host->load(sources);
  return host;
}

ResolvedRun resolve_config(RunConfig cfg, std::shared_ptr<const PluginHost> host, CorpusCache* data) {
  ResolvedRun r;
  if (data) {
    r.corpus = &data->get(cfg);
    bind_run_data(cfg, *r.corpus);
  }
  r.plugins = resolve_plugins(*host, cfg);
  pin_plugins(cfg, r.plugins);
  r.run_id = run_id_of(cfg);
  r.cfg = std::move(cfg);
  r.host = std::move(host);
  return r;
}

ResolvedRun resolve_run_file(const std::string& path, const std::vector<std::string>& overrides,
                             const PluginSources& sources, CorpusCache* data) {
  return resolve_config(load_run_config(path, overrides), load_plugins(sources), data);
}

RunPaths trained_run(const ResultsLayout& layout, const std::string& run_id) {
  if (!boost::filesystem::exists(layout.database()))
    throw Error("no results database at '" + layout.database() + "' (use --results to point at one)");
  if (!RunStore(layout.database()).find_run(run_id))
    throw Error("no run '" + run_id + "' in " + layout.database());
  auto paths = layout.run(run_id);
  if (!boost::filesystem::exists(paths.checkpoint))
    throw Error("run " + run_id + " has no checkpoint (" + paths.checkpoint + "): train it first");
  return paths;
}

void check_memory_fits(const RunConfig& cfg, bool bptt, const std::string& what, int64_t processes,
                       int64_t world) {
  if (!resolve_device(cfg.device).is_cpu()) return;
  const int64_t available = available_memory_bytes();
  if (available < 0) return;
  const auto estimate = estimate_memory(cfg, bptt, world);
  if (estimate.total() * processes <= available) return;
  const auto n = [](int64_t v) { return std::to_string(v); };
  throw Error(what + " needs an estimated " + estimate.describe(cfg) +
              (world > 1 ? " per rank (batch_size / " + n(world) + " ranks)" : "") +
              (processes > 1 ? ", x " + n(processes) + " processes on this machine," : "") +
              ", more than the " + format_bytes(available) +
              " this machine has available: lower batch_size (or raise accumulate), seq_len, mem_len, "
              "cmem_len, n_layer, d_model or d_ff" +
              (processes > 1 ? ", or run fewer workers (--jobs) or ranks" : "") +
              " (--skip-memory-check runs it anyway)");
}

std::vector<std::pair<std::string, std::string>> plugin_hash_params(const ResolvedRun& run) {
  if (run.cfg.model.cmem_len <= 0) return {};
  std::vector<std::pair<std::string, std::string>> out = {
      {"plugin.compression.sha256", run.plugins.fn->sha256},
      {"plugin.compression_loss.sha256", run.plugins.loss->sha256}};
  // The position map's library, except for the contiguous `slot`, whose term the host computes.
  if (run.plugins.map && !run.plugins.map->spec.contiguous)
    out.emplace_back("plugin.cmem_positions.sha256", run.plugins.map->sha256);
  return out;
}

namespace {

// One plugin's difference from what the run recorded, or "".
std::string plugin_change(const std::map<std::string, std::string>& params,
                          const std::vector<std::string>& legacy, const std::string& key,
                          const std::string& id, const std::string& sha, const std::string& path) {
  auto it = params.find("plugin." + key + ".sha256");
  if (it != params.end() && it->second != sha)
    return key + " " + id + ": recorded sha256 " + it->second + ", found now " + sha + " (" + path + ")";
  if (it == params.end() && !legacy.empty() && std::find(legacy.begin(), legacy.end(), sha) == legacy.end())
    return key + " " + id + ": recorded sha256 " + join(legacy, " or ") + ", found now " + sha + " (" + path +
           ")";
  return "";
}

}  // namespace

std::string check_recorded_plugins(RunStore& store, const std::string& run_id, const ResolvedRun& run,
                                   bool accept, const std::string& doing) {
  if (run.cfg.model.cmem_len <= 0) return "";
  const auto params = store.params(run_id);
  std::vector<std::string> legacy;  // runs recorded before the hashes were params: their plugin artifacts
  for (const auto& a : store.artifacts(run_id))
    if (a.kind == "plugin") legacy.push_back(a.sha256);
  const auto& fn = *run.plugins.fn;
  const auto& loss = *run.plugins.loss;
  std::vector<std::string> changes;
  for (const auto& c : {plugin_change(params, legacy, "compression", fn.id, fn.sha256, fn.path),
                        plugin_change(params, legacy, "compression_loss", loss.id, loss.sha256, loss.path)})
    if (!c.empty()) changes.push_back(c);
  // A position map is recorded only when it is not `slot` (and never among the legacy artifacts).
  if (const auto* map = run.plugins.map; map && !map->spec.contiguous) {
    const auto c = plugin_change(params, {}, "cmem_positions", map->id, map->sha256, map->path);
    if (!c.empty()) changes.push_back(c);
  }
  if (changes.empty()) return "";
  const std::string what = join(changes, "; ");
  if (!accept)
    throw Error("run " + run_id +
                " was recorded with other plugin libraries than the ones found now: " + what +
                ". Results of different code would mix; rebuild or pin the recorded library, or pass "
                "--accept-plugin-change to " +
                doing + " with the new one (recorded in the run's history)");
  store.add_event(run_id, "plugin_change", doing + " with a changed library accepted: " + what);
  return what;
}

}  // namespace ctlab
