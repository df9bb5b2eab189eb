// Timestamps of memory slots and the position-map inputs built from them (model.h).
#include "model/model.h"

namespace ctlab {

namespace {
int64_t time_rows(const torch::Tensor& t) { return t.defined() ? t.size(0) : 0; }
}  // namespace

void fill_missing_times(LayerMemory& m, int64_t rate) {
  const int64_t n_m = time_rows(m.mem), n_cm = time_rows(m.cmem);
  if ((n_m == 0 || m.mem_t.defined()) && (n_cm == 0 || m.cmem_t.defined())) return;
  TORCH_CHECK(n_m > 0, "compressed memory without memory has no timestamps to start from");
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(m.mem.device());
  const int64_t B = m.mem.size(1);
  // The segment after this memory starts at n_m + rate * n_cm, so that no time is negative.
  const double origin = static_cast<double>(rate * n_cm);
  if (!m.mem_t.defined())
    m.mem_t = (torch::arange(n_m, f64) + origin).unsqueeze(1).expand({n_m, B}).contiguous();
  if (n_cm > 0 && !m.cmem_t.defined()) {
    auto first = torch::arange(n_cm, f64) * static_cast<double>(rate) + (rate - 1) / 2.0;
    m.cmem_t = first.unsqueeze(1).expand({n_cm, B}).contiguous();
  }
}

torch::Tensor CompressiveTransformerImpl::segment_times(Memories& memory, int64_t L, int64_t B,
                                                        const torch::Device& device) const {
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(device);
  auto& m0 = memory[0];
  if (time_rows(m0.mem) > 0 || time_rows(m0.cmem) > 0)
    for (auto& lm : memory) fill_missing_times(lm, opts_.cmem_rate);
  auto start = time_rows(m0.mem_t) > 0 ? m0.mem_t[-1] + 1.0 : torch::zeros({B}, f64);
  return start.unsqueeze(0) + torch::arange(L, f64).unsqueeze(1);
}

CompressedPositions CompressiveTransformerImpl::positions_for(int64_t i, const LayerMemory& memory,
                                                              const torch::Tensor& t_seg, int64_t mem_slots,
                                                              const MemoryConfig& config) const {
  CompressedPositions p;
  p.map = setup_.maps[i].get();
  p.map_id = setup_.map_id;
  p.map_path = setup_.map_path;
  p.n_cm = time_rows(memory.cmem);
  p.input.t_query = t_seg;
  p.input.t_slot = memory.cmem_t;
  p.input.mem_slots = mem_slots;
  p.input.rate = opts_.cmem_rate;
  p.input.clamp_len = config.clamp_len;
  p.input.layer = i;
  return p;
}

}  // namespace ctlab
