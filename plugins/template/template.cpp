// template@1: a documented example compression function to copy. It keeps one slot out of
// every block of c evicted slots (strided subsampling); `position` picks which slot of the
// block (0 = oldest, -1 = newest). Rename the plugin, change forward(), keep the shapes.
#include <ctlab/plugin_api.h>

namespace {

// One instance is created per layer; it is a torch::nn::Module, so parameters you
// register (register_parameter / register_module) are trained by the optimizer and saved
// in checkpoints. This example has none, so it is declared parameter-free below.
class Subsample : public ctlab::CompressionFn {
 public:
  explicit Subsample(int64_t position) : position_(position) {}

  // in.old: [n, B, D] evicted memory slots, oldest first; n is a multiple of in.rate.
  // Must return [n / rate, B, D] with the same dtype and device; the host checks this.
  torch::Tensor forward(const ctlab::CompressionInput& in) override {
    const auto& old = in.old;
    TORCH_CHECK(old.dim() == 3, "template expects old as [n, B, D], got ", old.sizes());
    const int64_t c = in.rate;
    TORCH_CHECK(position_ >= -c && position_ < c, "template: position ", position_, " is outside a block of ",
                c, " slots");
    const int64_t pos = position_ < 0 ? position_ + c : position_;
    auto blocks = old.reshape({old.size(0) / c, c, old.size(1), old.size(2)});
    return blocks.select(1, pos).contiguous();
  }

  // Plugin API 2: each compressed slot's timestamp, [n / rate, B] float64 from in.times
  // (the stream position of every old slot). Position maps such as true_distance read the
  // slot's distance from it. Leave it out and a slot gets the mean time of its block; a
  // function that keeps one slot verbatim says which, as here.
  torch::Tensor slot_times(const ctlab::CompressionInput& in) override {
    const int64_t c = in.rate;
    const int64_t pos = position_ < 0 ? position_ + c : position_;
    return in.times.reshape({in.times.size(0) / c, c, in.times.size(1)}).select(1, pos).contiguous();
  }

 private:
  int64_t position_;
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionFnSpec spec;
  spec.name = "template";  // what configs write: compression = template
  spec.version = 1;        // bump when what forward() computes changes
  spec.summary = "keeps one slot of every block of c (example plugin to copy)";
  spec.trainable = false;  // true when the module has parameters to learn
  // Declared parameters: set in configs as compression.position = 0. The host checks
  // types and rejects unknown keys before any run starts.
  spec.params = {
      {"position", ctlab::ParamType::Int, "-1", "which slot of each block to keep: 0 = oldest, -1 = newest"}};
  spec.create = [](const ctlab::PluginContext& ctx) {
    return std::make_shared<Subsample>(ctx.params.get_int("position"));
  };
  reg.add_compression_fn(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
