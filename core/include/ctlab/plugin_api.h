// The ctlab plugin SDK: the whole contract between ctlab and a plugin library.
// A plugin is a shared library that includes this header, implements CompressionFn,
// CompressionLoss and/or PositionMap, and exports its entry points with
// CTLAB_PLUGIN(register_fn).
// Needs only LibTorch and the Boost headers; nothing here links against ctlab itself.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>
#include <torch/version.h>

#include <boost/config.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// Bumped whenever anything in this header changes layout or meaning. The host refuses a
// plugin built against a value outside [CTLAB_PLUGIN_API_OLDEST, CTLAB_PLUGIN_API_VERSION]
// before it touches any C++ type from it.
//   1: compression functions and losses.
//   2: appended to version 1's layout, so that version-1 plugins load unchanged:
//      CompressionInput::times, CompressionFn::slot_times (the host never calls it on a
//      version-1 plugin: their slots get the mean of their sources' times), and the third
//      kind, PositionMap, with Registrar::add_position_map.
#define CTLAB_PLUGIN_API_VERSION 2
#define CTLAB_PLUGIN_API_OLDEST 1

#define CTLAB_STRINGIFY_IMPL(x) #x
#define CTLAB_STRINGIFY(x) CTLAB_STRINGIFY_IMPL(x)
// LibTorch major.minor the plugin was compiled against ("1.13", "2.4"): C++ types such as
// torch::nn::Module are only compatible within one minor release.
#define CTLAB_TORCH_VERSION_STRING \
  CTLAB_STRINGIFY(TORCH_VERSION_MAJOR) "." CTLAB_STRINGIFY(TORCH_VERSION_MINOR)

