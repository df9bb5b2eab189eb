#include "session/train_run.h"

#include <boost/filesystem.hpp>
#include <iostream>

#include "config/run_shape.h"
#include "runtime/cpu.h"
#include "runtime/runtime.h"
#include "session/claim.h"
#include "session/ranks.h"
#include "session/resolve.h"
#include "session/store_sink.h"
#include "session/tensorboard_sink.h"
#include "store/claim_state.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/ini.h"
#include "util/process.h"

namespace ctlab {
namespace {

// A job resolved: the run, its folder, the launch it is part of and this process's device.
struct Prepared {
  ResolvedRun run;
  CorpusCache data;
  ResultsLayout layout{""};
  RunPaths paths;
  LaunchInfo launch;
  torch::Device device{torch::kCPU};  // resolved once (check_job): a CUDA rank's is its local rank's
};

// The params of a run's start: its identity keys, plugin hashes, shape and distribution.
std::vector<std::pair<std::string, std::string>> start_params(const ResolvedRun& run, const Comm& comm) {
  auto params = config_params(run.cfg);
  const auto hashes = plugin_hash_params(run);
  params.insert(params.end(), hashes.begin(), hashes.end());
  const auto shape = cost_and_reach(run.cfg.model);
  params.insert(params.end(), {{"derived.attention_cost", std::to_string(shape.key_slots)},
                               {"derived.reach_layer", std::to_string(shape.layer_reach)},
                               {"derived.reach_stack", std::to_string(shape.stack_reach)},
                               {"dist.world_size", std::to_string(comm.size())},
                               {"dist.backend", comm.backend()}});
  return params;
}

// Registers the run as running by this process, with its metadata, params and artifacts.
void record_start(RunStore& store, const Prepared& p, const std::string& owner, bool handed_over,
                  const Comm& comm) {
  const auto& cfg = p.run.cfg;
  RunRecord meta;
  meta.run_id = p.run.run_id;
  meta.experiment = cfg.experiment;
  meta.host = host_name();
  meta.device = p.device.str();
  meta.threads = threads_for(cfg.threads);
  meta.git_commit = git_commit();
  meta.ctlab_version = ctlab_version();
  meta.torch_version = torch_version();
  meta.blas = blas_info().summary();
  meta.config = format_run_config(cfg);
  meta.owner = owner;
  const auto attempt = store.start_run(meta, start_params(p.run, comm));
  // Handed over: by the grid scheduler (one process) or by the --nproc launcher (rank 0).
  std::string how = !handed_over         ? std::string()
                    : comm.distributed() ? std::string(" (handed over by its launcher)")
                                         : std::string(" (grid worker)");
  if (comm.distributed()) how += ", rank 0 of " + std::to_string(comm.size()) + " (" + comm.backend() + ")";
  const auto& id = p.run.run_id;
  store.add_event(id, "start", "attempt " + std::to_string(attempt) + " by " + owner + how);
  store.add_artifact(id, "plugin", p.run.plugins.fn->path, p.run.plugins.fn->sha256);
  store.add_artifact(id, "plugin", p.run.plugins.loss->path, p.run.plugins.loss->sha256);
  if (const auto* map = p.run.plugins.map; map && !map->spec.contiguous)
    store.add_artifact(id, "plugin", map->path, map->sha256);
  // Files of the run folder are recorded relative to the results root, so roots can move
  // and be merged.
  record_outputs(store, id, {}, {p.paths.config});
}

int report_outcome(const TrainOutcome& outcome, RunStore& store, const Prepared& p) {
  const auto& id = p.run.run_id;
  if (outcome.status == RunStatus::Completed) {
    record_outputs(store, id, {}, {p.paths.checkpoint});
    std::cout << "run " << id << " completed at step " << outcome.step << ": valid "
              << score_name(p.run.corpus->word_level) << " " << outcome.valid_score << " (loss "
              << outcome.valid_loss << " nats"
              << (outcome.recovered
                      ? "; long-range information recovered " + std::to_string(*outcome.recovered)
                      : std::string())
              << "); outputs in " << p.paths.dir << ", metrics in " << store.path() << "\n";
  } else {
    std::cerr << "run " << id << " " << to_string(outcome.status) << " at step " << outcome.step
              << (outcome.error.empty() ? "" : ": " + outcome.error) << "\n";
  }
  return outcome.exit_code();
}

// The claim of a run to train (by this process, or by the launcher for its rank 0), with
// room for its last status write when the database fills its disk: a reserve file beside
// the database (ctlab.sqlite-reserve-<run id>, on the same filesystem), freed by
// finish_run before it retries.
ClaimRequest training_claim(const Prepared& p, Claimant by) {
  ClaimRequest q;
  q.run_id = p.run.run_id;
  q.experiment = p.run.cfg.experiment;
  q.config = format_run_config(p.run.cfg);
  q.by = by;
  q.reserve_path = p.layout.database() + "-reserve-" + p.run.run_id;
  return q;
}

// Checks everything that can refuse the run before anything is written: completed already,
// a checkpoint of another run in its folder, changed plugin libraries, another claimant.
// Returns false when there is nothing to do.
bool may_train(RunStore& store, const Prepared& p, bool accept_plugin_change) {
  const auto& id = p.run.run_id;
  const auto existing = store.find_run(id);
  if (existing && existing->status == RunStatus::Completed) {
    std::cout << "run " << id << " already completed at step " << existing->step << " (" << p.paths.dir
              << "); change the configuration or the seed for a new run\n";
    return false;
  }
  if (boost::filesystem::exists(p.paths.checkpoint)) {
    const auto belongs_to = checkpoint_run_id(p.paths.checkpoint);
    if (!belongs_to.empty() && belongs_to != id)
      throw Error("checkpoint '" + p.paths.checkpoint + "' belongs to run " + belongs_to + ", not to run " +
                  id + " (was it copied from another run's folder?); remove it to train run " + id +
                  " from step 0");
  }
  if (existing) {
    // Refused here before the plugin check can write to the run's history; the claim
    // below is the atomic guard.
    if (auto state = claim_state_of(*existing, kStaleAfterSeconds); state.claimed)
      throw claimed_elsewhere_error(id, state);
    check_recorded_plugins(store, id, p.run, accept_plugin_change, "resume");
  }
  return true;
}

// Rank 0 (or the only process): refuses what must be refused, claims the run, writes its
// config.ini (the one place it is written) and records its start. Returns the claim, or
// null when there is nothing to do.
std::unique_ptr<RunClaim> start_run_record(RunStore& store, const Prepared& p, bool accept_plugin_change,
                                           const Comm& comm) {
  if (!may_train(store, p, accept_plugin_change)) return nullptr;
  auto claim = RunClaim::claim(store, training_claim(p, Claimant::Train));
  try {
    boost::filesystem::create_directories(p.paths.dir);
    if (int n = remove_stale_temp_files(p.paths.dir))
      std::cout << "removed " << n << " temporary file(s) left in " << p.paths.dir
                << " by writers that were killed\n";
    write_file_atomic(p.paths.config, "# run_id = " + p.run.run_id + "\n" + format_run_config(p.run.cfg));
    record_start(store, p, claim->owner(), claim->handed_over(), comm);
  } catch (const std::exception& e) {
    claim->fail(brief_what(e));
    throw;
  }
  return claim;
}

// Rank 0 decides whether the run goes ahead and tells the others in one broadcast: 0 go
// ahead, 1 nothing to do (completed), 2 refused (rank 0 throws why, the others say so).
int64_t rank0_decision(Prepared& p, const TrainJob& job, const Comm& comm, std::unique_ptr<RunStore>& store,
                       std::unique_ptr<RunClaim>& claim) {
  std::exception_ptr refused;
  int64_t decision = 0;
  if (comm.rank() == 0) {
    try {
      p.layout.prepare();
      store = std::make_unique<RunStore>(p.layout.database());
      claim = start_run_record(*store, p, job.accept_plugin_change, comm);
      if (!claim) decision = 1;
    } catch (...) {
      refused = std::current_exception();
      decision = 2;
    }
  }
  if (comm.distributed()) {
    auto t = torch::full({1}, decision, torch::kLong);
    comm.broadcast(t);
    decision = t.item<int64_t>();
  }
  if (refused) std::rethrow_exception(refused);
  if (decision == 2)
    throw Error("rank 0 refused to start run " + p.run.run_id + " (its output says why)", ErrorKind::Usage);
  return decision;
}

// One rank of a data-parallel run (or the only process, with a single-process comm).
int train_rank(Prepared& p, const TrainJob& job) {
  const auto comm = Comm::connect(p.launch, job.backend, p.device, std::chrono::seconds(job.dist_timeout_s));
  std::unique_ptr<RunStore> store;
  std::unique_ptr<RunClaim> claim;  // rank 0: holds the run, with its heartbeat, until the end
  if (rank0_decision(p, job, *comm, store, claim) == 1) return kExitOk;
  std::unique_ptr<StoreSink> store_sink;
  std::unique_ptr<TensorBoardSink> tensorboard;
  RunSink* sink = nullptr;
  if (store) {
    store_sink = std::make_unique<StoreSink>(*store, p.run.run_id);
    sink = store_sink.get();
    if (p.run.cfg.train.tensorboard) {
      tensorboard = std::make_unique<TensorBoardSink>(*store_sink, p.paths.tensorboard, job.hparams,
                                                      hparams_group(job.hparams));
      sink = tensorboard.get();
    }
  }
  Trainer trainer(p.run.cfg, *p.run.host, p.run.plugins, *p.run.corpus, sink, p.run.run_id, p.paths, *comm,
                  p.device);
  const auto outcome = trainer.run();
  if (store) return report_outcome(outcome, *store, p);
  if (outcome.status != RunStatus::Completed && !outcome.error.empty())
    std::cerr << "rank " << comm->rank() << ": run " << p.run.run_id << " " << to_string(outcome.status)
              << " at step " << outcome.step << ": " << outcome.error << "\n";
  return outcome.exit_code();
}

// The ranks that did not end as rank 0 did (it reports the run's outcome itself).
std::string rank_failures(const std::vector<ChildExit>& exits) {
  std::string failures;
  for (size_t r = 0; r < exits.size(); ++r)
    if (exits[r].signal != 0 || (r > 0 && exits[r].code != exits[0].code))
      failures += (failures.empty() ? "" : "; ") + ("rank " + std::to_string(r) + " " + exits[r].describe());
  return failures;
}

// The ranks' own job: the resolved configuration, one process each, memory checked here.
LocalLaunch rank_launch(const Prepared& p, const TrainJob& job) {
  TrainJob rank = job;
  rank.config_file.clear();
  rank.config_text = format_run_config(p.run.cfg);
  rank.overrides.clear();
  rank.expect_run_id = p.run.run_id;
  rank.check_memory = false;  // checked by the launcher for all ranks together
  rank.nproc = 1;
  LocalLaunch l;
  l.nproc = job.nproc;
  l.grace = std::chrono::seconds(job.dist_timeout_s) + std::chrono::seconds(15);
  const auto& cfg = p.run.cfg;
  l.threads_per_rank =
      static_cast<int>(cfg.threads > 0 ? cfg.threads : std::max<int64_t>(1, available_cpus() / job.nproc));
  if (p.device.is_cpu() && cfg.threads == 0) rank.threads = l.threads_per_rank;
  const std::string file = p.paths.dir + "/ranks.json";
  write_job(file, rank);
  l.argv = job_command(file);
  return l;
}

// `nproc` > 1: this process claims the run (its heartbeat keeps the claim until rank 0
// takes it over), starts the ranks on this machine and, if rank 0 could not record the
// end (it was killed), records it.
int launch_ranks(Prepared& p, const TrainJob& job) {
  p.layout.prepare();
  RunStore store(p.layout.database());
  if (!may_train(store, p, job.accept_plugin_change)) return kExitOk;
  const auto& id = p.run.run_id;
  const auto claim = RunClaim::claim(store, training_claim(p, Claimant::Launcher));
  boost::filesystem::create_directories(p.paths.dir);
  const LocalLaunch l = rank_launch(p, job);
  std::cout << "run " << id << ": starting " << job.nproc << " ranks on this machine"
            << (p.device.is_cpu() ? " (" + std::to_string(l.threads_per_rank) + " thread(s) each)" : "")
            << "\n";
  const auto exits = run_local_ranks(l);
  const std::string failures = rank_failures(exits);
  if (!failures.empty()) {
    std::cerr << "ranks: " << failures << "\n";
    store.add_event(id, "ranks", failures);
  }
  if (claim->child_ended("rank 0", failures + "; re-run to resume from the last checkpoint")) {
    std::cerr << "run " << id << " failed: " << failures << "\n";
    return kExitRunFailed;
  }
  return exits[0].signal == 0 && exits[0].code >= 0 ? exits[0].code : kExitRunFailed;
}

// The job's configuration, with the operational settings its sender decided.
RunConfig job_config(const TrainJob& job) {
  RunConfig cfg = job.config_text.empty()
                      ? load_run_config(job.config_file, job.overrides)
                      : parse_run_config(parse_ini(job.config_text,
                                                   "the resolved configuration of run " + job.expect_run_id),
                                         job.overrides);
  if (job.threads) cfg.threads = *job.threads;
  if (job.device) cfg.device = *job.device;
  return cfg;
}

// This process's device, resolved once: a CUDA rank of a distributed run gets its local
// rank's device (as its Comm does).
torch::Device process_device(const RunConfig& cfg, const LaunchInfo& launch) {
  const auto device = resolve_device(cfg.device);
  if (!device.is_cuda() || !launch.distributed()) return device;
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(cuda_index_for_local_rank(
                                         launch.local_rank, static_cast<int>(torch::cuda::device_count()))));
}

// Everything checked before anything is written; resolves the device.
void check_job(Prepared& p, const TrainJob& job) {
  const int world = job.nproc > 1 ? job.nproc : p.launch.world_size;
  if (job.nproc > 1 && p.launch.distributed())
    throw Error("--nproc " + std::to_string(job.nproc) + ": this process is already " + p.launch.describe() +
                "; use one launcher (either --nproc or the environment's), not both");
  const auto& cfg = p.run.cfg;
  check_rank_division(cfg, world);
  if (world > 1 && !backend_available(job.backend))
    throw Error("--backend " + to_string(job.backend) + ": not available in this build" +
                (job.backend == DistBackend::Nccl ? " (LibTorch without NCCL); use --backend gloo"
                                                  : " (built without Gloo's headers, Debian: libgloo-dev)"));
  if (job.check_memory)  // every rank on this machine holds the parameters and its streams
    check_memory_fits(cfg, p.run.plugins.loss->spec.mode == LossMode::Bptt, "run " + p.run.run_id,
                      job.nproc > 1 ? job.nproc : p.launch.local_world_size, world);
  // A CUDA device that is not there, or bf16 where it cannot run, is a usage error, before
  // anything is written.
  p.device = process_device(cfg, p.launch);
  if (cfg.train.precision == Precision::Bf16) check_bf16(p.device, "precision = bf16");
  if (!job.expect_run_id.empty() && job.expect_run_id != p.run.run_id)
    throw Error("this configuration resolves to run " + p.run.run_id + ", not " + job.expect_run_id +
                " as the process that started this one expected: was ctlab or a plugin changed in between? "
                "Start it again");
}

}  // namespace

int train_job(const TrainJob& job) {
  Prepared p;
  p.launch = launch_from_environment();
  p.run = resolve_config(job_config(job), load_plugins(job.plugins), &p.data);
  check_job(p, job);
  p.layout = ResultsLayout(job.results_root);
  p.paths = p.layout.run(p.run.run_id);
  if (job.nproc > 1) return launch_ranks(p, job);
  return train_rank(p, job);
}

}  // namespace ctlab
