// The Compressive Transformer: embedding, layers, output, and Algorithm 1's memory update.
#include "model/model.h"

#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/normalization.h>

#include <cmath>

#include "model/fused.h"
#include "plugin/plugin_host.h"
#include "runtime/torch_compat.h"
#include "util/error.h"

namespace ctlab {

namespace {
const char* kFnPrefix = "compress_";
const char* kLossPrefix = "closs_";
const char* kMapPrefix = "posmap_";

int64_t rows(const torch::Tensor& t) { return t.defined() ? t.size(0) : 0; }
torch::Tensor cat_time(const torch::Tensor& a, const torch::Tensor& b) {
  if (rows(a) == 0) return b;
  if (rows(b) == 0) return a;
  return torch::cat({a, b}, 0);
}
torch::Tensor last_rows(const torch::Tensor& t, int64_t n) {
  return rows(t) > n ? t.narrow(0, rows(t) - n, n) : t;
}
}  // namespace

void validate_memory_config(const MemoryConfig& c, int64_t rate, const std::string& context) {
  if (c.mem_len < 0 || c.cmem_len < 0)
    throw Error(context + ": mem_len and cmem_len must be >= 0, got " + std::to_string(c.mem_len) + " and " +
                std::to_string(c.cmem_len));
  if (c.cmem_len > 0 && c.mem_len == 0)
    throw Error(context + ": cmem_len = " + std::to_string(c.cmem_len) +
                " needs mem_len > 0: compressed memory is filled from slots evicted from memory");
  if (c.cmem_len > 0 && c.mem_len % rate != 0)
    throw Error(context + ": mem_len = " + std::to_string(c.mem_len) + " is not a multiple of cmem_rate = " +
                std::to_string(rate) + ": evictions must be whole blocks of cmem_rate slots");
}

CompressiveTransformerImpl::CompressiveTransformerImpl(const ModelOptions& o, CompressionSetup setup)
    : opts_(o), setup_(std::move(setup)) {
  mem_cfg_ = {o.mem_len, o.cmem_len, o.clamp_len, o.same_length};
  validate_memory_config(mem_cfg_, o.cmem_rate, "model");
  TORCH_CHECK(o.d_model % o.n_head == 0, "d_model ", o.d_model, " not divisible by n_head ", o.n_head);
  if (o.cmem_len > 0 && static_cast<int64_t>(setup_.fns.size()) != o.n_layer)
    throw Error("cmem_len = " + std::to_string(o.cmem_len) +
                " needs one compression function per layer, got " + std::to_string(setup_.fns.size()));

  embedding = register_module("embedding", torch::nn::Embedding(o.vocab_size, o.d_model));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.n_layer; ++i) {
    layers->push_back(Block(BlockOptions(o.d_model, o.n_head, o.d_ff)
                                .dropout(o.dropout)
                                .dropatt(o.dropatt)
                                .pre_norm(o.norm == Norm::Pre)
                                .own_biases(o.untie_r)
                                .init_std(o.init_std)));
  }
  const int64_t d_head = o.d_model / o.n_head;
  if (!o.untie_r) {
    r_w_bias = register_parameter("r_w_bias", torch::empty({o.n_head, d_head}));
    r_r_bias = register_parameter("r_r_bias", torch::empty({o.n_head, d_head}));
  }
  if (o.norm == Norm::Pre)
    final_ln = register_module("final_ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model})));
  if (!o.cutoffs.empty()) {
    // Word-level vocabularies: adaptive softmax with its own weights (tie_weight applies to
    // the full softmax only), PyTorch's default div_value of 4.
    adaptive = register_module(
        "adaptive", torch::nn::AdaptiveLogSoftmaxWithLoss(
                        torch::nn::AdaptiveLogSoftmaxWithLossOptions(o.d_model, o.vocab_size, o.cutoffs)));
  } else if (o.tie_weight) {
    out_bias = register_parameter("out_bias", torch::zeros({o.vocab_size}));
  } else {
    out = register_module("out", torch::nn::Linear(o.d_model, o.vocab_size));
  }
  {
    torch::NoGradGuard no_grad;
    embedding->weight.normal_(0.0, o.init_std);
    if (r_w_bias.defined()) {
      r_w_bias.normal_(0.0, o.init_std);
      r_r_bias.normal_(0.0, o.init_std);
    }
    if (out) {
      out->weight.normal_(0.0, o.init_std);
      out->bias.zero_();
    }
  }
  register_plugins();
}

void CompressiveTransformerImpl::register_plugins() {
  // Plugins are registered last so that the transformer's initialisation (and so its
  // random stream) does not depend on which compression function is used.
  for (size_t i = 0; i < setup_.fns.size(); ++i)
    register_module(kFnPrefix + std::to_string(i), setup_.fns[i]);
  for (size_t i = 0; i < setup_.losses.size(); ++i)
    if (setup_.losses[i]) register_module(kLossPrefix + std::to_string(i), setup_.losses[i]);
  TORCH_CHECK(setup_.maps.empty() || static_cast<int64_t>(setup_.maps.size()) == opts_.n_layer, "expected ",
              opts_.n_layer, " position maps, got ", setup_.maps.size());
  for (size_t i = 0; i < setup_.maps.size(); ++i)
    register_module(kMapPrefix + std::to_string(i), setup_.maps[i]);
}

void CompressiveTransformerImpl::check_memory_config(const MemoryConfig& config) const {
  validate_memory_config(config, opts_.cmem_rate, "memory settings");
  if (config.cmem_len > 0 && setup_.fns.empty())
    throw Error("cmem_len = " + std::to_string(config.cmem_len) +
                " but the model was built without compression functions (trained with cmem_len = 0)");
}

torch::Tensor CompressiveTransformerImpl::deferred_output_flag() const {
  std::vector<torch::Tensor> set;
  for (const auto& f : nonfinite_output_)
    if (f.defined()) set.push_back(f);
  return set.empty() ? torch::Tensor() : torch::stack(set).any();
}

void CompressiveTransformerImpl::check_deferred_outputs(bool report) {
  auto flags = std::move(nonfinite_output_);
  nonfinite_output_.clear();
  if (!report) return;
  for (size_t i = 0; i < flags.size(); ++i)
    if (flags[i].defined() && flags[i].item<bool>())
      throw Error(
          "compression function " + setup_.fn_id + " at layer " + std::to_string(i) +
              " returned non-finite values (found by the deferred check, which reads the outputs' flags "
              "once per log interval)",
          ErrorKind::Run);
}

Memories detached(Memories memories) {
  for (auto& m : memories) {
    if (m.mem.defined()) m.mem = m.mem.detach();
    if (m.cmem.defined()) m.cmem = m.cmem.detach();
  }
  return memories;
}

bool CompressiveTransformerImpl::is_compression_param(const std::string& name) const {
  return name.rfind(kFnPrefix, 0) == 0 || name.rfind(kLossPrefix, 0) == 0;
}

std::vector<torch::Tensor> CompressiveTransformerImpl::transformer_parameters() const {
  std::vector<torch::Tensor> v;
  for (const auto& p : named_parameters())
    if (!is_compression_param(p.key())) v.push_back(p.value());
  return v;
}

std::vector<torch::Tensor> CompressiveTransformerImpl::compression_parameters() const {
  std::vector<torch::Tensor> v;
  for (const auto& p : named_parameters())
    if (is_compression_param(p.key())) v.push_back(p.value());
  return v;
}

namespace {
// The memories a pass starts from: `memory`, or empty ones for a fresh stream; checked
// against the layers and the segment's batch size.
Memories start_memories(const Memories& memory, int64_t n_layer, int64_t B) {
  if (memory.empty()) return Memories(n_layer);
  if (static_cast<int64_t>(memory.size()) != n_layer)
    throw Error("the memories passed to the model have " + std::to_string(memory.size()) +
                " layers, expected " + std::to_string(n_layer) + " (or none, for a fresh stream)");
  const auto& m0 = memory[0];
  if (rows(m0.cmem) + rows(m0.mem) > 0) {
    auto mb = rows(m0.mem) > 0 ? m0.mem.size(1) : m0.cmem.size(1);
    if (mb != B)
      throw Error("the memories hold batch size " + std::to_string(mb) + " but this segment has " +
                  std::to_string(B) + ": start a fresh stream when the batch size changes");
  }
  return memory;
}
}  // namespace

ForwardOutput CompressiveTransformerImpl::forward(const torch::Tensor& tokens, const torch::Tensor& targets,
                                                  const Memories& memory, const ForwardOptions& fo) {
  TORCH_CHECK(tokens.dim() == 2, "tokens must be [L, B], got ", tokens.sizes());
  const int64_t L = tokens.size(0), B = tokens.size(1), D = opts_.d_model;
  const MemoryConfig& mc = fo.memory_config ? *fo.memory_config : mem_cfg_;
  Memories next = start_memories(memory, opts_.n_layer, B);
  const int64_t cmem_slots = rows(next[0].cmem), mem_slots = rows(next[0].mem);
  const int64_t mlen = cmem_slots + mem_slots, klen = mlen + L;

  const bool train = is_training();
  auto h = ctlab::dropout(embedding(tokens) * std::sqrt(static_cast<double>(D)), opts_.dropout, train);
  auto r = ctlab::dropout(sinusoid_positions(klen, D, mc.clamp_len, h.options()), opts_.dropout, train);
  const int64_t window = (!train && mc.same_length) ? mc.mem_len + mc.cmem_len : 0;
  auto mask = causal_memory_mask(L, mlen, window, h.device());

  // Timestamps: tracked whenever compressing; read by position maps other than `slot`.
  const torch::Tensor t_seg = mc.cmem_len > 0 ? segment_times(next, L, B, h.device()) : torch::Tensor();
  const bool mapped = !setup_.maps.empty() && cmem_slots > 0;

  const bool track_usage = fo.update_memory && setup_.needs_usage && mc.cmem_len > 0;
  const bool want_probs = fo.need_attention || track_usage;
  std::vector<torch::Tensor> inputs, probs;
  // An auxiliary compression loss gets the forward pass's projections (see CompressionEvent).
  const bool keep_projections =
      fo.update_memory && setup_.loss_mode == LossMode::Auxiliary && mc.cmem_len > 0;
  std::vector<AttentionProjections> projections(keep_projections ? opts_.n_layer : 0);
  ForwardOutput result;
  for (int64_t i = 0; i < opts_.n_layer; ++i) {
    inputs.push_back(h);
    const auto& lm = next[i];
    auto mems = cat_time(lm.cmem, lm.mem);
    if (!mems.defined()) mems = h.new_empty({0, B, D});
    torch::Tensor p;
    const auto positions = mapped ? positions_for(i, lm, t_seg, mem_slots, mc) : CompressedPositions{};
    h = layers[i]->as<Block>()->forward(h, mems, r, r_w_bias, r_r_bias, mask, want_probs ? &p : nullptr,
                                        keep_projections ? &projections[i] : nullptr,
                                        mapped ? &positions : nullptr);
    if (want_probs) probs.push_back(p.detach());
  }
  if (final_ln) h = final_ln(h);
  h = ctlab::dropout(h, opts_.dropout, train);

  output_head(h, targets, fo, result);
  result.cmem_slots = cmem_slots;
  result.mem_slots = mem_slots;
  if (fo.need_attention) result.attention = probs;
  if (fo.update_memory)
    update_memory(next, inputs, probs, projections, t_seg, mc, fo.keep_graph, result.compression);
  result.memory = std::move(next);
  return result;
}

void CompressiveTransformerImpl::output_head(const torch::Tensor& h, const torch::Tensor& targets,
                                             const ForwardOptions& fo, ForwardOutput& result) {
  const int64_t L = h.size(0), B = h.size(1);
  if (adaptive) {
    TORCH_CHECK(!fo.want_logits, "logits are not available with the adaptive softmax (cutoffs)");
    auto res = adaptive(h.reshape({L * B, opts_.d_model}), targets.reshape({L * B}));
    result.nll = -res.output.to(torch::kFloat32).view({L, B});
    return;
  }
  const auto& w = out_bias.defined() ? embedding->weight : out->weight;
  const auto& b = out_bias.defined() ? out_bias : out->bias;
  // Under bf16 autocast the product comes back in bf16 and the bias goes onto it in float32,
  // where the loss reads the logits anyway.
  auto logits = compat::autocast_enabled(h.device().type())
                    ? torch::nn::functional::linear(h, w).to(torch::kFloat32) + b
                    : torch::nn::functional::linear(h, w, b);
  if (targets.defined()) {
    result.nll = torch::nn::functional::cross_entropy(
                     logits.reshape({L * B, opts_.vocab_size}).to(torch::kFloat32), targets.reshape({L * B}),
                     torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                     .view({L, B});
  }
  if (fo.want_logits) result.logits = logits;
}

torch::Tensor CompressiveTransformerImpl::compress(int64_t i, const torch::Tensor& old,
                                                   const torch::Tensor& usage, const torch::Tensor& old_times,
                                                   torch::Tensor* times) {
  CompressionInput in;
  in.old = old;
  in.rate = opts_.cmem_rate;
  in.layer = i;
  in.usage = usage;
  in.times = old_times;
  auto& fn = setup_.fns[i];
  const std::string where = " (layer " + std::to_string(i) + ")";
  auto compressed =
      call_plugin(setup_.fn_id, setup_.fn_path, "forward" + where, [&] { return fn->forward(in); });
  // A version-1 function's slots get the mean time of their sources (it has no slot_times).
  *times = setup_.fn_api >= 2 ? call_plugin(setup_.fn_id, setup_.fn_path, "slot_times" + where,
                                            [&] { return fn->slot_times(in); })
                              : block_mean_times(old_times, in.rate);
  const std::vector<int64_t> want_t = {old.size(0) / in.rate, old.size(1)};
  if (!times->defined() || times->sizes() != c10::IntArrayRef(want_t))
    throw Error("compression function " + setup_.fn_id + " at layer " + std::to_string(i) +
                    " returned slot times of shape " +
                    (times->defined() ? c10::str(times->sizes()) : std::string("(undefined)")) +
                    ", expected " + c10::str(c10::IntArrayRef(want_t)),
                ErrorKind::Run);
  *times = times->detach().to(torch::kFloat64);
  // Under bf16 autocast a function's products (conv1d's addmm) come back in bf16 while
  // the memory it compresses is fp32: the compressed memory keeps the memory's dtype.
  if (compressed.defined() && compressed.scalar_type() != in.old.scalar_type() &&
      compressed.is_floating_point() && compat::autocast_enabled(in.old.device().type()))
    compressed = compressed.to(in.old.scalar_type());
  if (deferred_checks_) {
    nonfinite_output_.resize(opts_.n_layer);
    check_compression_output(setup_.fn_id, in, compressed, &nonfinite_output_[i]);
  } else {
    check_compression_output(setup_.fn_id, in, compressed);
  }
  return compressed;
}

namespace {
// What the compression loss of layer `layer` needs from this segment (CompressionEvent).
CompressionEvent make_event(int64_t layer, const torch::Tensor& h_in, const torch::Tensor& old_blocks,
                            const torch::Tensor& compressed, const AttentionProjections* pr,
                            int64_t cmem_slots) {
  CompressionEvent event;
  event.layer = layer;
  event.h = h_in.detach();
  event.old = old_blocks.detach();
  event.compressed = compressed;
  if (pr) {
    // The keys were concat(cm, m, h) and old is the oldest rows of concat(m, h): rows
    // cmem_slots .. cmem_slots + n of the keys.
    const int64_t n = old_blocks.size(0);
    event.h_q = pr->q;
    event.old_k = pr->k.narrow(0, cmem_slots, n);
    event.old_v = pr->v.narrow(0, cmem_slots, n);
  }
  return event;
}
}  // namespace

void CompressiveTransformerImpl::update_memory(Memories& memory, const std::vector<torch::Tensor>& inputs,
                                               const std::vector<torch::Tensor>& probs,
                                               const std::vector<AttentionProjections>& projections,
                                               const torch::Tensor& t_seg, const MemoryConfig& mc,
                                               bool keep_graph, std::vector<CompressionEvent>& events) {
  const bool timed = t_seg.defined();
  const int64_t c = opts_.cmem_rate;
  const bool track_usage = setup_.needs_usage && mc.cmem_len > 0;
  const int64_t cmem_slots = rows(memory[0].cmem), mem_slots = rows(memory[0].mem);
  for (int64_t i = 0; i < opts_.n_layer; ++i) {
    auto& lm = memory[i];
    const auto& h_in = inputs[i];
    const int64_t L = h_in.size(0), B = h_in.size(1);
    auto h_store = keep_graph ? h_in : h_in.detach();
    auto full = cat_time(lm.mem, h_store);
    torch::Tensor full_usage, full_age;
    if (track_usage) {
      torch::NoGradGuard no_grad;
      auto fresh = torch::zeros({L, B}, h_in.options().dtype(torch::kFloat32));
      auto usage = lm.usage;
      if (mem_slots > 0) {
        // Mass on each memory slot this segment: mean over heads and queries, [B, m] -> [m, B].
        auto mass = probs[i].narrow(-1, cmem_slots, mem_slots).mean({1, 2}).t();
        usage = usage.defined() ? usage + mass : mass;
      }
      full_usage = cat_time(usage, fresh);
      auto age = lm.age.defined() ? lm.age + 1 : lm.age;
      full_age = cat_time(age, torch::zeros({L}, h_in.options().dtype(torch::kLong)));
    }
    const int64_t n_evict = std::max<int64_t>(0, rows(full) - mc.mem_len);
    const int64_t n_keep = rows(full) - n_evict;
    auto old = full.narrow(0, 0, n_evict);
    lm.mem = full.narrow(0, n_evict, n_keep);
    const auto full_t = timed ? cat_time(lm.mem_t, t_seg) : torch::Tensor();
    if (timed) lm.mem_t = full_t.narrow(0, n_evict, n_keep);
    if (track_usage) {
      lm.usage = full_usage.narrow(0, n_evict, n_keep);
      lm.age = full_age.narrow(0, n_evict, n_keep);
    }
    const int64_t n_c = (n_evict / c) * c;  // a short last segment: the oldest whole blocks
    if (mc.cmem_len == 0 || n_c == 0) continue;

    const auto old_blocks = old.narrow(0, 0, n_c);
    torch::Tensor slot_t;
    auto compressed = compress(i, old_blocks, track_usage ? full_usage.narrow(0, 0, n_c) : torch::Tensor(),
                               full_t.narrow(0, 0, n_c), &slot_t);
    events.push_back(make_event(i, h_in, old_blocks, compressed,
                                projections.empty() ? nullptr : &projections[i], cmem_slots));
    lm.cmem = last_rows(cat_time(lm.cmem, keep_graph ? compressed : compressed.detach()), mc.cmem_len);
    lm.cmem_t = last_rows(cat_time(lm.cmem_t, slot_t), mc.cmem_len);
  }
}

namespace {
// A layer's LN1 through detached copies of its parameters (content attention for losses).
torch::Tensor detached_norm(const torch::nn::LayerNormImpl& ln, const torch::Tensor& t) {
  return torch::layer_norm(t, {t.size(-1)}, ln.weight.detach(), ln.bias.detach(), ln.options.eps());
}
}  // namespace

ContentAttention CompressiveTransformerImpl::content_attention(int64_t layer) const {
  auto block = std::dynamic_pointer_cast<BlockImpl>(layers->ptr(layer));
  const bool pre = opts_.norm == Norm::Pre;
  auto attn = block->attn;
  auto ln = block->ln1;
  return [attn, ln, pre](const torch::Tensor& x, const torch::Tensor& y) {
    if (!pre) return attn->content_attention(x, y);
    return attn->content_attention(detached_norm(*ln, x), detached_norm(*ln, y));
  };
}

ContentAttention CompressiveTransformerImpl::content_attention(const CompressionEvent& e) const {
  auto generic = content_attention(e.layer);
  if (!e.h_q.defined()) return generic;
  auto block = std::dynamic_pointer_cast<BlockImpl>(layers->ptr(e.layer));
  auto attn = block->attn;
  auto ln = block->ln1;
  const bool pre = opts_.norm == Norm::Pre;
  // Only the event's own tensors, unmodified, may use the kept projections.
  const auto h_version = e.h._version(), old_version = e.old._version();
  return [generic, attn, ln, pre, e, h_version, old_version](const torch::Tensor& x, const torch::Tensor& y) {
    const bool own_h = x.unsafeGetTensorImpl() == e.h.unsafeGetTensorImpl() && x._version() == h_version;
    if (!own_h) return generic(x, y);
    if (y.unsafeGetTensorImpl() == e.old.unsafeGetTensorImpl() && y._version() == old_version)
      return attn->content_attention_projected(e.h_q, e.old_k, e.old_v);
    auto [k, v] = attn->content_keys_values(pre ? detached_norm(*ln, y) : y);
    return attn->content_attention_projected(e.h_q, k, v);
  };
}

std::vector<torch::Tensor> CompressiveTransformerImpl::compression_losses(
    const std::vector<CompressionEvent>& events) {
  std::vector<torch::Tensor> out;
  if (setup_.loss_mode != LossMode::Auxiliary) return out;
  for (const auto& e : events) {
    LossInput in;
    in.h = e.h;
    in.old = e.old;
    in.compressed = e.compressed;
    in.layer = e.layer;
    in.rate = opts_.cmem_rate;
    in.content_attention = content_attention(e);
    auto& loss = setup_.losses.at(e.layer);
    auto value =
        call_plugin(setup_.loss_id, setup_.loss_path, "forward (layer " + std::to_string(e.layer) + ")",
                    [&] { return loss->forward(in); });
    if (!value.defined() || value.numel() != 1)
      throw Error("compression loss " + setup_.loss_id + " at layer " + std::to_string(e.layer) +
                      " returned " + (value.defined() ? c10::str(value.sizes()) : std::string("nothing")) +
                      ", expected a scalar",
                  ErrorKind::Run);
    out.push_back(value.reshape({}));
  }
  return out;
}

}  // namespace ctlab
