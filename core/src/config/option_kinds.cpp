// The non-template parts of the option kinds (config/option_kinds.h).
#include "config/option_kinds.h"

#include <cctype>

namespace ctlab {

// An integer >= min_value; otherwise invalid_argument(expected).
int64_t parse_int_at_least(const std::string& v, int64_t min_value, const std::string& expected) {
  int64_t x;
  try {
    x = std::stoll(canonical_value(ParamType::Int, v));
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(expected);
  }
  if (x < min_value) throw std::invalid_argument(expected);
  return x;
}

OptionDef for_datasets(OptionDef d, std::vector<std::string> datasets) {
  d.info.identity_datasets = std::move(datasets);
  return d;
}

OptionDef operational(OptionDef d) {
  d.info.identity = IdentityRule::Never;
  return d;
}

OptionDef when_set(OptionDef d) {
  d.info.identity = IdentityRule::WhenSet;
  return d;
}

OptionDef when_compressing(OptionDef d) {
  d.info.identity = IdentityRule::WhenCompressing;
  return d;
}

std::function<bool(const std::string&)> one_of(std::vector<std::string> choices) {
  return [choices](const std::string& v) {
    for (const auto& c : choices)
      if (v == c) return true;
    return false;
  };
}

bool valid_device(const std::string& v) {
  if (v == "auto" || v == "cpu" || v == "cuda") return true;
  if (!starts_with(v, "cuda:") || v.size() == 5) return false;
  for (size_t i = 5; i < v.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) return false;
  return true;
}

bool valid_plugin_name(const std::string& v) {
  if (v.empty()) return false;
  for (char ch : v)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '@' || ch == '-')) return false;
  return true;
}

}  // namespace ctlab
