// Verifying a results root (`ctlab check`): the database's own consistency, run rows and
// run folders that do not match, runs left `running` by a claimant that is gone, checkpoints
// that cannot be loaded or belong to another run, files that differ from the SHA-256
// recorded for them, unreadable analysis files and temporary files left by killed writers.
#pragma once

#include <string>
#include <vector>

#include "plugin/plugin_host.h"

namespace ctlab {

struct RootCheckOptions {
  std::string results_root = "results";
  PluginSources plugins;           // to build a checkpoint's model from its config
  bool remove_temp_files = false;  // remove the temporary files of killed writers instead of listing them
};

struct RootCheck {
  std::vector<std::string> problems;  // "where: what", each saying what to do
  int64_t runs = 0, checkpoints = 0, analyses = 0, artifacts = 0;
  void add(const std::string& where, const std::string& what) { problems.push_back(where + ": " + what); }
};

// Throws ctlab::Error when the root has no database; everything else is a finding.
RootCheck check_root(const RootCheckOptions& options);

}  // namespace ctlab
