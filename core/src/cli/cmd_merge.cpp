// `ctlab merge <root>... --into <root>`: combines results roots (e.g. one per shard) into
// one, idempotently: the SQLite rows and the run folders (session/merge.h).
#include <boost/program_options.hpp>
#include <cstdio>

#include "cli/cli.h"
#include "session/merge.h"

namespace ctlab {

int cmd_merge(const std::vector<std::string>& args) {
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
  const auto roots = vm["roots"].as<std::vector<std::string>>();
  const size_t runs = merge_roots(roots, into, [](const std::string& r, size_t taken, int64_t copied) {
    std::printf("merged %s: %zu run(s) taken, %lld run folder(s) copied\n", r.c_str(), taken,
                static_cast<long long>(copied));
  });
  std::printf("merged %zu root(s) into %s (%zu runs)\n", roots.size(), into.c_str(), runs);
  return kExitOk;
}

CommandDef merge_command() {
  return {"merge", "ctlab merge <root>... --into <root>",
          "merge results roots (e.g. of shards) into one, idempotently", cmd_merge};
}

}  // namespace ctlab