namespace ctlab {

// ---------------------------------------------------------------------------------------
// Declared parameters. Configs set them as `compression.<name>` / `compression_loss.<name>`;
// the host validates every value against the declared type before any run starts, so a
// plugin reads them without error handling.
enum class ParamType { Int, Float, Bool, String };

inline const char* param_type_name(ParamType t) {
  switch (t) {
    case ParamType::Int:
      return "int";
    case ParamType::Float:
      return "float";
    case ParamType::Bool:
      return "bool";
    case ParamType::String:
      return "string";
  }
  return "?";
}

struct ParamSpec {
  ParamSpec() = default;
  ParamSpec(std::string name_, ParamType type_, std::string default_value_, std::string help_,
            std::vector<std::string> choices_ = {})
      : name(std::move(name_)),
        type(type_),
        default_value(std::move(default_value_)),
        help(std::move(help_)),
        choices(std::move(choices_)) {}
  std::string name;
  ParamType type = ParamType::String;
  std::string default_value;  // in config spelling: "2", "0.5", "true", "max"
  std::string help;
  std::vector<std::string> choices;  // String parameters: the allowed values (empty = any)
};

// Validated parameter values, canonical strings keyed by name (every declared parameter is
// present, defaults filled in).
class PluginParams {
 public:
  PluginParams() = default;
  explicit PluginParams(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  const std::string& get_string(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw std::out_of_range("undeclared plugin parameter '" + name + "'");
    return it->second;
  }
  int64_t get_int(const std::string& name) const { return std::stoll(get_string(name)); }
  double get_float(const std::string& name) const { return std::stod(get_string(name)); }
  bool get_bool(const std::string& name) const { return get_string(name) == "true"; }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

// What the host tells a plugin instance about where it sits. One instance per layer.
struct PluginContext {
  int64_t layer = 0;  // 0-based layer index
  int64_t n_layer = 1;
  int64_t d_model = 0;  // D: feature size of memory slots
  int64_t n_head = 1;
  int64_t d_head = 0;
  int64_t rate = 1;  // compression rate c
  PluginParams params;
};

// ---------------------------------------------------------------------------------------
// Compression function f_c: maps the slots evicted from memory to compressed-memory slots.
struct CompressionInput {
  torch::Tensor old;  // [n, B, D] evicted slots, oldest first; n is a multiple of rate.
                      // Detached, except under the bptt loss where it may carry graph.
  int64_t rate = 1;   // c
  int64_t layer = 0;
  torch::Tensor usage;  // [n, B] float32 attention mass each slot received while in memory
                        // (mean over heads and queries, summed over segments); defined
                        // only when the function declares needs_usage.
  // API 2 (absent for version-1 plugins, which never read it):
  torch::Tensor times;  // [n, B] float64 stream position of each old slot (token index since
                        // the memory was last reset; a compressed slot's is its own timestamp)
};

// The mean time of each block of `rate` consecutive slots: [n, B] -> [n / rate, B]. The
// timestamps of version-1 functions, and the default of slot_times().
inline torch::Tensor block_mean_times(const torch::Tensor& times, int64_t rate) {
  return times.reshape({times.size(0) / rate, rate, times.size(1)}).mean(1);
}

class CompressionFn : public torch::nn::Module {
 public:
  // Returns [n / rate, B, D] with the dtype and device of input.old, oldest first.
  virtual torch::Tensor forward(const CompressionInput& input) = 0;
  // True when the function has parameters to learn (then it needs a compression loss).
  virtual bool trainable() const { return !parameters().empty(); }
  // API 2: the timestamp of each compressed slot, [n / rate, B] float64 from input.times:
  // the stream position of what the slot summarises. Position maps other than `slot` read
  // distances from it. Default: the mean of each block's times. Called after forward() on
  // the same input.
  virtual torch::Tensor slot_times(const CompressionInput& input) {
    return block_mean_times(input.times, input.rate);
  }
};

// Losses are reduced in float32 under reduced precision (bf16/fp16) and in float64 for a
// float64 model (finite-difference checks).
inline torch::Tensor at_least_float32(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat64 ? t : t.to(torch::kFloat32);
}

// ---------------------------------------------------------------------------------------
// Compression loss: trains f_c (and anything the loss owns, e.g. a decoder). Everything it
// receives from the transformer is detached; only `compressed` carries gradient (to f_c).
enum class LossMode {
  Auxiliary,  // forward() returns a scalar added to the backward pass, training f_c only
  Bptt,       // no auxiliary term; the trainer unrolls segments so the task loss trains f_c
  None        // no auxiliary term and no unrolling
};

inline const char* loss_mode_name(LossMode m) {
  switch (m) {
    case LossMode::Auxiliary:
      return "auxiliary";
    case LossMode::Bptt:
      return "bptt";
    case LossMode::None:
      return "none";
  }
  return "?";
}

// content_attention(query_src [L,B,D], kv_src [n,B,D]) -> [L,B,D]: the layer's multi-head
// content attention softmax((x W_q)(y W_k)^T / sqrt(d_head)) (y W_v), heads concatenated
// (before the output projection), computed with detached copies of that layer's W_q, W_k,
// W_v: no positional terms, no u/v biases, no mask. Gradient flows to its inputs only.
using ContentAttention =
    std::function<torch::Tensor(const torch::Tensor& query_src, const torch::Tensor& kv_src)>;

struct LossInput {
  torch::Tensor h;           // [L, B, D] the layer's input for the segment, detached
  torch::Tensor old;         // [n, B, D] the evicted slots, detached
  torch::Tensor compressed;  // [n / rate, B, D] f_c(old); gradient reaches f_c only
  int64_t layer = 0;
  int64_t rate = 1;
  ContentAttention content_attention;
};

class CompressionLoss : public torch::nn::Module {
 public:
  // Returns a scalar (0-dim) tensor. Called only in LossMode::Auxiliary.
  virtual torch::Tensor forward(const LossInput& input) = 0;
};

// ---------------------------------------------------------------------------------------
// Registration. A plugin library registers one or more functions/losses; identity is
// name@version, and a change to what a plugin computes must register a new version.
struct CompressionFnSpec {
  std::string name;
  int version = 1;
  std::string summary;
  bool trainable = false;    // declared up front so configs are validated before any run
  bool needs_usage = false;  // wants CompressionInput::usage (e.g. most_used)
  std::vector<ParamSpec> params;
  std::function<std::shared_ptr<CompressionFn>(const PluginContext&)> create;
};

struct CompressionLossSpec {
  std::string name;
  int version = 1;
  std::string summary;
  LossMode mode = LossMode::Auxiliary;
  std::vector<ParamSpec> params;
  // May return nullptr for modes other than Auxiliary.
  std::function<std::shared_ptr<CompressionLoss>(const PluginContext&)> create;
};

// ---------------------------------------------------------------------------------------
// Position map (API 2): the positional term of the attention score between the segment's
// queries and the compressed slots. Keys are concat(cm, m, h); memory and segment keys
// always get Transformer-XL's term at their token distance, (q_i + v) . W_r R(i - t_key)
// (they are consecutive tokens); the map decides what compressed slots get.
struct PositionInput {
  torch::Tensor q;         // [L, B, H, d_head] the segment's queries x W_q (no bias added),
                           // in the compute dtype; gradient flows
  torch::Tensor v_bias;    // [H, d_head] the layer's position bias v; gradient flows
  torch::Tensor w_r;       // [H * d_head, D] the layer's W_r; gradient flows
  torch::Tensor t_query;   // [L, B] float64 stream position of each query
  torch::Tensor t_slot;    // [n_cm, B] float64 timestamp of each compressed slot
  int64_t mem_slots = 0;   // memory slots between the compressed slots and the segment
  int64_t rate = 1;        // c
  int64_t clamp_len = -1;  // distances above it use R(clamp_len) (-1: no clamp)
  int64_t layer = 0;
};

class PositionMap : public torch::nn::Module {
 public:
  // [B, H, L, n_cm] in the dtype of input.q: the position term for query i and compressed
  // slot j, added to the content term (q_i + u) . k_j before the 1 / sqrt(d_head) scale.
  virtual torch::Tensor compressed_scores(const PositionInput& input) = 0;
};

// Transformer-XL's sinusoid embedding at (possibly fractional) distances: d [...] ->
// [..., D], sines in the first D/2 columns, cosines in the rest, in d's dtype; clamped at
// clamp_len when clamp_len >= 0.
inline torch::Tensor sinusoid_at(const torch::Tensor& d, int64_t d_model, int64_t clamp_len = -1) {
  auto dist = clamp_len >= 0 ? d.clamp_max(static_cast<double>(clamp_len)) : d;
  auto inv_freq =
      1.0 / torch::pow(10000.0, torch::arange(0.0, static_cast<double>(d_model), 2.0, d.options()) / d_model);
  auto angles = dist.unsqueeze(-1) * inv_freq;
  return torch::cat({angles.sin(), angles.cos()}, -1);
}

// Transformer-XL's position term at timestamp distances: (q_i + v) . W_r R(t_query_i -
// t_slot_j) for every query i, slot j and stream b -> [B, H, L, n_cm], computed in float32
// (float64 for a float64 model; under bf16 autocast its products run in bf16). Without a clamp it uses sin(a
// - b) = sin a cos b - cos a sin b (and the cosine's counterpart) to avoid the [L, n_cm, B, D] table; times
// are taken relative to each stream's first query, so large stream positions lose no precision.
inline torch::Tensor sinusoid_scores(const PositionInput& in, const torch::Tensor& t_query,
                                     const torch::Tensor& t_slot) {
  const auto& q = in.q;
  const int64_t H = q.size(2), Dh = q.size(3), D = in.w_r.size(1);
  const auto dt = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  auto qv = (q + in.v_bias.view({1, 1, H, Dh})).to(dt);
  auto w = torch::einsum("lbhe,hed->lbhd", {qv, in.w_r.to(dt).view({H, Dh, D})});  // [L, B, H, D]
  auto t0 = t_query.narrow(0, 0, 1);
  auto tq = (t_query - t0).to(dt), ts = (t_slot - t0).to(dt);
  if (in.clamp_len >= 0) {
    auto d = tq.unsqueeze(1) - ts.unsqueeze(0);  // [L, n_cm, B]
    return torch::einsum("lbhk,lnbk->bhln", {w, sinusoid_at(d, D, in.clamp_len)});
  }
  auto inv_freq =
      1.0 / torch::pow(10000.0, torch::arange(0.0, static_cast<double>(D), 2.0, tq.options()) / D);
  auto aq = tq.unsqueeze(-1) * inv_freq, as = ts.unsqueeze(-1) * inv_freq;  // [L, B, D/2], [n_cm, B, D/2]
  auto sq = aq.sin().unsqueeze(2), cq = aq.cos().unsqueeze(2);
  auto ws = w.narrow(-1, 0, D / 2), wc = w.narrow(-1, D / 2, D / 2);
  auto a = torch::cat({ws * sq + wc * cq, wc * sq - ws * cq}, -1);  // [L, B, H, D]
  return torch::einsum("lbhk,nbk->bhln", {a, torch::cat({as.cos(), as.sin()}, -1)});
}

struct PositionMapSpec {
  std::string name;
  int version = 1;
  std::string summary;
  // True for a map whose term the host computes itself with one relative shift over the
  // whole key sequence (`slot`: compressed slot j at distance mem_slots + i + n_cm - j); its
  // compressed_scores() is the same term written out, which the tests compare with the host's.
  bool contiguous = false;
  // Position maps take no configuration parameters in API 2 (PluginContext::params is
  // empty): a variant is a new name or version.
  std::function<std::shared_ptr<PositionMap>(const PluginContext&)> create;
};

class Registrar {
 public:
  virtual ~Registrar() = default;
  virtual void add_compression_fn(CompressionFnSpec spec) = 0;
  virtual void add_compression_loss(CompressionLossSpec spec) = 0;
  // API 2.
  virtual void add_position_map(PositionMapSpec spec) = 0;
};

}  // namespace ctlab

// Exports the three C-linkage entry points the host looks up with Boost.DLL:
//   int         ctlab_plugin_api_version()   -> CTLAB_PLUGIN_API_VERSION
//   const char* ctlab_plugin_torch_version() -> "major.minor" of LibTorch
//   void        ctlab_plugin_register(ctlab::Registrar&)
// Usage, once per plugin library:  CTLAB_PLUGIN(register_my_plugin)
#define CTLAB_PLUGIN(register_fn)                                                                    \
  extern "C" BOOST_SYMBOL_EXPORT int ctlab_plugin_api_version() { return CTLAB_PLUGIN_API_VERSION; } \
  extern "C" BOOST_SYMBOL_EXPORT const char* ctlab_plugin_torch_version() {                          \
    return CTLAB_TORCH_VERSION_STRING;                                                               \
  }                                                                                                  \
  extern "C" BOOST_SYMBOL_EXPORT void ctlab_plugin_register(::ctlab::Registrar& reg) { register_fn(reg); }
