// GPU: ctlab's collectives on NCCL. One rank with a process group of its own, two ranks as
// two threads of this process on two devices, and `ctlab train --nproc 2 --backend nccl`
// against one process. Each skips itself (with the reason) without CUDA, without NCCL in
// this build, or with fewer than two devices where it needs two.
#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <thread>

#include "cuda_test_util.h"
#include "runtime/distributed.h"

using namespace ctlab;
using ctlab::test::near;
using ctlab::test::run_ctlab;
using ctlab::test::TempDir;

#define SKIP_WITHOUT_NCCL()                                                                       \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "NCCL needs a CUDA device; none is visible";  \
  if (!backend_available(DistBackend::Nccl))                                                      \
  GTEST_SKIP() << "NCCL is not available in this build (backend_available(DistBackend::Nccl) is " \
                  "false: LibTorch without CUDA/NCCL)"

#define SKIP_WITHOUT_TWO_DEVICES()     \
  SKIP_WITHOUT_NCCL();                 \
  if (torch::cuda::device_count() < 2) \
  GTEST_SKIP() << "needs 2 CUDA devices, this machine has " << static_cast<int>(torch::cuda::device_count())

namespace {

LaunchInfo launch(int rank, int world_size, int port) {
  LaunchInfo info;
  info.rank = rank;
  info.world_size = world_size;
  info.local_rank = rank;
  info.local_world_size = world_size;
  info.master_addr = "127.0.0.1";
  info.master_port = port;
  info.source = "test";
  return info;
}

torch::Tensor host(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64); }

}  // namespace

// One rank with a process group (group_for_one): every collective runs through NCCL and
// gives back its input (the sum over one rank, rank 0's values, the one rank's tensor), for
// tensors on the device and on the host (staged through the device). Exact: nothing is
// summed with anything else.
TEST(NcclOnCuda, OneRankCollectivesGiveBackTheirInputs) {
  SKIP_WITHOUT_NCCL();
  const int port = test::free_port();
  ASSERT_GT(port, 0);
  const torch::Device dev(torch::kCUDA, 0);
  std::unique_ptr<Comm> comm;
  try {
    comm = Comm::connect(launch(0, 1, port), DistBackend::Nccl, dev, std::chrono::seconds(60),
                         /*group_for_one=*/true);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  EXPECT_EQ(comm->backend(), "nccl");
  EXPECT_TRUE(comm->distributed());
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->rank(), 0);

  const auto values = torch::arange(1, 7, torch::kFloat32).view({2, 3});
  auto on_device = values.to(dev);
  comm->all_reduce_sum(on_device);
  EXPECT_TRUE(on_device.is_cuda());
  EXPECT_TRUE(test::tensors_close(on_device, values, 0, 0)) << "all_reduce_sum of a device tensor";
  auto on_host = torch::tensor({0.25, -3.0, 1e10}, torch::kFloat64);
  const auto host_copy = on_host.clone();
  comm->all_reduce_sum(on_host);
  EXPECT_TRUE(on_host.is_cpu());
  EXPECT_TRUE(test::tensors_close(on_host, host_copy, 0, 0)) << "all_reduce_sum of a host tensor";

  auto b = values.to(dev) * 2;
  comm->broadcast(b, 0);
  EXPECT_TRUE(test::tensors_close(b, values * 2, 0, 0)) << "broadcast";

  const auto parts = comm->all_gather(values.to(dev));
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_TRUE(parts[0].is_cuda());
  EXPECT_TRUE(test::tensors_close(parts[0], values, 0, 0)) << "all_gather";
  const auto host_parts = comm->all_gather(torch::full({2}, 7L, torch::kLong));
  ASSERT_EQ(host_parts.size(), 1u);
  EXPECT_TRUE(host_parts[0].is_cpu()) << "gathered tensors come back where the input was";
  EXPECT_TRUE(test::tensors_close(host_parts[0], torch::full({2}, 7L, torch::kLong), 0, 0));

  EXPECT_TRUE(comm->any(true));
  EXPECT_FALSE(comm->any(false));
  EXPECT_NO_THROW(comm->barrier());
  EXPECT_EQ(comm->peer_failures(), "");
}

