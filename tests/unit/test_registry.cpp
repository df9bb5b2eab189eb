// The extension points: a toy dataset, export table and command, each registered the way
// ARCHITECTURE.md describes, are found by the code that uses them (config validation,
// corpus loading, `ctlab export`, `ctlab --help` and dispatch); the typed values map to
// and from their text in one place.
#include <gtest/gtest.h>

#include <sstream>

#include "cli/cli.h"
#include "config/options.h"
#include "data/dataset.h"
#include "export.h"
#include "store/results_layout.h"
#include "store/run_store.h"
#include "test_util.h"
#include "util/error.h"

using namespace ctlab;

namespace {

// Runs ctlab's command line in this process; returns the exit code and standard output.
std::pair<int, std::string> run_cli_here(std::vector<std::string> args) {
  args.insert(args.begin(), "ctlab");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream captured;
  auto* old = std::cout.rdbuf(captured.rdbuf());
  int rc = run_cli(static_cast<int>(argv.size()), argv.data());
  std::cout.rdbuf(old);
  return {rc, captured.str()};
}

// Removes a toy registration when the test ends, pass or fail.
template <class Def>
struct Unregister {
  Registry<Def>& registry;
  std::string name;
  ~Unregister() { registry.remove(name); }
};

}  // namespace

TEST(Registry, RejectsDuplicatesAndNamesTheKnownOnes) {
  Registry<DatasetDef> r("dataset");
  r.add({"a", "first", false, nullptr});
  r.add({"b", "second", false, nullptr});
  EXPECT_THROW(r.add({"a", "again", false, nullptr}), Error);
  EXPECT_THROW(r.add({"", "nameless", false, nullptr}), Error);
  EXPECT_EQ(r.expected(), "one of a, b");
  try {
    r.get("unknown_thing");
    FAIL() << "no error for an unknown name";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "unknown dataset 'unknown_thing'; expected one of a, b");
  }
  EXPECT_TRUE(r.remove("a"));
  EXPECT_EQ(r.names(), std::vector<std::string>{"b"});
}

TEST(Registry, BuiltInsInHelpOrder) {
  EXPECT_EQ(datasets().names(),
            (std::vector<std::string>{"default", "brown", "pydoc_words", "enwik8", "text8", "wikitext103",
                                      "text", "synthetic", "recall", "distant_ref", "lookup"}));
  EXPECT_EQ(export_tables().names(),
            (std::vector<std::string>{"runs", "metrics", "attention", "frequency", "retention", "readout",
                                      "evaluations", "history"}));
  EXPECT_EQ(commands().names(),
            (std::vector<std::string>{"plugins", "config", "train", "eval", "sample", "grid", "merge",
                                      "export", "report", "scorecard", "check", "run-job"}));
  EXPECT_TRUE(commands().get("run-job").hidden);  // started by schedulers, not listed in --help
  EXPECT_TRUE(datasets().get("brown").word_level);
  EXPECT_TRUE(datasets().get("pydoc_words").word_level);
  EXPECT_FALSE(datasets().get("synthetic").word_level);
}

TEST(Registry, ToyDatasetIsAcceptedAndLoaded) {
  datasets().add({"toy_counting", "bytes 0, 1, 2, ... repeating", false, [](const DataOptions& o) {
                    Corpus c;
                    c.dataset = "toy_counting";
                    c.source = "generated";
                    c.train = torch::arange(1000, torch::kLong).remainder(7).to(torch::kUInt8);
                    c.valid = c.train.narrow(0, 0, 100);
                    c.test = c.train.narrow(0, 0, 100);
                    return c;
                  }});
  Unregister<DatasetDef> cleanup{datasets(), "toy_counting"};
  auto cfg = load_run_config("", {"dataset=toy_counting"});
  EXPECT_EQ(cfg.data.dataset, "toy_counting");
  auto corpus = load_corpus(cfg.data);
  EXPECT_EQ(corpus.train.numel(), 1000);
  EXPECT_EQ(corpus.train[8].item<int>(), 1);
  EXPECT_FALSE(corpus.word_level);
  // A name nobody registered is refused with the registered names.
  try {
    load_run_config("", {"dataset=toy_nothing"});
    FAIL() << "no error for an unknown dataset";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected one of default, brown"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("toy_counting"), std::string::npos) << e.what();
  }
}

