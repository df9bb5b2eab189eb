// `ctlab export weights <run_id>`: a run's trained parameters as a safetensors file
// (store/safetensors.h), named as the model names them (results/README.md lists the
// names), with the run's id, step and config.ini text in the header's metadata, so the
// weights load into PyTorch (analysis/reference_model/) without ctlab.
#pragma once

#include <string>

#include "plugin/plugin_host.h"

namespace ctlab {

struct WeightsExport {
  std::string run_id, out;
  int64_t step = 0, tensors = 0, parameters = 0, bytes = 0;
};

// Throws ctlab::Error for a missing root, run or checkpoint (nothing written then).
WeightsExport export_weights(const std::string& results_root, const std::string& run_id,
                             const std::string& out, const PluginSources& plugins);

}  // namespace ctlab
