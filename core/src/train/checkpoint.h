// Checkpoints: model (with the compression plugins' parameters), optimizer, schedule
// position, data cursor, CPU random state (and the CUDA one on CUDA), logging window and every chunk's
// memories, written atomically (temp file, fsync, rename).
#pragma once

#include <torch/optim/adam.h>

#include <string>
#include <utility>
#include <vector>

#include "model/model.h"
#include "runtime/distributed.h"

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

// Data parallelism: which part of a checkpoint's memories and random states a rank takes.
// A checkpoint holds the chunks of every rank in stream order (rank 0's first), so a run
// resumed with another world size or accumulate re-divides the same streams.
struct CheckpointShard {
  int rank = 0;
  int world_size = 1;
  // The CPU random state of every rank, rank order (save; empty: this process's only).
  std::vector<torch::Tensor> rng_states;
  // On CUDA: every rank's CUDA random state, rank order (save; empty: this process's own,
  // that of the model's device; none on the CPU).
  std::vector<torch::Tensor> cuda_rng_states;
};

// Records `run_id` in the checkpoint; writes atomically (the previous checkpoint stays when
// the disk is full), throwing ctlab::Error with the system's message.
// With data parallelism, `state.chunk_memory` holds every rank's chunks (rank order) and
// `shard.rng_states` every rank's random state.
void save_checkpoint(const std::string& path, CompressiveTransformer& model, torch::optim::Adam& optimizer,
                     const TrainState& state, const std::string& run_id, const CheckpointShard& shard = {});
// Returns false when there is no checkpoint at path. Throws ctlab::Error naming the file
// when it exists but cannot be read, does not fit the model, or belongs to another run
// (checkpoints written before run ids were recorded load into any run of their shape).
// `state.chunk_memory` must come in with this rank's number of chunks: it gets this rank's
// share of the recorded streams, re-divided when the recorded world size or chunking
// differs (each rank's random state is restored only for the same world size).
bool load_checkpoint(const std::string& path, CompressiveTransformer& model, torch::optim::Adam& optimizer,
                     TrainState& state, const torch::Device& device, const std::string& run_id,
                     const CheckpointShard& shard = {});
// What rank 0 saves, gathered by `comm` (every rank calls it): `state` with every rank's
// chunks in `chunk_memory` (rank order), and every rank's CPU random state (and CUDA's on a
// CUDA device) in the shard. A single process's state as it is, with an empty shard.
std::pair<TrainState, CheckpointShard> gather_for_checkpoint(const Comm& comm, const TrainState& state,
                                                             const torch::Device& device);
// The run id recorded in the checkpoint at path ("" when it has none). Throws ctlab::Error
// for a file that cannot be read.
std::string checkpoint_run_id(const std::string& path);
// Model weights only (for evaluation), and the step they were saved at.
int64_t load_model_weights(const std::string& path, CompressiveTransformer& model,
                           const torch::Device& device);

}  // namespace ctlab
