// Retained vs used: the linear probe on compressed slots and recovered by source region.
#include "train/retention.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "data/stream.h"
#include "train/analysis.h"
#include "util/error.h"

namespace ctlab {

std::vector<int64_t> retention_edges(int64_t slots, int64_t per_region) {
  return BucketLayout::make(slots, 0, 0, per_region).edges;
}

std::vector<std::string> retention_labels(const std::vector<int64_t>& edges, int64_t slots, int64_t mem_len,
                                          int64_t rate) {
  // Slot i (0 = oldest) holds the tokens mem_len + (slots - 1 - i) * rate + 1 ..
  // mem_len + (slots - i) * rate back from the segment start.
  std::vector<std::string> out;
  for (size_t b = 0; b + 1 < edges.size(); ++b) {
    const int64_t far = mem_len + (slots - edges[b]) * rate;
    const int64_t near = mem_len + (slots - edges[b + 1]) * rate + 1;
    out.push_back("tokens " + std::to_string(near) + "-" + std::to_string(far) + " back");
  }
  return out;
}

namespace {

// Token id -> probe class: the (max_classes - 1) most frequent training ids, then one
// class for every other id.
struct ClassMap {
  torch::Tensor of;  // [max id + 1] int64
  int64_t classes = 0;
  ClassMap(const torch::Tensor& train_labels, int64_t vocab_bound, int64_t max_classes) {
    auto counts = torch::bincount(train_labels.flatten(), {}, vocab_bound);
    auto order = std::get<1>(counts.sort(/*stable=*/true, 0, /*descending=*/true));
    const int64_t seen = (counts > 0).sum().item<int64_t>();
    const int64_t kept = std::min(seen, max_classes - 1);
    of = torch::full({vocab_bound}, kept, torch::kLong);  // the pooled class
    of.index_put_({order.narrow(0, 0, kept)}, torch::arange(kept, torch::kLong));
    classes = kept + 1;
  }
  torch::Tensor map(const torch::Tensor& labels) const {
    return of.index_select(0, labels.flatten()).view_as(labels);
  }
};

void check_set(const ProbeSet& s, const char* which) {
  if (s.rows() == 0) throw Error(std::string("retention probe: no ") + which + " rows (no compressed slots)");
  if (s.labels.dim() != 2 || s.labels.size(0) != s.rows() || s.bucket.numel() != s.rows())
    throw Error(std::string("retention probe: the ") + which + " features, labels and buckets disagree");
}

}  // namespace

namespace {

// Linear softmax classifiers, one per source position, on standardised features.
struct LinearProbe {
  int64_t d, r, c, steps;
  torch::Tensor log_marginal;  // [R, C]: the starting bias
  using Weights = std::pair<torch::Tensor, torch::Tensor>;
  // Per source position k, weights W[:, k] with the L2 penalty l2[k] on them.
  Weights fit(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& l2) const {
    auto w = torch::zeros({d, r * c}, torch::kFloat32).requires_grad_(true);
    auto b = log_marginal.flatten().clone().requires_grad_(true);
    torch::AutoGradMode grad(true);
    torch::optim::Adam opt({w, b}, torch::optim::AdamOptions(0.05));
    for (int64_t i = 0; i < steps; ++i) {
      opt.zero_grad();
      auto logits = (torch::matmul(x, w) + b).view({-1, c});
      auto loss = torch::nn::functional::cross_entropy(logits, y.reshape({-1})) +
                  (w.pow(2).sum(0).view({r, c}).sum(1) * l2).sum();
      loss.backward();
      opt.step();
    }
    return {w.detach(), b.detach()};
  }
  torch::Tensor nll(const torch::Tensor& x, const torch::Tensor& y, const Weights& wb) const {
    auto logp = torch::log_softmax((torch::matmul(x, wb.first) + wb.second).view({-1, r, c}), -1);
    return -logp.gather(2, y.unsqueeze(2)).squeeze(2).to(torch::kFloat64);  // [N, R]
  }
  // The penalty of each source position: the one of 1e-4 .. 1e-1 whose fit on 4/5 of the
  // rows does best on the other fifth (a source the slot does not keep gets a large one, so
  // the probe falls back to the marginal instead of memorising noise).
  torch::Tensor choose_penalties(const torch::Tensor& x, const torch::Tensor& y) const {
    auto held = torch::arange(x.size(0), torch::kLong) % 5 == 0;
    auto best_l2 = torch::full({r}, 1e-4, torch::kFloat32);
    if (held.sum().item<int64_t>() == 0 || (~held).sum().item<int64_t>() == 0) return best_l2;
    auto best_nll = torch::full({r}, INFINITY, torch::kFloat64);
    for (double l2 : {1e-4, 1e-3, 1e-2, 1e-1}) {
      const auto wb = fit(x.index({~held}), y.index({~held}), torch::full({r}, l2, torch::kFloat32));
      auto held_nll = nll(x.index({held}), y.index({held}), wb).mean(0);  // [R]
      auto better = held_nll < best_nll;
      best_nll = torch::where(better, held_nll, best_nll);
      best_l2 = torch::where(better, torch::full({r}, l2, torch::kFloat32), best_l2);
    }
    return best_l2;
  }
};

// 1 - (the probe's mean loss) / (the marginal's) over the same rows.
double retained_of(const torch::Tensor& probe_nll, const torch::Tensor& base_nll) {
  const double b = base_nll.mean().item<double>();
  return b > 0 ? 1.0 - probe_nll.mean().item<double>() / b : NAN;
}

}  // namespace

ProbeResult fit_probe(const ProbeSet& train, const ProbeSet& valid, int64_t n_buckets, int64_t steps,
                      int64_t max_classes) {
  check_set(train, "training");
  check_set(valid, "validation");
  if (train.features.size(1) != valid.features.size(1) || train.labels.size(1) != valid.labels.size(1))
    throw Error("retention probe: training and validation rows have different shapes");
  torch::NoGradGuard outer;
  const int64_t r = train.labels.size(1), d = train.features.size(1);
  const int64_t bound = std::max(train.labels.max().item<int64_t>(), valid.labels.max().item<int64_t>()) + 1;
  const ClassMap cm(train.labels, bound, max_classes);
  const int64_t c = cm.classes;
  auto ytr = cm.map(train.labels), yva = cm.map(valid.labels);  // [N, R]
  // Standardise with the training statistics: a constant feature becomes 0.
  auto xtr = train.features.to(torch::kFloat32), xva = valid.features.to(torch::kFloat32);
  auto mean = xtr.mean(0), sd = xtr.std(0, /*unbiased=*/false);
  auto scale = torch::where(sd > 1e-6, sd.reciprocal(), torch::zeros_like(sd));
  xtr = (xtr - mean) * scale;
  xva = (xva - mean) * scale;
  // The training marginal of each source position (add-one smoothed): the baseline.
  auto counts = torch::ones({r, c}, torch::kFloat32);
  for (int64_t k = 0; k < r; ++k) counts[k] += torch::bincount(ytr.select(1, k), {}, c).to(torch::kFloat32);
  const LinearProbe probe{d, r, c, steps, (counts / counts.sum(1, true)).log()};
  const auto probe_nll =
      probe.nll(xva, yva, probe.fit(xtr, ytr, probe.choose_penalties(xtr, ytr)));  // [N, R]
  const auto base_nll = -probe.log_marginal.to(torch::kFloat64)
                             .unsqueeze(0)
                             .expand({yva.size(0), r, c})
                             .gather(2, yva.unsqueeze(2))
                             .squeeze(2);
  ProbeResult out;
  out.classes = c;
  out.baseline_nats = base_nll.mean().item<double>();
  out.probe_nats = probe_nll.mean().item<double>();
  out.overall = retained_of(probe_nll, base_nll);
  for (int64_t k = 0; k < r; ++k)
    out.per_source.push_back(retained_of(probe_nll.select(1, k), base_nll.select(1, k)));
  for (int64_t bucket = 0; bucket < n_buckets; ++bucket) {
    auto in = valid.bucket == bucket;
    out.retained.push_back(in.any().item<bool>() ? retained_of(probe_nll.index({in}), base_nll.index({in}))
                                                 : NAN);
  }
  return out;
}

std::vector<ProbeSet> collect_probe_sets(CompressiveTransformer& model, const Corpus& corpus,
                                         const EvalSettings& settings, int64_t segments,
                                         const std::vector<int64_t>& edges, const torch::Device& device,
                                         bool bf16) {
  EvalSettings s = settings;
  s.segments = 0;
  const int64_t slots = s.memory.cmem_len, mem_len = s.memory.mem_len, len = s.seq_len;
  const int64_t n_layer = model->options().n_layer;
  auto bucket_of_slot = torch::empty({slots}, torch::kLong);
  for (size_t b = 0; b + 1 < edges.size(); ++b)
    bucket_of_slot.narrow(0, edges[b], edges[b + 1] - edges[b]).fill_(static_cast<int64_t>(b));
  std::vector<std::vector<torch::Tensor>> feats(static_cast<size_t>(n_layer)), labels(feats.size());
  std::vector<torch::Tensor> inputs;  // each segment's inputs [L, W], on the CPU
  const int64_t rt = model->options().cmem_rate;
  int64_t taken = 0, seen = 0;
  stream_split(
      model, corpus, s, device, bf16,
      [&](int64_t, const torch::Tensor& x, const torch::Tensor& y, EvalStream& stream) {
        const auto memory = stream.forward(x, y).memory;
        inputs.push_back(x.to(torch::kCPU));
        seen += x.size(0);
        if (x.size(0) != len) return false;  // a short last segment: done
        for (int64_t l = 0; l < n_layer; ++l) {
          const auto& m = memory[static_cast<size_t>(l)];
          if (!m.cmem.defined() || m.cmem.size(0) < slots || !m.mem.defined() || m.mem.size(0) < mem_len)
            return true;
        }
        // The positions (in the stream) of every slot's sources: slot i holds the `rate`
        // tokens ending (slots - 1 - i) * rate before the first memory token.
        const int64_t first_mem = seen - mem_len;
        const int64_t start = first_mem - slots * rt;
        if (start < 0) return true;
        auto history = torch::cat(inputs, 0);                                   // [seen, W]
        auto src = history.narrow(0, start, slots * rt).view({slots, rt, -1});  // [slots, R, W]
        auto lab = src.permute({2, 0, 1}).reshape({-1, rt});                    // [W * slots, R]
        for (int64_t l = 0; l < n_layer; ++l) {
          const auto& cm = memory[static_cast<size_t>(l)].cmem;  // [slots, W, D]
          feats[l].push_back(
              cm.detach().to(torch::kCPU, torch::kFloat32).permute({1, 0, 2}).reshape({-1, cm.size(2)}));
          labels[l].push_back(lab);
        }
        return ++taken < segments;
      });
  std::vector<ProbeSet> out(static_cast<size_t>(n_layer));
  for (int64_t l = 0; l < n_layer && taken > 0; ++l) {
    auto& p = out[static_cast<size_t>(l)];
    p.features = torch::cat(feats[l], 0);
    p.labels = torch::cat(labels[l], 0).to(torch::kLong);
    p.bucket = bucket_of_slot.repeat({p.rows() / slots});
  }
  return out;
}

namespace {

// Sums of the model's, the best and the blind losses per source region.
class RegionSums {
 public:
  RegionSums(int64_t cmem_slots, int64_t mem_len, int64_t rate, const std::vector<int64_t>& edges,
             int64_t len)
      : phase_(static_cast<size_t>(rate)),
        position_(static_cast<size_t>(len)),
        slots_(cmem_slots),
        mem_len_(mem_len),
        rate_(rate),
        n_cb_(static_cast<int64_t>(edges.size()) - 1) {
    bucket_of_slot_.assign(static_cast<size_t>(cmem_slots), 0);
    for (int64_t b = 0; b < n_cb_; ++b)
      for (int64_t i = edges[b]; i < edges[b + 1]; ++i) bucket_of_slot_[static_cast<size_t>(i)] = b;
    const size_t regions = static_cast<size_t>(n_cb_ + 3);
    nll_.assign(regions, 0);
    best_.assign(regions, 0);
    blind_.assign(regions, 0);
    count_.assign(regions, 0);
  }
  // A source `back` tokens before the segment's first position, at stream position `src`.
  int64_t region(int64_t back, int64_t src) const {
    if (src < 0) return n_cb_ + 2;                           // before the stream began: beyond reach
    if (back <= 0) return n_cb_ + 1;                         // the segment itself
    if (back <= mem_len_) return n_cb_;                      // memory
    if (back > mem_len_ + slots_ * rate_) return n_cb_ + 2;  // beyond reach
    return bucket_of_slot_[static_cast<size_t>(slots_ - 1 - (back - mem_len_ - 1) / rate_)];
  }
  void add(int64_t region, double nll, double best, double blind) {
    const auto i = static_cast<size_t>(region);
    nll_[i] += nll;
    best_[i] += best;
    blind_[i] += blind;
    count_[i]++;
  }
  bool compressed(int64_t region) const { return region < n_cb_; }
  // The compressed slot that holds a source `back` tokens before the segment start.
  int64_t slot_of(int64_t back) const { return slots_ - 1 - (back - mem_len_ - 1) / rate_; }
  // A token at query position q whose source lies in compressed memory; `mass` is the
  // attention it gave the slot holding the source (NaN when not measured).
  void add_readout(int64_t q, double nll, double best, double blind, double mass) {
    phase_[static_cast<size_t>(q % rate_)].add(nll, best, blind, mass);
    position_[static_cast<size_t>(q)].add(nll, best, blind, mass);
  }
  SourceRecovery result() const {
    SourceRecovery r;
    double tn = 0, tb = 0, tl = 0;
    for (size_t i = 0; i < count_.size(); ++i) {
      r.relevant.push_back(count_[i]);
      r.recovered.push_back(count_[i] > 0 ? (blind_[i] - nll_[i]) / (blind_[i] - best_[i]) : NAN);
      tn += nll_[i];
      tb += best_[i];
      tl += blind_[i];
    }
    if (tl - tb > 0) r.overall = (tl - tn) / (tl - tb);
    for (const auto& a : phase_) {
      r.recovered_by_phase.push_back(a.recovered());
      r.source_mass_by_phase.push_back(a.mean_mass());
    }
    for (const auto& a : position_) {
      r.recovered_by_position.push_back(a.recovered());
      r.source_mass_by_position.push_back(a.mean_mass());
    }
    return r;
  }

