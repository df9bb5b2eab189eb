// Dilated convolutions as a compression function. [CT] names them without fixing an
// architecture; two versions:
// dilated_conv@1 (ctlab's first reading): `layers` residual 1D convolutions D -> D over the
//   evicted slots, layer j with kernel `kernel` and dilation 2^j, "same" zero padding and
//   ReLU (x <- x + ReLU(conv_j(x))), then a kernel = stride = c convolution to one slot per
//   block. Slot timestamps: the block mean (the centre of its receptive field).
// dilated_conv@2 (DeepMind's Compressive Transformer code, sonnet commit 929191b,
//   ConvCompressor): for each rate r in `rates`, a kernel-2 convolution with dilation r, no
//   bias, then ReLU; then a convolution with kernel c + `kernel_size` and stride c, no bias.
//   The reference pads nothing (VALID) and so returns fewer than n / c slots; here the
//   evicted slots of each call are zero-padded on the old side by sum(rates) + kernel_size,
//   so that there are exactly n / c slots and slot s sees its own block and the sum(rates) +
//   kernel_size slots before it within the call (causal; the first slots of a call see zeros
//   where earlier evictions were). Timestamp: the centre of that receptive field,
//   the block mean minus (sum(rates) + kernel_size) / 2.
// Both trainable.
#include <ctlab/plugin_api.h>
#include <torch/nn/functional/padding.h>
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

std::vector<int64_t> parse_rates(const std::string& text) {
  std::vector<int64_t> rates;
  size_t at = 0;
  while (at <= text.size()) {
    const auto comma = std::min(text.find(',', at), text.size());
    const auto item = text.substr(at, comma - at);
    TORCH_CHECK(!item.empty() && item.find_first_not_of(" 0123456789") == std::string::npos,
                "dilated_conv@2: rates = '", text,
                "' must be positive integers separated by commas, e.g. 1,2,4");
    rates.push_back(std::stoll(item));
    TORCH_CHECK(rates.back() >= 1 && rates.back() <= 1024, "dilated_conv@2: rate ", rates.back(),
                " must be in [1, 1024]");
    at = comma + 1;
  }
  return rates;
}

class ReferenceDilatedConv : public ctlab::CompressionFn {
 public:
  ReferenceDilatedConv(int64_t d, int64_t c, std::vector<int64_t> rates, int64_t kernel_size)
      : rates_(std::move(rates)), kernel_size_(kernel_size) {
    TORCH_CHECK(kernel_size >= 0 && kernel_size <= 64, "dilated_conv@2: kernel_size = ", kernel_size,
                " must be in [0, 64]");
    stack = register_module("stack", torch::nn::ModuleList());
    for (int64_t r : rates_)
      stack->push_back(torch::nn::Conv1d(torch::nn::Conv1dOptions(d, d, 2).dilation(r).bias(false)));
    reduce = register_module(
        "reduce", torch::nn::Conv1d(torch::nn::Conv1dOptions(d, d, c + kernel_size).stride(c).bias(false)));
  }
  torch::Tensor forward(const ctlab::CompressionInput& in) override {
    const auto& old = in.old;
    TORCH_CHECK(old.dim() == 3, "dilated_conv expects old as [n, B, D], got ", old.sizes());
    TORCH_CHECK(old.size(0) % in.rate == 0, "dilated_conv: n = ", old.size(0), " is not a multiple of rate ",
                in.rate);
    namespace F = torch::nn::functional;
    auto x = F::pad(old.permute({1, 2, 0}), F::PadFuncOptions({reach(), 0}));  // [B, D, reach + n]
    for (const auto& m : *stack) x = torch::relu(m->as<torch::nn::Conv1d>()->forward(x));
    return reduce(x).permute({2, 0, 1}).contiguous();
  }
  torch::Tensor slot_times(const ctlab::CompressionInput& in) override {
    return ctlab::block_mean_times(in.times, in.rate) - static_cast<double>(reach()) / 2.0;
  }
  torch::nn::ModuleList stack{nullptr};
  torch::nn::Conv1d reduce{nullptr};

 private:
  int64_t reach() const {
    int64_t r = kernel_size_;
    for (int64_t d : rates_) r += d;
    return r;
  }
  std::vector<int64_t> rates_;
  int64_t kernel_size_;
};

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionFnSpec v2;
  v2.name = "dilated_conv";
  v2.version = 2;
  v2.summary =
      "DeepMind's reference: kernel-2 dilated convs + ReLU per rate, then kernel c+k stride c, no bias";
  v2.trainable = true;
  v2.params = {
      {"rates", ctlab::ParamType::String, "1,2,4", "dilation rates of the kernel-2 convolutions"},
      {"kernel_size", ctlab::ParamType::Int, "0", "extra kernel of the stride-c convolution (c + k)"}};
  v2.create = [](const ctlab::PluginContext& ctx) {
    return std::make_shared<ReferenceDilatedConv>(ctx.d_model, ctx.rate,
                                                  parse_rates(ctx.params.get_string("rates")),
                                                  ctx.params.get_int("kernel_size"));
  };
  reg.add_compression_fn(std::move(v2));

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