TEST(Registry, ToyExportTableIsExported) {
  test::TempDir dir;
  ResultsLayout layout(dir.path());
  {
    RunStore s(layout.database());
    RunRecord r;
    r.run_id = "run1";
    r.experiment = "e";
    r.config = "x";
    s.start_run(r, {{"mem_len", "8"}});
    s.finish_run("run1", RunStatus::Completed, 3);
  }
  export_tables().add({"toy_steps", "one row per run: its step", [](const ExportContext& ctx) {
                         Table t;
                         ctx.columns(t, {{"run_id", false}, {"experiment", false}}, {{"step", true}});
                         for (size_t i = 0; i < ctx.runs.size(); ++i) {
                           auto row = ctx.prefix(i);
                           row.push_back(std::to_string(ctx.runs[i].step));
                           t.rows.push_back(row);
                         }
                         return t;
                       }});
  Unregister<ExportTableDef> cleanup{export_tables(), "toy_steps"};
  Table t = export_table("toy_steps", layout, {});
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"run1", "e", "3"}));
  // Through the command line too.
  auto [rc, out] = run_cli_here({"export", "toy_steps", "--results", dir.path()});
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "run_id,experiment,step\nrun1,e,3\n");
  EXPECT_THROW(export_table("toy_nothing", layout, {}), Error);
}

TEST(Registry, ToyCommandIsListedAndDispatched) {
  static std::vector<std::string> seen;
  seen.clear();
  commands().add({"toy", "ctlab toy [--some-flag N]", "a toy command for the registry test",
                  [](const std::vector<std::string>& args) {
                    po::options_description desc("Options");
                    desc.add_options()("some-flag", po::value<int>()->default_value(0), "a hyphenated flag");
                    po::variables_map vm;
                    parse_command_line(args, desc, {}, vm, "toy");
                    seen.push_back(std::to_string(vm["some-flag"].as<int>()));
                    return 7;
                  }});
  Unregister<CommandDef> cleanup{commands(), "toy"};
  auto [help_rc, help] = run_cli_here({"--help"});
  EXPECT_EQ(help_rc, 0);
  EXPECT_NE(help.find("toy       a toy command for the registry test"), std::string::npos) << help;
  // Both spellings of a hyphenated flag reach it.
  EXPECT_EQ(run_cli_here({"toy", "--some-flag", "3"}).first, 7);
  EXPECT_EQ(run_cli_here({"toy", "--some_flag=4"}).first, 7);
  EXPECT_EQ(seen, (std::vector<std::string>{"3", "4"}));
}

TEST(TypedValues, MapToAndFromText) {
  for (auto s : {RunStatus::Pending, RunStatus::Running, RunStatus::Completed, RunStatus::Failed,
                 RunStatus::Diverged, RunStatus::Interrupted})
    EXPECT_EQ(parse_run_status(to_string(s)), s);
  EXPECT_THROW(parse_run_status("done"), Error);
  auto cfg = load_run_config("", {"norm=pre", "precision=bf16"});
  EXPECT_EQ(cfg.model.norm, Norm::Pre);
  EXPECT_EQ(cfg.train.precision, Precision::Bf16);
  EXPECT_EQ(get_setting(cfg, "norm"), "pre");
  EXPECT_EQ(get_setting(cfg, "precision"), "bf16");
  EXPECT_EQ(get_setting(RunConfig{}, "norm"), "post");
  EXPECT_EQ(kExitInterrupted, 130);
}
