// attention_reconstruction@1 (loss): per layer, the layer's content attention of the
// segment h over the evicted slots should be the same over their compression:
//   L = reduce(attn(h, old) - attn(h, f_c(old)))
// with attn the layer's multi-head content attention through detached copies of its W_q,
// W_k, W_v (no positions, no u/v, no mask) and reduce = mean squared error (default) or
// the L2 norm ([CT] sec. 3.2). Only f_c receives gradient.
#include <ctlab/plugin_api.h>

namespace {

class AttentionReconstruction : public ctlab::CompressionLoss {
 public:
  explicit AttentionReconstruction(bool l2) : l2_(l2) {}
  torch::Tensor forward(const ctlab::LossInput& in) override {
    TORCH_CHECK(in.content_attention, "attention_reconstruction needs the host's content_attention callback");
    auto target = in.content_attention(in.h, in.old);
    auto approx = in.content_attention(in.h, in.compressed);
    auto diff = ctlab::at_least_float32(target - approx);
    return l2_ ? diff.pow(2).sum().sqrt() : diff.pow(2).mean();
  }

 private:
  bool l2_;
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionLossSpec spec;
  spec.name = "attention_reconstruction";
  spec.version = 1;
  spec.summary = "the layer's content attention over f_c(old) should match that over old";
  spec.mode = ctlab::LossMode::Auxiliary;
  spec.params = {{"reduce",
                  ctlab::ParamType::String,
                  "mse",
                  "mse: mean squared difference; l2: L2 norm of the difference",
                  {"mse", "l2"}}};
  spec.create = [](const ctlab::PluginContext& ctx) {
    return std::make_shared<AttentionReconstruction>(ctx.params.get_string("reduce") == "l2");
  };
  reg.add_compression_loss(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
