// The Compressive Transformer ([CT] Algorithm 1) over Transformer-XL layers ([TXL]):
// per-layer memory and compressed-memory FIFOs of detached layer inputs, compression of
// evicted slots through a plugin CompressionFn per layer. The memories are a value: a
// forward pass takes a stream's memories and returns the next ones, and the model holds
// none (its caller owns them: a training chunk, an evaluation stream, the sampler).
// cmem_len = 0 is exactly Transformer-XL; mem_len = cmem_len = 0 is a vanilla causal
// Transformer over one segment. Tensors are time-major [T, B, D].
#pragma once

#include <ctlab/plugin_api.h>
#include <torch/nn/modules/adaptive.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>

#include <memory>
#include <string>
#include <vector>

#include "config/options.h"
#include "model/block.h"

namespace ctlab {

// The compression plugins of a model: one function instance (and loss instance, for
// auxiliary losses) per layer, with the identity used in error messages.
struct CompressionSetup {
  std::vector<std::shared_ptr<CompressionFn>> fns;       // n_layer entries; empty if cmem_len = 0
  std::vector<std::shared_ptr<CompressionLoss>> losses;  // n_layer entries for auxiliary losses, else empty
  std::string fn_id = "(none)";
  std::string fn_path;
  std::string loss_id = "(none)";
  std::string loss_path;
  bool needs_usage = false;
  LossMode loss_mode = LossMode::None;
  int fn_api = CTLAB_PLUGIN_API_VERSION;  // 1: the host gives slots their sources' mean time
  // The position map of compressed slots: empty for the contiguous `slot` (the host's one
  // relative table over [cm; m; h]); else one instance per layer.
  std::vector<std::shared_ptr<PositionMap>> maps;
  std::string map_id = "slot";
  std::string map_path;
};

// One layer's memories. All detached, except while keep_graph is on (bptt unrolling).
struct LayerMemory {
  torch::Tensor mem;    // [n_m, B, D], n_m <= mem_len, oldest first (undefined: empty)
  torch::Tensor cmem;   // [n_cm, B, D], n_cm <= cmem_len, oldest first
  torch::Tensor usage;  // [n_m, B] float32: attention mass each memory slot received (mean over
                        // heads and queries, summed over the segments it spent in memory)
  torch::Tensor age;    // [n_m] int64: segments each memory slot has spent in memory
  // Timestamps (tracked when cmem_len > 0): the stream position of what each slot holds,
  // in tokens since the stream began; a compressed slot's comes from its
  // compression function (CompressionFn::slot_times). float64, [n_m, B] and [n_cm, B].
  torch::Tensor mem_t;
  torch::Tensor cmem_t;
};

// The memories of one stream of segments, one LayerMemory per layer: what forward() reads
// and, in ForwardOutput::memory, returns. An empty vector is a fresh stream (no memory).
using Memories = std::vector<LayerMemory>;

// The same memories with every tensor detached (bptt: after the step's backward).
Memories detached(Memories memories);

// The memory settings, which evaluation may change from training ([CT] sec. 3.4).
struct MemoryConfig {
  int64_t mem_len = 0;
  int64_t cmem_len = 0;
  int64_t clamp_len = -1;
  bool same_length = false;  // only applied in eval mode
};

// What the compression loss of one layer needs from one segment ([CT] sec. 3.2).
struct CompressionEvent {
  int64_t layer = 0;
  torch::Tensor h;           // [L, B, D] the layer's input, detached
  torch::Tensor old;         // [n, B, D] the evicted slots that were compressed, detached
  torch::Tensor compressed;  // [n / c, B, D] f_c(old): gradient reaches f_c only (and, under
                             // bptt, the graph of old as well)
  // The forward pass's detached projections of h (W_q) and of old (W_k, W_v), [T, B, H*d_head],
  // kept when an auxiliary compression loss will run, so that its content attention does
  // not recompute them; undefined otherwise.
  torch::Tensor h_q, old_k, old_v;
};

struct ForwardOptions {
  bool need_attention = false;  // return per-layer attention probabilities (evaluation)
  bool update_memory = true;    // return the next memories (Algorithm 1's update); when false,
                                // ForwardOutput::memory is the memories passed in
  bool want_logits = false;     // return logits [L, B, V] (full softmax only)
  bool keep_graph = false;      // bptt: the next memories keep their graph (else detached)
  // The memory settings of this pass (evaluation's, checked by check_memory_config); null:
  // the model's own, those it was trained with.
  const MemoryConfig* memory_config = nullptr;
};

// Fills in missing timestamps of memories written without them (checkpoints from before
// timestamps): memory as the tokens just before the segment, compressed slots as the block
// means of the evicted tokens before that, as if memory had been contiguous. Needs
// mem [n_m, B, D] defined whenever cmem is.
void fill_missing_times(LayerMemory& memory, int64_t rate);

struct ForwardOutput {
  torch::Tensor nll;                          // [L, B] float32 per-token NLL in nats
  torch::Tensor logits;                       // [L, B, V] when want_logits
  std::vector<torch::Tensor> attention;       // per layer [B, H, L, klen] float32, detached
  int64_t cmem_slots = 0;                     // key layout of this segment: keys [0, cmem_slots)
  int64_t mem_slots = 0;                      // are compressed memory, the next mem_slots memory,
                                              // the last L the current segment
  std::vector<CompressionEvent> compression;  // one per layer that compressed this segment
  Memories memory;                            // the memories for the next segment
};

class CompressiveTransformerImpl : public torch::nn::Module {
 public:
  CompressiveTransformerImpl(const ModelOptions& options, CompressionSetup compression);

