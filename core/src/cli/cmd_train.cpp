// `ctlab train <run.ini>`: resolve, validate and load everything first (nothing is written
// for a run whose configuration or data is bad), then train or resume one run.
#include <unistd.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/filesystem.hpp>
#include <boost/program_options.hpp>
#include <iostream>

#include "cli/cli.h"
#include "cli/launch.h"
#include "config/run_data.h"
#include "config/run_shape.h"
#include "runtime/distributed.h"
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
                  const std::string& owner, bool handed_over, const Comm& comm) {
  const auto& cfg = run.cfg;
  RunRecord meta;
  meta.run_id = run_id;
  meta.experiment = cfg.experiment;
  meta.host = host_name();
  meta.device = resolve_device(cfg.device).str();
  meta.threads = threads_for(cfg.threads);
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
                               {"derived.reach_stack", std::to_string(shape.stack_reach)},
                               {"dist.world_size", std::to_string(comm.size())},
                               {"dist.backend", comm.backend()}});
  const auto attempt = store.start_run(meta, params);
  // Handed over: by the grid scheduler (one process) or by the --nproc launcher (rank 0).
  std::string how = !handed_over         ? std::string()
                    : comm.distributed() ? std::string(" (handed over by its launcher)")
                                         : std::string(" (grid worker)");
  if (comm.distributed()) how += ", rank 0 of " + std::to_string(comm.size()) + " (" + comm.backend() + ")";
  store.add_event(run_id, "start", "attempt " + std::to_string(attempt) + " by " + owner + how);
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

// Rank 0 (or the only process): refuses what must be refused, claims the run and records
// its start. Returns false when there is nothing to do.
bool start_run_record(RunStore& store, const ResolvedRun& run, const std::string& run_id,
                      const RunPaths& paths, bool accept_plugin_change, const Comm& comm) {
  const std::string owner = process_owner();
  if (!prepare_run(store, run, run_id, paths, accept_plugin_change)) return false;
  const bool handed_over = claim_for_training(store, run, run_id, owner);
  try {
    boost::filesystem::create_directories(paths.dir);
    if (int n = remove_stale_temp_files(paths.dir))
      std::cout << "removed " << n << " temporary file(s) left in " << paths.dir
                << " by writers that were killed\n";
    write_file_atomic(paths.config, "# run_id = " + run_id + "\n" + format_run_config(run.cfg));
    record_start(store, run, run_id, paths, owner, handed_over, comm);
  } catch (const std::exception& e) {
    store.finish_run(run_id, RunStatus::Failed, 0, brief_what(e));
    throw;
  }
  return true;
}

struct TrainRequest {
  ResolvedRun run;
  Corpus corpus;
  std::string run_id;
  ResultsLayout layout{""};
  RunPaths paths;
  bool accept_plugin_change = false;
  DistBackend backend = DistBackend::Auto;
  std::chrono::seconds timeout{300};
};

