// Attention buckets, frequency buckets and the analysis pass.
#include "train/analysis.h"

#include <torch/torch.h>

#include <cmath>
#include <optional>

#include "data/stream.h"
#include "runtime/host_sync.h"
#include "runtime/runtime.h"
#include "util/error.h"

namespace ctlab {

BucketLayout BucketLayout::make(int64_t cmem_slots, int64_t mem_slots, int64_t seq_len, int64_t per_region) {
  BucketLayout b;
  int64_t start = 0;
  b.edges.push_back(0);
  const std::pair<const char*, int64_t> regions[] = {
      {"compressed memory", cmem_slots}, {"memory", mem_slots}, {"sequence", seq_len}};
  for (const auto& [name, n] : regions) {
    if (n <= 0) continue;
    const int64_t k = std::min(per_region, n);
    b.regions.push_back(name);
    for (int64_t i = 1; i <= k; ++i) {
      b.edges.push_back(start + static_cast<int64_t>(std::llround(static_cast<double>(i) * n / k)));
      b.region_of.push_back(static_cast<int64_t>(b.regions.size()) - 1);
    }
    start += n;
  }
  return b;
}

AttentionBuckets::AttentionBuckets(int64_t n_layer, int64_t n_head, BucketLayout layout)
    : layout_(std::move(layout)), n_head_(n_head), layer_samples_(n_layer, 0) {
  const int64_t nb = layout_.buckets();
  sums_ = torch::zeros({4 * n_layer * n_head * nb + 2 * nb}, torch::kFloat64);
  edges_ = torch::tensor(layout_.edges, torch::kLong);
  std::vector<double> sizes;
  for (int64_t k = 0; k < nb; ++k)
    sizes.push_back(static_cast<double>(layout_.edges[k + 1] - layout_.edges[k]));
  sizes_ = torch::tensor(sizes, torch::kFloat64);
}

torch::Tensor AttentionBuckets::part(const torch::Tensor& sums, int which) const {
  const int64_t n_layer = static_cast<int64_t>(layer_samples_.size()), nb = layout_.buckets();
  const int64_t per = n_layer * n_head_ * nb;
  if (which < 4) return sums.narrow(0, which * per, per).view({n_layer, n_head_, nb});
  return sums.narrow(0, 4 * per + (which - 4) * nb, nb);
}

void AttentionBuckets::add_segment(const std::vector<torch::Tensor>& layers) {
  torch::NoGradGuard g;
  if (layers.empty()) return;
  if (sums_.device() != layers[0].device()) {  // the sums live where the attention is
    sums_ = sums_.to(layers[0].device());
    edges_ = edges_.to(layers[0].device());
    sizes_ = sizes_.to(layers[0].device());
  }
  torch::Tensor all;
  for (size_t layer = 0; layer < layers.size(); ++layer) {
    const auto& probs = layers[layer];
    TORCH_CHECK(probs.dim() == 4 && probs.size(3) == layout_.edges.back(), "attention ", probs.sizes(),
                " does not match the bucket layout over ", layout_.edges.back(), " keys");
    // Mean over queries in float32 on the device (the large reduction), then sums over each
    // bucket's slots via a cumulative sum, in float64 from there on.
    auto per_key = probs.detach().mean(2, false, torch::kFloat32).to(torch::kFloat64);  // [B, H, klen]
    auto cums = torch::cat(
        {torch::zeros({per_key.size(0), per_key.size(1), 1}, per_key.options()), per_key.cumsum(2)}, 2);
    auto mass = cums.index_select(2, edges_.slice(0, 1)) - cums.index_select(2, edges_.slice(0, 0, -1));
    auto slot = mass / sizes_;  // [B, H, nb]
    const auto l = static_cast<int64_t>(layer);
    part(sums_, 0)[l] += mass.sum(0);
    part(sums_, 1)[l] += mass.pow(2).sum(0);
    part(sums_, 2)[l] += slot.sum(0);
    part(sums_, 3)[l] += slot.pow(2).sum(0);
    auto head_mean = mass.mean(1);  // [B, nb]
    all = all.defined() ? all + head_mean : head_mean;
    layer_samples_[layer] += probs.size(0);
  }
  all = all / static_cast<double>(layers.size());
  part(sums_, 4) += all.sum(0);
  part(sums_, 5) += all.pow(2).sum(0);
  samples_ = layer_samples_[0];
  host_ = torch::Tensor();
}

const torch::Tensor& AttentionBuckets::host_sums() const {
  if (!host_.defined()) host_ = to_host(sums_, torch::kFloat64);  // the one copy of a pass
  return host_;
}

torch::Tensor AttentionBuckets::mean_of(int which) const {
  return part(host_sums(), which) / static_cast<double>(std::max<int64_t>(1, samples_));
}

torch::Tensor AttentionBuckets::all_mass_mean() const { return mean_of(4); }
torch::Tensor AttentionBuckets::all_mass_sq_mean() const { return mean_of(5); }
torch::Tensor AttentionBuckets::mass_mean() const { return mean_of(0); }
torch::Tensor AttentionBuckets::mass_sq_mean() const { return mean_of(1); }
torch::Tensor AttentionBuckets::slot_mean() const { return mean_of(2); }
torch::Tensor AttentionBuckets::slot_sq_mean() const { return mean_of(3); }

void AttentionBuckets::reduce(const Comm& comm) {
  if (!comm.distributed()) return;
  comm.all_reduce_sum(sums_);
  host_ = torch::Tensor();
  std::vector<double> samples(layer_samples_.begin(), layer_samples_.end());
  auto counts = torch::tensor(samples, torch::kFloat64);
  comm.all_reduce_sum(counts);
  for (size_t i = 0; i < layer_samples_.size(); ++i)
    layer_samples_[i] = static_cast<int64_t>(counts.data_ptr<double>()[i]);
  samples_ = layer_samples_.empty() ? 0 : layer_samples_[0];
}

FrequencyBuckets::FrequencyBuckets(const torch::Tensor& train_counts, std::vector<int64_t> edges)
    : edges_(std::move(edges)) {
  auto counts = train_counts.to(torch::kLong);
  bucket_of_ = torch::zeros_like(counts);
  for (int64_t e : edges_) bucket_of_ += (counts >= e).to(torch::kLong);
  // [n_buckets] NLL sums, then [n_buckets] counts (float64 counts are exact to 2^53).
  sums_ = torch::zeros({2 * (static_cast<int64_t>(edges_.size()) + 1)}, torch::kFloat64);
}

void FrequencyBuckets::add(const torch::Tensor& nll, const torch::Tensor& targets) {
  torch::NoGradGuard g;
  if (sums_.device() != nll.device()) sums_ = sums_.to(nll.device());
  if (!device_bucket_of_.defined() || device_bucket_of_.device() != nll.device())
    device_bucket_of_ = bucket_of_.to(nll.device());
  const int64_t nb = static_cast<int64_t>(edges_.size()) + 1;
  auto b = device_bucket_of_.index_select(0, targets.reshape({-1}).to(nll.device(), torch::kLong));
  sums_.narrow(0, 0, nb).index_add_(0, b, nll.detach().reshape({-1}).to(torch::kFloat64));
  sums_.narrow(0, nb, nb).index_add_(0, b, torch::ones(b.sizes(), sums_.options()));
  host_ = torch::Tensor();
}

const torch::Tensor& FrequencyBuckets::host_sums() const {
  if (!host_.defined()) host_ = to_host(sums_, torch::kFloat64);  // the one copy of a pass
  return host_;
}

torch::Tensor FrequencyBuckets::nll_sum() const {
  return host_sums().narrow(0, 0, static_cast<int64_t>(edges_.size()) + 1);
}

torch::Tensor FrequencyBuckets::count() const {
  const int64_t nb = static_cast<int64_t>(edges_.size()) + 1;
  return host_sums().narrow(0, nb, nb).round().to(torch::kLong);
}

void FrequencyBuckets::reduce(const Comm& comm) {
  if (!comm.distributed()) return;
  comm.all_reduce_sum(sums_);
  host_ = torch::Tensor();
}

std::vector<std::string> FrequencyBuckets::labels() const {
  auto h = [](int64_t v) {
    if (v >= 1000000 && v % 1000000 == 0) return std::to_string(v / 1000000) + "M";
    if (v >= 1000 && v % 1000 == 0) return std::to_string(v / 1000) + "K";
    return std::to_string(v);
  };
  std::vector<std::string> out;
  for (size_t i = 0; i <= edges_.size(); ++i) {
    if (edges_.empty())
      out.push_back("all");
    else if (i == 0)
      out.push_back("< " + h(edges_[0]));
    else if (i == edges_.size())
      out.push_back(">= " + h(edges_.back()));
    else
      out.push_back(h(edges_[i - 1]) + "-" + h(edges_[i]));
  }
  return out;
}

torch::Tensor FrequencyBuckets::types() const {
  return torch::bincount(bucket_of_, {}, static_cast<int64_t>(edges_.size()) + 1);
}

AnalysisResult analyze(CompressiveTransformer& model, const Corpus& corpus, const EvalSettings& s,
                       int64_t buckets_sequences, int64_t per_region, const std::vector<int64_t>& freq_edges,
                       const torch::Device& device, bool bf16, bool stop_when_counted, const Comm* comm) {
  AnalysisResult r;
  r.frequency = std::make_shared<FrequencyBuckets>(corpus.train_counts(), freq_edges);
  const auto& mo = model->options();
  if (buckets_sequences > 0)
    r.attention = std::make_shared<AttentionBuckets>(
        mo.n_layer, mo.n_head,
        BucketLayout::make(s.memory.cmem_len, s.memory.mem_len, s.seq_len, per_region));
  EvalAccumulator acc(corpus, s, comm);
  stream_split(
      model, corpus, s, device, bf16,
      [&](int64_t t, const torch::Tensor& x, const torch::Tensor& y, EvalStream& stream) {
        const LayerMemory m0 = stream.memory().empty() ? LayerMemory{} : stream.memory()[0];
        const bool full = (m0.mem.defined() ? m0.mem.size(0) : 0) == s.memory.mem_len &&
                          (m0.cmem.defined() ? m0.cmem.size(0) : 0) == s.memory.cmem_len;
        const bool take =
            r.attention && full && x.size(0) == s.seq_len && r.full_segments < buckets_sequences;
        ForwardOptions fo;
        fo.need_attention = take;
        auto out = stream.forward(x, y, fo);
        if (take) {
          r.attention->add_segment(out.attention);
          r.full_segments++;
        } else if (!full) {
          r.warmup_segments++;
        }
        r.frequency->add(out.nll, y);
        acc.add(t, out.nll);
        return !(stop_when_counted && r.attention && r.full_segments >= buckets_sequences);
      },
      comm);
  if (const Comm* shards = eval_shards(comm, s.batch_size)) {
    if (r.attention) r.attention->reduce(*shards);
    r.frequency->reduce(*shards);
  }
  r.eval = acc.result();
  return r;
}

namespace {

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<int64_t> to_ints(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace

AttentionRecord attention_record(const AnalysisResult& r) {
  const auto& a = *r.attention;
  const auto& lay = a.layout();
  AttentionRecord out;
  auto mass = a.mass_mean();
  out.regions = lay.regions;
  out.edges = lay.edges;
  out.region_of = lay.region_of;
  out.n_layer = mass.size(0);
  out.n_head = mass.size(1);
  out.samples = a.samples();
  out.sequences = r.full_segments;
  out.warmup_sequences = r.warmup_segments;
  out.mass = to_vector(mass);
  out.mass_sq = to_vector(a.mass_sq_mean());
  out.slot = to_vector(a.slot_mean());
  out.slot_sq = to_vector(a.slot_sq_mean());
  out.all = to_vector(a.all_mass_mean());
  out.all_sq = to_vector(a.all_mass_sq_mean());
  out.slot_all = to_vector(a.slot_mean().mean(0).mean(0));
  return out;
}

FrequencyRecord frequency_record(const AnalysisResult& r) {
  const auto& f = *r.frequency;
  FrequencyRecord out;
  out.labels = f.labels();
  out.edges = f.edges();
  out.nll_sum = to_vector(f.nll_sum());
  out.count = to_ints(f.count());
  out.types = to_ints(f.types());
  out.loss = r.eval.loss;
  out.tokens = r.eval.tokens;
  return out;
}

ValidationRecord validation_record(const EvalResult& r) {
  ValidationRecord v;
  v.segment_loss = r.segment_loss;
  v.segment_tokens = r.segment_tokens;
  v.loss = r.loss;
  v.loss_se = r.loss_se;
  v.best_loss = r.best_loss;
  v.blind_loss = r.blind_loss;
  v.segment_recovered = r.segment_recovered;
  return v;
}

void write_analysis(const std::string& path, const std::string& group, const AnalysisResult& r,
                    const AnalysisMeta& meta, const CompressionSeries& series, const EvalResult* validation,
                    const RetentionRecord* retention) {
  std::optional<AttentionRecord> attention;
  std::optional<FrequencyRecord> frequency;
  std::optional<ValidationRecord> eval;
  if (r.attention) attention = attention_record(r);
  if (r.frequency) frequency = frequency_record(r);
  if (validation) eval = validation_record(*validation);
  AnalysisRecords records{attention ? &*attention : nullptr, frequency ? &*frequency : nullptr,
                          eval ? &*eval : nullptr, retention};
  write_analysis_file(path, group, records, meta, series);
}

}  // namespace ctlab
