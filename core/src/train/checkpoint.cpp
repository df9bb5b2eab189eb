// Checkpoint serialisation with torch::serialize archives.
#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>

#include <boost/filesystem.hpp>
#include <mutex>
#include <sstream>

#include "runtime/runtime.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace ctlab {
namespace {

torch::Tensor scalar(int64_t v) { return torch::tensor(v, torch::kLong); }
torch::Tensor scalar(double v) { return torch::tensor(v, torch::kFloat64); }

int64_t read_i64(torch::serialize::InputArchive& a, const std::string& key) {
  torch::Tensor t;
  a.read(key, t);
  return t.item<int64_t>();
}
double read_f64(torch::serialize::InputArchive& a, const std::string& key) {
  torch::Tensor t;
  a.read(key, t);
  return t.item<double>();
}

void write_opt(torch::serialize::OutputArchive& a, const std::string& key, const torch::Tensor& t) {
  a.write(key + "/present", scalar(static_cast<int64_t>(t.defined())));
  if (t.defined()) a.write(key, t.detach().cpu());
}
torch::Tensor read_opt(torch::serialize::InputArchive& a, const std::string& key,
                       const torch::Device& device) {
  if (read_i64(a, key + "/present") == 0) return {};
  torch::Tensor t;
  a.read(key, t);
  return t.to(device);
}

// The recorded world size (1 for checkpoints written before data parallelism).
int64_t recorded_world_size(torch::serialize::InputArchive& a) {
  torch::Tensor t;
  return a.try_read("world_size", t) ? t.item<int64_t>() : 1;
}

// The key of rank r's random state of `kind` ("rng_cpu", "rng_cuda").
std::string rng_key(const std::string& kind, int rank) {
  return rank == 0 ? kind : kind + "/" + std::to_string(rank);
}

// This rank's random states (CPU, and CUDA when the checkpoint has one and the run is on
// CUDA): its own when the world size is the one recorded; otherwise rank 0 takes the
// recorded rank 0's and the others keep their fresh seeds.
void restore_rng(torch::serialize::InputArchive& a, const CheckpointShard& shard,
                 const torch::Device& device) {
  const bool same_world = recorded_world_size(a) == shard.world_size;
  if (shard.rank > 0 && !same_world) return;
  torch::Tensor rng;
  a.read(rng_key("rng_cpu", shard.rank), rng);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng.cpu());
  }
  torch::Tensor cuda;
  if (device.is_cuda() && a.try_read(rng_key("rng_cuda", shard.rank), cuda)) set_cuda_rng_state(device, cuda);
}

// Writes every rank's states of `kind` (rank order), or `own` for this process alone.
void write_rng(torch::serialize::OutputArchive& a, const std::string& kind,
               const std::vector<torch::Tensor>& ranks, const torch::Tensor& own) {
  if (ranks.empty()) {
    if (own.defined()) a.write(kind, own.cpu());
    return;
  }
  for (size_t r = 0; r < ranks.size(); ++r) a.write(rng_key(kind, static_cast<int>(r)), ranks[r].cpu());
}

std::vector<std::vector<LayerMemory>> read_memories(torch::serialize::InputArchive& a, int64_t n_layer,
                                                    const torch::Device& device) {
  const int64_t chunks = read_i64(a, "chunks");
  std::vector<std::vector<LayerMemory>> out(chunks, std::vector<LayerMemory>(n_layer));
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t l = 0; l < n_layer; ++l) {
      auto k = "memory/" + std::to_string(c) + "/" + std::to_string(l) + "/";
      auto& lm = out[c][l];
      lm.mem = read_opt(a, k + "mem", device);
      lm.cmem = read_opt(a, k + "cmem", device);
      lm.usage = read_opt(a, k + "usage", device);
      lm.age = read_opt(a, k + "age", device);
      lm.mem_t = read_opt(a, k + "mem_t", device);  // absent before timestamps: filled in by the model
      lm.cmem_t = read_opt(a, k + "cmem_t", device);
    }
  return out;
}

// Streams (dim 1) of every chunk side by side, then cut into `parts` equal chunks.
torch::Tensor recut(const std::vector<torch::Tensor>& pieces, int64_t parts, int64_t index) {
  if (!pieces[0].defined()) return {};
  auto all = torch::cat(pieces, 1);
  return all.narrow(1, index * (all.size(1) / parts), all.size(1) / parts).contiguous();
}

