// The flag table (config/option_table.h): one line per key.
#include "config/option_table.h"

#include <cmath>

#include "data/dataset.h"

namespace ctlab {

const char* const kCompressionPrefix = "compression.";
const char* const kLossPrefix = "compression_loss.";

namespace {

OptionDef split_option() {
  std::string expected = "three non-negative fractions train,valid,test summing to 1, e.g. 0.9,0.05,0.05";
  OptionDef d = option_def("split", "data", expected,
                           "train/valid/test fractions for the default corpus and text files");
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

// `dataset`: a name in the dataset registry; help and the accepted values come from it
// when the error is raised, so a dataset registered later is accepted too.
OptionDef dataset_option() {
  OptionDef d = option_def("dataset", "data", datasets().expected(), join(datasets().names(), " | "));
  d.set = [](RunConfig& c, const std::string& v) {
    auto t = trim(v);
    if (!datasets().find(t)) throw std::invalid_argument(datasets().expected());
    c.data.dataset = t;
  };
  d.get = [](const RunConfig& c) { return c.data.dataset; };
  return d;
}

const std::string pos = "a positive integer", nonneg = "a non-negative integer";

void add_run_options(std::vector<OptionDef>& t) {
  t.push_back(string_option(
      "experiment", "run", "experiment name that groups runs in the results store", CTLAB_FIELD(experiment),
      "a name of letters, digits, '.', '_' and '-' (a folder name under reports/)", is_safe_name));
  t.push_back(
      int_option("seed", "run", "one seed for init, dropout and data order", CTLAB_FIELD(seed), 0, nonneg));
  t.push_back(operational(string_option("device", "run", "auto | cpu | cuda | cuda:N", CTLAB_FIELD(device),
                                        "auto, cpu, cuda or cuda:N", valid_device)));
  t.push_back(operational(
      int_option("threads", "run",
                 "cores this worker computes on (OpenBLAS threads, else intra-op threads); 0 = all cores",
                 CTLAB_FIELD(threads), 0, nonneg)));
}

void add_model_options(std::vector<OptionDef>& t) {
  t.push_back(int_option(
      "vocab_size", "model",
      "vocabulary size: the data set it (256 for bytes); a value given here must agree with the data",
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
  t.push_back(when_compressing(
      int_option("cmem_rate", "model", "compression rate c", CTLAB_FIELD(model.cmem_rate), 1, pos)));
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
                            "position map plugin for compressed slots (slot: one step each, contiguous "
                            "with memory; true_distance, aligned, deepmind, ...)",
                            CTLAB_FIELD(model.cmem_positions),
                            "a position map name like slot or true_distance", valid_plugin_name));
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
  t.push_back(
      for_datasets(int_option("recall_pairs", "data", "recall task: key/value pairs stored per episode",
                              CTLAB_FIELD(data.recall_pairs), 1, pos),
                   {"recall"}));
  t.push_back(for_datasets(
      int_option("recall_gap", "data", "recall task: filler tokens between the stored pairs and the queries",
                 CTLAB_FIELD(data.recall_gap), 0, nonneg),
      {"recall"}));
  t.push_back(
      for_datasets(int_option("ref_distance", "data", "distant_ref task: tokens from a payload to its repeat",
                              CTLAB_FIELD(data.ref_distance), 2, "an integer >= 2"),
                   {"distant_ref"}));
  t.push_back(for_datasets(
      int_option("lookup_keys", "data", "lookup task: keys per table (each query asks one of them)",
                 CTLAB_FIELD(data.lookup_keys), 2, "an integer >= 2"),
      {"lookup"}));
  t.push_back(for_datasets(int_option("lookup_values", "data", "lookup task: values a key can be bound to",
                                      CTLAB_FIELD(data.lookup_values), 2, "an integer >= 2"),
                           {"lookup"}));
  t.push_back(for_datasets(
      int_option("lookup_distance", "data",
                 "lookup task: the shortest distance from a table entry to its answer (2 plus a multiple of "
                 "lookup_keys + 2)",
                 CTLAB_FIELD(data.lookup_distance), 6, "an integer >= 6"),
      {"lookup"}));
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
  t.push_back(enum_option("precision", "train",
                          "fp32 | bf16 (autocast on CUDA, or on a CPU with AVX512_BF16 or AMX in the "
                          "LibTorch 2.x build; fp32 weights, softmax and losses)",
                          CTLAB_FIELD(train.precision), "fp32 or bf16",
                          std::vector<Precision>{Precision::Fp32, Precision::Bf16}));
  t.push_back(when_set(bool_option(
      "allow_tf32", "train",
      "let fp32 matrix products and cuDNN convolutions on CUDA use TF32 (10-bit mantissa, faster on "
      "Ampere and later); off = strict fp32. No effect on the CPU or on bf16 autocast's products",
      CTLAB_FIELD(train.allow_tf32))));
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
  t.push_back(operational(bool_option(
      "tensorboard", "train",
      "write the run's scalars and hyperparameters as TensorBoard event files (runs/<id>/tensorboard/)",
      CTLAB_FIELD(train.tensorboard))));
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
  t.push_back(when_set(int_option(
      "retention_segments", "eval",
      "retained vs used at the end of training: segments of each split whose compressed memories a "
      "linear probe reads, plus recovered by source region with and without compressed memory "
      "(generated tasks); 0 = off",
      CTLAB_FIELD(eval.retention_segments), 0, nonneg)));
  t.push_back(
      int_list_option("freq_edges", "eval",
                      "training-count edges of the token-frequency buckets ([CT] Table 7: 100,1000,10000)",
                      CTLAB_FIELD(eval.freq_edges)));
}

void add_compression_options(std::vector<OptionDef>& t) {
  t.push_back(when_compressing(string_option(
      "compression", "compression", "compression function plugin (name or name@version)",
      CTLAB_FIELD(compression.name), "a plugin name like mean_pool or mean_pool@1", valid_plugin_name)));
  t.push_back(when_compressing(string_option(
      "compression_loss", "compression", "compression loss plugin (name or name@version)",
      CTLAB_FIELD(compression_loss.name), "a plugin name like attention_reconstruction", valid_plugin_name)));
  t.push_back(when_compressing(bool_option("allow_untrained_compression", "compression",
                                           "allow a trainable compression function with loss 'none'",
                                           CTLAB_FIELD(allow_untrained_compression))));
}

}  // namespace

// The flag table, in the order of `ctlab config` output (and of the identity text: the
// order is part of every run id).
const std::vector<OptionDef>& option_table() {
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

const OptionDef* find_option(const std::string& key) {
  for (const auto& d : option_table())
    if (d.info.key == key) return &d;
  return nullptr;
}

std::vector<std::string> option_keys() {
  std::vector<std::string> keys;
  for (const auto& d : option_table()) keys.push_back(d.info.key);
  return keys;
}

}  // namespace ctlab
