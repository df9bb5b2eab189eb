#include "session/export_weights.h"

#include "model/factory.h"
#include "session/resolve.h"
#include "store/results_layout.h"
#include "store/safetensors.h"
#include "train/checkpoint.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/file_io.h"

namespace ctlab {
namespace {

std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return "F32";
    case torch::kFloat64:
      return "F64";
    case torch::kBFloat16:
      return "BF16";
    case torch::kFloat16:
      return "F16";
    case torch::kInt64:
      return "I64";
    case torch::kInt32:
      return "I32";
    case torch::kUInt8:
      return "U8";
    case torch::kBool:
      return "BOOL";
    default:
      throw Error(std::string("export weights: a tensor of type ") + c10::toString(t) +
                  " has no safetensors dtype");
  }
}

// safetensors is little-endian; the tensors' bytes are copied as they lie in memory.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "export weights assumes a little-endian machine");

SafeTensor to_safe(const std::string& name, const torch::Tensor& value) {
  const auto t = value.detach().to(torch::kCPU).contiguous();
  SafeTensor s{name, dtype_name(t.scalar_type()), t.sizes().vec(), {}};
  s.bytes.assign(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return s;
}

}  // namespace

WeightsExport export_weights(const std::string& results_root, const std::string& run_id,
                             const std::string& out, const PluginSources& plugins) {
  const ResultsLayout layout(results_root);
  const auto paths = trained_run(layout, run_id);
  const auto run = resolve_run_file(paths.config, {}, plugins, nullptr);
  auto model = build_model(run.cfg, *run.host, run.plugins);
  WeightsExport e{run_id, out};
  e.step = load_model_weights(paths.checkpoint, model, torch::kCPU);
  std::vector<SafeTensor> tensors;
  for (const auto& p : model->named_parameters()) {
    tensors.push_back(to_safe(p.key(), p.value()));
    e.parameters += p.value().numel();
  }
  for (const auto& b : model->named_buffers()) tensors.push_back(to_safe(b.key(), b.value()));
  const std::string bytes =
      safetensors_bytes(tensors, {{"format", "ctlab"},
                                  {"ctlab_weights", "1"},
                                  {"run_id", run_id},
                                  {"step", std::to_string(e.step)},
                                  {"config", read_file(paths.config, "run configuration")}});
  write_file_atomic(out, bytes);
  e.tensors = static_cast<int64_t>(tensors.size());
  e.bytes = static_cast<int64_t>(bytes.size());
  return e;
}

}  // namespace ctlab
