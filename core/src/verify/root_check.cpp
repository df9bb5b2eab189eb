#include "verify/root_check.h"

#include <boost/filesystem.hpp>
#include <set>

#include "model/factory.h"
#include "session/resolve.h"
#include "store/analysis_file.h"
#include "store/claim_state.h"
#include "store/results_layout.h"
#include "store/run_store.h"
#include "train/checkpoint.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/sha256.h"

namespace ctlab {
namespace {

namespace fs = boost::filesystem;

using Findings = RootCheck;

// The checkpoint belongs to the run and its weights load into the model its config describes.
void check_checkpoint(const RunRecord& r, const RunPaths& paths, const PluginSources& plugins, Findings& f) {
  if (!fs::exists(paths.checkpoint)) {
    if (r.status == RunStatus::Completed) f.add(paths.checkpoint, "missing for a completed run");
    return;
  }
  ++f.checkpoints;
  try {
    const auto owner = checkpoint_run_id(paths.checkpoint);
    if (!owner.empty() && owner != r.run_id) {
      f.add(paths.checkpoint, "belongs to run " + owner + ", not to run " + r.run_id);
      return;
    }
    if (!fs::exists(paths.config)) return;  // reported with the run; nothing to build the model from
    auto run = resolve_run_file(paths.config, {}, plugins, nullptr);
    auto model = build_model(run.cfg, *run.host, run.plugins);
    const int64_t step = load_model_weights(paths.checkpoint, model, torch::kCPU);
    if (r.status == RunStatus::Completed && step != r.step)
      f.add(paths.checkpoint, "holds step " + std::to_string(step) + " but the run completed at step " +
                                  std::to_string(r.step));
  } catch (const std::exception& e) {
    f.add(paths.checkpoint, std::string("cannot be loaded: ") + e.what());
  }
}

void check_analysis(const RunRecord& r, const RunPaths& paths, Findings& f) {
  if (!fs::exists(paths.analysis)) {
    if (r.status == RunStatus::Completed) f.add(paths.analysis, "missing for a completed run");
    return;
  }
  ++f.analyses;
  try {
    ValidationRecord v;
    FrequencyRecord q;
    AttentionRecord a;
    read_validation(paths.analysis, "", v);
    read_frequency(paths.analysis, "", q);
    read_attention(paths.analysis, "", a);
  } catch (const std::exception& e) {
    f.add(paths.analysis, std::string("cannot be read: ") + e.what());
  }
}

// Files recorded with a SHA-256 (config, checkpoint, analysis of a completed run).
void check_artifacts(RunStore& store, const RunRecord& r, const ResultsLayout& layout, Findings& f) {
  for (const auto& a : store.artifacts(r.run_id)) {
    if (a.kind == "plugin") continue;  // libraries live outside the root; resuming checks them
    const std::string path = layout.root() + "/" + a.path;
    ++f.artifacts;
    if (!fs::exists(path)) {
      f.add(path, "recorded as the run's " + a.kind + " but missing");
      continue;
    }
    // The checkpoint of a run still in progress is rewritten after it was recorded.
    if (a.kind == "checkpoint" && r.status != RunStatus::Completed) continue;
    const auto sha = sha256_file(path);
    if (sha != a.sha256)
      f.add(path, "differs from the recorded " + a.kind + " (sha256 " + a.sha256.substr(0, 12) + ", now " +
                      sha.substr(0, 12) + "): changed after the run recorded it");
  }
}

void check_temp_files(const std::string& dir, bool remove, Findings& f) {
  if (remove) {
    remove_stale_temp_files(dir);
    return;
  }
  for (const auto& path : stale_temp_files(dir))
    f.add(path,
          "temporary file of a killed writer (the run's next start removes it, or --remove-temp-files)");
}

void check_run(RunStore& store, const RunRecord& r, const ResultsLayout& layout, const RootCheckOptions& o,
               Findings& f) {
  ++f.runs;
  const auto paths = layout.run(r.run_id);
  const std::string where = "run " + r.run_id;
  if (!fs::is_directory(paths.dir)) {
    if (r.status != RunStatus::Pending)
      f.add(where, std::string(to_string(r.status)) + " in the database but has no folder " + paths.dir);
    return;
  }
  if (r.status == RunStatus::Running) {
    const auto h = claim_state_of(r, kStaleAfterSeconds);
    if (!h.claimed)
      f.add(where, "recorded as running, but no live process claims it (its claimant died); 'ctlab train " +
                       paths.config + "' or 'ctlab grid run' resumes it");
  }
  // A run gets its config.ini when it starts (attempt 1); a cell claimed by a scheduler
  // whose worker failed before that has only the worker's output.
  if (!fs::exists(paths.config) && r.attempt > 0) f.add(where, "has no " + paths.config);
  check_temp_files(paths.dir, o.remove_temp_files, f);
  check_checkpoint(r, paths, o.plugins, f);
  check_analysis(r, paths, f);
  check_artifacts(store, r, layout, f);
}

// Folders under runs/ that the database does not know.
void check_folders(const std::set<std::string>& known, const ResultsLayout& layout, Findings& f) {
  boost::system::error_code ec;
  for (fs::directory_iterator it(layout.runs_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (fs::is_directory(it->path()) && !known.count(name))
      f.add(it->path().string(),
            "a run folder the database does not know (copied from another root? 'ctlab merge' brings a "
            "root's runs with their rows)");
  }
}

}  // namespace

RootCheck check_root(const RootCheckOptions& o) {
  const ResultsLayout layout(o.results_root);
  if (!fs::exists(layout.database()))
    throw Error("no results database at '" + layout.database() + "' (use --results to point at one)");
  RunStore store(layout.database());
  Findings f;
  for (const auto& line : store.integrity_check())
    if (line != "ok") f.add(layout.database(), "integrity check: " + line);
  std::set<std::string> known;
  for (const auto& r : store.runs()) {
    known.insert(r.run_id);
    check_run(store, r, layout, o, f);
  }
  check_folders(known, layout, f);
  check_temp_files(layout.root(), o.remove_temp_files, f);
  boost::system::error_code ec;
  for (fs::recursive_directory_iterator it(layout.root() + "/reports", ec), end; !ec && it != end;
       it.increment(ec))
    if (fs::is_directory(it->path())) check_temp_files(it->path().string(), o.remove_temp_files, f);
  return f;
}

}  // namespace ctlab
