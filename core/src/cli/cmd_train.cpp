// `ctlab train <run.ini>`: resolve, validate and load everything first (nothing is written
// for a run whose configuration or data is bad), then train or resume one run.
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <boost/program_options.hpp>
#include <iostream>

#include "cli/cli.h"
#include "data/corpus.h"
#include "train/evaluator.h"
#include "train/runtime.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/sha256.h"

namespace ctlab {

int cmd_train(const std::vector<std::string>& args) {
  const Command self = command("train");  // a copy: GCC 13 warns on references from calls
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("file", po::value<std::string>(), "run file (INI)")(
      "expect-run-id", po::value<std::string>(),
      "fail unless the resolved run has this id (used by grid workers)");
  add_results_option(desc);
  add_plugin_dir_option(desc);
  add_config_options(desc);
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "train");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("file"))
    throw Error("ctlab train: expected a run file, e.g. 'ctlab train experiments/default/run.ini'");

  auto run = resolve_run(vm["file"].as<std::string>(), config_overrides(vm), vm);
  auto& cfg = run.cfg;
  Corpus corpus = load_corpus(cfg.data);
  cfg.model.vocab_size = corpus.vocab_size;  // the data decide the vocabulary
  if (!cfg.model.cutoffs.empty() && cfg.model.cutoffs.back() >= corpus.vocab_size)
    throw Error("cutoffs end at " + std::to_string(cfg.model.cutoffs.back()) + " but dataset " +
                cfg.data.dataset + " has a vocabulary of " + std::to_string(corpus.vocab_size) +
                ": expected every cutoff below it");
  validate_run_config(cfg);
  resolve_device(cfg.device);  // a CUDA device that is not there is a usage error, before anything is written
  const std::string run_id = run_id_of(cfg);
  if (vm.count("expect-run-id") && vm["expect-run-id"].as<std::string>() != run_id)
    throw Error(
        "this configuration resolves to run " + run_id + ", not " + vm["expect-run-id"].as<std::string>() +
        " as the grid expected: was ctlab or a plugin changed while the grid ran? Re-run the grid command");

  const std::string root = results_root(vm);
  boost::filesystem::create_directories(root);
  RunStore store(root + "/ctlab.sqlite");
  auto paths = RunPaths::for_run(root, run_id);
  if (auto existing = store.find_run(run_id)) {
    if (existing->status == "completed") {
      std::cout << "run " << run_id << " already completed at step " << existing->step << " (" << paths.dir
                << "); change the configuration or the seed for a new run\n";
      return kExitOk;
    }
  }
  boost::filesystem::create_directories(paths.dir);
  write_file_atomic(paths.config, "# run_id = " + run_id + "\n" + format_run_config(cfg));

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
  meta.owner = host_name() + ":" + std::to_string(::getpid());
  store.start_run(meta, config_params(cfg));
  store.add_artifact(run_id, "plugin", run.plugins.fn->path, run.plugins.fn->sha256);
  store.add_artifact(run_id, "plugin", run.plugins.loss->path, run.plugins.loss->sha256);
  // Files of the run folder are recorded relative to the results root, so roots can move
  // and be merged.
  store.add_artifact(run_id, "config", "runs/" + run_id + "/config.ini", sha256_file(paths.config));

  Trainer trainer(cfg, *run.host, run.plugins, corpus, store, run_id, paths);
  auto outcome = trainer.run();
  if (outcome.status == "completed") {
    store.add_artifact(run_id, "checkpoint", "runs/" + run_id + "/checkpoint.pt",
                       sha256_file(paths.checkpoint));
    std::cout << "run " << run_id << " completed at step " << outcome.step << ": valid "
              << score_name(corpus.word_level) << " " << outcome.valid_score << " (loss "
              << outcome.valid_loss << " nats); outputs in " << paths.dir << ", metrics in " << store.path()
              << "\n";
  } else {
    std::cerr << "run " << run_id << " " << outcome.status << " at step " << outcome.step
              << (outcome.error.empty() ? "" : ": " + outcome.error) << "\n";
  }
  return outcome.exit_code();
}

}  // namespace ctlab