// Two ranks as two threads of this process, rank r on cuda:r (world size 2, one rendezvous).
// Each sums [r+1, 10(r+1)] (device) and [r+1] (host), gathers, receives rank 1's broadcast
// and asks any() with only rank 1 saying yes. Exact: small integers in float.
TEST(NcclOnCuda, TwoRanksInTwoThreadsSumGatherAndBroadcast) {
  SKIP_WITHOUT_TWO_DEVICES();
  const int port = test::free_port();
  ASSERT_GT(port, 0);
  struct Seen {
    std::string error;
    torch::Tensor sum_device, sum_host, broadcast;
    std::vector<torch::Tensor> gathered;
    bool any_one = false, any_none = true;
  };
  Seen seen[2];
  auto rank_main = [&](int r) {
    auto& s = seen[r];
    try {
      const torch::Device dev(torch::kCUDA, static_cast<c10::DeviceIndex>(r));
      auto comm = Comm::connect(launch(r, 2, port), DistBackend::Nccl, dev, std::chrono::seconds(30));
      auto d = torch::tensor({1.0f, 10.0f}).mul(r + 1).to(dev);
      comm->all_reduce_sum(d);
      s.sum_device = host(d);
      auto h = torch::full({1}, static_cast<double>(r + 1), torch::kFloat64);
      comm->all_reduce_sum(h);
      s.sum_host = host(h);
      for (const auto& t : comm->all_gather(torch::full({3}, static_cast<float>(r + 1)).to(dev)))
        s.gathered.push_back(host(t));
      auto b = torch::full({2}, static_cast<float>(100 * (r + 1))).to(dev);
      comm->broadcast(b, /*root=*/1);
      s.broadcast = host(b);
      s.any_one = comm->any(r == 1);
      s.any_none = comm->any(false);
      comm->barrier();
    } catch (const std::exception& e) {
      s.error = e.what();
    }
  };
  std::thread t0(rank_main, 0), t1(rank_main, 1);
  t0.join();
  t1.join();
  for (int r = 0; r < 2; ++r) {
    const auto& s = seen[r];
    ASSERT_EQ(s.error, "") << "rank " << r;
    EXPECT_TRUE(test::tensors_close(s.sum_device, torch::tensor({3.0, 30.0}, torch::kFloat64), 0, 0))
        << "rank " << r;
    EXPECT_TRUE(test::tensors_close(s.sum_host, torch::full({1}, 3.0, torch::kFloat64), 0, 0))
        << "rank " << r;
    ASSERT_EQ(s.gathered.size(), 2u) << "rank " << r;
    for (int q = 0; q < 2; ++q)
      EXPECT_TRUE(test::tensors_close(s.gathered[q], torch::full({3}, q + 1.0, torch::kFloat64), 0, 0))
          << "rank " << r << " gathered from rank " << q;
    EXPECT_TRUE(test::tensors_close(s.broadcast, torch::full({2}, 200.0, torch::kFloat64), 0, 0))
        << "rank " << r;
    EXPECT_TRUE(s.any_one) << "rank " << r;
    EXPECT_FALSE(s.any_none) << "rank " << r;
  }
}

// `ctlab train --nproc 2 --backend nccl` (one device per rank) against one process on
// cuda:0, the same run: batch 8 split 4 + 4, conv1d trained by attention reconstruction, 6
// steps. Tolerance 1e-4 on every logged loss, grad norm and validation value: NCCL sums the
// halves' gradients in another order than one backward pass over the batch, and CUDA
// kernels round differently from the CPU's (the Gloo tests on the CPU hold 1e-5).
TEST(NcclOnCuda, TwoRankRunMatchesOneProcess) {
  SKIP_WITHOUT_TWO_DEVICES();
  CTLAB_SKIP_WITHOUT_HDF5();
  TempDir dir;
  const auto ini = dir.file(
      "run.ini",
      "experiment = nccl\nthreads = 1\n[model]\nn_layer = 2\nd_model = 32\nn_head = 2\nd_ff = 64\nseq_len = "
      "8\n"
      "mem_len = 8\ncmem_len = 4\ncmem_rate = 2\ndropout = 0\ncompression = conv1d\n"
      "compression_loss = attention_reconstruction\n[data]\ndataset = synthetic\nsynthetic_tokens = 8000\n"
      "[train]\nbatch_size = 8\nmax_steps = 6\nlog_every = 1\ncheckpoint_every = 3\n[eval]\neval_segments = "
      "4\n"
      "eval_batch_size = 4\nbuckets_sequences = 4\n");
  const std::string one = dir.path() + "/one", two = dir.path() + "/two";
  auto a = run_ctlab("train " + ini + " --results " + one + " --set device=cuda:0");
  ASSERT_EQ(a.exit_code, 0) << a.output;
  auto b = run_ctlab("train " + ini + " --results " + two + " --set device=cuda --nproc 2 --backend nccl");
  ASSERT_EQ(b.exit_code, 0) << b.output;
  const auto id = test::only_run_id(one);
  ASSERT_EQ(test::only_run_id(two), id) << "the world size is not part of the run";
  RunStore store(two + "/ctlab.sqlite");
  EXPECT_EQ(store.params(id)["dist.backend"], "nccl");
  EXPECT_EQ(store.params(id)["dist.world_size"], "2");
  for (const std::string key : {"train/loss", "train/grad_norm", "train/compression_loss", "valid/loss"}) {
    const auto x = test::metric_rows(one, id, key), y = test::metric_rows(two, id, key);
    ASSERT_FALSE(x.empty()) << key;
    ASSERT_EQ(x.size(), y.size()) << key;
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(x[i].step, y[i].step) << key;
      EXPECT_TRUE(near(y[i].value, x[i].value, 1e-4, 1e-4))
          << key << " at step " << x[i].step << ": 2 ranks " << y[i].value << ", one process " << x[i].value;
    }
  }
}
