// max_pool@1: compressed slot = elementwise max over each block of c consecutive evicted
// slots (1D max pooling with kernel = stride = c, [CT] sec. 3.1). Parameter-free.
#include <ctlab/plugin_api.h>

namespace {

class MaxPool : public ctlab::CompressionFn {
 public:
  torch::Tensor forward(const ctlab::CompressionInput& in) override {
    const auto& old = in.old;
    TORCH_CHECK(old.dim() == 3, "max_pool expects old as [n, B, D], got ", old.sizes());
    TORCH_CHECK(in.rate >= 1 && old.size(0) % in.rate == 0, "max_pool: n = ", old.size(0),
                " is not a multiple of rate ", in.rate);
    return std::get<0>(old.reshape({old.size(0) / in.rate, in.rate, old.size(1), old.size(2)}).max(1));
  }
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionFnSpec spec;
  spec.name = "max_pool";
  spec.version = 1;
  spec.summary = "elementwise max over each block of c evicted slots (kernel = stride = c)";
  spec.create = [](const ctlab::PluginContext&) { return std::make_shared<MaxPool>(); };
  reg.add_compression_fn(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
