// CPU kernels for the attention core and dropout (see kernels.h). On x86-64 the float
// versions are compiled three times (AVX-512, AVX2+FMA, baseline) and the first call picks
// the best one the CPU supports, so one portable binary uses the wide vector units; loops
// are written so the compiler vectorises them (omp simd reductions, branch-free selects,
// a polynomial exp).
#include "model/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#define CTLAB_X86_VARIANTS 1
#define CTLAB_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512dq,avx512vl")))
#define CTLAB_AVX2 __attribute__((target("avx2,fma")))
#endif
#define CTLAB_INLINE inline __attribute__((always_inline))

namespace ctlab::kernels {
namespace {

CTLAB_INLINE uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

CTLAB_INLINE bool keep(uint32_t idx, const DropMask& d) {
  return mix32(mix32(idx ^ d.k1) + d.k2) >= d.threshold;
}

CTLAB_INLINE float exp_t(float x) {
  // exp(x) = 2^n exp(r), n = round(x log2 e), r = x - n ln 2 split in two constants.
  float xc = x > 88.37f ? 88.37f : x;
  xc = xc < -87.33f ? -87.33f : xc;
  float fx = xc * 1.44269504088896341f;
  fx = (fx + 12582912.0f) - 12582912.0f;  // round to nearest (1.5 * 2^23)
  float r = xc - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(fx) + 127) << 23;
  float pow2;
  std::memcpy(&pow2, &bits, sizeof pow2);
  const float res = y * pow2;
  return x < -87.33f ? 0.0f : res;
}
CTLAB_INLINE double exp_t(double x) { return std::exp(x); }

// Storage S and compute type: float and double compute in themselves, bfloat16 in float.
// bfloat16 is rounded to nearest even (NaN to 0x7FC0), as LibTorch rounds it.
CTLAB_INLINE float to_c(float x) { return x; }
CTLAB_INLINE double to_c(double x) { return x; }
CTLAB_INLINE float to_c(Bf16 x) {
  const uint32_t u = static_cast<uint32_t>(x.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
template <typename S, typename T>
CTLAB_INLINE S from_c(T x) {
  if constexpr (std::is_same_v<S, Bf16>) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    const uint16_t rounded = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    return Bf16{x != x ? static_cast<uint16_t>(0x7fc0) : rounded};
  } else {
    return x;
  }
}

// Row i of the relative shift of one [L, K] slice x (rows `ld` apart): out[j] =
// padded_flat[L + i*K + j] where padded is x with a zero column prepended ([L, K+1]).
template <typename S, typename T>
CTLAB_INLINE void shifted_row(const S* x, int64_t ld, int64_t L, int64_t K, int64_t i, T* out) {
  const int64_t P = L + i * K;
  int64_t r = P / (K + 1), c = P % (K + 1), j = 0;
  while (j < K) {
    if (c == 0) {
      out[j++] = T(0);
      c = 1;
      continue;
    }
    const int64_t run = std::min(K - j, K + 1 - c);
    const S* src = x + r * ld + c - 1;
    if constexpr (std::is_same_v<S, T>) {
      std::memcpy(out + j, src, static_cast<size_t>(run) * sizeof(T));
    } else {
#pragma omp simd
      for (int64_t k = 0; k < run; ++k) out[j + k] = to_c(src[k]);
    }
    j += run;
    ++r;
    c = 0;
  }
}

template <typename S, typename T>
CTLAB_INLINE void probs_forward_rows(const S* ac, const S* bd, const SliceLayout& bl, const uint8_t* mask,
                                     int64_t L, int64_t K, T scale, const DropMask& drop, T* probs, S* out,
                                     int64_t n0, int64_t n1) {
  const T neg_inf = -std::numeric_limits<T>::infinity();
  const T dscale = static_cast<T>(drop.scale);
  for (int64_t n = n0; n < n1; ++n) {
    const S* x = bd + bl.offset(n);
    for (int64_t i = 0; i < L; ++i) {
      const int64_t row = (n * L + i) * K;
      const S* a = ac + row;
      const uint8_t* m = mask + i * K;
      T* p = probs + row;
      shifted_row(x, bl.stride_row, L, K, i, p);  // the probs row is the scratch buffer
      T mx = neg_inf;
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < K; ++j) {
        const T v = m[j] ? neg_inf : (to_c(a[j]) + p[j]) * scale;
        p[j] = v;
        mx = v > mx ? v : mx;
      }
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < K; ++j) {
        const T e = exp_t(p[j] - mx);
        p[j] = e;
        sum += e;
      }
      const T inv = T(1) / sum;
      if (out && drop.active()) {
        S* o = out + row;
        const uint32_t base = static_cast<uint32_t>(row);
#pragma omp simd
        for (int64_t j = 0; j < K; ++j) {
          const T q = p[j] * inv;
          p[j] = q;
          o[j] = from_c<S>(keep(base + static_cast<uint32_t>(j), drop) ? q * dscale : T(0));
        }
      } else if (out) {
        S* o = out + row;
#pragma omp simd
        for (int64_t j = 0; j < K; ++j) {
          p[j] *= inv;
          o[j] = from_c<S>(p[j]);
        }
      } else {
#pragma omp simd
        for (int64_t j = 0; j < K; ++j) p[j] *= inv;
      }
    }
  }
}

