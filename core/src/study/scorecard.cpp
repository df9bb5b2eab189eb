// `ctlab scorecard`: the arms (references, the arms scored before under the same suite, the
// function under test), the checks before anything is written, the runs (the learning-rate
// selection first with --full), and the tables: live on a terminal, in a log each time an
// arm's seeds complete, and once at the end with the report and comparisons.csv.
#include "study/scorecard.h"

#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cstdio>
#include <sstream>

#include "grid/scheduler.h"
#include "session/resolve.h"
#include "study/scorecard_tables.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/ini.h"
#include "util/sha256.h"
#include "util/text.h"

namespace fs = boost::filesystem;

namespace ctlab {
namespace {

// "max_pool [slot]" -> "max_pool-slot": usable as a file name.
std::string slug(const std::string& name) {
  std::string s;
  for (char c : name)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '+' || c == '.')
      s += c;
    else if (!s.empty() && s.back() != '-')
      s += '-';
  while (!s.empty() && s.back() == '-') s.pop_back();
  return s;
}

// The losses that train the function: the user's; none for a function without parameters;
// for a trainable one, every auxiliary loss installed (each its own arm, so a function is not
// judged by the loss that suits it least).
std::vector<std::string> losses_for(const ScorecardRequest& q, const PluginHost& host) {
  if (!q.loss.empty()) {
    try {
      host.compression_loss(q.loss);
    } catch (const Error& e) {
      throw Error("ctlab scorecard: the loss '" + q.loss + "': " + e.what());
    }
    return {q.loss};
  }
  if (!host.compression_fn(q.function).spec.trainable) return {"none"};
  std::vector<std::string> out;
  for (const auto* l : host.compression_losses())
    if (l->spec.mode == LossMode::Auxiliary && std::find(out.begin(), out.end(), l->spec.name) == out.end())
      out.push_back(l->spec.name);
  if (out.empty())
    throw Error(
        "ctlab scorecard: " + q.function +
        " has parameters but no auxiliary compression loss is installed to train it; name one with --loss");
  return out;
}

// --cmem-positions: each name a position map the plugin host has ("all": every one).
std::vector<std::string> positions_for(const ScorecardRequest& q, const PluginHost& host) {
  std::vector<std::string> known;
  for (const auto* m : host.position_maps())
    if (std::find(known.begin(), known.end(), m->spec.name) == known.end()) known.push_back(m->spec.name);
  if (q.positions.size() == 1 && q.positions[0] == "all") return known;
  for (const auto& p : q.positions)
    if (std::find(known.begin(), known.end(), p) == known.end())
      throw Error("--cmem-positions " + p + ": expected a position map (" + join(known, ", ") + ") or 'all'" +
                  did_you_mean(p, known));
  return q.positions;
}

// The arms under test: one per loss and position map.
std::vector<ScorecardArm> candidate_arms(const ScorecardRequest& q, const Suite& suite,
                                         const PluginHost& host) {
  host.compression_fn(q.function);  // an unknown function is named before anything is written
  std::vector<std::string> maps = positions_for(q, host);
  if (maps.empty()) maps.push_back("");
  std::vector<ScorecardArm> arms;
  for (const auto& loss : losses_for(q, host))
    for (const auto& map : maps) {
      ScorecardArm a;
      a.name = q.function + (loss == "none" ? "" : "+" + loss) +
               (map.empty() || map == suite.positions ? "" : " [" + map + "]");
      a.settings = {{"compression", q.function, "the function under test"},
                    {"compression_loss", loss, "the loss that trains it"}};
      if (!map.empty()) a.settings.push_back({"cmem_positions", map, "the position map asked for"});
      a.trains = true;
      arms.push_back(a);
    }
  return arms;
}

// Whether the plugins an earlier arm names are installed here (else it is left out of the
// tables, with a note, rather than refusing the scorecard).
bool installed(const ScorecardArm& a, const PluginHost& host) {
  for (const auto& s : a.settings) try {
      if (s.key == "compression") host.compression_fn(s.value);
      if (s.key == "compression_loss") host.compression_loss(s.value);
      if (s.key == "cmem_positions") host.position_map(s.value);
    } catch (const Error& e) {
      std::printf("(the arm %s scored before is not in the tables: %s)\n", a.name.c_str(), e.what());
      return false;
    }
  return true;
}

// The arms scored before under this suite: one file each in `dir`/arms.
std::vector<ScorecardArm> earlier_arms(const std::string& dir, const PluginHost& host) {
  std::vector<ScorecardArm> arms;
  if (!fs::is_directory(dir)) return arms;
  std::vector<std::string> files;
  for (const auto& f : fs::directory_iterator(dir))
    if (f.path().extension() == ".ini") files.push_back(f.path().string());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    ScorecardArm a;
    for (const auto& e : read_ini(f).entries)
      if (e.key == "name")
        a.name = e.value;
      else
        a.settings.push_back({e.key, e.value, f + ":" + std::to_string(e.line)});
    if (a.name.empty()) throw Error(f + ": expected `name = ARM` (a scorecard arm written by ctlab)");
    if (installed(a, host)) arms.push_back(a);
  }
  return arms;
}

