// conv1d@1: a learned 1D convolution D -> D with kernel = stride = c over time, mapping each
// block of c evicted slots to one compressed slot ([CT] sec. 3.1; the paper's best
// function on enwik8). Trainable: pair it with attention_reconstruction, autoencoding or
// bptt. Weights use PyTorch's default Conv1d initialisation. A slot's timestamp is the centre
// of its receptive field, the block's mean time (CompressionFn::slot_times' default).
#include <ctlab/plugin_api.h>
#include <torch/nn/modules/conv.h>

namespace {

class Conv1dCompression : public ctlab::CompressionFn {
 public:
  Conv1dCompression(int64_t d, int64_t c) {
    conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(d, d, c).stride(c)));
  }
  torch::Tensor forward(const ctlab::CompressionInput& in) override {
    const auto& old = in.old;
    TORCH_CHECK(old.dim() == 3, "conv1d expects old as [n, B, D], got ", old.sizes());
    TORCH_CHECK(old.size(0) % in.rate == 0, "conv1d: n = ", old.size(0), " is not a multiple of rate ",
                in.rate);
    // With kernel = stride = c the convolution is one product: each block of c slots,
    // flattened channel-major like the weight [D, D, c], times W^T [D*c, D], plus the bias.
    // (The same function as conv(old.permute({1, 2, 0})), without LibTorch's im2col copies.)
    const int64_t n = old.size(0), B = old.size(1), D = old.size(2), c = in.rate;
    auto blocks = old.reshape({n / c, c, B, D}).permute({0, 2, 3, 1}).reshape({n / c * B, D * c});
    auto w = conv->weight.reshape({conv->weight.size(0), D * c});
    return torch::addmm(conv->bias, blocks, w.t()).view({n / c, B, conv->weight.size(0)});
  }
  torch::nn::Conv1d conv{nullptr};
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionFnSpec spec;
  spec.name = "conv1d";
  spec.version = 1;
  spec.summary = "learned 1D convolution D -> D, kernel = stride = c";
  spec.trainable = true;
  spec.create = [](const ctlab::PluginContext& ctx) {
    return std::make_shared<Conv1dCompression>(ctx.d_model, ctx.rate);
  };
  reg.add_compression_fn(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
