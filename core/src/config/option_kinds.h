// The flag table's building blocks: an option's definition (info, setter, getter) and one
// factory per kind of value (integer, float, boolean, string, optional integer, integer
// list, enum). Used by config/option_table.cpp; nothing outside config/ includes this.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/options.h"
#include "config/params.h"
#include "util/text.h"

namespace ctlab {

struct OptionDef {
  OptionInfo info;
  std::function<void(RunConfig&, const std::string&)> set;  // throws invalid_argument
  std::function<std::string(const RunConfig&)> get;
};

// A definition with its info (counting toward the run id) and no setter or getter yet.
inline OptionDef option_def(std::string key, std::string group, std::string expected, std::string help) {
  OptionDef d;
  d.info = {std::move(key), std::move(group), std::move(expected), std::move(help), IdentityRule::Always, {}};
  return d;
}

// An accessor of one RunConfig field, for the factories below.
#define CTLAB_FIELD(expr) \
  [](RunConfig & c) -> auto& { return c.expr; }

// An integer >= min_value; otherwise invalid_argument(expected).
int64_t parse_int_at_least(const std::string& v, int64_t min_value, const std::string& expected);

// The key does not count toward the run id (device, threads, logging cadence).
OptionDef operational(OptionDef d);
// A task's own key: it counts toward the run id only for runs of these datasets.
OptionDef for_datasets(OptionDef d, std::vector<std::string> datasets);
// The key counts toward the run id only when set to other than its default.
OptionDef when_set(OptionDef d);
// The key counts toward the run id only for runs with compressed memory (cmem_len > 0).
OptionDef when_compressing(OptionDef d);
std::function<bool(const std::string&)> one_of(std::vector<std::string> choices);
bool valid_device(const std::string& v);
bool valid_plugin_name(const std::string& v);

template <class Access>
inline OptionDef int_option(std::string key, std::string group, std::string help, Access access,
                            int64_t min_value, std::string expected) {
  OptionDef d = option_def(std::move(key), std::move(group), expected, std::move(help));
  d.set = [access, min_value, expected](RunConfig& c, const std::string& v) {
    access(c) = parse_int_at_least(v, min_value, expected);
  };
  d.get = [access](const RunConfig& c) { return std::to_string(access(const_cast<RunConfig&>(c))); };
  return d;
}

template <class Access>
inline OptionDef float_option(std::string key, std::string group, std::string help, Access access,
                              double min_value, double max_value, std::string expected) {
  OptionDef d = option_def(std::move(key), std::move(group), expected, std::move(help));
  d.set = [access, min_value, max_value, expected](RunConfig& c, const std::string& v) {
    double x;
    try {
      x = std::stod(canonical_value(ParamType::Float, v));
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument(expected);
    }
    if (x < min_value || x > max_value) throw std::invalid_argument(expected);
    access(c) = x;
  };
  d.get = [access](const RunConfig& c) { return format_double(access(const_cast<RunConfig&>(c))); };
  return d;
}

template <class Access>
inline OptionDef bool_option(std::string key, std::string group, std::string help, Access access) {
  std::string expected = "a boolean (true/false)";
  OptionDef d = option_def(std::move(key), std::move(group), expected, std::move(help));
  d.set = [access](RunConfig& c, const std::string& v) {
    access(c) = canonical_value(ParamType::Bool, v) == "true";
  };
  d.get = [access](const RunConfig& c) {
    return std::string(access(const_cast<RunConfig&>(c)) ? "true" : "false");
  };
  return d;
}

// A string option; `ok` says whether a (trimmed) value is accepted, `expected` what is.
template <class Access>
inline OptionDef string_option(std::string key, std::string group, std::string help, Access access,
                               std::string expected, std::function<bool(const std::string&)> ok) {
  OptionDef d = option_def(std::move(key), std::move(group), expected, std::move(help));
  d.set = [access, ok, expected](RunConfig& c, const std::string& v) {
    auto t = trim(v);
    if (!ok(t)) throw std::invalid_argument(expected);
    access(c) = t;
  };
  d.get = [access](const RunConfig& c) { return access(const_cast<RunConfig&>(c)); };
  return d;
}

// An integer that may be left empty ("" = take the training value).
template <class Access>
inline OptionDef optional_int_option(std::string key, std::string group, std::string help, Access access,
                                     int64_t min_value, std::string expected) {
  expected += ", or empty for the training value";
  OptionDef d = option_def(std::move(key), std::move(group), expected, std::move(help));
  d.set = [access, min_value, expected](RunConfig& c, const std::string& v) {
    if (trim(v).empty()) {
      access(c).reset();
      return;
    }
    access(c) = parse_int_at_least(v, min_value, expected);
  };
  d.get = [access](const RunConfig& c) {
    const auto& v = access(const_cast<RunConfig&>(c));
    return v ? std::to_string(*v) : std::string();
  };
  return d;
}

template <class Access>
inline OptionDef int_list_option(std::string key, std::string group, std::string help, Access access) {
  std::string expected = "a comma-separated list of increasing positive integers, or empty";
  OptionDef d = option_def(std::move(key), std::move(group), expected, std::move(help));
  d.set = [expected, access](RunConfig& c, const std::string& v) {
    std::vector<int64_t> out;
    if (!trim(v).empty()) {
      for (const auto& piece : split(v, ',')) {
        int64_t x;
        try {
          x = std::stoll(canonical_value(ParamType::Int, piece));
        } catch (const std::invalid_argument&) {
          throw std::invalid_argument(expected);
        }
        if (x <= 0 || (!out.empty() && x <= out.back())) throw std::invalid_argument(expected);
        out.push_back(x);
      }
    }
    access(c) = out;
  };
  d.get = [access](const RunConfig& c) {
    std::vector<std::string> parts;
    for (auto x : access(const_cast<RunConfig&>(c))) parts.push_back(std::to_string(x));
    return join(parts, ",");
  };
  return d;
}

// A key whose values are the text of an enum's values (to_string is the one mapping).
template <class Access, class E>
inline OptionDef enum_option(std::string key, std::string group, std::string help, Access access,
                             std::string expected, std::vector<E> values) {
  OptionDef d = option_def(std::move(key), std::move(group), expected, std::move(help));
  d.set = [access, values, expected](RunConfig& c, const std::string& v) {
    auto t = trim(v);
    for (E e : values)
      if (t == to_string(e)) {
        access(c) = e;
        return;
      }
    throw std::invalid_argument(expected);
  };
  d.get = [access](const RunConfig& c) { return std::string(to_string(access(const_cast<RunConfig&>(c)))); };
  return d;
}

}  // namespace ctlab
