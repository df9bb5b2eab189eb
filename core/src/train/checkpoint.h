// Checkpoints: model (with the compression plugins' parameters), optimizer, schedule
// position, data cursor, CPU random state, logging window and every chunk's memories,
// written atomically (temp file, fsync, rename).
#pragma once

#include <torch/optim/adam.h>

#include <string>
#include <vector>

#include "model/model.h"

namespace ctlab {

struct TrainState {
  int64_t step = 0;    // completed training steps
  int64_t cursor = 0;  // next training segment
  int64_t epoch = 0;
  // Sums over the current logging window, so that a resumed run logs the same means.
  int64_t window_steps = 0;
  double window_loss = 0;
  std::vector<double> window_closs;                    // per layer
  std::vector<std::vector<LayerMemory>> chunk_memory;  // [accumulate][n_layer]
};

// Records `run_id` in the checkpoint; writes atomically (the previous checkpoint stays when
// the disk is full), throwing ctlab::Error with the system's message.
void save_checkpoint(const std::string& path, CompressiveTransformer& model, torch::optim::Adam& optimizer,
                     const TrainState& state, const std::string& run_id);
// Returns false when there is no checkpoint at path. Throws ctlab::Error naming the file
// when it exists but cannot be read, does not fit the model, or belongs to another run
// (checkpoints written before run ids were recorded load into any run of their shape).
bool load_checkpoint(const std::string& path, CompressiveTransformer& model, torch::optim::Adam& optimizer,
                     TrainState& state, const torch::Device& device, const std::string& run_id);
// The run id recorded in the checkpoint at path ("" when it has none). Throws ctlab::Error
// for a file that cannot be read.
std::string checkpoint_run_id(const std::string& path);
// Model weights only (for evaluation), and the step they were saved at.
int64_t load_model_weights(const std::string& path, CompressiveTransformer& model,
                           const torch::Device& device);

}  // namespace ctlab
