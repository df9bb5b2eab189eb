// `ctlab grid status`: each cell's recorded state and final score, then per cell over
// seeds the mean and 95% CI of each metric and the comparisons with the grid's baseline.
#pragma once

#include <string>

#include "grid/grid.h"

namespace ctlab {

int print_grid_status(const Grid& grid, const std::string& results_root, int64_t shard, int64_t shards);

}  // namespace ctlab
