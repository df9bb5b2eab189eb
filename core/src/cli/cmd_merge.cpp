// `ctlab merge <root>... --into <root>`: combines results roots (e.g. one per shard) into
// one, idempotently: the SQLite rows and the run folders.
#include <boost/filesystem.hpp>
#include <boost/program_options.hpp>
#include <cstdio>

#include "cli/cli.h"
#include "store/run_store.h"

namespace ctlab {
namespace {

void copy_tree(const boost::filesystem::path& from, const boost::filesystem::path& to) {
  namespace fs = boost::filesystem;
  fs::create_directories(to);
  for (fs::directory_iterator it(from), end; it != end; ++it) {
    auto target = to / it->path().filename();
    if (fs::is_directory(it->path()))
      copy_tree(it->path(), target);
    else
      fs::copy_file(it->path(), target, fs::copy_options::overwrite_existing);
  }
}

}  // namespace

int cmd_merge(const std::vector<std::string>& args) {
  namespace fs = boost::filesystem;
  const CommandDef self = command("merge");
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")("roots", po::value<std::vector<std::string>>(),
                                                 "results roots to merge")(
      "into", po::value<std::string>(), "the results root to merge into (created if needed)");
  po::positional_options_description pos;
  pos.add("roots", -1);
  po::variables_map vm;
  parse_command_line(args, desc, pos, vm, "merge");
  if (vm.count("help")) return print_help(self, desc);
  if (!vm.count("roots") || !vm.count("into"))
    throw Error(
        "ctlab merge: expected results roots and --into, e.g. 'ctlab merge results/shard-* --into results'");
  const std::string into = vm["into"].as<std::string>();
  std::vector<std::string> roots = vm["roots"].as<std::vector<std::string>>();
  for (const auto& r : roots) {
    if (!fs::exists(ResultsLayout(r).database()))
      throw Error("'" + r + "' is not a results root: it has no ctlab.sqlite");
    boost::system::error_code ec;
    if (fs::equivalent(r, into, ec)) throw Error("'" + r + "' is the root being merged into");
  }
  fs::create_directories(into);
  const ResultsLayout dest_layout(into);
  RunStore dest(dest_layout.database());
  for (const auto& r : roots) {
    const ResultsLayout src_layout(r);
    auto taken = dest.merge_from(src_layout.database());
    int64_t copied = 0;
    for (const auto& id : taken) {
      fs::path src = src_layout.run(id).dir;
      if (fs::is_directory(src)) {
        copy_tree(src, dest_layout.run(id).dir);
        ++copied;
      }
    }
    std::printf("merged %s: %zu run(s) taken, %lld run folder(s) copied\n", r.c_str(), taken.size(),
                static_cast<long long>(copied));
  }
  std::printf("merged %zu root(s) into %s (%zu runs)\n", roots.size(), into.c_str(), dest.runs().size());
  return kExitOk;
}

CommandDef merge_command() {
  return {"merge", "ctlab merge <root>... --into <root>",
          "merge results roots (e.g. of shards) into one, idempotently", cmd_merge};
}

}  // namespace ctlab