// One rank of a data-parallel run (or the only process, with a single-process comm).
// Rank 0 decides whether the run goes ahead and tells the others in one broadcast: 0 go
// ahead, 1 nothing to do (completed), 2 refused (rank 0 prints why).
int train_rank(TrainRequest& req, const LaunchInfo& launch) {
  auto device = resolve_device(req.run.cfg.device);
  if (device.is_cuda() && launch.distributed())
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank));
  const auto comm = Comm::connect(launch, req.backend, device, req.timeout);
  std::unique_ptr<RunStore> store;
  std::exception_ptr refused;
  int64_t decision = 0;
  if (comm->rank() == 0) {
    try {
      req.layout.prepare();
      store = std::make_unique<RunStore>(req.layout.database());
      if (!start_run_record(*store, req.run, req.run_id, req.paths, req.accept_plugin_change, *comm))
        decision = 1;
    } catch (...) {
      refused = std::current_exception();
      decision = 2;
    }
  }
  if (comm->distributed()) {
    auto t = torch::full({1}, decision, torch::kLong);
    comm->broadcast(t);
    decision = t.item<int64_t>();
  }
  if (refused) std::rethrow_exception(refused);
  if (decision == 1) return kExitOk;
  if (decision == 2)
    throw Error("rank 0 refused to start run " + req.run_id + " (its output says why)", ErrorKind::Usage);
  std::unique_ptr<HeartbeatThread> heartbeat;
  if (store) heartbeat = std::make_unique<HeartbeatThread>(store->path(), req.run_id, process_owner());
  Trainer trainer(req.run.cfg, *req.run.host, req.run.plugins, req.corpus, store.get(), req.run_id, req.paths,
                  *comm);
  const auto outcome = trainer.run();
  if (store) return report_outcome(outcome, *store, req.run_id, req.paths, req.corpus);
  if (outcome.status != RunStatus::Completed && !outcome.error.empty())
    std::cerr << "rank " << comm->rank() << ": run " << req.run_id << " " << to_string(outcome.status)
              << " at step " << outcome.step << ": " << outcome.error << "\n";
  return outcome.exit_code();
}

// `--nproc N`: this process claims the run, starts N ranks on this machine and, if rank 0
// could not record the end (it was killed), records it.
int launch_ranks(TrainRequest& req, int nproc, const std::vector<std::string>& args) {
  req.layout.prepare();
  RunStore store(req.layout.database());
  if (!prepare_run(store, req.run, req.run_id, req.paths, req.accept_plugin_change)) return kExitOk;
  const std::string owner = process_owner();
  claim_for_training(store, req.run, req.run_id, owner);
  boost::filesystem::create_directories(req.paths.dir);
  HeartbeatThread heartbeat(store.path(), req.run_id, owner);  // until rank 0 takes the claim over
  LocalLaunch l;
  l.nproc = nproc;
  l.grace = req.timeout + std::chrono::seconds(15);
  l.argv = {boost::dll::program_location().string(), "train"};
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    l.argv.push_back(args[i]);
  }
  if (std::find(l.argv.begin(), l.argv.end(), "--skip-memory-check") == l.argv.end())
    l.argv.push_back("--skip-memory-check");  // checked here for all ranks together
  const auto device = resolve_device(req.run.cfg.device);
  l.threads_per_rank = static_cast<int>(
      req.run.cfg.threads > 0 ? req.run.cfg.threads : std::max<int64_t>(1, available_cpus() / nproc));
  if (device.is_cpu() && req.run.cfg.threads == 0)
    l.argv.insert(l.argv.end(), {"--set", "threads=" + std::to_string(l.threads_per_rank)});
  std::cout << "run " << req.run_id << ": starting " << nproc << " ranks on this machine"
            << (device.is_cpu() ? " (" + std::to_string(l.threads_per_rank) + " thread(s) each)" : "")
            << "\n";
  const auto exits = run_local_ranks(l);
  // The ranks that did not end as rank 0 did (it reports the run's outcome itself).
  std::string failures;
  for (int r = 0; r < nproc; ++r)
    if (exits[r].signal != 0 || (r > 0 && exits[r].code != exits[0].code))
      failures += (failures.empty() ? "" : "; ") + ("rank " + std::to_string(r) + " " + exits[r].describe());
  if (!failures.empty()) {
    std::cerr << "ranks: " << failures << "\n";
    store.add_event(req.run_id, "ranks", failures);
  }
  const auto rec = store.find_run(req.run_id);
  if (rec && rec->status == RunStatus::Running &&
      (rec->owner == owner || owner_liveness(rec->owner) != Liveness::Alive)) {
    // Rank 0 could not record how the run ended (it died, or never took the run over from
    // this launcher). Record it, so no run stays "running".
    store.finish_run(req.run_id, RunStatus::Failed, rec->step,
                     "rank 0 ended without recording the run's status (" + failures +
                         "); re-run to resume from the last checkpoint");
    std::cerr << "run " << req.run_id << " failed: " << failures << "\n";
    return kExitRunFailed;
  }
  return exits[0].signal == 0 && exits[0].code >= 0 ? exits[0].code : kExitRunFailed;
}

}  // namespace

