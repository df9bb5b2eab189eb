// Relative attention against a naive float64 computation of all four terms of [TXL] eq. in
// sec. 3.3, the relative shift indices, sinusoids and masks.
#include <gtest/gtest.h>

#include <cmath>

#include "model/attention.h"
#include "test_util.h"

using namespace ctlab;

TEST(RelShift, EntryHoldsDistanceMlenPlusIMinusJ) {
  for (auto [L, mlen] : {std::pair<int64_t, int64_t>{4, 0}, {4, 3}, {5, 7}, {1, 6}, {6, 2}}) {
    const int64_t klen = L + mlen;
    // x[b, h, i, k] encodes (query i, distance of column k = klen-1-k).
    auto x = torch::empty({2, 3, L, klen}, torch::kFloat64);
    for (int64_t i = 0; i < L; ++i)
      for (int64_t k = 0; k < klen; ++k) x.select(2, i).select(2, k).fill_(1000.0 * i + (klen - 1 - k));
    auto y = rel_shift(x);
    ASSERT_EQ(y.sizes(), x.sizes());
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = 0; j <= mlen + i; ++j)
        for (int64_t b = 0; b < 2; ++b)
          for (int64_t h = 0; h < 3; ++h)
            ASSERT_EQ(y[b][h][i][j].item<double>(), 1000.0 * i + (mlen + i - j))
                << "L=" << L << " mlen=" << mlen << " i=" << i << " j=" << j;
  }
}

TEST(Positions, SinusoidsClampAndLayout) {
  auto r = sinusoid_positions(6, 8, -1, torch::TensorOptions().dtype(torch::kFloat64));
  ASSERT_EQ(r.sizes(), (std::vector<int64_t>{6, 8}));
  // Row k is distance 5-k; column c < 4 is sin(d / 10000^(2c/8)), c >= 4 the cosine.
  for (int64_t k = 0; k < 6; ++k)
    for (int64_t c = 0; c < 4; ++c) {
      double d = 5 - k, f = std::pow(10000.0, -2.0 * c / 8);
      EXPECT_NEAR(r[k][c].item<double>(), std::sin(d * f), 1e-6);
      EXPECT_NEAR(r[k][c + 4].item<double>(), std::cos(d * f), 1e-6);
    }
  auto clamped = sinusoid_positions(6, 8, 2, torch::TensorOptions().dtype(torch::kFloat64));
  EXPECT_TRUE(test::tensors_close(clamped[0], r[3]));  // distance 5 clamped to 2
  EXPECT_TRUE(test::tensors_close(clamped[5], r[5]));
}

TEST(Masks, CausalWithMemoryAndSameLength) {
  auto m = causal_memory_mask(3, 4, 0, torch::kCPU);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 7; ++j) EXPECT_EQ(m[i][j].item<bool>(), j > 4 + i) << i << "," << j;
  auto s = causal_memory_mask(3, 4, 4, torch::kCPU);
  for (int64_t i = 0; i < 3; ++i) {
    int visible = 0;
    for (int64_t j = 0; j < 7; ++j) {
      bool hidden = j > 4 + i || j <= 4 + i - 4;
      EXPECT_EQ(s[i][j].item<bool>(), hidden) << i << "," << j;
      visible += !hidden;
    }
    EXPECT_EQ(visible, 4);  // every query sees exactly M keys
  }
}

