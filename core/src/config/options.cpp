// Run configuration: parsing (INI files, --set), one setting at a time through the flag
// table, and the checks a whole configuration must pass.
#include "config/options.h"

#include <map>
#include <stdexcept>

#include "config/option_table.h"
#include "data/dataset.h"
#include "util/error.h"
#include "util/ini.h"
#include "util/text.h"

namespace ctlab {

const char* to_string(Norm n) { return n == Norm::Pre ? "pre" : "post"; }
const char* to_string(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }
const char* to_string(CheckTiming c) {
  return c == CheckTiming::Deferred ? "deferred" : c == CheckTiming::EveryStep ? "step" : "auto";
}

const std::vector<OptionInfo>& option_infos() {
  static const std::vector<OptionInfo> infos = [] {
    std::vector<OptionInfo> v;
    for (const auto& d : option_table()) v.push_back(d.info);
    return v;
  }();
  return infos;
}

void apply_setting(RunConfig& cfg, const std::string& raw_key, const std::string& value,
                   const std::string& where) {
  std::string key = trim(raw_key);
  for (auto [prefix, choice] :
       {std::pair{kCompressionPrefix, &cfg.compression}, std::pair{kLossPrefix, &cfg.compression_loss}}) {
    if (starts_with(key, prefix)) {
      auto sub = key.substr(std::string(prefix).size());
      if (sub.empty())
        throw Error(where + ": key '" + key + "' lacks a parameter name after '" + prefix + "'");
      choice->params[sub] = trim(value);
      return;
    }
  }
  const OptionDef* d = find_option(key);
  if (!d) {
    throw Error(where + ": unknown key '" + key + "'" + did_you_mean(key, option_keys()) +
                "; 'ctlab config --help' lists every key");
  }
  try {
    d->set(cfg, value);
  } catch (const std::invalid_argument& e) {
    throw Error(where + ": bad value for '" + key + "' = '" + trim(value) + "': expected " + e.what());
  }
  if (d->info.key == "vocab_size") cfg.vocab_size_set_at = where;
}

std::string get_setting(const RunConfig& cfg, const std::string& key) {
  const OptionDef* d = find_option(key);
  if (!d) throw Error("unknown key '" + key + "'" + did_you_mean(key, option_keys()));
  return d->get(cfg);
}

void check_key_once(std::map<std::string, std::string>& set_at, const std::string& key,
                    const std::string& where) {
  if (auto it = set_at.find(key); it != set_at.end())
    throw Error(where + ": key '" + key + "' is already set at " + it->second +
                "; each key is set once per file (sections only group keys: the evaluation's own "
                "settings are the eval_* keys, e.g. eval_batch_size)");
  set_at[key] = where;
}

std::string ini_entry_key(const IniEntry& e, const std::string& where) {
  std::string key = e.key;
  bool dotted = starts_with(key, kCompressionPrefix) || starts_with(key, kLossPrefix);
  bool own = find_option(key) != nullptr;
  if (e.section == "compression" && !dotted && !own) return kCompressionPrefix + e.key;
  if (e.section == "compression_loss" && !dotted) return kLossPrefix + e.key;
  if (!(e.section.empty() || e.section == "run" || e.section == "model" || e.section == "data" ||
        e.section == "train" || e.section == "eval" || e.section == "compression"))
    throw Error(where + ": unknown section [" + e.section +
                "]; expected [run], [model], [data], [train], [eval], [compression] or [compression_loss]");
  return key;
}

void apply_override(RunConfig& cfg, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos)
    throw Error("--set '" + kv + "': expected key=value (for example --set mem_len=128)");
  apply_setting(cfg, kv.substr(0, eq), kv.substr(eq + 1), "--set " + trim(kv.substr(0, eq)));
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_run_config(path.empty() ? IniFile{} : read_ini(path), overrides);
}

