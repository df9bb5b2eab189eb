#include "session/sample.h"

#include <cmath>
#include <sstream>
#include <unordered_map>

#include "model/factory.h"
#include "runtime/runtime.h"
#include "session/resolve.h"
#include "store/results_layout.h"
#include "train/checkpoint.h"
#include "train/evaluator.h"
#include "util/error.h"

namespace ctlab {
namespace {

// The prompt as tokens: its bytes (each must be below the vocabulary size: a generated
// task's alphabet is small), or its words, those outside the vocabulary counted in
// `unknown` and mapped to <unk>.
std::vector<int64_t> tokenize(const std::string& text, const Corpus& corpus, int64_t& unknown) {
  std::vector<int64_t> out;
  if (!corpus.word_level) {
    for (unsigned char c : text) {
      if (c >= corpus.vocab_size)
        throw Error("the prompt holds byte " + std::to_string(c) + " at offset " +
                    std::to_string(out.size()) + ", outside dataset " + corpus.dataset + "'s vocabulary of " +
                    std::to_string(corpus.vocab_size) + " tokens (0 to " +
                    std::to_string(corpus.vocab_size - 1) + "); use --prompt-file for raw bytes");
      out.push_back(c);
    }
    return out;
  }
  std::unordered_map<std::string, int64_t> ids;
  for (size_t i = 0; i < corpus.vocab.size(); ++i) ids.emplace(corpus.vocab[i], static_cast<int64_t>(i));
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    const auto it = ids.find(w);
    unknown += it == ids.end();
    out.push_back(it == ids.end() ? 1 : it->second);  // 1: <unk>
  }
  return out;
}

std::string detokenize(const std::vector<int64_t>& tokens, const Corpus& corpus) {
  std::string out;
  for (auto t : tokens) {
    if (!corpus.word_level) {
      out.push_back(static_cast<char>(t));
    } else {
      const std::string& w = corpus.vocab.at(static_cast<size_t>(t));
      out += w == "<eos>" ? "\n" : (out.empty() || out.back() == '\n' ? "" : " ") + w;
    }
  }
  return out;
}

int64_t rows_of(const torch::Tensor& t) { return t.defined() ? t.size(0) : 0; }

// Draws the next token from the logits of the last position.
int64_t draw(const torch::Tensor& logits, const SampleRequest& q, torch::Generator& gen) {
  auto l = logits.to(torch::kFloat64);
  if (q.temperature <= 0) return l.argmax().item<int64_t>();
  l = l / q.temperature;
  if (q.top_k > 0 && q.top_k < l.size(0)) {
    const auto kth = std::get<0>(l.topk(q.top_k)).min();
    l = l.masked_fill(l < kth, -std::numeric_limits<double>::infinity());
  }
  return torch::multinomial(torch::softmax(l, 0), 1, false, gen).item<int64_t>();
}

// The sampling loop over a model in evaluation mode (see sample.h); it owns the stream's
// memories.
class Sampler {
 public:
  Sampler(CompressiveTransformer& model, const torch::Device& device, const EvalSettings& settings,
          const std::function<void(const SampleSegment&)>& on_segment)
      : stream_(model, settings.memory),
        device_(device),
        seq_len_(settings.seq_len),
        on_segment_(on_segment) {}

  void feed_prompt(std::vector<int64_t> prompt) {
    all_ = std::move(prompt);
    while (static_cast<int64_t>(all_.size()) - start_ > seq_len_) commit(false);
  }
  // Appends one token drawn by `pick` from the last position's logits; returns it and its log-probability.
  std::pair<int64_t, double> next(const std::function<int64_t(const torch::Tensor&)>& pick) {
    ForwardOptions fo;
    fo.update_memory = false;
    fo.want_logits = true;
    auto out = stream_.forward(segment(start_, static_cast<int64_t>(all_.size()) - start_), {}, fo);
    const auto logits = out.logits[-1][0];
    const int64_t token = pick(logits);
    const double logprob = torch::log_softmax(logits.to(torch::kFloat64), 0)[token].item<double>();
    all_.push_back(token);
    if (static_cast<int64_t>(all_.size()) - start_ > seq_len_) commit(true);
    return {token, logprob};
  }

 private:
  torch::Tensor segment(int64_t from, int64_t n) const {
    return torch::tensor(std::vector<int64_t>(all_.begin() + from, all_.begin() + from + n), torch::kLong)
        .view({n, 1})
        .to(device_);
  }
  // The complete segment at start_ goes through the model with the memory update.
  void commit(bool generated) {
    stream_.forward(segment(start_, seq_len_), {});
    start_ += seq_len_;
    const auto& m = stream_.memory().front();
    on_segment_({segments_++, rows_of(m.mem), rows_of(m.cmem), generated});
  }

  EvalStream stream_;
  torch::Device device_;
  int64_t seq_len_;
  const std::function<void(const SampleSegment&)>& on_segment_;
  std::vector<int64_t> all_;
  int64_t start_ = 0, segments_ = 0;
};

void check_request(const SampleRequest& q) {
  if (q.tokens < 1 || q.tokens > 1000000)
    throw Error("--tokens " + std::to_string(q.tokens) + ": expected 1 to 1000000");
  if (!(q.temperature >= 0) || !std::isfinite(q.temperature))
    throw Error("--temperature " + std::to_string(q.temperature) + ": expected a number >= 0 (0 = greedy)");
  if (q.top_k < 0) throw Error("--top-k " + std::to_string(q.top_k) + ": expected >= 0 (0 = all tokens)");
}

}  // namespace

SampleResult sample_run(const SampleRequest& q, const std::function<void(const SampleSegment&)>& on_segment) {
  check_request(q);
  const ResultsLayout layout(q.results_root);
  const auto paths = trained_run(layout, q.run_id);
  CorpusCache data;
  const auto run = resolve_run_file(
      paths.config,
      q.device.empty() ? std::vector<std::string>{} : std::vector<std::string>{"device=" + q.device},
      q.plugins, &data);
  const Corpus& corpus = *run.corpus;
  const auto device = resolve_device(run.cfg.device);
  set_tf32(run.cfg.train.allow_tf32);
  keep_freed_memory();
  set_threads(run.cfg.threads);
  auto model = build_model(run.cfg, *run.host, run.plugins);
  model->to(device);
  SampleResult r;
  r.run_id = q.run_id;
  r.step = load_model_weights(paths.checkpoint, model, device);
  const auto settings = eval_settings(run.cfg, "test");
  r.seq_len = settings.seq_len;
  r.mem_len = settings.memory.mem_len;
  r.cmem_len = settings.memory.cmem_len;
  r.word_level = corpus.word_level;
  r.prompt = tokenize(q.prompt, corpus, r.unknown_words);
  if (r.prompt.empty()) r.prompt = {corpus.word_level ? 0 : '\n'};  // start from <eos> / a new line
  r.prompt_text = detokenize(r.prompt, corpus);
  EvalModeGuard guard(model, false);
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(q.seed);
  Sampler s(model, device, settings, on_segment);
  s.feed_prompt(r.prompt);
  for (int64_t i = 0; i < q.tokens; ++i) {
    auto [token, logprob] =
        s.next([&](const torch::Tensor& logits) { return draw(logits.to(torch::kCPU), q, gen); });
    r.generated.push_back(token);
    r.logprobs.push_back(logprob);
  }
  r.text = detokenize(r.generated, corpus);
  return r;
}

}  // namespace ctlab
