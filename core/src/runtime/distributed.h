// One run across several processes: who this process is among the run's ranks (from the
// launcher's environment), and the collectives the trainer, the evaluator and the analyses
// use, on a c10d process group (Gloo on CPU, NCCL on CUDA when LibTorch has it). This file
// and distributed.cpp are the only place that uses c10d (torch_compat.h names its classes
// for both LibTorch versions, whose APIs differ).
#pragma once

#include <torch/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ctlab {

// The launcher conventions: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT (torchrun, `ctlab train --nproc`, most launchers), or under Slurm's srun
// SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE / SLURM_STEP_TASKS_PER_NODE
// (MASTER_ADDR then defaults to SLURM_LAUNCH_NODE_IPADDR and MASTER_PORT to 29500 + the job
// id modulo 1000).
struct LaunchInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr;
  int master_port = 0;
  std::string source = "single process";  // "environment (RANK, WORLD_SIZE)", "Slurm (srun)"
  bool distributed() const { return world_size > 1; }
  std::string describe() const;  // "rank 1 of 2 (local 1 of 2), rendezvous 127.0.0.1:29500 via ..."
};

// Reads the environment. Throws ctlab::Error naming the variable for a malformed or
// inconsistent value (RANK >= WORLD_SIZE, a missing MASTER_ADDR with WORLD_SIZE > 1).
LaunchInfo launch_from_environment();

enum class DistBackend { Auto, Gloo, Nccl };
DistBackend parse_backend(const std::string& name);  // throws ctlab::Error naming the value
std::string to_string(DistBackend b);
// Whether this build can use the backend (Gloo needs its headers at build time, NCCL a
// CUDA LibTorch built with it).
bool backend_available(DistBackend b);

// The CUDA device index of the rank with `local_rank` on a node where `visible` devices
// are visible: the local rank itself, or 0 when each rank sees only its own device (a
// launcher that sets CUDA_VISIBLE_DEVICES per rank). Throws ctlab::Error when neither fits.
int cuda_index_for_local_rank(int local_rank, int visible);

// The collectives of one run. A default-constructed Comm is the single process: every
// collective is the identity. All ranks must call the same collectives in the same order.
class Comm {
 public:
  Comm();
  ~Comm();  // shuts the process group down (shutdown())
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  // Joins the rendezvous at info.master_addr:master_port (rank 0 serves it) and builds the
  // process group. `timeout` bounds every collective and the rendezvous: when a peer dies
  // or hangs, the others get an error within it (with NCCL in LibTorch 2.x the group's
  // watchdog aborts the process instead, see distributed.cpp). Throws ctlab::Error. A single
  // process gets no process group unless `group_for_one` (a backend's test on one device).
  // With NCCL the rank first makes cuda:cuda_index_for_local_rank(...) its current device,
  // and collectives of host tensors run there.
  static std::unique_ptr<Comm> connect(const LaunchInfo& info, DistBackend backend,
                                       const torch::Device& device, std::chrono::seconds timeout,
                                       bool group_for_one = false);

  int rank() const { return rank_; }
  int local_rank() const { return local_rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1 || grouped_; }
  const std::string& backend() const { return backend_; }
  std::chrono::seconds timeout() const { return timeout_; }

  // In place: the sum over ranks. `t` must be contiguous.
  void all_reduce_sum(torch::Tensor& t) const;
  // Every rank's `t` (same shape and dtype on every rank), in rank order.
  std::vector<torch::Tensor> all_gather(const torch::Tensor& t) const;
  // In place: rank `root`'s values.
  void broadcast(torch::Tensor& t, int root = 0) const;
  void barrier() const;
  // Whether any rank passes true (one collective).
  bool any(bool flag) const;

  // Ends the process group (NCCL: destroys its communicators and stops its watchdog), so
  // that a rank exits without LibTorch's warning about a group never destroyed and without
  // a watchdog thread outliving the run. Every rank calls it after its last collective;
  // idempotent; never throws.
  void shutdown() noexcept;

  // A rank that fails leaves its message in the rendezvous store before it exits, so that
  // the rank that records the run can say which rank failed and why.
  void report_failure(const std::string& message) const;
  // "rank 1: <message>" for every other rank that reported a failure ("" when none).
  std::string peer_failures() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool grouped_ = false;  // a process group of one (group_for_one)
  std::string backend_ = "none";
  std::chrono::seconds timeout_{0};
};

}  // namespace ctlab
