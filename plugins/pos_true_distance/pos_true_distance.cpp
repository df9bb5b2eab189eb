// true_distance@1: a compressed slot sits at its true distance in tokens, d = t_query -
// t_slot, where t_slot is the timestamp its compression function gave it (the block mean
// for pooling, the receptive field's centre for convolutions, the kept token's time for
// most_used). Transformer-XL's sinusoid, W_r and v are used at the fractional d, so a
// source T tokens back is at distance ~T for every query, whatever the rate; clamp_len
// applies. No parameters of its own.
#include <ctlab/plugin_api.h>

namespace {

class TrueDistance : public ctlab::PositionMap {
 public:
  torch::Tensor compressed_scores(const ctlab::PositionInput& in) override {
    return ctlab::sinusoid_scores(in, in.t_query, in.t_slot);
  }
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::PositionMapSpec spec;
  spec.name = "true_distance";
  spec.version = 1;
  spec.summary = "distance = t_query - t_slot in tokens (fractional), TXL sinusoid, W_r and v";
  spec.create = [](const ctlab::PluginContext&) { return std::make_shared<TrueDistance>(); };
  reg.add_position_map(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
