// Model construction from configuration and plugins.
#include "model/factory.h"

namespace ctlab {

CompressiveTransformer build_model(const RunConfig& cfg, const PluginHost& host,
                                   const ResolvedPlugins& plugins) {
  const auto& m = cfg.model;
  CompressionSetup setup;
  if (m.cmem_len > 0) {
    setup.fn_id = plugins.fn->id;
    setup.fn_path = plugins.fn->path;
    setup.loss_id = plugins.loss->id;
    setup.loss_path = plugins.loss->path;
    setup.needs_usage = plugins.fn->spec.needs_usage;
    setup.loss_mode = plugins.loss->spec.mode;
    for (int64_t i = 0; i < m.n_layer; ++i) {
      PluginContext ctx;
      ctx.layer = i;
      ctx.n_layer = m.n_layer;
      ctx.d_model = m.d_model;
      ctx.n_head = m.n_head;
      ctx.d_head = m.d_model / m.n_head;
      ctx.rate = m.cmem_rate;
      ctx.params = plugins.fn_params;
      setup.fns.push_back(host.create(*plugins.fn, ctx));
      if (setup.loss_mode == LossMode::Auxiliary) {
        ctx.params = plugins.loss_params;
        setup.losses.push_back(host.create(*plugins.loss, ctx));
      }
    }
  }
  return CompressiveTransformer(m, std::move(setup));
}

}  // namespace ctlab
