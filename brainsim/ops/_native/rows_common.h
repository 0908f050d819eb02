// brainsim native CPU kernels: the building blocks shared by the sparse-rows
// products (rows_matmul.cc) and the LIF time scans (lif_scan.cc): 32-byte
// vector helpers, gathered sums of packed column blocks, the thread split.

#ifndef BRAINSIM_ROWS_COMMON_H_
#define BRAINSIM_ROWS_COMMON_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "event_common.h"
#include "xla/ffi/api/ffi.h"

// The vector helpers below always inline: no 32-byte vector crosses a call.
#pragma GCC diagnostic ignored "-Wpsabi"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(BRAINSIM_NO_CLONES)
#define BRAINSIM_CLONES \
  __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define BRAINSIM_CLONES
#endif
#define BRAINSIM_INLINE inline __attribute__((always_inline))

namespace brainsim_rows {

namespace ffi = xla::ffi;

// 32-byte vectors (GCC/Clang vector extensions): one AVX2 register in the
// x86-64-v3 clone, two SSE2 registers on the baseline ISA.
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  typedef float type __attribute__((vector_size(32)));
};
template <>
struct Vec<double> {
  typedef double type __attribute__((vector_size(32)));
};

// A column block is kNV vectors: 64 floats / 32 doubles, whose accumulators
// stay in registers while the nonzeros of one row (or column) stream by.
constexpr int kNV = 8;
template <typename T>
constexpr int64_t kBlock = kNV * static_cast<int64_t>(32 / sizeof(T));

