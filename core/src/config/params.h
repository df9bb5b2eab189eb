// Typed values at the string edge: one parser for option values and plugin parameters,
// and validation of a plugin's configured parameters against its declared ParamSpecs.
#pragma once

#include <ctlab/plugin_api.h>

#include <map>
#include <string>
#include <vector>

namespace ctlab {

// The shortest locale-independent spelling that reads back as x ("0.001", "1e-06").
std::string format_double(double x);

// Canonical spelling of `value` as `type` ("1e-3" -> "0.001", "True" -> "true").
// Throws std::invalid_argument whose what() says what was expected ("an integer").
std::string canonical_value(ParamType type, const std::string& value);

// Every declared parameter, with `given` overriding defaults. `key_prefix` is the config
// prefix ("compression." or "compression_loss.") used in error messages; unknown keys and
// values of the wrong type throw ctlab::Error naming key, value, plugin and expectation.
PluginParams resolve_plugin_params(const std::vector<ParamSpec>& specs,
                                   const std::map<std::string, std::string>& given,
                                   const std::string& key_prefix, const std::string& plugin_id);

}  // namespace ctlab
