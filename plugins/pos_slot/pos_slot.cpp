// slot@1: the contiguous key sequence [cm; m; h] of ctlab's first versions: compressed slot
// j of n_cm sits mem_slots + n_cm + i - j relative steps from query i, one step per slot,
// whatever span of time it summarises. The host computes this term itself with one relative
// shift over all keys (contiguous = true); compressed_scores() is the same term written
// out, for the host's checks.
#include <ctlab/plugin_api.h>

namespace {

class SlotPositions : public ctlab::PositionMap {
 public:
  torch::Tensor compressed_scores(const ctlab::PositionInput& in) override {
    const int64_t L = in.q.size(0), B = in.q.size(1), n_cm = in.t_slot.size(0);
    auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(in.q.device());
    // Slot indices as times: query i at mem_slots + n_cm + i, slot j at j.
    auto tq = (torch::arange(L, f64) + static_cast<double>(in.mem_slots + n_cm)).unsqueeze(1).expand({L, B});
    auto ts = torch::arange(n_cm, f64).unsqueeze(1).expand({n_cm, B});
    return ctlab::sinusoid_scores(in, tq, ts);
  }
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::PositionMapSpec spec;
  spec.name = "slot";
  spec.version = 1;
  spec.summary = "one relative step per slot, contiguous with memory (the default)";
  spec.contiguous = true;
  spec.create = [](const ctlab::PluginContext&) { return std::make_shared<SlotPositions>(); };
  reg.add_position_map(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
