// Binding a run configuration to its plugins (plugin_binding.h).
#include "config/plugin_binding.h"

#include "config/params.h"

namespace ctlab {

PluginContext plugin_context(const ModelOptions& m, int64_t layer) {
  PluginContext ctx;
  ctx.layer = layer;
  ctx.n_layer = m.n_layer;
  ctx.d_model = m.d_model;
  ctx.n_head = m.n_head;
  ctx.d_head = m.d_model / m.n_head;
  ctx.rate = m.cmem_rate;
  return ctx;
}

ResolvedPlugins resolve_plugins(const PluginHost& host, const RunConfig& cfg) {
  ResolvedPlugins r;
  try {
    r.fn = &host.compression_fn(cfg.compression.name);
  } catch (const Error& e) {
    throw Error("key 'compression' = '" + cfg.compression.name + "': " + e.what());
  }
  try {
    r.loss = &host.compression_loss(cfg.compression_loss.name);
  } catch (const Error& e) {
    throw Error("key 'compression_loss' = '" + cfg.compression_loss.name + "': " + e.what());
  }
  try {
    r.map = &host.position_map(cfg.model.cmem_positions);
  } catch (const Error& e) {
    throw Error("key 'cmem_positions' = '" + cfg.model.cmem_positions + "': " + e.what());
  }
  r.fn_params = resolve_plugin_params(r.fn->spec.params, cfg.compression.params, "compression.", r.fn->id);
  r.loss_params = resolve_plugin_params(r.loss->spec.params, cfg.compression_loss.params, "compression_loss.",
                                        r.loss->id);
  if (cfg.model.cmem_len == 0) return r;  // Transformer-XL: nothing is compressed

  // Instantiate once, so that parameter values a plugin rejects (say an even kernel) are
  // configuration errors now rather than failures after the run has started.
  PluginContext ctx = plugin_context(cfg.model, 0);
  try {
    ctx.params = r.fn_params;
    host.create(*r.fn, ctx);
    ctx.params = r.loss_params;
    host.create(*r.loss, ctx);
    ctx.params = PluginParams();
    host.create(*r.map, ctx);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (while checking the configuration's plugin parameters)",
                ErrorKind::Usage);
  }

  const bool trainable = r.fn->spec.trainable;
  const LossMode mode = r.loss->spec.mode;
  if (trainable && mode == LossMode::None && !cfg.allow_untrained_compression)
    throw Error("compression = " + r.fn->id +
                " has parameters to learn but compression_loss = " + r.loss->id +
                " trains nothing: expected a loss such as attention_reconstruction, autoencoding or bptt, "
                "or set allow_untrained_compression = true to keep its initial weights");
  if (!trainable && mode != LossMode::None)
    throw Error("compression_loss = " + r.loss->id + " trains the compression function, but compression = " +
                r.fn->id + " has no parameters: expected compression_loss = none");
  return r;
}

void pin_plugins(RunConfig& cfg, const ResolvedPlugins& plugins) {
  cfg.compression.name = plugins.fn->id;
  cfg.compression.params = plugins.fn_params.values();
  cfg.compression_loss.name = plugins.loss->id;
  cfg.compression_loss.params = plugins.loss_params.values();
  if (plugins.map) cfg.model.cmem_positions = plugins.map->id == "slot@1" ? "slot" : plugins.map->id;
}

}  // namespace ctlab