 private:
  struct Readout {
    double nll = 0, best = 0, blind = 0, mass = 0;
    int64_t count = 0, massed = 0;
    void add(double n, double b, double bl, double m) {
      nll += n;
      best += b;
      blind += bl;
      ++count;
      if (std::isfinite(m)) {
        mass += m;
        ++massed;
      }
    }
    double recovered() const { return count > 0 ? (blind - nll) / (blind - best) : NAN; }
    double mean_mass() const { return massed > 0 ? mass / static_cast<double>(massed) : NAN; }
  };
  std::vector<Readout> phase_, position_;
  int64_t slots_, mem_len_, rate_, n_cb_;
  std::vector<int64_t> bucket_of_slot_, count_;
  std::vector<double> nll_, best_, blind_;
};

}  // namespace

SourceRecovery recovered_by_source(CompressiveTransformer& model, const Corpus& corpus,
                                   const EvalSettings& settings, int64_t cmem_slots, int64_t rate,
                                   const std::vector<int64_t>& edges, const torch::Device& device,
                                   bool bf16) {
  const IdealLoss* ideal = corpus.ideal_loss(settings.split);
  if (!ideal || !ideal->distance.defined())
    throw Error("recovered by source: dataset '" + corpus.dataset + "' does not say where its sources lie");
  const int64_t mem_len = settings.memory.mem_len, len = settings.seq_len;
  RegionSums sums(cmem_slots, mem_len, rate, edges, len);
  const SegmentStream layout(corpus.split(settings.split), settings.batch_size, len);
  ForwardOptions fo;
  fo.need_attention = settings.memory.cmem_len > 0;
  stream_split(
      model, corpus, settings, device, bf16,
      [&](int64_t t, const torch::Tensor& x, const torch::Tensor& y, EvalStream& stream) {
        auto out = stream.forward(x, y, fo);
        auto loss = out.nll.detach().to(torch::kCPU, torch::kFloat64).contiguous();
        // Attention per stream, query and key, averaged over layers and heads: [B, L, klen].
        torch::Tensor mass;
        if (out.cmem_slots == cmem_slots && !out.attention.empty())
          mass = torch::stack(out.attention)
                     .mean(std::vector<int64_t>{0, 2})
                     .to(torch::kCPU, torch::kFloat64)
                     .contiguous();
        // Only segments that start with full memories (as the trained model's are): earlier
        // ones would count sources whose slots do not exist yet.
        if (t * len < mem_len + cmem_slots * rate) return true;
        const auto bst = layout.targets_of(ideal->best, t).contiguous();
        const auto bld = layout.targets_of(ideal->blind, t).contiguous();
        const auto dist = layout.targets_of(ideal->distance, t).to(torch::kLong).contiguous();
        const auto *pl = loss.data_ptr<double>(), *pb = bst.data_ptr<double>(), *pn = bld.data_ptr<double>();
        const auto* pd = dist.data_ptr<int64_t>();
        const double* pm = mass.defined() ? mass.data_ptr<double>() : nullptr;
        const int64_t w = x.size(1);
        for (int64_t k = 0; k < loss.numel(); ++k) {
          if (!(pn[k] - pb[k] > 1e-12) || pd[k] <= 0) continue;  // carries no planted information
          // The target is at stream position t L + q + 1; its source `distance` before it,
          // i.e. `back` tokens before the segment's first position.
          const int64_t q = k / w, back = pd[k] - q - 1;
          const int64_t region = sums.region(back, t * len + q + 1 - pd[k]);
          sums.add(region, pl[k], pb[k], pn[k]);
          if (!sums.compressed(region)) continue;
          const double m =
              mass.defined() ? pm[(k % w) * mass.stride(0) + q * mass.stride(1) + sums.slot_of(back)] : NAN;
          sums.add_readout(q, pl[k], pb[k], pn[k], m);
        }
        return true;
      });
  return sums.result();
}

ReadoutSummary summarize_readout(const RetentionRecord& r) {
  ReadoutSummary out;
  double mass = 0;
  int64_t massed = 0;
  for (size_t k = 0; k < r.recovered_by_phase.size(); ++k) {
    const double v = r.recovered_by_phase[k];
    if (std::isfinite(v)) {
      out.phase_min = std::isnan(out.phase_min) ? v : std::min(out.phase_min, v);
      out.phase_max = std::isnan(out.phase_max) ? v : std::max(out.phase_max, v);
    }
    if (k < r.source_mass_by_phase.size() && std::isfinite(r.source_mass_by_phase[k])) {
      mass += r.source_mass_by_phase[k];
      ++massed;
    }
  }
  if (massed > 0) out.source_mass = mass / static_cast<double>(massed);
  return out;
}

std::string retention_unavailable(const Corpus& corpus, const EvalSettings& s, int64_t rate) {
  const int64_t need = s.memory.mem_len + s.memory.cmem_len * rate + s.seq_len;
  for (const char* split : {"train", "valid"}) {
    const int64_t per_stream = corpus.split(split).numel() / s.batch_size;
    if (per_stream <= need)
      return std::string("the ") + split + " split has " + std::to_string(per_stream) +
             " tokens per stream (" + std::to_string(s.batch_size) + " streams), not more than the " +
             std::to_string(need) + " that fill memory and compressed memory and leave one segment";
  }
  return "";
}

RetentionRecord analyze_retention(CompressiveTransformer& model, const Corpus& corpus,
                                  const EvalSettings& valid_settings, int64_t segments, int64_t rate,
                                  int64_t buckets_per_region, const torch::Device& device, bool bf16) {
  const int64_t slots = valid_settings.memory.cmem_len;
  if (slots <= 0) throw Error("retention analysis: the model has no compressed memory (cmem_len = 0)");
  RetentionRecord rec;
  rec.edges = retention_edges(slots, buckets_per_region);
  rec.buckets = retention_labels(rec.edges, slots, valid_settings.memory.mem_len, rate);
  rec.rate = rate;
  rec.segments = segments;
  EvalSettings train_settings = valid_settings;
  train_settings.split = "train";
  const auto train = collect_probe_sets(model, corpus, train_settings, segments, rec.edges, device, bf16);
  const auto valid = collect_probe_sets(model, corpus, valid_settings, segments, rec.edges, device, bf16);
  rec.n_layer = static_cast<int64_t>(train.size());
  const int64_t nb = static_cast<int64_t>(rec.buckets.size());
  double sum = 0;
  for (int64_t l = 0; l < rec.n_layer; ++l) {
    const auto& tr = train[static_cast<size_t>(l)];
    const auto& va = valid[static_cast<size_t>(l)];
    if (tr.rows() == 0 || va.rows() == 0)
      throw Error("retention analysis: the " + std::string(tr.rows() == 0 ? "training" : "validation") +
                  " split is too short to fill compressed memory (" + std::to_string(slots) +
                  " slots) within one stream");
    const auto p = fit_probe(tr, va, nb);
    rec.retained.insert(rec.retained.end(), p.retained.begin(), p.retained.end());
    rec.retained_layer.push_back(p.overall);
    rec.per_source.insert(rec.per_source.end(), p.per_source.begin(), p.per_source.end());
    rec.baseline_nats.push_back(p.baseline_nats);
    rec.probe_nats.push_back(p.probe_nats);
    rec.classes = p.classes;
    rec.train_rows = tr.rows();
    rec.valid_rows = va.rows();
    sum += p.overall;
  }
  rec.retained_all = sum / static_cast<double>(rec.n_layer);
  const IdealLoss* ideal = corpus.ideal_loss(valid_settings.split);
  if (ideal && ideal->distance.defined()) {
    rec.regions = rec.buckets;
    for (const char* r : {"memory", "sequence", "beyond reach"}) rec.regions.push_back(r);
    const auto full =
        recovered_by_source(model, corpus, valid_settings, slots, rate, rec.edges, device, bf16);
    EvalSettings knocked = valid_settings;
    knocked.memory.cmem_len = 0;
    const auto none = recovered_by_source(model, corpus, knocked, slots, rate, rec.edges, device, bf16);
    rec.relevant = full.relevant;
    rec.recovered = full.recovered;
    rec.recovered_no_cmem = none.recovered;
    rec.recovered_all = full.overall;
    rec.recovered_no_cmem_all = none.overall;
    rec.recovered_by_phase = full.recovered_by_phase;
    rec.source_mass_by_phase = full.source_mass_by_phase;
    rec.recovered_by_position = full.recovered_by_position;
    rec.source_mass_by_position = full.source_mass_by_position;
  }
  return rec;
}

}  // namespace ctlab