// Rank shard.rank's `local` chunks of the recorded ones, re-dividing the streams when the
// recorded chunking is not world_size x local.
std::vector<std::vector<LayerMemory>> rank_share(std::vector<std::vector<LayerMemory>> all,
                                                 const CheckpointShard& shard, int64_t local,
                                                 const std::string& path) {
  const int64_t recorded = static_cast<int64_t>(all.size()), wanted = shard.world_size * local;
  if (recorded == 0 || local == 0) return all;
  if (recorded == wanted) return {all.begin() + shard.rank * local, all.begin() + (shard.rank + 1) * local};
  const auto& first = all[0][0].mem;
  const int64_t streams = first.defined() ? first.size(1) * recorded : 0;
  if (streams > 0 && streams % wanted != 0)
    throw Error("checkpoint '" + path + "' holds the memories of " + std::to_string(streams) +
                    " streams, which cannot be divided into " + std::to_string(wanted) + " chunks (" +
                    std::to_string(shard.world_size) + " rank(s) x accumulate " + std::to_string(local) + ")",
                ErrorKind::Usage);
  const size_t n_layer = all[0].size();
  std::vector<std::vector<LayerMemory>> out(local, std::vector<LayerMemory>(n_layer));
  for (size_t l = 0; l < n_layer; ++l) {
    std::vector<torch::Tensor> mem, cmem, usage, mem_t, cmem_t;
    for (const auto& chunk : all) {
      mem.push_back(chunk[l].mem);
      cmem.push_back(chunk[l].cmem);
      usage.push_back(chunk[l].usage);
      mem_t.push_back(chunk[l].mem_t);
      cmem_t.push_back(chunk[l].cmem_t);
    }
    for (int64_t c = 0; c < local; ++c) {
      const int64_t g = shard.rank * local + c;
      out[c][l] = {recut(mem, wanted, g), recut(cmem, wanted, g),  recut(usage, wanted, g),
                   all[0][l].age,         recut(mem_t, wanted, g), recut(cmem_t, wanted, g)};
    }
  }
  return out;
}

// Every rank's chunks, rank order (the layout a checkpoint records).
std::vector<std::vector<LayerMemory>> gather_memories(const Comm& comm,
                                                      const std::vector<std::vector<LayerMemory>>& local) {
  if (!comm.distributed()) return local;
  const size_t a = local.size(), n_layer = a ? local[0].size() : 0;
  std::vector<std::vector<LayerMemory>> all(a * comm.size(), std::vector<LayerMemory>(n_layer));
  auto gather = [&](const torch::Tensor& t, size_t c, torch::Tensor LayerMemory::*field, size_t l) {
    if (!t.defined()) return;  // the same on every rank: they run in lockstep
    auto parts = comm.all_gather(t.contiguous());
    for (int r = 0; r < comm.size(); ++r) all[r * a + c][l].*field = parts[r];
  };
  for (size_t c = 0; c < a; ++c)
    for (size_t l = 0; l < n_layer; ++l) {
      const auto& m = local[c][l];
      gather(m.mem, c, &LayerMemory::mem, l);
      gather(m.cmem, c, &LayerMemory::cmem, l);
      gather(m.usage, c, &LayerMemory::usage, l);
      gather(m.age, c, &LayerMemory::age, l);
      gather(m.mem_t, c, &LayerMemory::mem_t, l);
      gather(m.cmem_t, c, &LayerMemory::cmem_t, l);
    }
  return all;
}

}  // namespace

