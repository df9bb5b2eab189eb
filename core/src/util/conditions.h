// The condition grammar of grid files and reports: "axis=value & axis=value", as a grid's
// `exclude` rules and `baseline` are written (and recorded in params as grid_baseline).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ctlab {

// (axis, value) pairs in the order written.
using AxisValues = std::vector<std::pair<std::string, std::string>>;

// "variant=txl & cmem_rate=2" -> {{variant, txl}, {cmem_rate, 2}}, axes and values trimmed.
// Throws ctlab::Error "<where>: <what> '<text>': expected axis=value conditions joined by
// '&'" for a condition without '=' or an axis, and for empty text.
AxisValues parse_conditions(const std::string& text, const std::string& where,
                            const std::string& what = "conditions");

}  // namespace ctlab