// `scratch` holds one row in the compute type (unused when S is T: grad_ac's row is it).
template <typename S, typename T>
CTLAB_INLINE void probs_backward_rows(const S* grad_out, const T* probs, int64_t L, int64_t K, T scale,
                                      const DropMask& drop, S* grad_ac, S* grad_bd, const SliceLayout& bl,
                                      int64_t n0, int64_t n1, T* scratch) {
  const T dscale = static_cast<T>(drop.scale);
  for (int64_t n = n0; n < n1; ++n) {
    for (int64_t i = 0; i < L; ++i) {
      const int64_t row = (n * L + i) * K;
      const S* go = grad_out + row;
      const T* p = probs + row;
      T* ga;
      if constexpr (std::is_same_v<S, T>)
        ga = grad_ac + row;
      else
        ga = scratch;
      T dot = 0;
      if (drop.active()) {
        const uint32_t base = static_cast<uint32_t>(row);
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < K; ++j) {
          const T g = keep(base + static_cast<uint32_t>(j), drop) ? to_c(go[j]) * dscale : T(0);
          ga[j] = g;
          dot += p[j] * g;
        }
#pragma omp simd
        for (int64_t j = 0; j < K; ++j) ga[j] = p[j] * (ga[j] - dot) * scale;
      } else {
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < K; ++j) dot += p[j] * to_c(go[j]);
#pragma omp simd
        for (int64_t j = 0; j < K; ++j) ga[j] = p[j] * (to_c(go[j]) - dot) * scale;
      }
      if constexpr (!std::is_same_v<S, T>) {
        S* dst = grad_ac + row;
#pragma omp simd
        for (int64_t j = 0; j < K; ++j) dst[j] = from_c<S>(ga[j]);
      }
    }
    // Inverse shift: bd[r, c] was read by output flat index r*(K+1) + c + 1 - L (if in range).
    const S* gs = grad_ac + n * L * K;
    S* gb = grad_bd + bl.offset(n);
    for (int64_t r = 0; r < L; ++r) {
      const int64_t base = r * (K + 1) + 1 - L;
      const int64_t lo = std::clamp<int64_t>(-base, 0, K), hi = std::clamp<int64_t>(L * K - base, lo, K);
      S* dst = gb + r * bl.stride_row;
      std::fill(dst, dst + lo, S{});
      std::memcpy(dst + lo, gs + base + lo, static_cast<size_t>(hi - lo) * sizeof(S));
      std::fill(dst + hi, dst + K, S{});
    }
  }
}

template <typename S, typename T = decltype(to_c(S{}))>
CTLAB_INLINE void dropout_forward_range(const S* x, bool relu, const DropMask& drop, S* out, int64_t i0,
                                        int64_t i1) {
  const T dscale = static_cast<T>(drop.scale);
  if (!drop.active()) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) out[i] = relu ? (to_c(x[i]) > T(0) ? x[i] : S{}) : x[i];
    return;
  }
  if (relu) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i)
      out[i] =
          from_c<S>((keep(static_cast<uint32_t>(i), drop) && to_c(x[i]) > T(0)) ? to_c(x[i]) * dscale : T(0));
  } else {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i)
      out[i] = from_c<S>(keep(static_cast<uint32_t>(i), drop) ? to_c(x[i]) * dscale : T(0));
  }
}

