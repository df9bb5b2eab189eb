// aligned@1: integer distances aligned to blocks of c queries, after the compressive
// baseline of facebookresearch/transformer-sequential (models/compressive.py), where each
// block of c queries reads the pooled blocks counted from its own window. Here: query and
// slot times are both floored to the grid of c tokens, d = c floor(t_query / c) - c
// floor(t_slot / c), so the c queries of a block share one offset per slot and a source T
// tokens back stays at one distance (up to the query's phase i mod c) for every block.
// The integer control for true_distance: it tells "consistent distances" from "fractional
// sinusoid". Transformer-XL's sinusoid, W_r and v; clamp_len applies. No parameters.
#include <ctlab/plugin_api.h>

namespace {

class Aligned : public ctlab::PositionMap {
 public:
  torch::Tensor compressed_scores(const ctlab::PositionInput& in) override {
    const double c = static_cast<double>(in.rate);
    auto grid = [c](const torch::Tensor& t) { return torch::floor(t / c) * c; };
    return ctlab::sinusoid_scores(in, grid(in.t_query), grid(in.t_slot));
  }
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::PositionMapSpec spec;
  spec.name = "aligned";
  spec.version = 1;
  spec.summary = "distance in whole blocks of c: c floor(t_query/c) - c floor(t_slot/c)";
  spec.create = [](const ctlab::PluginContext&) { return std::make_shared<Aligned>(); };
  reg.add_position_map(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
