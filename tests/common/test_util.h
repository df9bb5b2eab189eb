// Shared test helpers: tensor comparison that reports the worst element, temporary
// folders, running the real ctlab binary, and a free port for a rendezvous.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <boost/filesystem.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "config/options.h"

namespace ctlab::test {

// Asserts |a - b| <= atol + rtol * |b| elementwise; on failure prints the max abs
// difference and the first offending index.
inline ::testing::AssertionResult tensors_close(const torch::Tensor& a, const torch::Tensor& b,
                                                double rtol = 1e-6, double atol = 1e-8) {
  if (a.sizes() != b.sizes())
    return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs " << b.sizes();
  auto ad = a.detach().to(torch::kCPU, torch::kFloat64), bd = b.detach().to(torch::kCPU, torch::kFloat64);
  auto diff = (ad - bd).abs();
  auto bad = diff > (atol + rtol * bd.abs());
  if (!bad.any().item<bool>()) return ::testing::AssertionSuccess();
  auto idx = bad.flatten().nonzero()[0].item<int64_t>();
  std::ostringstream where;
  int64_t rem = idx;
  std::vector<int64_t> coord(a.dim());
  for (int64_t d = a.dim() - 1; d >= 0; --d) {
    coord[d] = rem % a.size(d);
    rem /= a.size(d);
  }
  where << "[";
  for (size_t i = 0; i < coord.size(); ++i) where << (i ? "," : "") << coord[i];
  where << "]";
  return ::testing::AssertionFailure()
         << "max abs diff " << diff.max().item<double>() << "; first offending index " << where.str() << ": "
         << ad.flatten()[idx].item<double>() << " vs " << bd.flatten()[idx].item<double>();
}

class TempDir {
 public:
  // boost::filesystem, not std::filesystem: PyTorch's libtorch.so exports std::filesystem
  // symbols of its own that interpose ours and crash (seen with PyTorch 2.11 wheels).
  TempDir() {
    boost::system::error_code ec;
    auto base = boost::filesystem::temp_directory_path(ec);
    if (ec || !boost::filesystem::is_directory(base)) base = "/tmp";
    std::string tmpl = (base / "ctlab-test-XXXXXX").string();
    const char* made = mkdtemp(tmpl.data());
    if (!made)
      throw std::runtime_error("cannot create a temporary folder from '" + tmpl +
                               "': " + std::strerror(errno));
    path_ = made;
  }
  ~TempDir() {
    boost::system::error_code ec;
    boost::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name, const std::string& content) const {
    auto p = path_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }

 private:
  std::string path_;
};

// The message of the ctlab::Error that f throws, or "<no error>".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "<no error>";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* pipe = popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The [model] section of the tiny model every test that trains or expands one uses:
// `n_layer` layers, d_model 16, 2 heads, d_ff 32, segments and memory of 8, 4 compressed
// slots, then `extra` (by default rate 2 and no dropout, so runs repeat exactly).
inline std::string tiny_model(int n_layer = 1, const std::string& extra = "cmem_rate = 2\ndropout = 0\n") {
  return "[model]\nn_layer = " + std::to_string(n_layer) +
         "\nd_model = 16\nn_head = 2\nd_ff = 32\nseq_len = 8\nmem_len = 8\ncmem_len = 4\n" + extra;
}
// The smallest model the integration tests train: one layer.
inline const std::string kTinyModel = tiny_model();

// The tiny model as options, for the tests that build one in process: vocab 32, d_model
// 16, 2 heads, 2 layers, d_ff 32, segments and memory of 8, 4 compressed slots at rate 2,
// no dropout.
inline ModelOptions tiny_model_options() {
  ModelOptions o;
  o.vocab_size = 32;
  o.d_model = 16;
  o.n_head = 2;
  o.n_layer = 2;
  o.d_ff = 32;
  o.seq_len = 8;
  o.mem_len = 8;
  o.cmem_len = 4;
  o.cmem_rate = 2;
  o.dropout = 0.0;
  return o;
}

// A run file for that model on the synthetic copy task: 4 steps of batch 4, a checkpoint
// every 2, validation over 2 segments, no attention buckets (a run takes about a second).
inline std::string tiny_run(const std::string& experiment) {
  return "experiment = " + experiment + "\nthreads = 1\n" + kTinyModel + R"([data]
dataset = synthetic
synthetic_tokens = 4000
[train]
batch_size = 4
max_steps = 4
log_every = 2
checkpoint_every = 2
[eval]
eval_segments = 2
buckets_sequences = 0
)";
}

// The real binary, with the plugin search path reduced to what the test passes.
inline CommandResult run_ctlab(const std::string& args) {
  return run_command("env -u CTLAB_PLUGIN_PATH '" CTLAB_TEST_BIN "' " + args);
}

// The real binary with environment assignments ("CTLAB_FAIL_WRITE=checkpoint.pt@2") for
// that command only.
inline CommandResult run_ctlab_with(const std::string& env_assignments, const std::string& args) {
  return run_command("env -u CTLAB_PLUGIN_PATH " + env_assignments + " '" CTLAB_TEST_BIN "' " + args);
}

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and released), for
// a rendezvous; 0 when no socket could be bound.
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

}  // namespace ctlab::test
