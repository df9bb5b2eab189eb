// Merging results roots (`ctlab merge`): the SQLite rows of each root's runs, then their
// run folders, into one root, idempotently.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace ctlab {

// Called after each source root with its path, runs taken and run folders copied.
using MergeProgress = std::function<void(const std::string& root, size_t taken, int64_t copied)>;

// Throws ctlab::Error, before anything is written, for a source that is not a results
// root or is the destination. Returns the number of runs in the destination.
size_t merge_roots(const std::vector<std::string>& roots, const std::string& into,
                   const MergeProgress& progress);

}  // namespace ctlab
