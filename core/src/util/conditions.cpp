// The "axis=value & ..." grammar.
#include "util/conditions.h"

#include "util/error.h"
#include "util/text.h"

namespace ctlab {

AxisValues parse_conditions(const std::string& text, const std::string& where, const std::string& what) {
  const std::string bad =
      where + ": " + what + " '" + text + "': expected axis=value conditions joined by '&'";
  AxisValues out;
  for (const auto& c : split(text, '&')) {
    const auto eq = c.find('=');
    if (eq == std::string::npos || trim(c.substr(0, eq)).empty()) throw Error(bad);
    out.emplace_back(trim(c.substr(0, eq)), trim(c.substr(eq + 1)));
  }
  if (out.empty()) throw Error(bad);
  return out;
}

}  // namespace ctlab