  // tokens [L, B] int64, targets [L, B] int64 (the next tokens; undefined: no nll), and
  // the stream's memories before this segment (empty for a fresh stream, else n_layer
  // entries). Returns the next memories in ForwardOutput::memory; `memory` is not changed.
  // Any L works, also L not a multiple of cmem_rate (a split's short last segment): then
  // only the largest multiple of cmem_rate of the evicted slots (the oldest ones) is
  // compressed; the rest is dropped.
  ForwardOutput forward(const torch::Tensor& tokens, const torch::Tensor& targets, const Memories& memory,
                        const ForwardOptions& options = {});

  // Per-layer scalars of the auxiliary compression loss for this segment's events (empty
  // unless the loss mode is auxiliary). Gradients reach only the compression functions and
  // the loss modules.
  std::vector<torch::Tensor> compression_losses(const std::vector<CompressionEvent>& events);
  // The content-attention callback of one layer (detached W_q, W_k, W_v; in pre-LN mode the
  // layer's detached LN1 is applied to both inputs first).
  ContentAttention content_attention(int64_t layer) const;
  // The callback handed to the loss for one event: the same function, but when called with
  // the event's own h (and old), it uses the forward pass's projections kept in the event.
  ContentAttention content_attention(const CompressionEvent& event) const;

  // The memory settings the model was built (and is trained) with.
  const MemoryConfig& memory_config() const { return mem_cfg_; }
  // Throws ctlab::Error unless `config` can run on this model (cmem_len > 0 needs mem_len >
  // 0, mem_len % cmem_rate == 0, and compression functions, which a model trained with
  // cmem_len = 0 lacks).
  void check_memory_config(const MemoryConfig& config) const;
  // Deferred output checks: the compression functions' outputs are checked for non-finite
  // values on the device (no host sync per segment); check_deferred_outputs() reads the
  // flags, throws ctlab::Error naming the plugin and the layer (unless !report), and
  // clears them.
  void set_deferred_output_checks(bool deferred) { deferred_checks_ = deferred; }
  void check_deferred_outputs(bool report = true);
  // Whether any layer's flag is set so far, as a bool tensor on the device (undefined when
  // no output was checked).
  torch::Tensor deferred_output_flag() const;

  std::vector<torch::Tensor> transformer_parameters() const;
  std::vector<torch::Tensor> compression_parameters() const;
  const ModelOptions& options() const { return opts_; }
  const CompressionSetup& compression() const { return setup_; }

  torch::nn::Embedding embedding{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_ln{nullptr};  // pre-LN only
  torch::nn::Linear out{nullptr};          // untied full softmax
  torch::Tensor out_bias;                  // tied full softmax
  torch::nn::AdaptiveLogSoftmaxWithLoss adaptive{nullptr};
  torch::Tensor r_w_bias, r_r_bias;  // shared u, v when untie_r = false

 private:
  bool is_compression_param(const std::string& name) const;
  // Registers the plugin modules (functions, losses, position maps) after the transformer's.
  void register_plugins();
  // The position map's inputs for layer i in this segment (a map other than `slot`).
  CompressedPositions positions_for(int64_t i, const LayerMemory& memory, const torch::Tensor& t_seg,
                                    int64_t mem_slots, const MemoryConfig& config) const;
  // Algorithm 1's update of `memory` (this segment's, in place) from the layers' inputs.
  void update_memory(Memories& memory, const std::vector<torch::Tensor>& inputs,
                     const std::vector<torch::Tensor>& probs,
                     const std::vector<AttentionProjections>& projections, const torch::Tensor& t_seg,
                     const MemoryConfig& config, bool keep_graph, std::vector<CompressionEvent>& events);
  // Layer i's compressed memory for the oldest evicted blocks `old` (Algorithm 1's f_c),
  // checked, in the memory's dtype; *times receives the slots' timestamps [n / c, B].
  torch::Tensor compress(int64_t layer, const torch::Tensor& old, const torch::Tensor& usage,
                         const torch::Tensor& old_times, torch::Tensor* times);
  // The stream positions [L, B] float64 of this segment's tokens: one past the newest
  // memory slot's, or 0 for a fresh stream. Fills in missing timestamps of `memory`.
  torch::Tensor segment_times(Memories& memory, int64_t L, int64_t B, const torch::Device& device) const;
  // The output layer: the tokens' negative log-likelihood of `targets` and, when asked, logits.
  void output_head(const torch::Tensor& h, const torch::Tensor& targets, const ForwardOptions& fo,
                   ForwardOutput& result);

  ModelOptions opts_;
  CompressionSetup setup_;
  MemoryConfig mem_cfg_;
  bool deferred_checks_ = false;
  std::vector<torch::Tensor> nonfinite_output_;  // per layer, while deferred
};
TORCH_MODULE(CompressiveTransformer);

// Validates the memory settings against the compression rate; throws ctlab::Error.
void validate_memory_config(const MemoryConfig& config, int64_t cmem_rate, const std::string& context);

}  // namespace ctlab
