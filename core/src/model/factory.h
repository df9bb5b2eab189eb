// Builds a CompressiveTransformer from a resolved run configuration: one compression
// function (and auxiliary-loss) instance per layer from the plugin host.
#pragma once

#include "config/plugin_binding.h"
#include "model/model.h"

namespace ctlab {

// Initial weights (after torch::manual_seed(cfg.seed)): the transformer's parameters, and
// the generator's state afterwards, depend on the seed and the transformer's shape only;
// the plugins' own parameters come from a stream derived from the seed. So two runs that
// differ only in their compression function or loss (or have none: Transformer-XL) start
// from the same transformer weights and draw the same dropout, seed by seed: their
// comparison is paired.
CompressiveTransformer build_model(const RunConfig& cfg, const PluginHost& host,
                                   const ResolvedPlugins& plugins);

}  // namespace ctlab
