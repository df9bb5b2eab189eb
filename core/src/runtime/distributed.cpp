// c10d process groups behind Comm. The only file that includes c10d headers.
#include "runtime/distributed.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>
#include <thread>

#include "util/error.h"

#if defined(CTLAB_HAVE_GLOO)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#if defined(CTLAB_HAVE_NCCL)
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <c10/cuda/CUDAFunctions.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include "runtime/torch_compat.h"

namespace ctlab {
namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const char* name, const std::string& value, int min) {
  try {
    size_t used = 0;
    const long v = std::stol(value, &used);
    if (used == value.size() && v >= min && v <= (1L << 30)) return static_cast<int>(v);
  } catch (const std::exception&) {
  }
  throw Error("environment variable " + std::string(name) + " = '" + value +
              "': expected an integer >= " + std::to_string(min));
}

int env_int_or(const char* name, int fallback, int min) {
  auto v = env(name);
  return v ? env_int(name, *v, min) : fallback;
}

// "4(x2),3" (Slurm's tasks-per-node lists) -> the first count.
int first_task_count(const char* name, const std::string& v) {
  return env_int(name, v.substr(0, v.find_first_of("(,")), 1);
}

}  // namespace

std::string LaunchInfo::describe() const {
  if (!distributed()) return "single process";
  return "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + " (local " +
         std::to_string(local_rank) + " of " + std::to_string(local_world_size) + "), rendezvous " +
         master_addr + ":" + std::to_string(master_port) + ", from the " + source;
}

LaunchInfo launch_from_environment() {
  LaunchInfo info;
  if (auto ws = env("WORLD_SIZE")) {
    info.source = "environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)";
    info.world_size = env_int("WORLD_SIZE", *ws, 1);
    auto rank = env("RANK");
    if (!rank && info.world_size > 1)
      throw Error("environment variable WORLD_SIZE = " + *ws +
                  " is set but RANK is not; a launcher sets both");
    info.rank = rank ? env_int("RANK", *rank, 0) : 0;
    info.local_rank = env_int_or("LOCAL_RANK", info.rank, 0);
    info.local_world_size = env_int_or("LOCAL_WORLD_SIZE", info.world_size, 1);
  } else if (auto ntasks = env("SLURM_NTASKS"); ntasks && env("SLURM_PROCID") && env("SLURM_STEP_ID")) {
    // Under srun (a job step): one task per rank.
    info.source = "Slurm job step (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID)";
    info.world_size = env_int("SLURM_NTASKS", *ntasks, 1);
    info.rank = env_int("SLURM_PROCID", *env("SLURM_PROCID"), 0);
    info.local_rank = env_int_or("SLURM_LOCALID", 0, 0);
    if (auto per = env("SLURM_STEP_TASKS_PER_NODE"))
      info.local_world_size = first_task_count("SLURM_STEP_TASKS_PER_NODE", *per);
    else if (auto per_node = env("SLURM_NTASKS_PER_NODE"))
      info.local_world_size = first_task_count("SLURM_NTASKS_PER_NODE", *per_node);
    else
      info.local_world_size = info.world_size;
    if (!env("MASTER_ADDR")) info.master_addr = env("SLURM_LAUNCH_NODE_IPADDR").value_or("");
    if (!env("MASTER_PORT")) info.master_port = 29500 + env_int_or("SLURM_JOB_ID", 0, 0) % 1000;
  } else {
    return info;
  }
  if (info.rank >= info.world_size)
    throw Error("rank " + std::to_string(info.rank) + " is not below the world size " +
                std::to_string(info.world_size) + " (" + info.source + ")");
  if (info.local_rank >= info.local_world_size) info.local_world_size = info.local_rank + 1;
  if (auto addr = env("MASTER_ADDR")) info.master_addr = *addr;
  if (auto port = env("MASTER_PORT")) info.master_port = env_int("MASTER_PORT", *port, 1);
  if (info.world_size > 1) {
    if (info.master_addr.empty())
      throw Error("WORLD_SIZE = " + std::to_string(info.world_size) +
                  " but MASTER_ADDR is not set: set it to the host of rank 0 (" + info.source + ")");
    if (info.master_port <= 0 || info.master_port > 65535)
      throw Error("MASTER_PORT = " + std::to_string(info.master_port) +
                  ": expected a TCP port in 1..65535 (set MASTER_PORT)");
  }
  return info;
}

DistBackend parse_backend(const std::string& name) {
  if (name == "auto") return DistBackend::Auto;
  if (name == "gloo") return DistBackend::Gloo;
  if (name == "nccl") return DistBackend::Nccl;
  throw Error("backend '" + name + "': expected auto, gloo or nccl");
}

std::string to_string(DistBackend b) {
  switch (b) {
    case DistBackend::Gloo:
      return "gloo";
    case DistBackend::Nccl:
      return "nccl";
    default:
      return "auto";
  }
}

bool backend_available(DistBackend b) {
  switch (b) {
    case DistBackend::Gloo:
#if defined(CTLAB_HAVE_GLOO)
      return true;
#else
      return false;
#endif
    case DistBackend::Nccl:
#if defined(CTLAB_HAVE_NCCL)
      return true;
#else
      return false;
#endif
    default:
      return backend_available(DistBackend::Gloo) || backend_available(DistBackend::Nccl);
  }
}

#if defined(CTLAB_HAVE_GLOO)
struct Comm::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::C10dGroup> group;
  bool host_staging = false;          // Gloo with CUDA tensors: collectives go through host copies
  torch::Device device{torch::kCPU};  // NCCL: where host tensors go for a collective
  // The tensor a collective works on: a host copy (Gloo, CUDA tensor) or a device copy
  // (NCCL, host tensor), or `t` itself.
  torch::Tensor staged(const torch::Tensor& t) const {
    if (host_staging && t.is_cuda()) return t.cpu();
    if (device.is_cuda() && !t.is_cuda()) return t.to(device);
    return t;
  }
};
#else
struct Comm::Impl {};
#endif