void save_checkpoint(const std::string& path, CompressiveTransformer& model, torch::optim::Adam& optimizer,
                     const TrainState& st, const std::string& run_id, const CheckpointShard& shard) {
  torch::serialize::OutputArchive a;
  a.write("run_id", c10::IValue(run_id));
  torch::serialize::OutputArchive m, o;
  model->save(m);
  optimizer.save(o);
  a.write("model", m);
  a.write("optimizer", o);
  a.write("step", scalar(st.step));
  a.write("cursor", scalar(st.cursor));
  a.write("epoch", scalar(st.epoch));
  a.write("window_steps", scalar(st.window_steps));
  a.write("window_loss", scalar(st.window_loss));
  a.write("window_closs",
          torch::tensor(st.window_closs.empty() ? std::vector<double>{} : st.window_closs, torch::kFloat64));
  torch::Tensor cpu_rng;
  if (shard.rng_states.empty()) {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    cpu_rng = gen.get_state();
  }
  write_rng(a, "rng_cpu", shard.rng_states, cpu_rng);
  // CUDA runs only: the generator of the model's device (dropout and plugins on CUDA draw
  // from it); a CPU run's checkpoint stays as it was.
  const auto params = model->parameters();
  write_rng(a, "rng_cuda", shard.cuda_rng_states,
            shard.cuda_rng_states.empty() && !params.empty() ? cuda_rng_state(params.front().device())
                                                             : torch::Tensor());
  a.write("world_size", scalar(static_cast<int64_t>(std::max<size_t>(1, shard.rng_states.size()))));
  a.write("chunks", scalar(static_cast<int64_t>(st.chunk_memory.size())));
  for (size_t c = 0; c < st.chunk_memory.size(); ++c)
    for (size_t l = 0; l < st.chunk_memory[c].size(); ++l) {
      const auto& lm = st.chunk_memory[c][l];
      auto k = "memory/" + std::to_string(c) + "/" + std::to_string(l) + "/";
      write_opt(a, k + "mem", lm.mem);
      write_opt(a, k + "cmem", lm.cmem);
      write_opt(a, k + "usage", lm.usage);
      write_opt(a, k + "age", lm.age);
      write_opt(a, k + "mem_t", lm.mem_t);
      write_opt(a, k + "cmem_t", lm.cmem_t);
    }
  // Serialised in memory first, then written with checked POSIX writes: a full disk is a
  // clear error (and the previous checkpoint stays) instead of an abort inside the zip writer.
  std::ostringstream bytes;
  a.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

static std::string recorded_run_id(torch::serialize::InputArchive& a) {
  c10::IValue v;
  if (!a.try_read("run_id", v) || !v.isString()) return "";
  return v.toStringRef();
}

bool load_checkpoint(const std::string& path, CompressiveTransformer& model, torch::optim::Adam& optimizer,
                     TrainState& st, const torch::Device& device, const std::string& run_id,
                     const CheckpointShard& shard) {
  if (!boost::filesystem::exists(path)) return false;
  try {
    torch::serialize::InputArchive a;
    a.load_from(path, device);
    const auto owner = recorded_run_id(a);
    if (!owner.empty() && owner != run_id)
      throw Error("checkpoint '" + path + "' belongs to run " + owner + ", not to run " + run_id +
                      " (was it copied from another run's folder?); remove it to train run " + run_id +
                      " from step 0",
                  ErrorKind::Usage);
    torch::serialize::InputArchive m, o;
    a.read("model", m);
    model->load(m);
    a.read("optimizer", o);
    optimizer.load(o);
    st.step = read_i64(a, "step");
    st.cursor = read_i64(a, "cursor");
    st.epoch = read_i64(a, "epoch");
    st.window_steps = read_i64(a, "window_steps");
    st.window_loss = read_f64(a, "window_loss");
    torch::Tensor wc;
    a.read("window_closs", wc);
    wc = wc.cpu().to(torch::kFloat64).contiguous();
    st.window_closs.assign(wc.data_ptr<double>(), wc.data_ptr<double>() + wc.numel());
    const int64_t local_chunks = static_cast<int64_t>(st.chunk_memory.size());
    restore_rng(a, shard, device);
    st.chunk_memory = read_memories(a, model->options().n_layer, device);
    st.chunk_memory = rank_share(std::move(st.chunk_memory), shard, local_chunks, path);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("checkpoint '" + path + "' cannot be loaded: " + brief_what(e) +
                    " (delete it to start the run again from step 0)",
                ErrorKind::Run);
  }
  return true;
}

std::string checkpoint_run_id(const std::string& path) {
  try {
    torch::serialize::InputArchive a;
    a.load_from(path, torch::kCPU);
    return recorded_run_id(a);
  } catch (const std::exception& e) {
    throw Error("checkpoint '" + path + "' cannot be read: " + brief_what(e), ErrorKind::Run);
  }
}

int64_t load_model_weights(const std::string& path, CompressiveTransformer& model,
                           const torch::Device& device) {
  if (!boost::filesystem::exists(path)) throw Error("checkpoint '" + path + "' does not exist");
  try {
    torch::serialize::InputArchive a;
    a.load_from(path, device);
    torch::serialize::InputArchive m;
    a.read("model", m);
    model->load(m);
    return read_i64(a, "step");
  } catch (const std::exception& e) {
    throw Error("checkpoint '" + path + "' cannot be loaded: " + brief_what(e), ErrorKind::Run);
  }
}

std::pair<TrainState, CheckpointShard> gather_for_checkpoint(const Comm& comm, const TrainState& state,
                                                             const torch::Device& device) {
  CheckpointShard shard{comm.rank(), comm.size(), {}, {}};
  TrainState st = state;
  if (comm.distributed()) {
    st.chunk_memory = gather_memories(comm, state.chunk_memory);
    torch::Tensor rng;
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      rng = gen.get_state();
    }
    shard.rng_states = comm.all_gather(rng);
    if (device.is_cuda()) shard.cuda_rng_states = comm.all_gather(cuda_rng_state(device));
  }
  return {st, shard};
}

}  // namespace ctlab
