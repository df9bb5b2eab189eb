// The ctlab plugin SDK: the whole contract between ctlab and a compression plugin.
// A plugin is a shared library that includes this header, implements CompressionFn and/or
// CompressionLoss, and exports its entry points with CTLAB_PLUGIN(register_fn).
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
// plugin built against another value before it touches any C++ type from it.
#define CTLAB_PLUGIN_API_VERSION 1

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
};

class CompressionFn : public torch::nn::Module {
 public:
  // Returns [n / rate, B, D] with the dtype and device of input.old, oldest first.
  virtual torch::Tensor forward(const CompressionInput& input) = 0;
  // True when the function has parameters to learn (then it needs a compression loss).
  virtual bool trainable() const { return !parameters().empty(); }
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

class Registrar {
 public:
  virtual ~Registrar() = default;
  virtual void add_compression_fn(CompressionFnSpec spec) = 0;
  virtual void add_compression_loss(CompressionLossSpec spec) = 0;
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
