// Builds a CompressiveTransformer from a resolved run configuration: one compression
// function (and auxiliary-loss) instance per layer from the plugin host.
#pragma once

#include "config/resolve.h"
#include "model/model.h"

namespace ctlab {

CompressiveTransformer build_model(const RunConfig& cfg, const PluginHost& host,
                                   const ResolvedPlugins& plugins);

}  // namespace ctlab
