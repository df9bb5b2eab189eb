// The flag table: every run option's key, group, kind, range, help, identity rule and
// accessor, in one place and in the order of `ctlab config` output (and of the identity
// text: the order is part of every run id). Internal to config/.
#pragma once

#include <string>
#include <vector>

#include "config/option_kinds.h"

namespace ctlab {

const std::vector<OptionDef>& option_table();
const OptionDef* find_option(const std::string& key);  // nullptr for an unknown key
std::vector<std::string> option_keys();

// Plugin parameters: compression.<key> and compression_loss.<key>.
extern const char* const kCompressionPrefix;
extern const char* const kLossPrefix;

}  // namespace ctlab