RunConfig parse_run_config(const IniFile& ini, const std::vector<std::string>& overrides) {
  RunConfig cfg;
  std::map<std::string, std::string> set_at;
  for (const auto& e : ini.entries) {
    std::string where = ini.path + ":" + std::to_string(e.line);
    const auto key = ini_entry_key(e, where);
    check_key_once(set_at, key, where);
    apply_setting(cfg, key, e.value, where);
  }
  for (const auto& o : overrides) apply_override(cfg, o);
  validate_run_config(cfg);
  return cfg;
}

void validate_run_config(const RunConfig& cfg) {
  const auto& m = cfg.model;
  if (m.d_model % m.n_head != 0)
    throw Error("d_model = " + std::to_string(m.d_model) + " is not divisible by n_head = " +
                std::to_string(m.n_head) + ": expected d_model a multiple of n_head");
  if (m.cmem_len > 0) {
    if (m.seq_len % m.cmem_rate != 0)
      throw Error("seq_len = " + std::to_string(m.seq_len) + " is not a multiple of cmem_rate = " +
                  std::to_string(m.cmem_rate) + ": evictions must be whole blocks of cmem_rate slots");
    if (m.mem_len % m.cmem_rate != 0)
      throw Error("mem_len = " + std::to_string(m.mem_len) + " is not a multiple of cmem_rate = " +
                  std::to_string(m.cmem_rate) + ": evictions must be whole blocks of cmem_rate slots");
    if (m.mem_len == 0)
      throw Error("cmem_len = " + std::to_string(m.cmem_len) +
                  " needs mem_len > 0: compressed memory is filled from slots evicted from memory");
  }
  const auto& t = cfg.train;
  if (t.lr_start > t.lr || t.lr_min > t.lr)
    throw Error("lr_start = " + get_setting(cfg, "lr_start") + " and lr_min = " + get_setting(cfg, "lr_min") +
                " must not exceed lr = " + get_setting(cfg, "lr"));
  if (t.batch_size % t.accumulate != 0)
    throw Error("batch_size = " + std::to_string(t.batch_size) + " is not a multiple of accumulate = " +
                std::to_string(t.accumulate) + ": each step splits the batch into accumulate equal chunks");
  if (m.cmem_len == 0 && cfg.eval.cmem_len.value_or(0) > 0)
    throw Error("eval_cmem_len = " + std::to_string(*cfg.eval.cmem_len) +
                " needs a model trained with compressed memory (cmem_len > 0)");
  if (m.cmem_len > 0 || cfg.eval.cmem_len.value_or(0) > 0) {
    const int64_t els = cfg.eval.seq_len.value_or(m.seq_len), eml = cfg.eval.mem_len.value_or(m.mem_len);
    const int64_t ecl = cfg.eval.cmem_len.value_or(m.cmem_len);
    if (ecl > 0 && (els % m.cmem_rate != 0 || eml % m.cmem_rate != 0 || eml == 0))
      throw Error("evaluation settings eval_seq_len = " + std::to_string(els) +
                  ", eval_mem_len = " + std::to_string(eml) + " must be positive multiples of cmem_rate = " +
                  std::to_string(m.cmem_rate) + " when compressed memory is used");
  }
  // Word-level vocabularies are known only once the data are read (ctlab train checks then).
  const DatasetDef* dataset = datasets().find(cfg.data.dataset);
  const bool word_data = dataset && dataset->word_level;
  if (!word_data) check_cutoffs(m.cutoffs, m.vocab_size, "vocab_size = " + std::to_string(m.vocab_size));
}

void check_cutoffs(const std::vector<int64_t>& cutoffs, int64_t vocab_size, const std::string& vocabulary) {
  if (!cutoffs.empty() && cutoffs.back() >= vocab_size)
    throw Error("cutoffs end at " + std::to_string(cutoffs.back()) + " but " + vocabulary +
                ": expected every cutoff below the vocabulary size");
}

}  // namespace ctlab