namespace {

// Naive O(L * klen) attention: for every query i and key j, the four terms
// (a) q_i.k_j  (b) q_i.r_{i-j}  (c) u.k_j  (d) v.r_{i-j}, in float64 loops.
torch::Tensor naive_attention(RelMultiHeadAttnImpl& a, const torch::Tensor& h, const torch::Tensor& kv,
                              int64_t clamp_len, int64_t window) {
  const int64_t L = h.size(0), B = h.size(1), D = h.size(2), klen = kv.size(0), mlen = klen - L;
  const int64_t H = a.options().n_head(), Dh = D / H;
  auto Wq = a.q_net->weight, Wkv = a.kv_net->weight, Wr = a.r_net->weight, Wo = a.o_net->weight;
  auto Wk = Wkv.narrow(0, 0, H * Dh), Wv = Wkv.narrow(0, H * Dh, H * Dh);
  auto out = torch::zeros({L, B, H * Dh}, torch::kFloat64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t hd = 0; hd < H; ++hd) {
      auto sl = [&](const torch::Tensor& W) { return W.narrow(0, hd * Dh, Dh); };
      auto u = a.r_w_bias[hd], v = a.r_r_bias[hd];
      for (int64_t i = 0; i < L; ++i) {
        auto q = torch::mv(sl(Wq), h[i][b]);
        std::vector<double> score(klen, -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < klen; ++j) {
          bool hidden = j > mlen + i || (window > 0 && j <= mlen + i - window);
          if (hidden) continue;
          auto k = torch::mv(sl(Wk), kv[j][b]);
          double dist = static_cast<double>(mlen + i - j);
          if (clamp_len >= 0) dist = std::min(dist, static_cast<double>(clamp_len));
          auto R = torch::empty({D}, torch::kFloat64);
          for (int64_t c = 0; c < D / 2; ++c) {
            double f = std::pow(10000.0, -2.0 * c / D);
            R[c] = std::sin(dist * f);
            R[c + D / 2] = std::cos(dist * f);
          }
          auto r = torch::mv(sl(Wr), R);
          double s = q.dot(k).item<double>() + q.dot(r).item<double>() + u.dot(k).item<double>() +
                     v.dot(r).item<double>();
          score[j] = s / std::sqrt(static_cast<double>(Dh));
          mx = std::max(mx, score[j]);
        }
        double z = 0;
        for (auto& s : score) z += std::isinf(s) ? 0 : std::exp(s - mx);
        auto acc = torch::zeros({Dh}, torch::kFloat64);
        for (int64_t j = 0; j < klen; ++j)
          if (!std::isinf(score[j])) acc += std::exp(score[j] - mx) / z * torch::mv(sl(Wv), kv[j][b]);
        out[i][b].narrow(0, hd * Dh, Dh).copy_(acc);
      }
    }
  return torch::matmul(out, Wo.t());
}

}  // namespace

TEST(RelAttention, MatchesNaiveFourTermComputation) {
  struct Case {
    int64_t L, mlen, B, H, D, clamp, window;
  };
  for (auto c : {Case{5, 0, 2, 2, 8, -1, 0}, Case{4, 6, 1, 2, 8, -1, 0}, Case{3, 9, 2, 4, 16, -1, 0},
                 Case{6, 8, 2, 2, 12, 3, 0}, Case{4, 8, 1, 1, 8, -1, 8}}) {
    torch::manual_seed(c.L * 100 + c.mlen);
    RelMultiHeadAttn attn(RelAttentionOptions(c.D, c.H).init_std(0.3));
    attn->to(torch::kFloat64);
    attn->eval();
    {
      torch::NoGradGuard g;
      attn->r_w_bias.normal_(0, 0.5);
      attn->r_r_bias.normal_(0, 0.5);
    }
    auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    auto h = torch::randn({c.L, c.B, c.D}, opts);
    auto mem = torch::randn({c.mlen, c.B, c.D}, opts);
    auto kv = torch::cat({mem, h}, 0);
    const int64_t klen = c.mlen + c.L;
    auto r = sinusoid_positions(klen, c.D, c.clamp, opts);
    auto mask = causal_memory_mask(c.L, c.mlen, c.window, torch::kCPU);
    torch::NoGradGuard g;
    auto fast = attn->forward(h, mem, r, {}, {}, mask);
    auto slow = naive_attention(*attn, h, kv, c.clamp, c.window);
    EXPECT_TRUE(test::tensors_close(fast, slow, 1e-6, 1e-9))
        << "L=" << c.L << " mlen=" << c.mlen << " B=" << c.B << " H=" << c.H << " D=" << c.D;
  }
}