template <typename T>
BRAINSIM_INLINE typename Vec<T>::type Load(const T* p) {
  typename Vec<T>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <typename T>
BRAINSIM_INLINE void Store(T* p, typename Vec<T>::type v) {
  std::memcpy(p, &v, sizeof(v));
}

// dst[0:kBlock] = (add ? dst : 0) + sum_{q<n} val[q] * src[idx[q]*stride + 0:kBlock]
// (one load/store of dst per call, the sum in registers).
template <typename T, int NV = kNV>
BRAINSIM_INLINE void GatherSum(T* __restrict dst, bool add, const T* __restrict src,
                               int64_t stride, const int32_t* __restrict idx,
                               const T* __restrict val, int64_t n) {
  // Named accumulators (an array would live on the stack); NV = 8 or 4
  // vectors (4: narrow partial blocks, e.g. a 20-column readout).
  using V = typename Vec<T>::type;
  constexpr int64_t L = 32 / sizeof(T);
  static_assert(NV == 8 || NV == 4, "GatherSum sums 8 or 4 vectors");
  V a0{}, a1{}, a2{}, a3{}, a4{}, a5{}, a6{}, a7{};
  if (add) {
    a0 = Load(dst), a1 = Load(dst + L), a2 = Load(dst + 2 * L);
    a3 = Load(dst + 3 * L);
    if constexpr (NV == 8) {
      a4 = Load(dst + 4 * L), a5 = Load(dst + 5 * L);
      a6 = Load(dst + 6 * L), a7 = Load(dst + 7 * L);
    }
  }
  // The gathered rows are scattered over L2: prefetch a few nonzeros ahead
  // (the loads, not the multiply-adds, bound this loop; 12 ahead measured
  // ~15 % less CPU time than 6 for the recurrent weight gradient at 1024).
  constexpr int64_t kAhead = 12;
  for (int64_t q = 0; q < n; ++q) {
    if (q + kAhead < n) {
      const char* f = reinterpret_cast<const char*>(
          src + static_cast<int64_t>(idx[q + kAhead]) * stride);
      __builtin_prefetch(f), __builtin_prefetch(f + 64);
      if constexpr (NV == 8) __builtin_prefetch(f + 128), __builtin_prefetch(f + 192);
    }
    const T* s = src + static_cast<int64_t>(idx[q]) * stride;
    const T a = val[q];
    a0 += a * Load(s), a1 += a * Load(s + L), a2 += a * Load(s + 2 * L);
    a3 += a * Load(s + 3 * L);
    if constexpr (NV == 8) {
      a4 += a * Load(s + 4 * L), a5 += a * Load(s + 5 * L);
      a6 += a * Load(s + 6 * L), a7 += a * Load(s + 7 * L);
    }
  }
  Store(dst, a0), Store(dst + L, a1), Store(dst + 2 * L, a2);
  Store(dst + 3 * L, a3);
  if constexpr (NV == 8) {
    Store(dst + 4 * L, a4), Store(dst + 5 * L, a5);
    Store(dst + 6 * L, a6), Store(dst + 7 * L, a7);
  }
}

// The same for nc < kBlock columns (the last, partial block).
template <typename T>
BRAINSIM_INLINE void GatherSumTail(T* __restrict dst, bool add,
                                   const T* __restrict src, int64_t stride,
                                   const int32_t* __restrict idx,
                                   const T* __restrict val, int64_t n,
                                   int64_t nc) {
  T acc[kBlock<T>];
  for (int64_t j = 0; j < nc; ++j) acc[j] = add ? dst[j] : T(0);
  for (int64_t q = 0; q < n; ++q) {
    const T* s = src + static_cast<int64_t>(idx[q]) * stride;
    const T a = val[q];
    for (int64_t j = 0; j < nc; ++j) acc[j] += a * s[j];
  }
  for (int64_t j = 0; j < nc; ++j) dst[j] = acc[j];
}

// n_lists sparse combinations of the rows of src (row stride S, nc <= kBlock
// columns): list l (entries [ptr[l], ptr[l+1]) of idx/val) goes to
// dst + dst_off(l), added to it when add.
template <typename T, typename F>
BRAINSIM_INLINE void GatherLists(const int64_t* ptr, const int32_t* idx,
                                 const T* val, const T* src, int64_t S, T* dst,
                                 int64_t n_lists, int64_t nc, bool add,
                                 F dst_off) {
  if (nc == kBlock<T>) {
    for (int64_t l = 0; l < n_lists; ++l)
      GatherSum(dst + dst_off(l), add, src, S, idx + ptr[l], val + ptr[l],
                ptr[l + 1] - ptr[l]);
  } else if (S == kBlock<T>) {
    // Packed partial block (zero-padded to kBlock): full-width vector sums
    // into a local row, nc of them copied out.
    T tmp[kBlock<T>];
    for (int64_t l = 0; l < n_lists; ++l) {
      T* d = dst + dst_off(l);
      if (add) std::memcpy(tmp, d, sizeof(T) * nc);
      if (nc <= kBlock<T> / 2)
        GatherSum<T, kNV / 2>(tmp, add, src, S, idx + ptr[l], val + ptr[l],
                              ptr[l + 1] - ptr[l]);
      else
        GatherSum(tmp, add, src, S, idx + ptr[l], val + ptr[l],
                  ptr[l + 1] - ptr[l]);
      std::memcpy(d, tmp, sizeof(T) * nc);
    }
  } else {
    for (int64_t l = 0; l < n_lists; ++l)
      GatherSumTail(dst + dst_off(l), add, src, S, idx + ptr[l], val + ptr[l],
                    ptr[l + 1] - ptr[l], nc);
  }
}

// Sums shared by a group of kGroup lists (rows of a product: batch samples
// in the forward scan, inputs in the weight gradient) over the same rows of
// a packed block: the rows are bucketed by which of the group's lists hold
// them (a kGroup-bit mask), each bucket's rows are summed once, and that sum
// is added to the lists of its mask.  A row is then loaded once per group
// instead of once per list: at a third of the entries nonzero, 84 % of the
// rows per group of 4 instead of 4 x 37 % = 148 %.  For 0/1 entries only
// (spikes), the sums' order is by bucket.
constexpr int kGroup = 4;
constexpr int kMasks = 1 << kGroup;

// idx: the j < n with mask[j * stride] != 0, by mask, ascending within;
// ptr[m]..ptr[m + 1]: those of mask m (m >= 1).  idx has n + 1 entries (the
// last takes the unlisted mask-0 writes).
BRAINSIM_INLINE void SortByMask(const uint8_t* __restrict mask, int64_t n,
                                int64_t stride, int32_t* __restrict idx,
                                int32_t* ptr) {
  int32_t pos[kMasks] = {};
  for (int64_t j = 0; j < n; ++j) ++pos[mask[j * stride]];
  ptr[1] = 0;
  for (int m = 1; m < kMasks; ++m) ptr[m + 1] = ptr[m] + pos[m];
  for (int m = 1; m < kMasks; ++m) pos[m] = ptr[m];
  pos[0] = static_cast<int32_t>(n);
  for (int64_t j = 0; j < n; ++j) {  // branch-free: mask 0 writes idx[n]
    const int m = mask[j * stride];
    idx[pos[m]] = static_cast<int32_t>(j);
    pos[m] += (m != 0);
  }
}

// Lists g < rows of a group: acc[g * kBlock : (g + 1) * kBlock] (+)= the sum
// of the rows of src (packed, row stride kBlock, zero-padded) in its buckets
// (idx, ptr from SortByMask); tmp: kBlock scratch; ones: >= n ones.
template <typename T>
BRAINSIM_INLINE void GroupSum(T* __restrict acc, bool add, T* __restrict tmp,
                              const T* src, const int32_t* idx,
                              const int32_t* ptr, const T* ones, int rows) {
  using V = typename Vec<T>::type;
  constexpr int64_t L = 32 / sizeof(T);
  if (!add) std::memset(acc, 0, sizeof(T) * rows * kBlock<T>);
  for (int m = 1; m < (1 << rows); ++m) {
    const int64_t q0 = ptr[m], q = ptr[m + 1] - q0;
    if (q == 0) continue;
    if ((m & (m - 1)) == 0) {  // one list: straight into its sum
      GatherSum(acc + __builtin_ctz(m) * kBlock<T>, true, src, kBlock<T>,
                idx + q0, ones, q);
      continue;
    }
    GatherSum(tmp, false, src, kBlock<T>, idx + q0, ones, q);
    for (int g = 0; g < rows; ++g) {
      if (!(m >> g & 1)) continue;
      T* a = acc + g * kBlock<T>;
      for (int64_t v = 0; v < kBlock<T>; v += L) Store(a + v, Load(a + v) + Load(tmp + v));
    }
  }
}

// out[0:n] += sum_{q<4} a[q] * w_q[0:n]: one load/store of out per 4 rows.
template <typename T>
BRAINSIM_INLINE void Axpy4(T* __restrict out, const T* w0, const T* w1,
                           const T* w2, const T* w3, const T* a, int64_t n) {
  const T a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
  for (int64_t j = 0; j < n; ++j)
    out[j] += a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + a3 * w3[j];
}

// Nonzero entries of x[0:k] (-0.0 counts as zero): their indices and values;
// returns how many.  A 32-bit mask per 32 entries (vectorised compare), then
// one step per nonzero.
template <typename T>
BRAINSIM_INLINE int64_t Compact(const T* __restrict x, int64_t k,
                                int32_t* idx, T* val) {
  int64_t n = 0, i = 0;
  for (; i + 32 <= k; i += 32) {
    uint32_t m = 0;
    for (int q = 0; q < 32; ++q)
      m |= static_cast<uint32_t>(x[i + q] != T(0)) << q;
    for (; m != 0; m &= m - 1) {
      const int64_t q = i + __builtin_ctz(m);
      idx[n] = static_cast<int32_t>(q);
      val[n++] = x[q];
    }
  }
  for (; i < k; ++i) {
    idx[n] = static_cast<int32_t>(i);
    val[n] = x[i];
    n += (x[i] != T(0));
  }
  return n;
}

// Row r = (a, b) of an (A, B) grid of rows, stored at b * A + a when swapped
// (batch-major spikes in, time-major result out, or the reverse).
BRAINSIM_INLINE int64_t Swapped(int64_t r, int64_t A, int64_t B) {
  return B > 0 ? (r % B) * A + r / B : r;
}

using brainsim_native::AlignedVector;
using brainsim_native::HugePageHint;
using brainsim_native::Prefetch;
using brainsim_native::PrefetchW;
using brainsim_native::ParallelFor;

// Work below which one thread does it all (multiply-adds).
constexpr int64_t kSerialWork = int64_t{1} << 20;

inline int64_t Parts(ffi::ThreadPool& pool, int64_t work, int64_t max_parts) {
  const int64_t nt = brainsim_native::MaxThreads(pool);
  if (work < kSerialWork) return 1;
  return std::max<int64_t>(1, std::min(nt, max_parts));
}

// k zeroed scratch arrays of len elements in one allocation, the j-th
// starting j * 5 cache lines past a 4 KiB boundary.  Per-row arrays of a row
// stride that is a multiple of 4 KiB (n = 1024 floats) read at the same
// index together map onto one L1 set; beside XLA's (T, R, n) buffers at that
// index (same set again) they overflow its 8 ways and evict each other on
// every vector.  Staggered, they spread over k sets.
template <typename T>
struct Staggered {
  int64_t stride;
  AlignedVector<T> buf;
  Staggered(int k, int64_t len)
      : stride((len + kPage - 1) / kPage * kPage + 5 * 64 / int64_t{sizeof(T)}),
        buf(static_cast<size_t>(k * stride)) {}
  T* operator[](int j) { return buf.data() + j * stride; }
  static constexpr int64_t kPage = 4096 / sizeof(T);
};

// CSR (ptr from 0, idx, val) of rows [r0, r1) of x (R x K).

// The product of dims [b, e) of a shape.
inline int64_t Prod(ffi::Span<const int64_t> d, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t k = b; k < e; ++k) p *= d[k];
  return p;
}

}  // namespace brainsim_rows

#endif  // BRAINSIM_ROWS_COMMON_H_
