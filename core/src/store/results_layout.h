// The layout of a results root, in one place: the run store, one folder per run with its
// files, and the reports. Paths are plain strings joined with '/'; nothing is created here.
//
//   <root>/ctlab.sqlite                 the run store (store/run_store.h)
//   <root>/runs/<run_id>/               config.ini, checkpoint.pt, log.txt, stdout.txt,
//                                       analysis.h5, tensorboard/
//   <root>/reports/<experiment>/        report.md, data/*.csv, figures/*.png
#pragma once

#include <string>

namespace ctlab {

// The files of one run.
struct RunPaths {
  std::string dir;          // <root>/runs/<run_id>
  std::string checkpoint;   // dir/checkpoint.pt
  std::string log;          // dir/log.txt
  std::string config;       // dir/config.ini
  std::string stdout_log;   // dir/stdout.txt (grid workers' standard output and error)
  std::string analysis;     // dir/analysis.h5
  std::string tensorboard;  // dir/tensorboard/ (TensorBoard event files, store/tensorboard.h)
  std::string threads;      // dir/threads (a grid worker's thread count, runtime/thread_request.h)
  // The same files relative to the results root ("runs/<run_id>/..."), as recorded in the
  // artifacts table so that roots can be moved and merged.
  static std::string relative(const std::string& run_id, const std::string& file);
};

class ResultsLayout {
 public:
  explicit ResultsLayout(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  std::string database() const { return root_ + "/ctlab.sqlite"; }
  std::string runs_dir() const { return root_ + "/runs"; }
  RunPaths run(const std::string& run_id) const;
  std::string report_dir(const std::string& experiment) const { return root_ + "/reports/" + experiment; }
  // Before anything is written to the root: creates it, and throws ctlab::Error (a usage
  // error, exit 2) naming the path when it is a file, cannot be created or written, or
  // holds an empty database beside run folders (a truncated or replaced store).
  void prepare() const;

 private:
  std::string root_;
};

}  // namespace ctlab