TEST(RelAttention, ReturnsProbabilitiesOnRequestThatSumToOne) {
  torch::manual_seed(0);
  RelMultiHeadAttn attn(RelAttentionOptions(16, 2));
  auto h = torch::randn({4, 3, 16});
  auto mem = torch::randn({5, 3, 16});
  auto r = sinusoid_positions(9, 16, -1, h.options());
  auto mask = causal_memory_mask(4, 5, 0, torch::kCPU);
  torch::Tensor probs;
  attn->forward(h, mem, r, {}, {}, mask, &probs);
  ASSERT_EQ(probs.sizes(), (std::vector<int64_t>{3, 2, 4, 9}));
  EXPECT_EQ(probs.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(test::tensors_close(probs.sum(-1), torch::ones({3, 2, 4}), 1e-5, 1e-6));
  EXPECT_EQ(probs.masked_select(mask).abs().max().item<float>(), 0.0f);
}

// The keys' memory rows get their own product (attention.cpp): the gradients of the
// segment, of memory that requires grad (pre-LN, bptt) and of W_kv must be those of one
// product over concat(memory, segment); detached memory gets none and changes no other.
TEST(RelAttention, GradientsThroughMemoryRowsMatchOneProductOverTheKeys) {
  torch::manual_seed(5);
  RelMultiHeadAttn attn(RelAttentionOptions(16, 2).init_std(0.3));
  attn->to(torch::kFloat64);
  attn->eval();
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t L = 4, mlen = 6, B = 2;
  auto h0 = torch::randn({L, B, 16}, opts), m0 = torch::randn({mlen, B, 16}, opts);
  auto r = sinusoid_positions(mlen + L, 16, -1, opts);
  auto mask = causal_memory_mask(L, mlen, 0, torch::kCPU);
  auto g = torch::randn({L, B, 16}, opts);
  auto grads = [&](bool mem_grad) {
    auto h = h0.clone().requires_grad_(true), m = m0.clone().requires_grad_(mem_grad);
    attn->zero_grad();
    (attn->forward(h, m, r, {}, {}, mask) * g).sum().backward();
    return std::vector<torch::Tensor>{h.grad(), mem_grad ? m.grad() : torch::Tensor(),
                                      attn->kv_net->weight.grad().clone(),
                                      attn->q_net->weight.grad().clone()};
  };
  // Reference: the same attention written with one key product over concat(m, h).
  auto reference = [&] {
    auto h = h0.clone().requires_grad_(true), m = m0.clone().requires_grad_(true);
    auto kv = torch::cat({m, h}, 0);
    auto wkv = attn->kv_net->weight.detach().clone().requires_grad_(true);
    const int64_t klen = mlen + L, H = 2, Dh = 8;
    auto q = torch::matmul(h, attn->q_net->weight.detach().t()).view({L, B, H, Dh});
    auto k = torch::matmul(kv, wkv.narrow(0, 0, 16).t()).view({klen, B, H, Dh});
    auto v = torch::matmul(kv, wkv.narrow(0, 16, 16).t()).view({klen, B, H, Dh});
    auto rk = torch::matmul(r, attn->r_net->weight.detach().t()).view({klen, H, Dh});
    auto ac = torch::einsum("ibnd,jbnd->bnij", {q + attn->r_w_bias.detach(), k});
    auto bd = rel_shift(torch::einsum("ibnd,jnd->bnij", {q + attn->r_r_bias.detach(), rk}));
    auto p = torch::softmax(((ac + bd) / std::sqrt(8.0)).masked_fill(mask, -INFINITY), -1);
    auto o = torch::einsum("bnij,jbnd->ibnd", {p, v}).reshape({L, B, 16});
    (torch::matmul(o, attn->o_net->weight.detach().t()) * g).sum().backward();
    return std::vector<torch::Tensor>{h.grad(), m.grad(), wkv.grad()};
  };
  auto with = grads(true), without = grads(false), ref = reference();
  EXPECT_TRUE(test::tensors_close(with[0], ref[0], 1e-9, 1e-12));
  EXPECT_TRUE(test::tensors_close(with[1], ref[1], 1e-9, 1e-12));
  EXPECT_TRUE(test::tensors_close(with[2], ref[2], 1e-9, 1e-12));
  for (size_t i : {size_t{0}, size_t{2}, size_t{3}})
    EXPECT_TRUE(test::tensors_close(without[i], with[i], 1e-12, 1e-14)) << "gradient " << i;
}
