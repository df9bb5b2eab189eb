// `ctlab train <run.ini>`: parses the flags into a training job and hands it to the
// session layer (session/train_run.h), which resolves, validates and loads everything
// first (nothing is written for a run whose configuration or data is bad), then trains or
// resumes the run. `ctlab run-job <job.json>` is the same for a job written by a grid
// scheduler or a launcher (hidden from `ctlab --help`).
#include <boost/program_options.hpp>

#include "cli/cli.h"
#include "session/train_run.h"

namespace ctlab {
namespace {

po::options_description train_options() {
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("file", po::value<std::string>(), "run file (INI)")(
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
  return desc;
}

}  // namespace

int cmd_train(const std::vector<std::string>& args) {
  const CommandDef self = command("train");
  const po::options_description desc = train_options();
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "train");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("file"))
    throw Error("ctlab train: expected a run file, e.g. 'ctlab train experiments/default/run.ini'");
  TrainJob job;
  job.config_file = vm["file"].as<std::string>();
  job.overrides = config_overrides(vm);
  for (const auto& o : job.overrides) {  // the keys set here are the run's hyperparameters
    const auto eq = o.find('=');
    if (eq != std::string::npos) job.hparams.emplace_back(o.substr(0, eq), o.substr(eq + 1));
  }
  job.nproc = vm.count("nproc") ? vm["nproc"].as<int>() : 1;
  if (job.nproc < 1 || job.nproc > 1024)
    throw Error("--nproc " + std::to_string(job.nproc) + ": expected 1 to 1024 ranks");
  job.backend = parse_backend(vm["backend"].as<std::string>());
  job.dist_timeout_s = vm["dist-timeout"].as<int>();
  if (job.dist_timeout_s < 1)
    throw Error("--dist-timeout " + std::to_string(job.dist_timeout_s) + ": expected >= 1 second");
  job.check_memory = !vm.count("skip-memory-check");
  job.results_root = results_layout(vm).root();
  job.plugins = plugin_sources(vm);
  job.accept_plugin_change = vm.count("accept-plugin-change") > 0;
  return train_job(job);
}

int cmd_run_job(const std::vector<std::string>& args) {
  if (args.size() != 1 || args[0] == "--help" || args[0] == "-h")
    throw Error(std::string("ctlab ") + kJobCommand +
                ": expected one job file (written by 'ctlab grid run' or 'ctlab train --nproc'); "
                "use 'ctlab train' to train a run");
  return train_job(read_job(args[0]));
}

CommandDef train_command() {
  return {"train", "ctlab train <run.ini> [--set key=value]... [--results DIR]",
          "train one run (resumes from its checkpoint when re-run); results go to the run store", cmd_train};
}

CommandDef run_job_command() {
  CommandDef c{kJobCommand, std::string("ctlab ") + kJobCommand + " <job.json>",
               "train the run a job file describes (started by grid schedulers and launchers)", cmd_run_job};
  c.hidden = true;
  return c;
}

}  // namespace ctlab
