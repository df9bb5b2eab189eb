// Generated long-range tasks (data/datasets/synthetic.cpp, recall.cpp, distant_ref.cpp):
// a generator writes tokens and, for every position, the ideal loss with and without
// sight of the planted long-range tokens; make_task_corpus builds the three splits.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "data/corpus.h"

namespace ctlab {

// One split of a task: tokens and the ideal losses (nats) of predicting each token.
struct TaskStream {
  std::vector<uint8_t> tokens;
  std::vector<double> best, blind;
  std::vector<int32_t> distance;
  // Appends a token whose ideal loss is `best` with full sight and `blind` without; when
  // the planted token that tells it lies `source_distance` tokens back, that distance.
  void push(int64_t token, double best_loss, double blind_loss, int64_t source_distance = 0);
  // Cuts to n tokens; position 0 predicts nothing, so its losses are 0.
  void finish(int64_t n);
};

// Generates at least n tokens of a split from `gen` (seeded 1, 2, 3 for train, valid,
// test); valid and test get max(tokens / 10, min_eval) tokens.
using TaskGenerator = std::function<void(TaskStream& out, int64_t n, std::mt19937_64& gen)>;
Corpus make_task_corpus(const std::string& dataset, const std::string& source, int64_t vocab, int64_t tokens,
                        int64_t min_eval, const TaskGenerator& generate);

}  // namespace ctlab
