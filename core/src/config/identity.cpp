// A run's identity and its serialisations: the params rows, the identity text whose hash
// is the run id, and the INI text of config.ini. Which keys count is declared once, per key,
// in the flag table (OptionInfo::identity, and identity_datasets for a task's own keys).
#include <algorithm>
#include <sstream>

#include "config/option_table.h"
#include "config/options.h"
#include "util/sha256.h"

namespace ctlab {

std::vector<std::pair<std::string, std::string>> config_params(const RunConfig& cfg) {
  // Without compressed memory no compression function or loss runs: say so, rather than
  // record the (unused) defaults as if they had.
  const bool compresses = cfg.model.cmem_len > 0;
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& d : option_table()) {
    const bool plugin = d.info.key == "compression" || d.info.key == "compression_loss";
    out.emplace_back(d.info.key, plugin && !compresses ? "none" : d.get(cfg));
  }
  if (!compresses) return out;
  for (const auto& [k, v] : cfg.compression.params) out.emplace_back(std::string(kCompressionPrefix) + k, v);
  for (const auto& [k, v] : cfg.compression_loss.params) out.emplace_back(std::string(kLossPrefix) + k, v);
  return out;
}

std::string identity_text(const RunConfig& cfg) {
  const bool compresses = cfg.model.cmem_len > 0;
  static const RunConfig defaults;
  auto counts = [&](const OptionDef& d) {
    const OptionInfo& o = d.info;
    if (o.identity == IdentityRule::Never) return false;
    if (o.identity == IdentityRule::WhenSet && d.get(cfg) == d.get(defaults)) return false;
    if (o.identity == IdentityRule::WhenCompressing && !compresses) return false;
    const auto& only = o.identity_datasets;
    return only.empty() || std::find(only.begin(), only.end(), cfg.data.dataset) != only.end();
  };
  std::string canon;
  for (const auto& d : option_table())
    if (counts(d)) canon += d.info.key + "=" + d.get(cfg) + "\n";
  if (compresses) {
    for (const auto& [k, v] : cfg.compression.params)
      canon += std::string(kCompressionPrefix) + k + "=" + v + "\n";
    for (const auto& [k, v] : cfg.compression_loss.params)
      canon += std::string(kLossPrefix) + k + "=" + v + "\n";
  }
  return canon;
}

std::string run_id_of(const RunConfig& cfg) { return sha256_hex(identity_text(cfg)).substr(0, 12); }

// A value as the INI reader reads it back: in double quotes when it holds what would
// otherwise start a comment (" #", " ;") or begins with a quote.
static std::string ini_value(const std::string& v) {
  const bool quote = (!v.empty() && v.front() == '"') || v.find(" #") != std::string::npos ||
                     v.find("\t#") != std::string::npos || v.find(" ;") != std::string::npos ||
                     v.find("\t;") != std::string::npos;
  return quote ? "\"" + v + "\"" : v;
}

std::string format_run_config(const RunConfig& cfg) {
  std::ostringstream os;
  std::string group;
  for (const auto& d : option_table()) {
    if (d.info.group != group) {
      group = d.info.group;
      os << (os.tellp() > 0 ? "\n" : "") << "[" << group << "]\n";
    }
    os << d.info.key << " = " << ini_value(d.get(cfg)) << "\n";
  }
  // Plugin parameters: function parameters under [compression] (after the plugin keys),
  // loss parameters in their own section; both read back as compression[_loss].<key>.
  for (const auto& [k, v] : cfg.compression.params) os << k << " = " << ini_value(v) << "\n";
  if (!cfg.compression_loss.params.empty()) {
    os << "\n[compression_loss]\n";
    for (const auto& [k, v] : cfg.compression_loss.params) os << k << " = " << ini_value(v) << "\n";
  }
  return os.str();
}

}  // namespace ctlab