int cuda_index_for_local_rank(int local_rank, int visible) {
  if (local_rank < visible) return local_rank;
  if (visible == 1) return 0;
  throw Error("local rank " + std::to_string(local_rank) + " has no CUDA device: " + std::to_string(visible) +
              " visible (LOCAL_RANK / SLURM_LOCALID must be below the devices per node, or each rank must "
              "see one device through CUDA_VISIBLE_DEVICES)");
}

Comm::Comm() = default;
Comm::~Comm() { shutdown(); }

void Comm::shutdown() noexcept {
#if defined(CTLAB_HAVE_GLOO)
  if (!impl_ || !impl_->group) return;
  try {
    compat::shutdown_group(*impl_->group);
  } catch (const std::exception&) {
    // A group whose peers are gone may fail to end cleanly; the process is exiting anyway.
  }
  impl_->group.reset();
#endif
}

#if defined(CTLAB_HAVE_GLOO)

namespace {

// Runs a collective, turning c10d's and Gloo's exceptions into one clear ctlab error.
template <typename F>
void collective(const char* what, const Comm& comm, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    std::string peers = comm.peer_failures();
    throw Error(
        "rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.size()) + ": " + what +
            " across ranks failed: " + brief_what(e) +
            (peers.empty() ? " (a peer process died, hung for more than the " +
                                 std::to_string(comm.timeout().count()) + " s timeout, or the network failed)"
                           : "; " + peers),
        ErrorKind::Run);
  }
}

// The TCP store every rank meets at (rank 0 serves it), under ctlab's prefix.
c10::intrusive_ptr<c10d::Store> rendezvous(const LaunchInfo& info, std::chrono::seconds timeout) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(info.master_port);
    so.isServer = info.rank == 0;
    so.numWorkers = info.world_size;
    so.waitWorkers = true;
    so.timeout = ms;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(info.master_addr, so);
    return c10::make_intrusive<c10d::PrefixStore>("ctlab", tcp);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(info.rank) + ": the rendezvous at " + info.master_addr + ":" +
                    std::to_string(info.master_port) + " failed: " + brief_what(e) + " (all " +
                    std::to_string(info.world_size) + " ranks must start within " +
                    std::to_string(timeout.count()) + " s, and rank 0 must be able to listen on that port)",
                ErrorKind::Run);
  }
}

}  // namespace

std::unique_ptr<Comm> Comm::connect(const LaunchInfo& info, DistBackend backend, const torch::Device& device,
                                    std::chrono::seconds timeout, bool group_for_one) {
  auto comm = std::make_unique<Comm>();
  comm->rank_ = info.rank;
  comm->size_ = info.world_size;
  comm->local_rank_ = info.local_rank;
  comm->timeout_ = timeout;
  comm->impl_ = std::make_unique<Impl>();
  if (!info.distributed() && !group_for_one) return comm;
  comm->grouped_ = !info.distributed();
  if (backend == DistBackend::Auto)
    backend =
        device.is_cuda() && backend_available(DistBackend::Nccl) ? DistBackend::Nccl : DistBackend::Gloo;
  if (!backend_available(backend))
    throw Error("backend = " + to_string(backend) + " is not available in this build" +
                (backend == DistBackend::Nccl ? " (LibTorch without CUDA/NCCL); use backend = gloo" : ""));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  comm->impl_->store = rendezvous(info, timeout);
  try {
#if defined(CTLAB_HAVE_NCCL)
    if (backend == DistBackend::Nccl) {
      // NCCL binds a communicator to the current device: each rank's own, before the group
      // exists (otherwise every rank of a node would build it on device 0).
      const int index =
          cuda_index_for_local_rank(info.local_rank, static_cast<int>(c10::cuda::device_count()));
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(index));
      // Timeouts: in 2.x a collective's wait() does not block the host (it orders the
      // current stream after NCCL's), so a hung peer is found by the group's watchdog,
      // which aborts the process after `timeout` (TORCH_NCCL_ASYNC_ERROR_HANDLING's
      // default). ctlab leaves it so: TORCH_NCCL_BLOCKING_WAIT would turn the timeout into
      // an exception, at the price of a host sync in every collective, i.e. every step.
      // The launcher records such a run failed (session/ranks.cpp).
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = ms;
      comm->impl_->group =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(comm->impl_->store, info.rank, info.world_size, opts);
      comm->backend_ = "nccl";
      comm->impl_->device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
      return comm;
    }
#endif
    auto opts = c10d::ProcessGroupGloo::Options::create(ms);
    // GLOO_SOCKET_IFNAME picks the network interface (as in PyTorch); else the address the
    // host name resolves to, or the loopback device.
    if (auto ifname = env("GLOO_SOCKET_IFNAME"))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*ifname));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    comm->impl_->group =
        c10::make_intrusive<c10d::ProcessGroupGloo>(comm->impl_->store, info.rank, info.world_size, opts);
    comm->impl_->host_staging = device.is_cuda();
    comm->backend_ = "gloo";
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(info.rank) + ": cannot build the " + to_string(backend) +
                    " process group: " + brief_what(e),
                ErrorKind::Run);
  }
  return comm;
}

