// deepmind@1: the positional scheme of DeepMind's Compressive Transformer code (sonnet,
// commit 929191b "Add the compressive transformer", 2020, nets/transformer.py). Compressed
// memory has its own sinusoid table over [cm; x], so slot j of n_cm is i + n_cm - j steps
// from query i in compressed-slot units, as if the episodic memory were absent; its own
// relative-key projection W_k,R [H*d_head, D] and its own position bias v [H, d_head]
// (the content bias u stays shared). One softmax over [cm; m; h] as everywhere in ctlab.
// Timestamps are not read. Parameters: W_k,R and v, normal(0, 0.02) like the model's.
#include <ctlab/plugin_api.h>

namespace {

class DeepMindPositions : public ctlab::PositionMap {
 public:
  DeepMindPositions(int64_t d_model, int64_t n_head, int64_t d_head) : d_model_(d_model) {
    w_kr = register_parameter("w_kr", torch::empty({n_head * d_head, d_model}));
    v_bias = register_parameter("v_bias", torch::empty({n_head, d_head}));
    torch::NoGradGuard no_grad;
    w_kr.normal_(0.0, 0.02);
    v_bias.normal_(0.0, 0.02);
  }

  torch::Tensor compressed_scores(const ctlab::PositionInput& in) override {
    const auto& q = in.q;
    const int64_t L = q.size(0), H = q.size(2), Dh = q.size(3), n_cm = in.t_slot.size(0);
    const auto dt = q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
    auto opts = torch::TensorOptions().dtype(dt).device(q.device());
    auto d = torch::arange(L, opts).unsqueeze(1) + static_cast<double>(n_cm) -
             torch::arange(n_cm, opts).unsqueeze(0);
    auto rk =
        torch::matmul(ctlab::sinusoid_at(d, d_model_, in.clamp_len), w_kr.to(dt).t()).view({L, n_cm, H, Dh});
    auto qv = (q + v_bias.view({1, 1, H, Dh})).to(dt);
    return torch::einsum("lbhe,lnhe->bhln", {qv, rk});
  }

  torch::Tensor w_kr, v_bias;

 private:
  int64_t d_model_;
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::PositionMapSpec spec;
  spec.name = "deepmind";
  spec.version = 1;
  spec.summary = "DeepMind's CT code: own sinusoid table over [cm; x], own W_k,R and v for cm";
  spec.create = [](const ctlab::PluginContext& ctx) {
    return std::make_shared<DeepMindPositions>(ctx.d_model, ctx.n_head, ctx.d_head);
  };
  reg.add_position_map(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
