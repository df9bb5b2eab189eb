// Numbers as text for people (tables, reports, logs): one spelling of a fixed-point number.
// Machine-read text (params rows, run ids, CSV exports) is written elsewhere, to full
// precision (config/params.h, analysis/export.h).
#pragma once

#include <string>

namespace ctlab {

// `v` with `digits` digits after the point ("2.7820" for 2.782 and 4); "-" for NaN.
std::string format_fixed(double v, int digits = 4);

}  // namespace ctlab
