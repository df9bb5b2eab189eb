// dilated_conv@1: `layers` residual 1D convolutions D -> D over the evicted slots, layer j
// with kernel `kernel` and dilation 2^j, "same" zero padding and ReLU (x <- x + ReLU(conv_j(x))),
// followed by a kernel = stride = c convolution to one slot per block. [CT] names dilated
// convolutions as a compression function without fixing this architecture; these are
// ctlab's choices, all recorded as parameters. Trainable.
#include <ctlab/plugin_api.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>

namespace {

class DilatedConv : public ctlab::CompressionFn {
 public:
  DilatedConv(int64_t d, int64_t c, int64_t layers, int64_t kernel) {
    TORCH_CHECK(layers >= 0 && layers <= 16, "dilated_conv: layers = ", layers, " must be in [0, 16]");
    TORCH_CHECK(kernel >= 1 && kernel % 2 == 1, "dilated_conv: kernel = ", kernel,
                " must be odd (same padding on both sides)");
    stack = register_module("stack", torch::nn::ModuleList());
    for (int64_t j = 0; j < layers; ++j) {
      const int64_t dilation = int64_t{1} << j;
      stack->push_back(torch::nn::Conv1d(
          torch::nn::Conv1dOptions(d, d, kernel).dilation(dilation).padding(dilation * (kernel - 1) / 2)));
    }
    reduce = register_module("reduce", torch::nn::Conv1d(torch::nn::Conv1dOptions(d, d, c).stride(c)));
  }
  torch::Tensor forward(const ctlab::CompressionInput& in) override {
    const auto& old = in.old;
    TORCH_CHECK(old.dim() == 3, "dilated_conv expects old as [n, B, D], got ", old.sizes());
    TORCH_CHECK(old.size(0) % in.rate == 0, "dilated_conv: n = ", old.size(0), " is not a multiple of rate ",
                in.rate);
    auto x = old.permute({1, 2, 0});  // [B, D, n]
    for (const auto& m : *stack) x = x + torch::relu(m->as<torch::nn::Conv1d>()->forward(x));
    return reduce(x).permute({2, 0, 1}).contiguous();
  }
  torch::nn::ModuleList stack{nullptr};
  torch::nn::Conv1d reduce{nullptr};
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionFnSpec spec;
  spec.name = "dilated_conv";
  spec.version = 1;
  spec.summary = "residual dilated 1D convolutions (dilation 2^j), then a kernel = stride = c convolution";
  spec.trainable = true;
  spec.params = {
      {"layers", ctlab::ParamType::Int, "2", "residual dilated convolution layers before the reduction"},
      {"kernel", ctlab::ParamType::Int, "3", "kernel size of the dilated convolutions (odd)"}};
  spec.create = [](const ctlab::PluginContext& ctx) {
    return std::make_shared<DilatedConv>(ctx.d_model, ctx.rate, ctx.params.get_int("layers"),
                                         ctx.params.get_int("kernel"));
  };
  reg.add_compression_fn(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
