// `ctlab eval <run_id>`: evaluate a trained run's checkpoint on a whole split, with the
// evaluation overrides of [CT] sec. 3.4, and record the result in the run store.
#include <boost/filesystem.hpp>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "config/run_data.h"
#include "model/factory.h"
#include "runtime/runtime.h"
#include "store/heartbeat.h"
#include "store/ownership.h"
#include "store/run_store.h"
#include "train/analysis.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "util/process.h"
#include "util/sha256.h"

namespace ctlab {

namespace {

// The run's configuration with the evaluation overrides from the command line.
std::vector<std::string> eval_overrides(const po::variables_map& vm) {
  std::vector<std::string> overrides;
  const std::pair<const char*, const char*> keys[] = {
      {"seq_len", "eval_seq_len"},     {"mem_len", "eval_mem_len"},    {"cmem_len", "eval_cmem_len"},
      {"clamp_len", "eval_clamp_len"}, {"same_length", "same_length"}, {"batch_size", "eval_batch_size"},
      {"segments", "eval_segments"},   {"device", "device"},           {"threads", "threads"}};
  for (const auto& [flag, key] : keys)
    if (vm.count(flag)) overrides.push_back(std::string(key) + "=" + vm[flag].as<std::string>());
  return overrides;
}

// Evaluates, writes the analysis group and the metrics, and prints the result.
void evaluate_run(ResolvedRun& run, const Corpus& corpus, RunStore& store, const std::string& run_id,
                  const RunPaths& paths, const std::string& split) {
  const auto& cfg = run.cfg;
  const auto device = resolve_device(cfg.device);
  keep_freed_memory();
  set_threads(cfg.threads);
  auto model = build_model(cfg, *run.host, run.plugins);
  model->to(device);
  const int64_t step = load_model_weights(paths.checkpoint, model, device);
  auto settings = eval_settings(cfg, split);
  const auto& e = cfg.eval;
  auto a = analyze(model, corpus, settings, e.buckets_sequences, e.buckets_per_region, e.freq_edges, device,
                   cfg.train.precision == Precision::Bf16);
  const auto& r = a.eval;
  const std::string group = "/eval/" + split + "/" + settings.tag();
  // A failed write stores nothing: the previous analysis file and metrics stay as they were.
  write_analysis(paths.analysis, group, a, {run_id, step, split, settings.tag()}, {}, &a.eval);
  const char* score = score_name(corpus.word_level);
  const double value = score_of(r.loss, corpus.word_level);
  const std::string prefix = "eval/" + split + "/" + settings.tag() + "/";
  std::vector<MetricRow> rows = {
      {prefix + "loss", step, r.loss, 0},
      {prefix + score, step, value, 0},
      {prefix + "loss_se", step, r.loss_se, 0},
      {prefix + score + "_se", step, score_se_of(r.loss, r.loss_se, corpus.word_level), 0}};
  if (r.has_bounds()) {
    rows.push_back({prefix + "recovered", step, r.recovered(), 0});
    if (std::isfinite(r.recovered_se())) rows.push_back({prefix + "recovered_se", step, r.recovered_se(), 0});
  }
  // The analysis file now holds this evaluation too: its new hash goes in with the metrics,
  // so `ctlab check` keeps finding the file the store recorded.
  store.add_metrics(run_id, rows,
                    {{"analysis", RunPaths::relative(run_id, "analysis.h5"), sha256_file(paths.analysis)}});
  std::printf("run %s step %lld, %s split, %s: %s %.4f (loss %.4f nats over %lld tokens, %lld segments)\n",
              run_id.c_str(), static_cast<long long>(step), split.c_str(), settings.tag().c_str(), score,
              value, r.loss, static_cast<long long>(r.tokens), static_cast<long long>(r.segments));
  std::printf("analysis (attention over %lld segments with full memories, token frequencies) in %s:%s\n",
              static_cast<long long>(a.full_segments), paths.analysis.c_str(), group.c_str());
}

}  // namespace

int cmd_eval(const std::vector<std::string>& args) {
  const CommandDef self = command("eval");
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("run_id", po::value<std::string>(), "the run to evaluate")(
      "split", po::value<std::string>()->default_value("test"), "valid or test")(
      "seq_len", po::value<std::string>(), "evaluation segment length (default: the run's eval_seq_len)")(
      "mem_len", po::value<std::string>(), "evaluation memory length")("cmem_len", po::value<std::string>(),
                                                                       "evaluation compressed-memory length")(
      "clamp_len", po::value<std::string>(), "evaluation clamp_len (-1 = no clamp)")(
      "same_length", po::value<std::string>(), "true: every query sees exactly mem_len + cmem_len keys")(
      "batch_size", po::value<std::string>(), "evaluation streams")(
      "segments", po::value<std::string>(), "evaluate only the first N segments (0 = the whole split)")(
      "device", po::value<std::string>(), "auto | cpu | cuda | cuda:N (default: the run's)")(
      "threads", po::value<std::string>(), "intra-op threads");
  add_results_option(desc);
  add_plugin_dir_option(desc);
  add_accept_plugin_change_option(desc);
  po::positional_options_description pos;
  pos.add("run_id", 1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "eval");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("run_id")) throw Error("ctlab eval: expected a run id (see the runs table or results/runs/)");
  const std::string run_id = vm["run_id"].as<std::string>();
  const std::string split = vm["split"].as<std::string>();
  if (split != "valid" && split != "test") throw Error("--split '" + split + "': expected valid or test");

  const ResultsLayout layout = results_layout(vm);
  const std::string db = layout.database();
  if (!boost::filesystem::exists(db))
    throw Error("no results database at '" + db + "' (use --results to point at one)");
  RunStore store(db);
  if (!store.find_run(run_id)) throw Error("no run '" + run_id + "' in " + db);
  const auto paths = layout.run(run_id);
  const auto overrides = eval_overrides(vm);
  auto run = resolve_run(paths.config, overrides, vm);
  if (run_id_of(run.cfg) != run_id && overrides.empty())
    throw Error("'" + paths.config + "' does not describe run " + run_id + " (its run_id is " +
                run_id_of(run.cfg) + ")");
  Corpus corpus = load_run_data(run.cfg);
  check_recorded_plugins(store, run_id, run, vm.count("accept-plugin-change") > 0, "evaluate");
  const std::string owner = process_owner();
  Holding seen;
  if (!store.hold_run(run_id, owner, [&](const std::optional<RunRecord>& r) {
        seen = holding_of(*r, kStaleAfterSeconds);
        return !seen.held;
      }))
    throw held_error(run_id, seen);
  if (seen.takeover)
    store.add_event(run_id, "takeover", "taken over by ctlab eval " + owner + " from " + seen.holder);
  struct Release {
    RunStore& store;
    const std::string& run_id;
    const std::string& owner;
    ~Release() {
      try {
        store.release_run(run_id, owner);
      } catch (...) {
        // the holder is a process that is about to be gone: the next one sees it as free
      }
    }
  } release{store, run_id, owner};
  HeartbeatThread heartbeat(store.path(), run_id, owner);
  evaluate_run(run, corpus, store, run_id, paths, split);
  return kExitOk;
}

CommandDef eval_command() {
  return {"eval", "ctlab eval <run_id> [--split valid|test] [--mem-len N] [--cmem-len N] ... [--results DIR]",
          "evaluate a trained run on a whole split, possibly with other memory settings", cmd_eval};
}

}  // namespace ctlab
