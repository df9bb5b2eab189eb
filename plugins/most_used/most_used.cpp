// most_used@1: keeps the n/c evicted slots that received the most attention while in
// memory (usage: mean over heads and queries, summed over the segments the slot spent in
// memory), separately for each batch stream, then restores their time order ([CT] sec.
// 3.1). Ties go to the older slot. A kept slot's timestamp is its source's. Parameter-free.
#include <ctlab/plugin_api.h>

namespace {

class MostUsed : public ctlab::CompressionFn {
 public:
  torch::Tensor forward(const ctlab::CompressionInput& in) override {
    const auto& old = in.old;
    TORCH_CHECK(old.dim() == 3, "most_used expects old as [n, B, D], got ", old.sizes());
    TORCH_CHECK(in.usage.defined(), "most_used needs the usage of the evicted slots");
    TORCH_CHECK(in.usage.dim() == 2 && in.usage.size(0) == old.size(0) && in.usage.size(1) == old.size(1),
                "most_used: usage ", in.usage.sizes(), " does not match old ", old.sizes());
    TORCH_CHECK(old.size(0) % in.rate == 0, "most_used: n = ", old.size(0), " is not a multiple of rate ",
                in.rate);
    auto kept = chosen(in);
    return old.gather(0, kept.unsqueeze(-1).expand({kept.size(0), old.size(1), old.size(2)}));
  }
  // The kept slot's own time.
  torch::Tensor slot_times(const ctlab::CompressionInput& in) override {
    return in.times.gather(0, chosen(in).to(in.times.device()));
  }

 private:
  // [n / c, B] indices of the kept slots, in time order.
  static torch::Tensor chosen(const ctlab::CompressionInput& in) {
    const int64_t keep = in.old.size(0) / in.rate;
    // Stable descending sort: among equal usage the older slot comes first.
    auto order = std::get<1>(
        torch::sort(in.usage.to(in.old.device()), /*stable=*/true, /*dim=*/0, /*descending=*/true));
    return std::get<0>(torch::sort(order.narrow(0, 0, keep), /*dim=*/0));  // back to time order
  }
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionFnSpec spec;
  spec.name = "most_used";
  spec.version = 1;
  spec.summary = "keeps the n/c most-attended evicted slots, in time order";
  spec.needs_usage = true;
  spec.create = [](const ctlab::PluginContext&) { return std::make_shared<MostUsed>(); };
  reg.add_compression_fn(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
