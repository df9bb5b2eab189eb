// Task corpora with ideal losses.
#include "data/task.h"

#include <torch/torch.h>

namespace ctlab {

void TaskStream::push(int64_t token, double best_loss, double blind_loss, int64_t source_distance) {
  tokens.push_back(static_cast<uint8_t>(token));
  best.push_back(best_loss);
  blind.push_back(blind_loss);
  distance.push_back(static_cast<int32_t>(source_distance));
}

void TaskStream::finish(int64_t n) {
  tokens.resize(static_cast<size_t>(n));
  best.resize(static_cast<size_t>(n));
  blind.resize(static_cast<size_t>(n));
  distance.resize(static_cast<size_t>(n));
  if (n > 0) {
    best[0] = blind[0] = 0;
    distance[0] = 0;
  }
}

namespace {

torch::Tensor doubles(std::vector<double>& v) {
  return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kFloat64).clone();
}

}  // namespace

Corpus make_task_corpus(const std::string& dataset, const std::string& source, int64_t vocab, int64_t tokens,
                        int64_t min_eval, const TaskGenerator& generate) {
  Corpus c;
  c.dataset = dataset;
  c.source = source;
  c.vocab_size = vocab;
  const int64_t small = std::max<int64_t>(tokens / 10, min_eval);
  const std::pair<const char*, int64_t> splits[] = {{"train", tokens}, {"valid", small}, {"test", small}};
  uint64_t seed = 1;
  for (const auto& [name, n] : splits) {
    std::mt19937_64 gen(seed++);
    TaskStream s;
    s.tokens.reserve(static_cast<size_t>(n));
    while (static_cast<int64_t>(s.tokens.size()) < n) generate(s, n, gen);
    s.finish(n);
    auto t = torch::from_blob(s.tokens.data(), {n}, torch::kUInt8).clone();
    if (std::string(name) == "train") c.train = t;
    if (std::string(name) == "valid") c.valid = t;
    if (std::string(name) == "test") c.test = t;
    auto distance = torch::from_blob(s.distance.data(), {n}, torch::kInt32).clone();
    c.ideal[name] = {doubles(s.best), doubles(s.blind), distance};
  }
  return c;
}

}  // namespace ctlab
