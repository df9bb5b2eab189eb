// Model construction from configuration and plugins.
#include "model/factory.h"

#include <mutex>

namespace ctlab {

namespace {

// Runs `make` with the CPU generator seeded to `seed`, then puts the generator back as it
// was, so what `make` draws does not move the stream the caller goes on with.
template <class Make>
void with_own_stream(uint64_t seed, Make&& make) {
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor saved;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    saved = gen.get_state();
    gen.set_current_seed(seed);
  }
  make();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(saved);
}

}  // namespace

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
    setup.fn_api = plugins.fn->api;
    setup.loss_mode = plugins.loss->spec.mode;
    // Pairing: the plugins draw their initial weights from a stream of their own (derived
    // from the run's seed), so the transformer's initial weights and every later draw
    // (dropout) depend on the seed and the transformer's shape alone. Runs that differ only
    // in their compression start from the same transformer, seed by seed.
    with_own_stream(static_cast<uint64_t>(cfg.seed) ^ 0x9e3779b97f4a7c15ULL, [&] {
      for (int64_t i = 0; i < m.n_layer; ++i) {
        PluginContext ctx = plugin_context(m, i);
        ctx.params = plugins.fn_params;
        setup.fns.push_back(host.create(*plugins.fn, ctx));
        if (setup.loss_mode == LossMode::Auxiliary) {
          ctx.params = plugins.loss_params;
          setup.losses.push_back(host.create(*plugins.loss, ctx));
        }
      }
    });
  }
  if (m.cmem_len > 0 && plugins.map && !plugins.map->spec.contiguous) {
    // A map's own parameters (deepmind's W_k,R and v) come from a stream of their own too.
    setup.map_id = plugins.map->id;
    setup.map_path = plugins.map->path;
    with_own_stream(static_cast<uint64_t>(cfg.seed) ^ 0x5851f42d4c957f2dULL, [&] {
      for (int64_t i = 0; i < m.n_layer; ++i) {
        setup.maps.push_back(host.create(*plugins.map, plugin_context(m, i)));
      }
    });
  }
  return CompressiveTransformer(m, std::move(setup));
}

}  // namespace ctlab
