// bptt@1 (loss): no auxiliary term. The trainer unrolls `bptt_segments` segments in one
// graph and keeps the compressed memory made in one segment attached to it, so the task
// loss of the following segments trains f_c through it ([CT] sec. 3.2: backpropagation
// through time over the unroll; the paper doubles the sequence and halves the batch).
#include <ctlab/plugin_api.h>

namespace {

void register_plugin(ctlab::Registrar& reg) {
  ctlab::CompressionLossSpec spec;
  spec.name = "bptt";
  spec.version = 1;
  spec.summary = "no auxiliary loss; the task loss trains f_c through unrolled segments";
  spec.mode = ctlab::LossMode::Bptt;
  spec.create = [](const ctlab::PluginContext&) { return std::shared_ptr<ctlab::CompressionLoss>(); };
  reg.add_compression_loss(std::move(spec));
}

}  // namespace

CTLAB_PLUGIN(register_plugin)