int cmd_train(const std::vector<std::string>& args) {
  const CommandDef self = command("train");
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("file", po::value<std::string>(), "run file (INI)")(
      "expect-run-id", po::value<std::string>(),
      "fail unless the resolved run has this id (used by grid workers)")(
      "skip-memory-check", "train even when the estimated memory exceeds what the machine has available")(
      "nproc", po::value<int>(),
      "train with N data-parallel ranks on this machine (CPU: the cores split between them; CUDA: one "
      "device each)")(
      "backend", po::value<std::string>()->default_value("auto"),
      "collectives between ranks: auto (NCCL on CUDA when built with it, else Gloo), gloo, nccl")(
      "dist-timeout", po::value<int>()->default_value(300),
      "seconds a rank waits for the others in a collective before it fails the run");
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
  const int nproc = vm.count("nproc") ? vm["nproc"].as<int>() : 1;
  if (nproc < 1 || nproc > 1024)
    throw Error("--nproc " + std::to_string(nproc) + ": expected 1 to 1024 ranks");
  const LaunchInfo launch = launch_from_environment();
  if (nproc > 1 && launch.distributed())
    throw Error("--nproc " + std::to_string(nproc) + ": this process is already " + launch.describe() +
                "; use one launcher (either --nproc or the environment's), not both");
  TrainRequest req;
  req.backend = parse_backend(vm["backend"].as<std::string>());
  if (vm["dist-timeout"].as<int>() < 1)
    throw Error("--dist-timeout " + std::to_string(vm["dist-timeout"].as<int>()) + ": expected >= 1 second");
  req.timeout = std::chrono::seconds(vm["dist-timeout"].as<int>());
  const int world = nproc > 1 ? nproc : launch.world_size;

  req.run = resolve_run(vm["file"].as<std::string>(), config_overrides(vm), vm);
  req.corpus = load_run_data(req.run.cfg);
  check_rank_division(req.run.cfg, world);
  if (world > 1 && !backend_available(req.backend))
    throw Error("--backend " + to_string(req.backend) + ": not available in this build" +
                (req.backend == DistBackend::Nccl ? " (LibTorch without NCCL); use --backend gloo"
                                                  : " (built without Gloo's headers, Debian: libgloo-dev)"));
  if (!vm.count("skip-memory-check"))  // every rank on this machine holds the parameters and its streams
    check_memory_fits(req.run.cfg, req.run.plugins.loss->spec.mode == LossMode::Bptt,
                      "run " + run_id_of(req.run.cfg), nproc > 1 ? nproc : launch.local_world_size, world);
  resolve_device(
      req.run.cfg.device);  // a CUDA device that is not there is a usage error, before anything is written
  req.run_id = run_id_of(req.run.cfg);
  if (vm.count("expect-run-id") && vm["expect-run-id"].as<std::string>() != req.run_id)
    throw Error(
        "this configuration resolves to run " + req.run_id + ", not " +
        vm["expect-run-id"].as<std::string>() +
        " as the grid expected: was ctlab or a plugin changed while the grid ran? Re-run the grid command");
  req.layout = results_layout(vm);
  req.paths = req.layout.run(req.run_id);
  req.accept_plugin_change = vm.count("accept-plugin-change") > 0;
  if (nproc > 1) return launch_ranks(req, nproc, args);
  return train_rank(req, launch);
}

CommandDef train_command() {
  return {"train", "ctlab train <run.ini> [--set key=value]... [--results DIR]",
          "train one run (resumes from its checkpoint when re-run); results go to the run store", cmd_train};
}

}  // namespace ctlab
