// none@1 (loss): no auxiliary compression loss and no unrolling. For parameter-free
// compression functions (mean_pool, max_pool, most_used) and for Transformer-XL runs.
#include <ctlab/plugin_api.h>

namespace {

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionLossSpec spec;
  spec.name = "none";
  spec.version = 1;
  spec.summary = "no compression loss (parameter-free functions, Transformer-XL)";
  spec.mode = ctlab::LossMode::None;
  spec.create = [](const ctlab::PluginContext&) { return std::shared_ptr<ctlab::CompressionLoss>(); };
  reg.add_compression_loss(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