std::string arm_file_text(const ScorecardArm& a) {
  std::string s = "# an arm of this suite's scorecard (written by ctlab)\nname = " + a.name + "\n";
  for (const auto& st : a.settings) s += st.key + " = " + st.value + "\n";
  return s;
}

// References, the earlier arms (read only), then the arms under test.
std::vector<ScorecardArm> all_arms(const Suite& suite, const std::vector<ScorecardArm>& earlier,
                                   const std::vector<ScorecardArm>& mine) {
  std::vector<ScorecardArm> arms;
  for (const auto& r : suite.references) {
    ScorecardArm a{r.name, r.settings, ArmRole::Reference, true, ""};
    if (r.name == kScorecardFloor) a.role = ArmRole::Floor;
    if (r.name == kScorecardCeiling) a.role = ArmRole::Ceiling;
    arms.push_back(a);
  }
  for (const auto& e : earlier)
    if (std::none_of(mine.begin(), mine.end(), [&](const ScorecardArm& m) { return m.name == e.name; }))
      arms.push_back(e);
  arms.insert(arms.end(), mine.begin(), mine.end());
  return arms;
}

// Prints a table after each finished run on a terminal; in a log, only when the number of
// complete arm groups went up (and the caller prints once more at the end).
class Progress {
 public:
  explicit Progress(std::function<std::pair<size_t, std::string>()> table)
      : table_(std::move(table)), tty_(isatty(fileno(stdout))) {}
  void finished() {
    const auto [complete, text] = table_();
    if (!tty_ && complete <= complete_) return;
    complete_ = complete;
    std::printf("%s", text.c_str());
    std::fflush(stdout);
  }

 private:
  std::function<std::pair<size_t, std::string>()> table_;
  bool tty_;
  size_t complete_ = 0;
};

// (arm, task) groups of a probe whose runs are all complete.
size_t complete_groups(const ScorecardPlan& plan, const ScorecardResults& results, Probe probe) {
  std::map<std::string, bool> done;
  for (const auto& r : plan.runs)
    if (r.probe == probe) {
      auto [it, fresh] = done.emplace(std::to_string(r.arm) + "\t" + r.task, true);
      it->second = it->second && results.count(r.run_id);
    }
  size_t n = 0;
  for (const auto& [k, d] : done) n += d;
  return n;
}

struct Context {
  ScorecardRequest q;
  Suite suite;
  ResultsLayout layout;
  std::string dir;
  PlanInputs in;
};

int run_plan(const Context& c, const ScorecardPlan& plan, Probe probe, const ScorecardView& base) {
  GridRunOptions o;
  o.jobs = c.q.jobs;
  o.results_root = c.layout.root();
  o.plugins = c.q.plugins;
  Progress progress([&] {
    const auto results = load_results(plan, c.layout);
    ScorecardView v = base;
    v.plan = &plan;
    v.results = &results;
    if (probe == Probe::Selection) v.chosen_lr = choose_learning_rates(plan, results, &v.lr_means);
    const auto tables = scorecard_tables(v);
    const auto& shown = probe == Probe::Selection ? tables[1] : tables[0];
    return std::make_pair(complete_groups(plan, results, probe), as_text(shown));
  });
  o.on_finished = [&](const GridCell&) { progress.finished(); };
  return run_grid(plan.grid, o);
}

