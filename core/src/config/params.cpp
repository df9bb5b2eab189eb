// Value parsing shared by run options and plugin parameters.
#include "config/params.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "util/error.h"
#include "util/text.h"

namespace ctlab {

std::string format_double(double x) {
  // std::to_chars: the shortest spelling that reads back as x, independent of the locale,
  // so run ids do not depend on how a user wrote a value or on the machine.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, res.ptr);
}

std::string canonical_value(ParamType type, const std::string& raw) {
  std::string v = trim(raw);
  switch (type) {
    case ParamType::Int: {
      char* end = nullptr;
      errno = 0;
      long long x = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || errno == ERANGE) throw std::invalid_argument("an integer");
      return std::to_string(x);
    }
    case ParamType::Float: {
      char* end = nullptr;
      errno = 0;
      double x = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(x))
        throw std::invalid_argument("a finite number");
      return format_double(x);
    }
    case ParamType::Bool: {
      std::string l;
      for (char c : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (l == "true" || l == "1" || l == "yes" || l == "on") return "true";
      if (l == "false" || l == "0" || l == "no" || l == "off") return "false";
      throw std::invalid_argument("a boolean (true/false)");
    }
    case ParamType::String:
      return v;
  }
  throw std::invalid_argument("a known type");
}

PluginParams resolve_plugin_params(const std::vector<ParamSpec>& specs,
                                   const std::map<std::string, std::string>& given,
                                   const std::string& key_prefix, const std::string& plugin_id) {
  std::map<std::string, std::string> out;
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  for (const auto& [key, value] : given) {
    bool known = false;
    for (const auto& s : specs) known = known || s.name == key;
    if (!known) {
      throw Error("unknown key '" + key_prefix + key + "': plugin " + plugin_id +
                  (names.empty() ? " takes no parameters"
                                 : " declares " + join(names, ", ") + did_you_mean(key, names)));
    }
  }
  for (const auto& s : specs) {
    auto it = given.find(s.name);
    const std::string& value = it == given.end() ? s.default_value : it->second;
    try {
      out[s.name] = canonical_value(s.type, value);
      if (!s.choices.empty() && std::find(s.choices.begin(), s.choices.end(), out[s.name]) == s.choices.end())
        throw std::invalid_argument("one of " + join(s.choices, ", "));
    } catch (const std::invalid_argument& e) {
      throw Error("bad value for '" + key_prefix + s.name + "' = '" + value + "': plugin " + plugin_id +
                  " expects " + e.what() +
                  (it == given.end() ? " (this is the plugin's own default: the plugin is broken)" : ""));
    }
  }
  return PluginParams(std::move(out));
}

}  // namespace ctlab
