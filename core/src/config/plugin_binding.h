// Binds a run configuration to the loaded plugins: looks up the compression function, the
// loss and the position map, validates their parameters, and checks that they fit together.
#pragma once

#include "config/options.h"
#include "plugin/plugin_host.h"

namespace ctlab {

struct ResolvedPlugins {
  const FnEntry* fn = nullptr;
  const LossEntry* loss = nullptr;
  const MapEntry* map = nullptr;  // the position map of compressed slots (cmem_positions)
  PluginParams fn_params;
  PluginParams loss_params;
};

// What a plugin instance is told about where it sits: layer `layer` of the model `m`
// (no parameter values: the caller sets ctx.params for the plugin at hand).
PluginContext plugin_context(const ModelOptions& m, int64_t layer);

// Throws ctlab::Error naming the key, value and plugin when something does not fit.
ResolvedPlugins resolve_plugins(const PluginHost& host, const RunConfig& cfg);

// Rewrites cfg so that it names exact plugin versions (name@version) and lists every
// plugin parameter with its canonical value: the form stored with a run and hashed into
// its id. The position map slot@1 is written `slot`, the spelling of every run from before
// position maps were plugins, so that their ids stay the same.
void pin_plugins(RunConfig& cfg, const ResolvedPlugins& plugins);

}  // namespace ctlab