template <typename S, typename T = decltype(to_c(S{}))>
CTLAB_INLINE void dropout_backward_range(const S* grad, const S* saved_out, bool relu, const DropMask& drop,
                                         S* grad_in, int64_t i0, int64_t i1) {
  const T dscale = static_cast<T>(drop.scale);
  if (relu) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i)
      grad_in[i] = from_c<S>(to_c(saved_out[i]) > T(0) ? to_c(grad[i]) * dscale : T(0));
  } else {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i)
      grad_in[i] = from_c<S>(keep(static_cast<uint32_t>(i), drop) ? to_c(grad[i]) * dscale : T(0));
  }
}

// One entry point per float kernel, dispatched on the instruction sets the CPU supports.
#ifdef CTLAB_X86_VARIANTS
enum class Isa { avx512, avx2, base };
Isa isa() {
  static const Isa v = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
      return Isa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
    return Isa::base;
  }();
  return v;
}

// `head` is `template <typename S>` for kernels instantiated per storage type (float and
// Bf16; the dispatcher deduces S from its arguments), or empty.
#define CTLAB_DISPATCHED(head, ret, name, params, body)                                                \
  head CTLAB_AVX512 ret name##_avx512 params body head CTLAB_AVX2 ret name##_avx2 params body head ret \
      name##_base params body template <typename... A>                                                 \
      ret name(A... a) {                                                                               \
    switch (isa()) {                                                                                   \
      case Isa::avx512:                                                                                \
        return name##_avx512(a...);                                                                    \
      case Isa::avx2:                                                                                  \
        return name##_avx2(a...);                                                                      \
      default:                                                                                         \
        return name##_base(a...);                                                                      \
    }                                                                                                  \
  }
#else
#define CTLAB_DISPATCHED(head, ret, name, params, body) head ret name params body
#endif

#define CTLAB_PER_STORAGE template <typename S>
// Float computation on float or Bf16 storage (double goes straight to the loops).
CTLAB_DISPATCHED(CTLAB_PER_STORAGE, void, fwd,
                 (const S* ac, const S* bd, const SliceLayout* bl, const uint8_t* mask, int64_t L, int64_t K,
                  float scale, const DropMask& drop, float* probs, S* out, int64_t n0, int64_t n1),
                 { probs_forward_rows(ac, bd, *bl, mask, L, K, scale, drop, probs, out, n0, n1); })
CTLAB_DISPATCHED(CTLAB_PER_STORAGE, void, bwd,
                 (const S* go, const float* probs, int64_t L, int64_t K, float scale, const DropMask& drop,
                  S* ga, S* gb, const SliceLayout* bl, int64_t n0, int64_t n1, float* scratch),
                 { probs_backward_rows(go, probs, L, K, scale, drop, ga, gb, *bl, n0, n1, scratch); })
CTLAB_DISPATCHED(CTLAB_PER_STORAGE, void, dfwd,
                 (const S* x, bool relu, const DropMask& drop, S* out, int64_t i0, int64_t i1),
                 { dropout_forward_range(x, relu, drop, out, i0, i1); })
CTLAB_DISPATCHED(CTLAB_PER_STORAGE, void, dbwd,
                 (const S* g, const S* saved, bool relu, const DropMask& drop, S* gi, int64_t i0, int64_t i1),
                 { dropout_backward_range(g, saved, relu, drop, gi, i0, i1); })
CTLAB_DISPATCHED(, float, exp_f32, (float x), { return exp_t(x); })
#undef CTLAB_PER_STORAGE

}  // namespace

DropMask DropMask::make(double p, uint64_t seed) {
  DropMask d;
  const double t = std::round(p * 4294967296.0);
  d.threshold = t <= 0 ? 0u : (t >= 4294967295.0 ? 0xffffffffu : static_cast<uint32_t>(t));
  d.scale = d.threshold == 0 ? 1.0 : 1.0 / (1.0 - p);
  d.k1 = mix32(static_cast<uint32_t>(seed) ^ 0x9e3779b9u);
  d.k2 = mix32(static_cast<uint32_t>(seed >> 32) + 0x85ebca6bu);
  return d;
}

