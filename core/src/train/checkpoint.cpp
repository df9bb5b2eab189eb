// Checkpoint serialisation with torch::serialize archives.
#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>

#include <boost/filesystem.hpp>
#include <mutex>
#include <sstream>

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

}  // namespace

void save_checkpoint(const std::string& path, CompressiveTransformer& model, torch::optim::Adam& optimizer,
                     const TrainState& st, const std::string& run_id) {
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
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    a.write("rng_cpu", gen.get_state());
  }
  a.write("chunks", scalar(static_cast<int64_t>(st.chunk_memory.size())));
  for (size_t c = 0; c < st.chunk_memory.size(); ++c)
    for (size_t l = 0; l < st.chunk_memory[c].size(); ++l) {
      const auto& lm = st.chunk_memory[c][l];
      auto k = "memory/" + std::to_string(c) + "/" + std::to_string(l) + "/";
      write_opt(a, k + "mem", lm.mem);
      write_opt(a, k + "cmem", lm.cmem);
      write_opt(a, k + "usage", lm.usage);
      write_opt(a, k + "age", lm.age);
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
                     TrainState& st, const torch::Device& device, const std::string& run_id) {
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
    torch::Tensor rng;
    a.read("rng_cpu", rng);
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng.cpu());
    }
    const int64_t chunks = read_i64(a, "chunks");
    const int64_t n_layer = model->options().n_layer;
    st.chunk_memory.assign(chunks, std::vector<LayerMemory>(n_layer));
    for (int64_t c = 0; c < chunks; ++c)
      for (int64_t l = 0; l < n_layer; ++l) {
        auto k = "memory/" + std::to_string(c) + "/" + std::to_string(l) + "/";
        auto& lm = st.chunk_memory[c][l];
        lm.mem = read_opt(a, k + "mem", device);
        lm.cmem = read_opt(a, k + "cmem", device);
        lm.usage = read_opt(a, k + "usage", device);
        lm.age = read_opt(a, k + "age", device);
      }
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

}  // namespace ctlab
