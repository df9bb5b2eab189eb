// Numbers as text for people.
#include "util/format.h"

#include <cmath>
#include <cstdio>

namespace ctlab {

std::string format_fixed(double v, int digits) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace ctlab
