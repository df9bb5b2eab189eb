// mean_pool@1: compressed slot = mean of each block of c consecutive evicted slots
// (1D average pooling with kernel = stride = c, [CT] sec. 3.1). Parameter-free.
#include <ctlab/plugin_api.h>

namespace {

class MeanPool : public ctlab::CompressionFn {
 public:
  torch::Tensor forward(const ctlab::CompressionInput& in) override {
    const auto& old = in.old;
    TORCH_CHECK(old.dim() == 3, "mean_pool expects old as [n, B, D], got ", old.sizes());
    TORCH_CHECK(in.rate >= 1 && old.size(0) % in.rate == 0, "mean_pool: n = ", old.size(0),
                " is not a multiple of rate ", in.rate);
    // [n, B, D] -> [n/c, c, B, D]: block k holds slots k*c .. k*c + c-1, oldest first.
    return old.reshape({old.size(0) / in.rate, in.rate, old.size(1), old.size(2)}).mean(1);
  }
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionFnSpec spec;
  spec.name = "mean_pool";
  spec.version = 1;
  spec.summary = "mean of each block of c evicted slots (kernel = stride = c)";
  spec.trainable = false;
  spec.create = [](const ctlab::PluginContext&) { return std::make_shared<MeanPool>(); };
  reg.add_compression_fn(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