float exp_approx(float x) { return exp_f32(x); }

const char* isa_name() {
#ifdef CTLAB_X86_VARIANTS
  switch (isa()) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    default:
      return "baseline";
  }
#else
  return "baseline";
#endif
}

// float and Bf16 go through the per-instruction-set entry points, double straight to the loops.
template <typename T>
void attention_probs_forward(const T* ac, const T* bd, const SliceLayout& bl, const uint8_t* mask, int64_t L,
                             int64_t K, T scale, const DropMask& drop, T* probs, T* out, int64_t n0,
                             int64_t n1) {
  if constexpr (std::is_same_v<T, float>)
    fwd(ac, bd, &bl, mask, L, K, scale, drop, probs, out, n0, n1);
  else
    probs_forward_rows(ac, bd, bl, mask, L, K, scale, drop, probs, out, n0, n1);
}

template <typename T>
void attention_probs_backward(const T* grad_out, const T* probs, int64_t L, int64_t K, T scale,
                              const DropMask& drop, T* grad_ac, T* grad_bd, const SliceLayout& bl, int64_t n0,
                              int64_t n1) {
  if constexpr (std::is_same_v<T, float>)
    bwd(grad_out, probs, L, K, scale, drop, grad_ac, grad_bd, &bl, n0, n1, static_cast<float*>(nullptr));
  else
    probs_backward_rows(grad_out, probs, L, K, scale, drop, grad_ac, grad_bd, bl, n0, n1,
                        static_cast<T*>(nullptr));
}

void attention_probs_forward_bf16(const Bf16* ac, const Bf16* bd, const SliceLayout& bl, const uint8_t* mask,
                                  int64_t L, int64_t K, float scale, const DropMask& drop, float* probs,
                                  Bf16* out, int64_t n0, int64_t n1) {
  fwd(ac, bd, &bl, mask, L, K, scale, drop, probs, out, n0, n1);
}

void attention_probs_backward_bf16(const Bf16* grad_out, const float* probs, int64_t L, int64_t K,
                                   float scale, const DropMask& drop, Bf16* grad_ac, Bf16* grad_bd,
                                   const SliceLayout& bl, int64_t n0, int64_t n1) {
  std::vector<float> scratch(static_cast<size_t>(K));
  bwd(grad_out, probs, L, K, scale, drop, grad_ac, grad_bd, &bl, n0, n1, scratch.data());
}

template <typename T>
void dropout_forward(const T* x, bool relu, const DropMask& drop, T* out, int64_t i0, int64_t i1) {
  if constexpr (std::is_same_v<T, double>)
    dropout_forward_range(x, relu, drop, out, i0, i1);
  else
    dfwd(x, relu, drop, out, i0, i1);
}

template <typename T>
void dropout_backward(const T* grad, const T* saved_out, bool relu, const DropMask& drop, T* grad_in,
                      int64_t i0, int64_t i1) {
  if constexpr (std::is_same_v<T, double>)
    dropout_backward_range(grad, saved_out, relu, drop, grad_in, i0, i1);
  else
    dbwd(grad, saved_out, relu, drop, grad_in, i0, i1);
}

#define CTLAB_INSTANTIATE(T)                                                                                \
  template void attention_probs_forward<T>(const T*, const T*, const SliceLayout&, const uint8_t*, int64_t, \
                                           int64_t, T, const DropMask&, T*, T*, int64_t, int64_t);          \
  template void attention_probs_backward<T>(const T*, const T*, int64_t, int64_t, T, const DropMask&, T*,   \
                                            T*, const SliceLayout&, int64_t, int64_t);                      \
  template void dropout_forward<T>(const T*, bool, const DropMask&, T*, int64_t, int64_t);                  \
  template void dropout_backward<T>(const T*, const T*, bool, const DropMask&, T*, int64_t, int64_t);
CTLAB_INSTANTIATE(float)
CTLAB_INSTANTIATE(double)
#undef CTLAB_INSTANTIATE
template void dropout_forward<Bf16>(const Bf16*, bool, const DropMask&, Bf16*, int64_t, int64_t);
template void dropout_backward<Bf16>(const Bf16*, const Bf16*, bool, const DropMask&, Bf16*, int64_t,
                                     int64_t);

}  // namespace ctlab::kernels
