// The flag table: every run option's key, type, range, help and accessor, in one place.
#include "config/options.h"

#include <cmath>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "config/params.h"
#include "data/dataset.h"
#include "util/error.h"
#include "util/ini.h"
#include "util/sha256.h"
#include "util/text.h"

namespace ctlab {
namespace {

struct OptionDef {
  OptionInfo info;
  std::function<void(RunConfig&, const std::string&)> set;  // throws invalid_argument
  std::function<std::string(const RunConfig&)> get;
};

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

template <class Access>
OptionDef int_option(std::string key, std::string group, std::string help, Access access, int64_t min_value,
                     std::string expected) {
  OptionDef d{{std::move(key), std::move(group), expected, std::move(help)}, {}, {}};
  d.set = [access, min_value, expected](RunConfig& c, const std::string& v) {
    access(c) = parse_int_at_least(v, min_value, expected);
  };
  d.get = [access](const RunConfig& c) { return std::to_string(access(const_cast<RunConfig&>(c))); };
  return d;
}

template <class Access>
OptionDef float_option(std::string key, std::string group, std::string help, Access access, double min_value,
                       double max_value, std::string expected) {
  OptionDef d{{std::move(key), std::move(group), expected, std::move(help)}, {}, {}};
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
OptionDef bool_option(std::string key, std::string group, std::string help, Access access) {
  std::string expected = "a boolean (true/false)";
  OptionDef d{{std::move(key), std::move(group), expected, std::move(help)}, {}, {}};
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
OptionDef string_option(std::string key, std::string group, std::string help, Access access,
                        std::string expected, std::function<bool(const std::string&)> ok) {
  OptionDef d{{std::move(key), std::move(group), expected, std::move(help)}, {}, {}};
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
OptionDef optional_int_option(std::string key, std::string group, std::string help, Access access,
                              int64_t min_value, std::string expected) {
  expected += ", or empty for the training value";
  OptionDef d{{std::move(key), std::move(group), expected, std::move(help)}, {}, {}};
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

OptionDef operational(OptionDef d) {
  d.info.identity = false;
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

template <class Access>
OptionDef int_list_option(std::string key, std::string group, std::string help, Access access) {
  std::string expected = "a comma-separated list of increasing positive integers, or empty";
  OptionDef d{{std::move(key), std::move(group), expected, std::move(help)}, {}, {}};
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

OptionDef split_option() {
  std::string expected = "three non-negative fractions train,valid,test summing to 1, e.g. 0.9,0.05,0.05";
  OptionDef d{{"split", "data", expected, "train/valid/test fractions for the default corpus and text files"},
              {},
              {}};
  d.set = [expected](RunConfig& c, const std::string& v) {
    auto parts = split(v, ',');
    if (parts.size() != 3) throw std::invalid_argument(expected);
    std::vector<double> f;
    double sum = 0;
    for (const auto& p : parts) {
      double x;
      try {
        x = std::stod(canonical_value(ParamType::Float, p));
      } catch (const std::invalid_argument&) {
        throw std::invalid_argument(expected);
      }
      if (x < 0) throw std::invalid_argument(expected);
      f.push_back(x);
      sum += x;
    }
    if (std::abs(sum - 1.0) > 1e-6 || f[0] <= 0) throw std::invalid_argument(expected);
    c.data.split = f;
  };
  d.get = [](const RunConfig& c) {
    std::vector<std::string> parts;
    for (double x : c.data.split) parts.push_back(format_double(x));
    return join(parts, ",");
  };
  return d;
}

// A key whose values are the text of an enum's values (to_string is the one mapping).
template <class Access, class E>
OptionDef enum_option(std::string key, std::string group, std::string help, Access access,
                      std::string expected, std::vector<E> values) {
  OptionDef d{{std::move(key), std::move(group), expected, std::move(help)}, {}, {}};
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

// `dataset`: a name in the dataset registry; help and the accepted values come from it
// when the error is raised, so a dataset registered later is accepted too.
OptionDef dataset_option() {
  OptionDef d{{"dataset", "data", datasets().expected(), join(datasets().names(), " | ")}, {}, {}};
  d.set = [](RunConfig& c, const std::string& v) {
    auto t = trim(v);
    if (!datasets().find(t)) throw std::invalid_argument(datasets().expected());
    c.data.dataset = t;
  };
  d.get = [](const RunConfig& c) { return c.data.dataset; };
  return d;
}

#define CTLAB_FIELD(expr) \
  [](RunConfig & c) -> auto& { return c.expr; }

const std::string pos = "a positive integer", nonneg = "a non-negative integer";

void add_run_options(std::vector<OptionDef>& t) {
  t.push_back(string_option(
      "experiment", "run", "experiment name that groups runs in the results store", CTLAB_FIELD(experiment),
      "a name of letters, digits, '.', '_' and '-' (a folder name under reports/)", is_safe_name));
  t.push_back(
      int_option("seed", "run", "one seed for init, dropout and data order", CTLAB_FIELD(seed), 0, nonneg));
  t.push_back(operational(string_option("device", "run", "auto | cpu | cuda | cuda:N", CTLAB_FIELD(device),
                                        "auto, cpu, cuda or cuda:N", valid_device)));
  t.push_back(operational(int_option("threads", "run", "intra-op threads for this worker; 0 = all cores",
                                     CTLAB_FIELD(threads), 0, nonneg)));
}

void add_model_options(std::vector<OptionDef>& t) {
  t.push_back(int_option("vocab_size", "model", "vocabulary size (256 for bytes; word data sets it)",
                         CTLAB_FIELD(model.vocab_size), 2, "an integer >= 2"));
  t.push_back(
      int_option("n_layer", "model", "number of transformer layers", CTLAB_FIELD(model.n_layer), 1, pos));
  t.push_back(int_option("d_model", "model", "model width D", CTLAB_FIELD(model.d_model), 1, pos));
  t.push_back(int_option("n_head", "model", "attention heads (d_head = d_model / n_head)",
                         CTLAB_FIELD(model.n_head), 1, pos));
  t.push_back(
      int_option("d_ff", "model", "inner width of the feed-forward block", CTLAB_FIELD(model.d_ff), 1, pos));
  t.push_back(int_option("seq_len", "model", "segment length n_s (tokens per step per stream)",
                         CTLAB_FIELD(model.seq_len), 1, pos));
  t.push_back(
      int_option("mem_len", "model", "memory slots n_m per layer", CTLAB_FIELD(model.mem_len), 0, nonneg));
  t.push_back(int_option("cmem_len", "model", "compressed-memory slots n_cm per layer (0 = Transformer-XL)",
                         CTLAB_FIELD(model.cmem_len), 0, nonneg));
  t.push_back(int_option("cmem_rate", "model", "compression rate c", CTLAB_FIELD(model.cmem_rate), 1, pos));
  t.push_back(int_option("clamp_len", "model", "clamp relative distances at this value; -1 = no clamp",
                         CTLAB_FIELD(model.clamp_len), -1, "-1 or a non-negative integer"));
  t.push_back(bool_option("same_length", "model",
                          "at evaluation every query sees exactly mem_len+cmem_len keys",
                          CTLAB_FIELD(model.same_length)));
  t.push_back(float_option("dropout", "model", "dropout on embeddings, residual branches, FF inner, output",
                           CTLAB_FIELD(model.dropout), 0.0, 0.999, "a number in [0, 1)"));
  t.push_back(float_option("dropatt", "model", "dropout on attention probabilities",
                           CTLAB_FIELD(model.dropatt), 0.0, 0.999, "a number in [0, 1)"));
  t.push_back(enum_option("norm", "model", "post (both papers) | pre (pre-LN, final LN before the output)",
                          CTLAB_FIELD(model.norm), "post or pre", std::vector<Norm>{Norm::Post, Norm::Pre}));
  t.push_back(bool_option("untie_r", "model", "learned u, v biases per layer (false: shared)",
                          CTLAB_FIELD(model.untie_r)));
  t.push_back(bool_option("tie_weight", "model", "output layer shares the embedding matrix",
                          CTLAB_FIELD(model.tie_weight)));
  t.push_back(string_option("cmem_positions", "model",
                            "relative positions of compressed slots: slot = one step each",
                            CTLAB_FIELD(model.cmem_positions), "slot", one_of({"slot"})));
  t.push_back(
      int_list_option("cutoffs", "model",
                      "adaptive softmax cluster cutoffs for word-level vocabularies; empty = full softmax",
                      CTLAB_FIELD(model.cutoffs)));
  t.push_back(float_option("init_std", "model", "standard deviation of the normal weight init",
                           CTLAB_FIELD(model.init_std), 1e-12, 10.0, "a positive number"));
}

void add_data_options(std::vector<OptionDef>& t) {
  t.push_back(dataset_option());
  t.push_back(
      string_option("data_path", "data",
                    "file (enwik8, text8, text) or folder (wikitext103, brown: the folder of ca01 ... cr09 "
                    "or NLTK's data folder); empty = the bundled copy or the searched folders",
                    CTLAB_FIELD(data.data_path), "a path", [](const std::string&) { return true; }));
  t.push_back(split_option());
  t.push_back(int_option("synthetic_vocab", "data", "synthetic copy task: alphabet size",
                         CTLAB_FIELD(data.synthetic_vocab), 2, "an integer >= 2"));
  t.push_back(int_option("synthetic_period", "data",
                         "synthetic copy task: block length; each block is followed by its copy",
                         CTLAB_FIELD(data.synthetic_period), 1, pos));
  t.push_back(int_option("synthetic_tokens", "data", "synthetic copy task: tokens in the training split",
                         CTLAB_FIELD(data.synthetic_tokens), 1000, "an integer >= 1000"));
  t.push_back(int_option("recall_pairs", "data", "recall task: key/value pairs stored per episode",
                         CTLAB_FIELD(data.recall_pairs), 1, pos));
  t.push_back(int_option("recall_gap", "data",
                         "recall task: filler tokens between the stored pairs and the queries",
                         CTLAB_FIELD(data.recall_gap), 0, nonneg));
  t.push_back(int_option("ref_distance", "data", "distant_ref task: tokens from a payload to its repeat",
                         CTLAB_FIELD(data.ref_distance), 2, "an integer >= 2"));
}

void add_train_options(std::vector<OptionDef>& t) {
  t.push_back(int_option("batch_size", "train", "parallel streams per step (TXL batching)",
                         CTLAB_FIELD(train.batch_size), 1, pos));
  t.push_back(int_option("max_steps", "train", "training steps", CTLAB_FIELD(train.max_steps), 1, pos));
  t.push_back(float_option("lr", "train", "peak learning rate (Adam)", CTLAB_FIELD(train.lr), 1e-12, 10.0,
                           "a positive number"));
  t.push_back(float_option("lr_start", "train", "learning rate at step 0, warmed up linearly to lr",
                           CTLAB_FIELD(train.lr_start), 0.0, 10.0, "a non-negative number"));
  t.push_back(float_option("lr_min", "train", "learning rate reached by the cosine at max_steps",
                           CTLAB_FIELD(train.lr_min), 0.0, 10.0, "a non-negative number"));
  t.push_back(
      int_option("warmup_steps", "train", "linear warmup steps", CTLAB_FIELD(train.warmup_steps), 0, nonneg));
  t.push_back(float_option("clip", "train", "global gradient-norm clip; 0 = off", CTLAB_FIELD(train.clip),
                           0.0, 1e9, "a non-negative number"));
  t.push_back(int_option("accumulate", "train",
                         "split each batch into this many chunks (gradient accumulation)",
                         CTLAB_FIELD(train.accumulate), 1, pos));
  t.push_back(int_option("update_period", "train",
                         "from update_period_from on, update the weights every this many steps",
                         CTLAB_FIELD(train.update_period), 1, pos));
  t.push_back(int_option("update_period_from", "train", "step from which update_period applies",
                         CTLAB_FIELD(train.update_period_from), 0, nonneg));
  t.push_back(int_option("bptt_segments", "train", "bptt compression loss: segments unrolled in one graph",
                         CTLAB_FIELD(train.bptt_segments), 2, "an integer >= 2"));
  t.push_back(enum_option("precision", "train", "fp32 | bf16 (autocast on CUDA; softmax and loss in fp32)",
                          CTLAB_FIELD(train.precision), "fp32 or bf16",
                          std::vector<Precision>{Precision::Fp32, Precision::Bf16}));
  t.push_back(operational(enum_option(
      "checks", "train",
      "when losses, the divergence check and plugin output checks are read: step = after every step (a "
      "non-finite loss stops before the update), deferred = once per log interval with no host sync inside "
      "a step, auto = deferred on CUDA, step on CPU",
      CTLAB_FIELD(train.checks), "auto, step or deferred",
      std::vector<CheckTiming>{CheckTiming::Auto, CheckTiming::EveryStep, CheckTiming::Deferred})));
  t.push_back(int_option("eval_every", "train", "validate every N steps; 0 = at the end only",
                         CTLAB_FIELD(train.eval_every), 0, nonneg));
  t.push_back(operational(
      int_option("log_every", "train", "progress line every N steps", CTLAB_FIELD(train.log_every), 1, pos)));
  t.push_back(
      operational(int_option("checkpoint_every", "train", "checkpoint every N steps (and on SIGINT/SIGTERM)",
                             CTLAB_FIELD(train.checkpoint_every), 1, pos)));
}

void add_eval_options(std::vector<OptionDef>& t) {
  t.push_back(optional_int_option("eval_seq_len", "eval", "evaluation segment length",
                                  CTLAB_FIELD(eval.seq_len), 1, pos));
  t.push_back(optional_int_option("eval_mem_len", "eval", "evaluation memory length",
                                  CTLAB_FIELD(eval.mem_len), 0, nonneg));
  t.push_back(optional_int_option("eval_cmem_len", "eval", "evaluation compressed-memory length",
                                  CTLAB_FIELD(eval.cmem_len), 0, nonneg));
  t.push_back(optional_int_option("eval_clamp_len", "eval", "evaluation clamp_len (-1 = no clamp)",
                                  CTLAB_FIELD(eval.clamp_len), -1, "-1 or a non-negative integer"));
  t.push_back(
      int_option("eval_batch_size", "eval", "streams for evaluation", CTLAB_FIELD(eval.batch_size), 1, pos));
  t.push_back(int_option("eval_segments", "eval", "segments per validation; 0 = the whole split",
                         CTLAB_FIELD(eval.segments), 0, nonneg));
  t.push_back(
      int_option("buckets_sequences", "eval",
                 "segments with full memories analysed for attention by bucket ([CT]: 20000); 0 = off",
                 CTLAB_FIELD(eval.buckets_sequences), 0, nonneg));
  t.push_back(int_option("buckets_per_region", "eval",
                         "attention buckets per region (compressed memory, memory, sequence)",
                         CTLAB_FIELD(eval.buckets_per_region), 1, pos));
  t.push_back(
      int_list_option("freq_edges", "eval",
                      "training-count edges of the token-frequency buckets ([CT] Table 7: 100,1000,10000)",
                      CTLAB_FIELD(eval.freq_edges)));
}

void add_compression_options(std::vector<OptionDef>& t) {
  t.push_back(string_option(
      "compression", "compression", "compression function plugin (name or name@version)",
      CTLAB_FIELD(compression.name), "a plugin name like mean_pool or mean_pool@1", valid_plugin_name));
  t.push_back(string_option(
      "compression_loss", "compression", "compression loss plugin (name or name@version)",
      CTLAB_FIELD(compression_loss.name), "a plugin name like attention_reconstruction", valid_plugin_name));
  t.push_back(bool_option("allow_untrained_compression", "compression",
                          "allow a trainable compression function with loss 'none'",
                          CTLAB_FIELD(allow_untrained_compression)));
}

// The flag table, in the order of `ctlab config` output (and of the identity text: the
// order is part of every run id).
const std::vector<OptionDef>& table() {
  static const std::vector<OptionDef> defs = [] {
    std::vector<OptionDef> t;
    add_run_options(t);
    add_model_options(t);
    add_data_options(t);
    add_train_options(t);
    add_eval_options(t);
    add_compression_options(t);
    return t;
  }();
  return defs;
}

#undef CTLAB_FIELD

const OptionDef* find_def(const std::string& key) {
  for (const auto& d : table())
    if (d.info.key == key) return &d;
  return nullptr;
}

std::vector<std::string> all_keys() {
  std::vector<std::string> keys;
  for (const auto& d : table()) keys.push_back(d.info.key);
  return keys;
}

const char* kCompressionPrefix = "compression.";
const char* kLossPrefix = "compression_loss.";

}  // namespace

const char* to_string(Norm n) { return n == Norm::Pre ? "pre" : "post"; }
const char* to_string(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }
const char* to_string(CheckTiming c) {
  return c == CheckTiming::Deferred ? "deferred" : c == CheckTiming::EveryStep ? "step" : "auto";
}

const std::vector<OptionInfo>& option_infos() {
  static const std::vector<OptionInfo> infos = [] {
    std::vector<OptionInfo> v;
    for (const auto& d : table()) v.push_back(d.info);
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
  const OptionDef* d = find_def(key);
  if (!d) {
    throw Error(where + ": unknown key '" + key + "'" + did_you_mean(key, all_keys()) +
                "; 'ctlab config --help' lists every key");
  }
  try {
    d->set(cfg, value);
  } catch (const std::invalid_argument& e) {
    throw Error(where + ": bad value for '" + key + "' = '" + trim(value) + "': expected " + e.what());
  }
}

std::string get_setting(const RunConfig& cfg, const std::string& key) {
  const OptionDef* d = find_def(key);
  if (!d) throw Error("unknown key '" + key + "'" + did_you_mean(key, all_keys()));
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
  bool own = find_def(key) != nullptr;
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
  RunConfig cfg;
  if (!path.empty()) {
    IniFile ini = read_ini(path);
    std::map<std::string, std::string> set_at;
    for (const auto& e : ini.entries) {
      std::string where = ini.path + ":" + std::to_string(e.line);
      const auto key = ini_entry_key(e, where);
      check_key_once(set_at, key, where);
      apply_setting(cfg, key, e.value, where);
    }
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
  if (!word_data && !m.cutoffs.empty() && m.cutoffs.back() >= m.vocab_size)
    throw Error("cutoffs end at " + std::to_string(m.cutoffs.back()) + " but vocab_size = " +
                std::to_string(m.vocab_size) + ": expected every cutoff below vocab_size");
}

std::vector<std::pair<std::string, std::string>> config_params(const RunConfig& cfg) {
  // Without compressed memory no compression function or loss runs: say so, rather than
  // record the (unused) defaults as if they had.
  const bool compresses = cfg.model.cmem_len > 0;
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& d : table()) {
    const bool plugin = d.info.key == "compression" || d.info.key == "compression_loss";
    out.emplace_back(d.info.key, plugin && !compresses ? "none" : d.get(cfg));
  }
  if (!compresses) return out;
  for (const auto& [k, v] : cfg.compression.params) out.emplace_back(std::string(kCompressionPrefix) + k, v);
  for (const auto& [k, v] : cfg.compression_loss.params) out.emplace_back(std::string(kLossPrefix) + k, v);
  return out;
}

// Whether a dataset's own key belongs to a run's identity: only for runs of that dataset.
static bool key_of_other_dataset(const RunConfig& cfg, const std::string& key) {
  bool owned = false;
  for (const auto& d : datasets().all())
    for (const auto& k : d.own_keys)
      if (k == key) {
        if (d.name == cfg.data.dataset) return false;
        owned = true;
      }
  return owned;
}

std::string identity_text(const RunConfig& cfg) {
  // Without compressed memory (Transformer-XL) the compression keys change nothing, so
  // they do not change the identity either: such runs are the same run.
  const bool compresses = cfg.model.cmem_len > 0;
  auto compression_key = [](const std::string& k) {
    return k == "cmem_rate" || k == "compression" || k == "compression_loss" ||
           k == "allow_untrained_compression";
  };
  std::string canon;
  for (const auto& d : table())
    if (d.info.identity && (compresses || !compression_key(d.info.key)) &&
        !key_of_other_dataset(cfg, d.info.key))
      canon += d.info.key + "=" + d.get(cfg) + "\n";
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
  for (const auto& d : table()) {
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
