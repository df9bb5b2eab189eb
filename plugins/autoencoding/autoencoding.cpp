// autoencoding@1 (loss): a decoder g owned by the loss reconstructs the evicted slots from
// their compression, L = MSE(g(f_c(old)), old) ([CT] sec. 3.2). g is a transposed 1D
// convolution D -> D with kernel = stride = c (PyTorch's default initialisation); f_c and
// g are trained together by this loss only.
#include <ctlab/plugin_api.h>
#include <torch/nn/modules/conv.h>

namespace {

class Autoencoding : public ctlab::CompressionLoss {
 public:
  Autoencoding(int64_t d, int64_t c) {
    decoder = register_module(
        "decoder", torch::nn::ConvTranspose1d(torch::nn::ConvTranspose1dOptions(d, d, c).stride(c)));
  }
  torch::Tensor forward(const ctlab::LossInput& in) override {
    // [m, B, D] -> [B, D, m] -> [B, D, m*c] -> [m*c, B, D]
    auto rebuilt = decoder(in.compressed.permute({1, 2, 0})).permute({2, 0, 1});
    TORCH_CHECK(rebuilt.sizes() == in.old.sizes(), "autoencoding: decoder output ", rebuilt.sizes(),
                " does not match old ", in.old.sizes());
    return ctlab::at_least_float32(rebuilt - in.old).pow(2).mean();
  }
  torch::nn::ConvTranspose1d decoder{nullptr};
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionLossSpec spec;
  spec.name = "autoencoding";
  spec.version = 1;
  spec.summary = "a transposed-convolution decoder reconstructs old from f_c(old); MSE";
  spec.mode = ctlab::LossMode::Auxiliary;
  spec.create = [](const ctlab::PluginContext& ctx) {
    return std::make_shared<Autoencoding>(ctx.d_model, ctx.rate);
  };
  reg.add_compression_loss(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
