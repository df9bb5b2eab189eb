// `ctlab train <run.ini>`: resolve, validate and load everything first (nothing is written
// for a run whose configuration or data is bad), then train or resume one run.
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <boost/program_options.hpp>
#include <iostream>

#include "cli/cli.h"
#include "config/run_data.h"
#include "config/run_shape.h"
#include "runtime/runtime.h"
#include "store/heartbeat.h"
#include "store/ownership.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/process.h"
#include "util/sha256.h"

namespace ctlab {
namespace {

// Registers the run as running by this process, with its metadata, params and artifacts.
void record_start(RunStore& store, const ResolvedRun& run, const std::string& run_id, const RunPaths& paths,
                  const std::string& owner, bool grid_worker) {
  const auto& cfg = run.cfg;
  RunRecord meta;
  meta.run_id = run_id;
  meta.experiment = cfg.experiment;
  meta.host = host_name();
  meta.device = resolve_device(cfg.device).str();
  meta.threads = set_threads(cfg.threads);
  meta.git_commit = git_commit();
  meta.ctlab_version = ctlab_version();
  meta.torch_version = torch_version();
  meta.blas = blas_info().summary();
  meta.config = format_run_config(cfg);
  meta.owner = owner;
  auto params = config_params(cfg);
  const auto hashes = plugin_hash_params(run);
  params.insert(params.end(), hashes.begin(), hashes.end());
  const auto shape = cost_and_reach(cfg.model);
  params.insert(params.end(), {{"derived.attention_cost", std::to_string(shape.key_slots)},
                               {"derived.reach_layer", std::to_string(shape.layer_reach)},
                               {"derived.reach_stack", std::to_string(shape.stack_reach)}});
  const auto attempt = store.start_run(meta, params);
  store.add_event(
      run_id, "start",
      "attempt " + std::to_string(attempt) + " by " + owner + (grid_worker ? " (grid worker)" : ""));
  store.add_artifact(run_id, "plugin", run.plugins.fn->path, run.plugins.fn->sha256);
  store.add_artifact(run_id, "plugin", run.plugins.loss->path, run.plugins.loss->sha256);
  // Files of the run folder are recorded relative to the results root, so roots can move
  // and be merged.
  store.add_artifact(run_id, "config", RunPaths::relative(run_id, "config.ini"), sha256_file(paths.config));
}

int report_outcome(const TrainOutcome& outcome, RunStore& store, const std::string& run_id,
                   const RunPaths& paths, const Corpus& corpus) {
  if (outcome.status == RunStatus::Completed) {
    store.add_artifact(run_id, "checkpoint", RunPaths::relative(run_id, "checkpoint.pt"),
                       sha256_file(paths.checkpoint));
    std::cout << "run " << run_id << " completed at step " << outcome.step << ": valid "
              << score_name(corpus.word_level) << " " << outcome.valid_score << " (loss "
              << outcome.valid_loss << " nats"
              << (outcome.recovered
                      ? "; long-range information recovered " + std::to_string(*outcome.recovered)
                      : std::string())
              << "); outputs in " << paths.dir << ", metrics in " << store.path() << "\n";
  } else {
    std::cerr << "run " << run_id << " " << to_string(outcome.status) << " at step " << outcome.step
              << (outcome.error.empty() ? "" : ": " + outcome.error) << "\n";
  }
  return outcome.exit_code();
}

// Makes this process the run's holder (atomically, in the store), unless another live
// process holds it. Logs a takeover from a silent holder on another host. Returns whether
// the run was handed over by the grid scheduler that started this process.
bool claim_for_training(RunStore& store, const ResolvedRun& run, const std::string& run_id,
                        const std::string& owner) {
  RunRecord meta;
  meta.run_id = run_id;
  meta.experiment = run.cfg.experiment;
  meta.config = format_run_config(run.cfg);
  Holding seen;
  bool from_scheduler = false;
  const bool claimed = store.claim_run(meta, owner, [&](const std::optional<RunRecord>& r) {
    if (!r) return true;
    seen = holding_of(*r, kStaleAfterSeconds);
    from_scheduler = owner_is_parent(r->owner);
    return !seen.held;
  });
  if (!claimed) throw held_error(run_id, seen);
  if (seen.takeover)
    store.add_event(run_id, "takeover", "taken over by ctlab train " + owner + " from " + seen.holder);
  return from_scheduler;
}

// Checks everything that can refuse the run before anything is written: completed already,
// a checkpoint of another run in its folder, changed plugin libraries, another holder.
// Returns false when there is nothing to do.
bool prepare_run(RunStore& store, const ResolvedRun& run, const std::string& run_id, const RunPaths& paths,
                 bool accept_plugin_change) {
  const auto existing = store.find_run(run_id);
  if (existing && existing->status == RunStatus::Completed) {
    std::cout << "run " << run_id << " already completed at step " << existing->step << " (" << paths.dir
              << "); change the configuration or the seed for a new run\n";
    return false;
  }
  if (boost::filesystem::exists(paths.checkpoint)) {
    const auto belongs_to = checkpoint_run_id(paths.checkpoint);
    if (!belongs_to.empty() && belongs_to != run_id)
      throw Error("checkpoint '" + paths.checkpoint + "' belongs to run " + belongs_to + ", not to run " +
                  run_id + " (was it copied from another run's folder?); remove it to train run " + run_id +
                  " from step 0");
  }
  if (existing) {
    // Refused here before the plugin check can write to the run's history; the claim
    // below is the atomic guard.
    if (auto held = holding_of(*existing, kStaleAfterSeconds); held.held) throw held_error(run_id, held);
    check_recorded_plugins(store, run_id, run, accept_plugin_change, "resume");
  }
  return true;
}

}  // namespace

int cmd_train(const std::vector<std::string>& args) {
  const CommandDef self = command("train");
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("file", po::value<std::string>(), "run file (INI)")(
      "expect-run-id", po::value<std::string>(),
      "fail unless the resolved run has this id (used by grid workers)")(
      "skip-memory-check", "train even when the estimated memory exceeds what the machine has available");
  add_results_option(desc);
  add_plugin_dir_option(desc);
  add_accept_plugin_change_option(desc);
  add_config_options(desc);
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "train");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("file"))
    throw Error("ctlab train: expected a run file, e.g. 'ctlab train experiments/default/run.ini'");

  auto run = resolve_run(vm["file"].as<std::string>(), config_overrides(vm), vm);
  Corpus corpus = load_run_data(run.cfg);
  if (!vm.count("skip-memory-check"))
    check_memory_fits(run.cfg, run.plugins.loss->spec.mode == LossMode::Bptt, "run " + run_id_of(run.cfg));
  resolve_device(
      run.cfg.device);  // a CUDA device that is not there is a usage error, before anything is written
  const std::string run_id = run_id_of(run.cfg);
  if (vm.count("expect-run-id") && vm["expect-run-id"].as<std::string>() != run_id)
    throw Error(
        "this configuration resolves to run " + run_id + ", not " + vm["expect-run-id"].as<std::string>() +
        " as the grid expected: was ctlab or a plugin changed while the grid ran? Re-run the grid command");

  const ResultsLayout layout = results_layout(vm);
  layout.prepare();
  RunStore store(layout.database());
  const auto paths = layout.run(run_id);
  const std::string owner = process_owner();
  if (!prepare_run(store, run, run_id, paths, vm.count("accept-plugin-change") > 0)) return kExitOk;
  const bool grid_worker = claim_for_training(store, run, run_id, owner);
  try {
    boost::filesystem::create_directories(paths.dir);
    if (int n = remove_stale_temp_files(paths.dir))
      std::cout << "removed " << n << " temporary file(s) left in " << paths.dir
                << " by writers that were killed\n";
    write_file_atomic(paths.config, "# run_id = " + run_id + "\n" + format_run_config(run.cfg));
    record_start(store, run, run_id, paths, owner, grid_worker);
  } catch (const std::exception& e) {
    store.finish_run(run_id, RunStatus::Failed, 0, brief_what(e));
    throw;
  }
  HeartbeatThread heartbeat(store.path(), run_id, owner);
  Trainer trainer(run.cfg, *run.host, run.plugins, corpus, store, run_id, paths);
  return report_outcome(trainer.run(), store, run_id, paths, corpus);
}

CommandDef train_command() {
  return {"train", "ctlab train <run.ini> [--set key=value]... [--results DIR]",
          "train one run (resumes from its checkpoint when re-run); results go to the run store", cmd_train};
}

}  // namespace ctlab