void Comm::all_reduce_sum(torch::Tensor& t) const {
  if (!distributed()) return;
  collective("summing", *this, [&] {
    std::vector<torch::Tensor> v{impl_->staged(t)};
    impl_->group->allreduce(v)->wait();
    if (!v[0].is_same(t)) t.copy_(v[0]);
  });
}

std::vector<torch::Tensor> Comm::all_gather(const torch::Tensor& t) const {
  if (!distributed()) return {t};
  std::vector<std::vector<torch::Tensor>> out(1);
  collective("gathering", *this, [&] {
    auto in = impl_->staged(t).contiguous();
    for (int r = 0; r < size_; ++r) out[0].push_back(torch::empty_like(in));
    std::vector<torch::Tensor> inputs{in};
    impl_->group->allgather(out, inputs)->wait();
  });
  for (auto& x : out[0]) x = x.to(t.device());
  return out[0];
}

void Comm::broadcast(torch::Tensor& t, int root) const {
  if (!distributed()) return;
  collective("broadcasting", *this, [&] {
    std::vector<torch::Tensor> v{impl_->staged(t)};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    impl_->group->broadcast(v, o)->wait();
    if (!v[0].is_same(t)) t.copy_(v[0]);
  });
}

void Comm::barrier() const {
  if (!distributed()) return;
  auto t = torch::zeros({1});
  all_reduce_sum(t);
}

bool Comm::any(bool flag) const {
  if (!distributed()) return flag;
  auto t = torch::full({1}, flag ? 1.0 : 0.0, torch::kFloat64);
  all_reduce_sum(t);
  return t.item<double>() > 0;
}

void Comm::report_failure(const std::string& message) const {
  if (!distributed() || !impl_->store) return;
  try {
    impl_->store->set("failed/" + std::to_string(rank_),
                      std::vector<uint8_t>(message.begin(), message.end()));
  } catch (const std::exception&) {
    // The rendezvous is gone (rank 0 died): nobody is left to tell.
  }
}

std::string Comm::peer_failures() const {
  if (!distributed() || !impl_->store) return "";
  std::string out;
  try {
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      const std::string key = "failed/" + std::to_string(r);
      if (!impl_->store->check({key})) continue;
      auto bytes = impl_->store->get(key);
      out += (out.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) +
             " failed: " + std::string(bytes.begin(), bytes.end());
    }
  } catch (const std::exception&) {
    // The rendezvous itself is gone (rank 0 died).
  }
  return out;
}

#else  // no Gloo headers at build time: single process only

std::unique_ptr<Comm> Comm::connect(const LaunchInfo& info, DistBackend, const torch::Device&,
                                    std::chrono::seconds timeout, bool group_for_one) {
  if (info.distributed() || group_for_one)
    throw Error(
        "this ctlab was built without c10d's Gloo headers (Debian: libgloo-dev), so it cannot join a "
        "run of " +
        std::to_string(info.world_size) + " ranks; install them and rebuild");
  auto comm = std::make_unique<Comm>();
  comm->timeout_ = timeout;
  comm->local_rank_ = info.local_rank;
  return comm;
}
void Comm::all_reduce_sum(torch::Tensor&) const {}
std::vector<torch::Tensor> Comm::all_gather(const torch::Tensor& t) const { return {t}; }
void Comm::broadcast(torch::Tensor&, int) const {}
void Comm::barrier() const {}
bool Comm::any(bool flag) const { return flag; }
void Comm::report_failure(const std::string&) const {}
std::string Comm::peer_failures() const { return ""; }

#endif

}  // namespace ctlab
