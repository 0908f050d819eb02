// Appending the positions of a spike vector's nonzero entries to a flat event
// buffer (shared by BrainsimSpikeAppend in compact.cc and the multi-step network
// kernel in lif_update.cc, so both write the same events the same way):
//
//   for i ascending with x[i] != 0:  if (pos < cap) buf[pos] = i;  ++pos
//
// Silent blocks of 64 entries are skipped with a few 64-bit loads (kMask clears
// the sign bit of floats, so -0.0 is silent, as `x != 0`).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace brainsim_native {

// Bit k of the result: x[k] != 0, for 64 consecutive entries (SSE2 compares and
// movemask where available, the baseline of x86-64; a plain loop elsewhere).
template <typename T>
inline uint64_t NonzeroMask64(const T* x) {
  uint64_t m = 0;
  for (int k = 0; k < 64; ++k) m |= static_cast<uint64_t>(x[k] != T(0)) << k;
  return m;
}

#if defined(__SSE2__)
template <>
inline uint64_t NonzeroMask64<float>(const float* x) {
  const __m128 zero = _mm_setzero_ps();
  uint64_t m = 0;
  for (int k = 0; k < 64; k += 4) {
    const int bits = _mm_movemask_ps(_mm_cmpneq_ps(_mm_loadu_ps(x + k), zero));
    m |= static_cast<uint64_t>(bits) << k;
  }
  return m;
}

template <>
inline uint64_t NonzeroMask64<double>(const double* x) {
  const __m128d zero = _mm_setzero_pd();
  uint64_t m = 0;
  for (int k = 0; k < 64; k += 2) {
    const int bits = _mm_movemask_pd(_mm_cmpneq_pd(_mm_loadu_pd(x + k), zero));
    m |= static_cast<uint64_t>(bits) << k;
  }
  return m;
}

template <>
inline uint64_t NonzeroMask64<uint8_t>(const uint8_t* x) {
  const __m128i zero = _mm_setzero_si128();
  uint64_t m = 0;
  for (int k = 0; k < 64; k += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + k));
    const int bits = ~_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)) & 0xFFFF;
    m |= static_cast<uint64_t>(bits) << k;
  }
  return m;
}
#endif

template <typename T, uint64_t kMask>
inline int64_t AppendRow(const T* __restrict x, int64_t n, int32_t* __restrict buf,
                         int64_t cap, int64_t pos) {
  constexpr int64_t kBlock = 64;
  constexpr int kWords = static_cast<int>(kBlock * sizeof(T) / 8);
  const int64_t n_full = n - n % kBlock;
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(x);
  for (int64_t b = 0; b < n_full; b += kBlock) {
    uint64_t acc = 0;
    const uint8_t* p = bytes + b * static_cast<int64_t>(sizeof(T));
    for (int k = 0; k < kWords; ++k) {
      uint64_t w;
      std::memcpy(&w, p + 8 * k, 8);
      acc |= w & kMask;
    }
    if (acc == 0) continue;
    // the spikes of this block, ascending: one trailing-zero count per spike
    for (uint64_t m = NonzeroMask64(x + b); m; m &= m - 1) {
      if (pos < cap) buf[pos] = static_cast<int32_t>(b + __builtin_ctzll(m));
      ++pos;
    }
  }
  for (int64_t i = n_full; i < n; ++i) {
    if (x[i] != T(0)) {
      if (pos < cap) buf[pos] = static_cast<int32_t>(i);
      ++pos;
    }
  }
  return pos;
}

// AppendRow for a float32 or float64 spike vector.
template <typename T>
inline int64_t AppendFloat(const T* x, int64_t n, int32_t* buf, int64_t cap, int64_t pos) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float32 or float64");
  constexpr uint64_t kMask = sizeof(T) == 4 ? 0x7FFFFFFF7FFFFFFFull : 0x7FFFFFFFFFFFFFFFull;
  return AppendRow<T, kMask>(x, n, buf, cap, pos);
}

// The end offset as the kernels return it: saturated at INT32_MAX.
inline int32_t SaturatedEnd(int64_t pos) {
  constexpr int64_t kMax = 2147483647;
  return static_cast<int32_t>(pos < kMax ? pos : kMax);
}

}  // namespace brainsim_native
