// Paths of a results root.
#include "store/results_layout.h"

namespace ctlab {

std::string RunPaths::relative(const std::string& run_id, const std::string& file) {
  return "runs/" + run_id + "/" + file;
}

RunPaths ResultsLayout::run(const std::string& run_id) const {
  RunPaths p;
  p.dir = runs_dir() + "/" + run_id;
  p.checkpoint = p.dir + "/checkpoint.pt";
  p.log = p.dir + "/log.txt";
  p.config = p.dir + "/config.ini";
  p.stdout_log = p.dir + "/stdout.txt";
  p.analysis = p.dir + "/analysis.h5";
  return p;
}

}  // namespace ctlab
