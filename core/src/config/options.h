// Run configuration: one typed struct per concern, filled from defaults, then an INI file,
// then --set overrides, through one flag table. The same key spelling is used by the CLI,
// INI files, the SQLite `params` table and HDF5 attributes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/data_options.h"

namespace ctlab {

// Typed values of string keys. Their text (the INI/CLI/SQLite spelling) is mapped in
// one place each: to_string() and the flag table in option_table.cpp.
enum class Norm { Post, Pre };        // post-LN block (both papers) or pre-LN
enum class Precision { Fp32, Bf16 };  // bf16 = autocast (CUDA, or a CPU with bf16 kernels)
// When a training step's losses and checks are read on the host (train/step.h).
enum class CheckTiming { Auto, EveryStep, Deferred };  // auto: deferred on CUDA, every step on CPU
const char* to_string(CheckTiming c);
const char* to_string(Norm n);
const char* to_string(Precision p);

// The model (see ARCHITECTURE.md): all lengths count time steps (tokens/slots).
struct ModelOptions {
  int64_t vocab_size = 256;  // byte level by default; word-level data sets it
  int64_t n_layer = 2;
  int64_t d_model = 128;
  int64_t n_head = 4;  // d_head = d_model / n_head
  int64_t d_ff = 512;
  int64_t seq_len = 64;      // n_s: tokens per segment
  int64_t mem_len = 64;      // n_m: memory slots per layer
  int64_t cmem_len = 32;     // n_cm: compressed-memory slots per layer (0 = Transformer-XL)
  int64_t cmem_rate = 2;     // c: evicted slots per compressed slot
  int64_t clamp_len = -1;    // relative distances are clamped to this; -1 = no clamp
  bool same_length = false;  // evaluation: every query sees exactly mem_len+cmem_len keys
  double dropout = 0.1;
  double dropatt = 0.0;
  Norm norm = Norm::Post;
  bool untie_r = true;                  // u, v biases per layer (false: shared by all layers)
  bool tie_weight = true;               // output layer shares the embedding matrix
  std::string cmem_positions = "slot";  // position map plugin (name or name@version; `slot` is stored as
                                        // `slot`, every other map as name@version)
  std::vector<int64_t> cutoffs;         // adaptive softmax cutoffs (word level); empty = full softmax
  double init_std = 0.02;               // normal init of weights
};

// A plugin chosen by name ("mean_pool" or "mean_pool@1") with its raw parameter values.
struct PluginChoice {
  std::string name;
  std::map<std::string, std::string> params;  // compression.<key> / compression_loss.<key>
};

struct TrainOptions {
  int64_t batch_size = 8;
  int64_t max_steps = 1000;
  double lr = 3e-4;
  double lr_start = 1e-6;
  double lr_min = 1e-6;
  int64_t warmup_steps = 100;
  double clip = 0.1;               // global grad-norm clip (0 = off)
  int64_t accumulate = 1;          // batch split into this many chunks per step
  int64_t update_period = 1;       // [CT]: optimizer update every this many steps ...
  int64_t update_period_from = 0;  // ... from this step on
  int64_t bptt_segments = 2;       // bptt loss: segments unrolled in one graph
  Precision precision = Precision::Fp32;
  CheckTiming checks = CheckTiming::Auto;
  bool allow_tf32 = false;  // TF32 for fp32 matmuls and cuDNN on CUDA (off: strict fp32)
  int64_t eval_every = 0;   // validation every N steps (0 = at the end only)
  int64_t log_every = 10;
  int64_t checkpoint_every = 100;
  bool tensorboard = true;  // rank 0 writes the scalars to runs/<id>/tensorboard/
};

// Evaluation settings ([CT] sec. 3.4): unset values take the training value.
struct EvalOptions {
  std::optional<int64_t> seq_len, mem_len, cmem_len, clamp_len;
  int64_t batch_size = 8;
  int64_t segments = 0;            // segments of the split per validation (0 = the whole split)
  int64_t buckets_sequences = 50;  // segments with full memories for attention by bucket (0 = off)
  int64_t buckets_per_region = 6;  // buckets per region (compressed memory, memory, sequence)
  int64_t retention_segments = 0;  // segments per split for retained vs used (train/retention.h); 0 = off
  std::vector<int64_t> freq_edges = {100, 1000, 10000};  // token-count edges for frequency buckets
};

struct RunConfig {
  std::string experiment = "default";
  int64_t seed = 1;
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  // Cores this process computes on; 0 = all it may use (runtime/runtime.h set_threads: with
  // OpenBLAS they go to its matrix products and LibTorch's intra-op pool keeps one thread;
  // otherwise to the intra-op pool).
  int64_t threads = 0;
  ModelOptions model;
  DataOptions data;
  TrainOptions train;
  EvalOptions eval;
  PluginChoice compression{"mean_pool", {}};
  PluginChoice compression_loss{"none", {}};
  bool allow_untrained_compression = false;
  // Where vocab_size was set by the user (file:line, --set), "" when it was not: the data
  // decide the vocabulary, and a user value must agree with them (config/run_data.h).
  std::string vocab_size_set_at;
};

// Whether a key counts toward the run's identity (run_id). Declared per key in the flag
// table, with the datasets a task's own key counts for (OptionInfo::identity_datasets).
enum class IdentityRule {
  Always,
  WhenCompressing,  // only with compressed memory (cmem_len > 0): Transformer-XL runs that
                    // differ only in compression settings are the same run
  Never,            // operational keys: device, threads, logging and checkpoint cadence
  WhenSet           // only when it differs from its default: a key added after runs were made
                    // (an analysis) leaves their ids as they were
};

struct OptionInfo {
  std::string key;
  std::string group;     // INI section it is written under: run, model, ...
  std::string expected;  // "a positive integer"
  std::string help;
  IdentityRule identity = IdentityRule::Always;
  // A task's own key (e.g. recall_pairs) counts only for runs of these datasets, so adding
  // a task never changes other runs' ids; empty: for every run.
  std::vector<std::string> identity_datasets;
};

// Every option key with its group, expectation and help, in table order.
const std::vector<OptionInfo>& option_infos();

// Sets one key from a string. `where` prefixes errors ("run.ini:7", "--set"). Keys
// "compression.<k>" and "compression_loss.<k>" go to the plugin's raw parameters (checked
// against the plugin's declaration when plugins are resolved). Throws ctlab::Error.
void apply_setting(RunConfig& cfg, const std::string& key, const std::string& value,
                   const std::string& where);

struct IniEntry;
struct IniFile;
// The full configuration key of an INI entry: keys in [compression] that are not run keys
// become compression.<key>, keys in [compression_loss] compression_loss.<key>; the other
// known sections ([run], [model], [data], [train], [eval]) only organise. Throws
// ctlab::Error naming `where` for an unknown section.
std::string ini_entry_key(const IniEntry& e, const std::string& where);
// A file sets each key once: throws ctlab::Error naming both places when `key` is already in
// `set_at` (key -> where), else records it.
void check_key_once(std::map<std::string, std::string>& set_at, const std::string& key,
                    const std::string& where);
// Applies one "key=value" override (as from --set).
void apply_override(RunConfig& cfg, const std::string& key_value);

// Reads an INI run file (path may be empty: defaults only), then applies "key=value"
// overrides in order, then validates. Throws ctlab::Error naming file:line, key and value.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides);
// The same for a run file already read (e.g. a resolved configuration sent to a worker).
RunConfig parse_run_config(const IniFile& ini, const std::vector<std::string>& overrides);

// Cross-key checks (divisibility, head size, ...). Throws ctlab::Error.
void validate_run_config(const RunConfig& cfg);
// The one check of adaptive-softmax cutoffs: every cutoff below `vocab_size`. `vocabulary`
// says where that size came from ("vocab_size = 256", "dataset brown has a vocabulary of
// 13,000"). Throws ctlab::Error.
void check_cutoffs(const std::vector<int64_t>& cutoffs, int64_t vocab_size, const std::string& vocabulary);

// Value of a key in canonical spelling; throws ctlab::Error for unknown keys.
std::string get_setting(const RunConfig& cfg, const std::string& key);

// The full resolved configuration as an INI file, grouped by section, canonical values.
std::string format_run_config(const RunConfig& cfg);

// Every key with its canonical value (plugin parameters as compression.<k> and
// compression_loss.<k>), for the run store's params table. Without compressed memory
// (cmem_len = 0) compression and compression_loss are "none" and no plugin parameters
// are listed: nothing of them ran.
std::vector<std::pair<std::string, std::string>> config_params(const RunConfig& cfg);

// The run's identity: a 12-hex-digit hash of the canonical configuration without the
// operational keys (device, threads, logging and checkpoint cadence). Pin plugins first.
std::string run_id_of(const RunConfig& cfg);
// The canonical text that run_id_of hashes: "key=value" lines.
std::string identity_text(const RunConfig& cfg);

}  // namespace ctlab