void write_outputs(const Context& c, const ScorecardView& v) {
  std::string md = "# Scorecard: " + c.q.function + "\n\nSuite `" + c.suite.path + "`; results root `" +
                   c.layout.root() + "`; every arm scored under this suite in this root.\n\n";
  for (const auto& t : scorecard_tables(v)) {
    std::printf("%s", as_text(t).c_str());
    md += as_markdown(t);
  }
  write_file_atomic(c.dir + "/report.md", md);
  std::ostringstream csv;
  write_csv(comparisons_table(v), csv);
  write_file_atomic(c.dir + "/comparisons.csv", csv.str());
  std::printf(
      "(tables in %s/report.md, the pairs in %s/comparisons.csv; `ctlab report %s --results %s` has every "
      "run)\n",
      c.dir.c_str(), c.dir.c_str(), kScorecardExperiment, c.layout.root().c_str());
}

}  // namespace

int run_scorecard(const ScorecardRequest& q) {
  Context c{
      q, read_suite(q.suite.empty() ? default_suite_path() : q.suite), ResultsLayout(q.results_root), "", {}};
  if (q.full && c.suite.learning_rates.empty())
    throw Error("ctlab scorecard --full: the suite '" + c.suite.path +
                "' has no [learning_rates] section (lr = a, b, c) to sweep");
  const std::string hash =
      sha256_hex(c.suite.text_hash + "\n" + join(q.sets, "\n") + (q.full ? "\nfull" : ""));
  c.dir = c.layout.root() + "/scorecards/suite-" + hash.substr(0, 10);
  const auto host = load_plugins(q.plugins);
  const auto mine = candidate_arms(q, c.suite, *host);
  c.in.suite = &c.suite;
  c.in.arms = all_arms(c.suite, earlier_arms(c.dir + "/arms", *host), mine);
  c.in.seeds = split_seeds(c.suite.seeds, q.seeds, c.suite.selection_seeds);
  c.in.overrides = q.sets;
  // Every run is resolved and checked (memory beside the other workers) before anything is written.
  ScorecardPlan scored = plan_scorecard(c.in, q.plugins, c.dir);
  GridRunOptions preflight;
  preflight.jobs = q.jobs;
  check_grid_fits(scored.grid, preflight, true);
  PlanInputs selecting = c.in;
  selecting.selection = true;
  const ScorecardPlan selection = q.full ? plan_scorecard(selecting, q.plugins, c.dir) : ScorecardPlan{};
  if (q.full) check_grid_fits(selection.grid, preflight, true);
  fs::create_directories(c.dir + "/arms");
  for (const auto& a : scored.arms)
    if (a.trains && a.role == ArmRole::Candidate && a.same_as.empty())
      write_file_atomic(c.dir + "/arms/" + slug(a.name) + ".ini", arm_file_text(a));
  ScorecardView view{&c.suite, nullptr, nullptr, c.in.seeds, q.full, {}, {}, c.layout.root()};
  if (q.full) {
    const int rc = run_plan(c, selection, Probe::Selection, view);
    const auto results = load_results(selection, c.layout);
    view.chosen_lr = choose_learning_rates(selection, results, &view.lr_means);
    if (rc != 0) {
      std::printf("ctlab scorecard: some selection runs did not complete; the scored runs wait for them\n");
      return rc;
    }
    c.in.chosen_lr = view.chosen_lr;
    scored = plan_scorecard(c.in, q.plugins, c.dir);
  }
  const int rc = run_plan(c, scored, Probe::Score, view);
  const auto results = load_results(scored, c.layout);
  view.plan = &scored;
  view.results = &results;
  write_outputs(c, view);
  return rc;
}

}  // namespace ctlab
