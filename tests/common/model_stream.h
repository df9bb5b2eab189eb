// A model's stream of segments for tests: the memories carried from one forward pass to the
// next, as the trainer and the evaluator carry them (the model holds none).
#pragma once

#include "model/model.h"

namespace ctlab::test {

struct ModelStream {
  explicit ModelStream(CompressiveTransformer m) : model(std::move(m)) {}
  // The next segment; the stream keeps the memories it returns.
  ForwardOutput operator()(const torch::Tensor& x, const torch::Tensor& y, const ForwardOptions& fo = {}) {
    auto out = model->forward(x, y, memory, fo);
    memory = out.memory;
    return out;
  }
  void reset() { memory.clear(); }

  CompressiveTransformer model;
  Memories memory;
};

}  // namespace ctlab::test
