// brainsim native CPU kernels: products of a sparse-rows matrix (spikes) with
// a dense one, touching only the nonzero entries of the sparse operand.
//
//   out[r, :] = sum_{i: x[r,i] != 0} x[r, i] * w[i, :]     (BrainsimRowsMatmul)
//   dw[i, :]  = sum_{r: x[r,i] != 0} x[r, i] * g[r, :]     (BrainsimRowsOuter)
//
// Shapes: x T[..., K] (all leading dims are rows, R = their product);
// w T[K, N]; g T[..., N] with the rows of x; out T[..., N]; dw T[K, N];
// with the attribute swap: x T[A, B, K], out and g T[B, A, N] (batch-major
// spikes against a time-major result/cotangent, no transpose copy);
// T = float32 or float64; w may also come packed (see MatmulImpl).  Cost: one
// scan of x (R*K) + nnz(x) * N multiply-adds, vectorised along N (AVX2/FMA
// clone on x86-64 when the CPU has it, chosen at load time; the baseline ISA
// otherwise).
//
// Both compact x to sparse lists, then sum rows of a contiguous packed
// 64-float (32-double) column block of w (resp. of g) into eight vector
// accumulators held in registers, stored once per list:
//   rows_matmul: per row of x (CSR), gather rows of the K x 64 block of w
//                (few nonzeros: axpy from w in place, not worth packing);
//   rows_outer:  per input i (CSC of a 96-row chunk of x), gather rows of
//                the chunk's 96 x 64 block of g (24 KiB, stays in L1) into
//                a packed K x 64 block of dw (in L2); for spikes (0/1) from
//                25 % density, per group of 4 inputs (GroupSum below).
// Packing matters: a 64-column block of a row-major matrix with 1024 columns
// has its rows 4 KiB apart, which maps them onto 1/16 of the L2 sets.  Large
// calls are split over XLA's intra-op threads (rows, resp. column blocks).
//
// Also here, for training (brainsim/train/_bptt.py): the whole forward LIF
// time scan (BrainsimLifScan), its reverse BPTT scan (BrainsimLifScanBwd) and
// the lagged outer product sum_t x[t-1]^T g[t] (BrainsimRowsOuterLagged);
// see their comments below.
//
// The handlers hold no global state and are safe to call concurrently.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "event_common.h"
#include "xla/ffi/api/ffi.h"

// The vector helpers below always inline: no 32-byte vector crosses a call.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace ffi = xla::ffi;

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BRAINSIM_CLONES \
  __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define BRAINSIM_CLONES
#endif
#define BRAINSIM_INLINE inline __attribute__((always_inline))

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

// Entry points, compiled once per target (the template bodies inline).
//
// GatherRowsF: rows [r0, r1) of x (CSR ptr/idx/val from 0) times a
// kBlock-column slice wp of w (K rows of stride S: packed, S = kBlock, or w
// itself from column c0, S = N): the nc columns from c0 of out rows
// Swapped(r).
// OuterAccF: acc (K x kBlock, packed) += x^T g for one chunk of rows of x as
// CSC (rows local to the chunk) against its packed slice gp of g (empty
// columns of the chunk skipped).
// OuterGroupF: the same for 0/1 entries of x, as the buckets of the chunk's
// rows per group of kGroup inputs (RowsOuter).
#define BRAINSIM_ENTRY_POINTS(T)                                               \
  BRAINSIM_CLONES void GatherRowsF(const int64_t* ptr, const int32_t* idx,     \
                                   const T* val, const T* wp, int64_t S,       \
                                   T* out, int64_t r0, int64_t r1, int64_t N,  \
                                   int64_t A, int64_t B, int64_t c0,           \
                                   int64_t nc) {                               \
    GatherLists(ptr, idx, val, wp, S, out, r1 - r0, nc, false,                 \
                [=](int64_t l) { return Swapped(r0 + l, A, B) * N + c0; });    \
  }                                                                            \
  BRAINSIM_CLONES void AxpyRowsF(const int64_t* ptr, const int32_t* idx,      \
                                 const T* val, const T* w, T* out, int64_t r0, \
                                 int64_t r1, int64_t N, int64_t A, int64_t B,  \
                                 int64_t c0, int64_t nc) {                     \
    for (int64_t r = r0; r < r1; ++r) {                                        \
      T* o = out + Swapped(r, A, B) * N + c0;                                  \
      std::memset(o, 0, sizeof(T) * nc);                                       \
      int64_t q = ptr[r - r0];                                                 \
      const int64_t e = ptr[r - r0 + 1];                                       \
      const T* wc = w + c0;                                                    \
      for (; q + 4 <= e; q += 4)                                               \
        Axpy4(o, wc + idx[q] * N, wc + idx[q + 1] * N, wc + idx[q + 2] * N,    \
              wc + idx[q + 3] * N, val + q, nc);                               \
      for (; q < e; ++q)                                                       \
        for (int64_t j = 0; j < nc; ++j) o[j] += val[q] * wc[idx[q] * N + j];  \
    }                                                                          \
  }                                                                            \
  BRAINSIM_CLONES void OuterAccF(const int64_t* ptr, const int32_t* rows,      \
                                 const T* val, const T* gp, T* acc,            \
                                 int64_t K) {                                  \
    for (int64_t l = 0; l < K; ++l)                                            \
      if (ptr[l + 1] > ptr[l])                                                 \
        GatherSum(acc + l * kBlock<T>, true, gp, kBlock<T>, rows + ptr[l],     \
                  val + ptr[l], ptr[l + 1] - ptr[l]);                          \
  }                                                                            \
  BRAINSIM_CLONES void OuterGroupF(const int32_t* gidx, const int32_t* gptr,  \
                                   int64_t n_rows, const T* gp, T* acc,        \
                                   int64_t K, const T* ones) {                 \
    alignas(64) T tmp[kBlock<T>];                                              \
    for (int64_t i0 = 0, q = 0; i0 < K; i0 += kGroup, ++q)                     \
      GroupSum(acc + i0 * kBlock<T>, true, tmp, gp, gidx + q * (n_rows + 1),   \
               gptr + q * (kMasks + 1), ones,                                  \
               static_cast<int>(std::min<int64_t>(kGroup, K - i0)));          \
  }
BRAINSIM_ENTRY_POINTS(float)
BRAINSIM_ENTRY_POINTS(double)
#undef BRAINSIM_ENTRY_POINTS

// mask[q] (q < ceil(K / kGroup)) = the kGroup-bit mask of the nonzeros of
// x[q * kGroup : (q + 1) * kGroup]; returns how many nonzeros, or -1 when an
// entry is neither 0 nor 1.
// bits: ceil(K / kGroup) * kGroup bytes of scratch.  Each group's 0/1 bytes
// read as one little-endian word w: (w * 0x01020408) >> 24 gathers byte g to
// bit g (no carries: every partial sum below byte 3 is < 16).
template <typename T>
BRAINSIM_INLINE int GroupMasks(const T* __restrict x, int64_t K,
                                uint8_t* __restrict bits, uint8_t* __restrict mask) {
  static_assert(kGroup == 4, "one 32-bit word per group");
  int other = 0, nnz = 0;
  for (int64_t i = 0; i < K; ++i) {
    bits[i] = x[i] != T(0);
    nnz += x[i] != T(0);
    other |= (x[i] != T(0)) & (x[i] != T(1));
  }
  const int64_t ng = (K + kGroup - 1) / kGroup;
  for (int64_t i = K; i < ng * kGroup; ++i) bits[i] = 0;
  for (int64_t q = 0; q < ng; ++q) {
    uint32_t w;
    std::memcpy(&w, bits + q * kGroup, 4);
    if constexpr (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) w = __builtin_bswap32(w);
    mask[q] = static_cast<uint8_t>((w * 0x01020408u) >> 24);
  }
  return other == 0 ? nnz : -1;
}
// The scans of a row of x for its nonzeros, compiled once per target.
#define BRAINSIM_ROW_SCANS(T)                                                  \
  BRAINSIM_CLONES int64_t CompactF(const T* x, int64_t k, int32_t* idx,        \
                                   T* val) {                                   \
    return Compact(x, k, idx, val);                                            \
  }                                                                            \
  BRAINSIM_CLONES int GroupMasksF(const T* x, int64_t K, uint8_t* bits,        \
                                  uint8_t* mask) {                             \
    return GroupMasks(x, K, bits, mask);                                       \
  }
BRAINSIM_ROW_SCANS(float)
BRAINSIM_ROW_SCANS(double)
#undef BRAINSIM_ROW_SCANS

using brainsim_native::AlignedVector;
using brainsim_native::HugePageHint;
using brainsim_native::Prefetch;
using brainsim_native::PrefetchW;
using brainsim_native::ParallelFor;

// Work below which one thread does it all (multiply-adds).
constexpr int64_t kSerialWork = int64_t{1} << 20;

static int64_t Parts(ffi::ThreadPool& pool, int64_t work, int64_t max_parts) {
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
template <typename T>
static void ToCsr(const T* x, int64_t r0, int64_t r1, int64_t K,
                  std::vector<int64_t>& ptr, std::vector<int32_t>& idx,
                  std::vector<T>& val) {
  ptr.assign(r1 - r0 + 1, 0);
  // Sized for ~1/8 density (spikes): few regrowths (each a copy and fresh pages).
  idx.resize(static_cast<size_t>(r1 - r0) * (K / 8 + 4) + K);
  val.resize(idx.size());
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t p = ptr[r - r0];
    if (static_cast<int64_t>(idx.size()) < p + K) {
      idx.resize(2 * idx.size() + K);
      val.resize(idx.size());
    }
    ptr[r - r0 + 1] = p + CompactF(x + r * K, K, idx.data() + p, val.data() + p);
  }
}

// Columns [c0, c0 + nc) of rows of src (row stride N, row of local row l at
// row_of(l)) packed contiguously, kBlock per row: no 4 KiB aliasing of a
// strided block in L1/L2 (N = 1024 floats maps a block's rows onto 1/16 of
// the L2 sets).
template <typename T, typename F>
static void Pack(const T* src, int64_t n_rows, int64_t N, int64_t c0,
                 int64_t nc, T* dst, F row_of) {
  for (int64_t l = 0; l < n_rows; ++l) {
    std::memcpy(dst + l * kBlock<T>, src + row_of(l) * N + c0, sizeof(T) * nc);
    if (nc < kBlock<T>)  // zero padding: the partial block sums full vectors
      std::memset(dst + l * kBlock<T> + nc, 0, sizeof(T) * (kBlock<T> - nc));
  }
}

// wp: null, or w already packed as (n_blocks, K, kBlock) (MatmulImpl).
template <typename T>
static void RowsMatmul(ffi::ThreadPool& pool, const T* x, const T* w, T* out,
                       int64_t R, int64_t K, int64_t N, int64_t A, int64_t B,
                       const T* wp = nullptr) {
  const int64_t n_blocks = (N + kBlock<T> - 1) / kBlock<T>;
  if (wp != nullptr) {
    // Few rows, each block of wp reused by all of them: compact x once,
    // split the column blocks over the threads.
    std::vector<int64_t> ptr;
    std::vector<int32_t> idx;
    std::vector<T> val;
    ToCsr(x, 0, R, K, ptr, idx, val);
    const int64_t parts = Parts(pool, ptr[R] * N, n_blocks);
    ParallelFor(pool, parts, [&](int64_t k) {
      for (int64_t b = n_blocks * k / parts; b < n_blocks * (k + 1) / parts; ++b) {
        const int64_t c0 = b * kBlock<T>;
        GatherRowsF(ptr.data(), idx.data(), val.data(), wp + c0 * K, kBlock<T>,
                    out, 0, R, N, A, B, c0, std::min(kBlock<T>, N - c0));
      }
    });
    return;
  }
  const int64_t parts = Parts(pool, R * K / 8 + R * N, R);
  ParallelFor(pool, parts, [&](int64_t k) {
    const int64_t r0 = R * k / parts, r1 = R * (k + 1) / parts;
    std::vector<int64_t> ptr;
    std::vector<int32_t> idx;
    std::vector<T> val;
    ToCsr(x, r0, r1, K, ptr, idx, val);
    // Packing w costs K*N copies: worth it when the nonzeros reuse each
    // packed block many times (measured: 6 nonzeros per input too few).
    const bool pack = ptr[r1 - r0] >= 32 * K;
    AlignedVector<T> pk(pack ? static_cast<size_t>(K) * kBlock<T> : 0);
    // Column blocks outermost: the K x kBlock slice of w (K * 256 bytes)
    // stays in L2 while the rows stream through it (packed: contiguous, no
    // 4 KiB aliasing of its strided rows onto a few cache sets).
    for (int64_t c0 = 0; c0 < N; c0 += kBlock<T>) {
      const int64_t nc = std::min(kBlock<T>, N - c0);
      if (!pack) {
        AxpyRowsF(ptr.data(), idx.data(), val.data(), w, out, r0, r1, N, A, B,
                  c0, nc);
        continue;
      }
      Pack(w, K, N, c0, nc, pk.data(), [](int64_t l) { return l; });
      GatherRowsF(ptr.data(), idx.data(), val.data(), pk.data(), kBlock<T>,
                  out, r0, r1, N, A, B, c0, nc);
    }
  });
}

// Density of a 0/1 x from which RowsOuter sums per group of inputs: below
// it a chunk's buckets hold too few rows to pay for themselves (6400 rows x
// 1024 inputs x 1024 columns, both paths in one build, min of 15 calls:
// 0.10 31 vs 22 ms, 0.20 47 vs 33, 0.25 39 vs 42, 0.37 41 vs 56).
constexpr double kGroupedDensity = 0.25;

// Rows of x per chunk of RowsOuter: its packed kBlock-column slice of g
// (kOuterRows * 256 bytes = 24 KiB) stays in L1 beside the stream of dw's
// packed rows (training step, paired runs in one process: 96 rows vs 128
// 1.3 % faster at hidden 1024, equal at 256; 64 rows 3.5 % faster at 1024
// but 2 % slower at 256).
template <typename T>
constexpr int64_t kOuterRows = int64_t{24 << 10} / (kBlock<T> * sizeof(T));

// One chunk of rows [r0, r1) of x as CSC: per input i, the chunk-local rows
// and the values of its nonzeros, rows ascending.
template <typename T>
struct CscChunk {
  int64_t r0 = 0, r1 = 0;
  std::vector<int64_t> ptr;
  std::vector<int32_t> rows;
  std::vector<T> val;
  std::vector<int32_t> gidx, gptr;  // 0/1 x: SortByMask per group of inputs
};

template <typename T>
static void ChunkToCsc(const T* x, int64_t K, CscChunk<T>& c) {
  std::vector<int64_t> rp;
  std::vector<int32_t> ri;
  std::vector<T> rv;
  ToCsr(x, c.r0, c.r1, K, rp, ri, rv);
  const int64_t nnz = rp[c.r1 - c.r0];
  c.ptr.assign(K + 1, 0);
  for (int64_t q = 0; q < nnz; ++q) ++c.ptr[ri[q] + 1];
  for (int64_t i = 0; i < K; ++i) c.ptr[i + 1] += c.ptr[i];
  c.rows.resize(nnz);
  c.val.resize(nnz);
  std::vector<int64_t> fill(c.ptr.begin(), c.ptr.end() - 1);
  for (int64_t l = 0; l < c.r1 - c.r0; ++l) {
    for (int64_t q = rp[l]; q < rp[l + 1]; ++q) {
      const int64_t at = fill[ri[q]]++;
      c.rows[at] = static_cast<int32_t>(l);
      c.val[at] = rv[q];
    }
  }
}

template <typename T>
static void RowsOuter(ffi::ThreadPool& pool, const T* x, const T* g, T* dw,
                      int64_t R, int64_t K, int64_t N, int64_t A, int64_t B) {
  // Per column block (kBlock columns; the blocks split over the threads),
  // dw[:, block] is summed in a packed K x kBlock buffer (K * 256 bytes, in
  // L2; packed: no 4 KiB aliasing of dw's strided rows), chunk by chunk of
  // kOuterRows rows of x, whose packed slice of g (24 KiB) is gathered from
  // L1 by every input with nonzeros in the chunk.  Against the previous
  // scheme (2048-row chunks of g gathered from L2, each dw row summed in
  // registers per chunk), the whole training step of
  // benchmarks/train_throughput.py: 0.925x the time at hidden 1024, 1.00x at
  // 256 (paired runs in one process, both kernels switched at run time, on a
  // loaded 2-core machine).
  constexpr int64_t chunk = kOuterRows<T>;
  const int64_t n_chunks = std::max<int64_t>(1, (R + chunk - 1) / chunk);
  // 0/1 entries (spikes) at a density of at least kGroupedDensity: the
  // chunks' rows bucketed per group of inputs (OuterGroupF); otherwise per
  // input as CSC (OuterAccF).  Pass 1: the groups' masks of every row (and
  // whether x is 0/1, and its nonzeros); pass 2: the chunks' buckets or CSC.
  const int64_t ng = (K + kGroup - 1) / kGroup;
  std::vector<uint8_t> mask(static_cast<size_t>(R) * ng);
  std::vector<int64_t> nnz_part(n_chunks);
  std::vector<CscChunk<T>> csc(n_chunks);
  const int64_t build_parts = Parts(pool, R * K / 8, n_chunks);
  ParallelFor(pool, build_parts, [&](int64_t k) {
    std::vector<uint8_t> bits(ng * kGroup);
    for (int64_t c = k; c < n_chunks; c += build_parts) {
      csc[c].r0 = R * c / n_chunks;
      csc[c].r1 = R * (c + 1) / n_chunks;
      for (int64_t r = csc[c].r0; r < csc[c].r1 && nnz_part[c] >= 0; ++r) {
        const int q = GroupMasksF(x + r * K, K, bits.data(), mask.data() + r * ng);
        nnz_part[c] = q < 0 ? -1 : nnz_part[c] + q;
      }
    }
  });
  int64_t nnz_x = 0;
  for (const int64_t q : nnz_part) nnz_x = (nnz_x < 0 || q < 0) ? -1 : nnz_x + q;
  const bool grouped = nnz_x >= 0 && nnz_x >= kGroupedDensity * static_cast<double>(R * K);
  ParallelFor(pool, build_parts, [&](int64_t k) {
    for (int64_t c = k; c < n_chunks; c += build_parts) {
      CscChunk<T>& b = csc[c];
      if (!grouped) {
        ChunkToCsc(x, K, b);
        continue;
      }
      const int64_t nr = b.r1 - b.r0;
      b.gidx.resize(ng * (nr + 1));
      b.gptr.resize(ng * (kMasks + 1));
      for (int64_t q = 0; q < ng; ++q)
        SortByMask(mask.data() + b.r0 * ng + q, nr, ng, b.gidx.data() + q * (nr + 1),
                   b.gptr.data() + q * (kMasks + 1));
    }
  });
  int64_t nnz = 0;
  for (const auto& c : csc) nnz += grouped ? c.gidx.size() : c.ptr[K];
  const int64_t n_blocks = (N + kBlock<T> - 1) / kBlock<T>;
  const int64_t parts = Parts(pool, nnz * N + R * N, n_blocks);
  ParallelFor(pool, parts, [&](int64_t k) {
    AlignedVector<T> gp(static_cast<size_t>(chunk) * kBlock<T>);
    AlignedVector<T> acc(static_cast<size_t>(K) * kBlock<T>);
    const std::vector<T> ones(chunk + 1, T(1));
    for (int64_t b = k; b < n_blocks; b += parts) {
      const int64_t c0 = b * kBlock<T>, nc = std::min(kBlock<T>, N - c0);
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t c = 0; c < n_chunks; ++c) {
        const int64_t r0 = csc[c].r0;
        Pack(g, csc[c].r1 - r0, N, c0, nc, gp.data(),
             [=](int64_t l) { return Swapped(r0 + l, A, B); });
        if (grouped)
          OuterGroupF(csc[c].gidx.data(), csc[c].gptr.data(), csc[c].r1 - r0,
                      gp.data(), acc.data(), K, ones.data());
        else
          OuterAccF(csc[c].ptr.data(), csc[c].rows.data(), csc[c].val.data(),
                    gp.data(), acc.data(), K);
      }
      for (int64_t i = 0; i < K; ++i)
        std::memcpy(dw + i * N + c0, acc.data() + i * kBlock<T>, sizeof(T) * nc);
    }
  });
}


// ---------------------------------------------------------------------------
// The whole forward time scan of a (recurrent) LIF layer in one call
// (BrainsimLifScan; brainsim/train/_bptt.py documents the recurrence):
//
//   I_t = (alpha I_{t-1} + h_t) + s_{t-1} W,  V~_t = beta V_{t-1} + I_t,
//   x_t = V~_t - theta,  s_t = [x_t > 0],  V_t = (x_t > 0 ? 0 : V~_t)
//
// for h (T, R, n), W packed as in MatmulImpl (n_blocks, n, kBlock) (or none),
// per-neuron alpha, beta, theta (n,), initial i0, v0, s0 (R, n).  Outputs
// (T, R, n): s_t and the pre-reset V~_t (the residuals of the hand-written
// BPTT: x_t, I_{t-1} and V_{t-1} are recomputed from them and i0, v0 in the
// reverse scan, which keeps two (T, R, n) buffers instead of four).  The
// rows are independent, so each thread runs all T steps of its own rows (no synchronisation per step); per step and column block, each
// row sums the packed block rows of its previous spikes (an index list kept
// from the step before: no scan for nonzeros) in registers, then updates its
// 64 neurons.  The elementwise update keeps the evaluation order of the XLA
// path, so the spikes agree with it up to rounding (the summation order of
// the recurrent input, fused multiply-adds).
template <typename T>
BRAINSIM_INLINE void LifUpdate(const T* __restrict h, const T* __restrict rec,
                               const T* __restrict al, const T* __restrict be,
                               const T* __restrict th, T* __restrict ib,
                               T* __restrict vb, T* __restrict so,
                               T* __restrict vto, int64_t nc) {
  using V = typename Vec<T>::type;
  constexpr int64_t L = 32 / sizeof(T);
  const V one = V{} + T(1), zero = V{};
  int64_t j = 0;
  for (; j + L <= nc; j += L) {
    const V ip = Load(ib + j), vp = Load(vb + j);
    V i = Load(al + j) * ip + Load(h + j);
    if (rec != nullptr) i = i + Load(rec + j);
    const V v = Load(be + j) * vp + i;
    const auto spike = v - Load(th + j) > zero;
    Store(so + j, spike ? one : zero);
    Store(vto + j, v);
    Store(ib + j, i);
    Store(vb + j, spike ? zero : v);
  }
  for (; j < nc; ++j) {
    const T ip = ib[j], vp = vb[j];
    T i = al[j] * ip + h[j];
    if (rec != nullptr) i = i + rec[j];
    const T v = be[j] * vp + i;
    const bool spike = v - th[j] > T(0);
    so[j] = spike ? T(1) : T(0);
    vto[j] = v;
    ib[j] = i;
    vb[j] = spike ? T(0) : v;
  }
}

#define BRAINSIM_LIF_ENTRY(T)                                                  \
  BRAINSIM_CLONES void LifRowsF(const T* h, const T* wp, const T* al,          \
                                const T* be, const T* th, const T* i0,         \
                                const T* v0, const T* s0, T* so, T* vto,       \
                                int64_t Tn, int64_t R, int64_t n,              \
                                int64_t r0, int64_t r1) {                      \
    const int64_t nr = r1 - r0, kb = kBlock<T>;                                \
    const int64_t nb = (n + kb - 1) / kb, ng = (nr + kGroup - 1) / kGroup;     \
    Staggered<T> iv(2, nr * n);                                                \
    T* const ib = iv[0];                                                       \
    T* const vb = iv[1];                                                       \
    std::copy(i0 + r0 * n, i0 + r1 * n, ib);                                   \
    std::copy(v0 + r0 * n, v0 + r1 * n, vb);                                   \
    /* the first step's recurrent input: per row, the lists of s0 (any      \
       values); later steps: per group, the buckets of the spikes */          \
    std::vector<int32_t> idx(nr * n), gidx(ng * (n + 1));                      \
    std::vector<int32_t> gptr(ng * (kMasks + 1));                              \
    std::vector<uint8_t> mask(n);                                              \
    std::vector<T> val(nr * n), ones(n, T(1));                                 \
    std::vector<int64_t> cnt(nr);                                              \
    for (int64_t l = 0; l < nr; ++l)                                           \
      cnt[l] = Compact(s0 + (r0 + l) * n, n, idx.data() + l * n,               \
                       val.data() + l * n);                                    \
    alignas(64) T rec[kGroup * kBlock<T>];                                     \
    alignas(64) T tmp[kBlock<T>];                                              \
    for (int64_t t = 0; t < Tn; ++t) {                                         \
      const int64_t o = (t * R + r0) * n;                                      \
      /* serpentine over the column blocks: the blocks of w last used are    \
         first in the next step, still in L2 (w: 4 MiB at n = 1024) */        \
      for (int64_t bi = 0; bi < nb; ++bi) {                                    \
        const int64_t b = (t & 1) ? nb - 1 - bi : bi;                          \
        const int64_t c0 = b * kb, nc = std::min(kb, n - c0);                  \
        for (int64_t g = 0; g < ng; ++g) {                                     \
          const int64_t l0 = g * kGroup;                                       \
          const int rows = static_cast<int>(std::min<int64_t>(kGroup, nr - l0)); \
          if (wp != nullptr && t > 0)                                          \
            GroupSum(rec, false, tmp, wp + c0 * n, gidx.data() + g * (n + 1),  \
                     gptr.data() + g * (kMasks + 1), ones.data(), rows);       \
          else if (wp != nullptr)                                              \
            for (int m = 0; m < rows; ++m)                                     \
              GatherSum(rec + m * kb, false, wp + c0 * n, kb,                  \
                        idx.data() + (l0 + m) * n, val.data() + (l0 + m) * n,  \
                        cnt[l0 + m]);                                          \
          for (int m = 0; m < rows; ++m) {                                     \
            const int64_t l = l0 + m, e = o + l * n + c0;                      \
            /* the next step's lines of h, s and V~, a step ahead (their     \
               4 KiB-strided walk defeats the hardware prefetcher) */         \
            if (t + 1 < Tn)                                                    \
              for (int64_t q = 0; q < nc; q += 64 / int64_t{sizeof(T)}) {      \
                Prefetch(h + e + R * n + q);                                   \
                PrefetchW(so + e + R * n + q), PrefetchW(vto + e + R * n + q); \
              }                                                                \
            LifUpdate(h + e, wp != nullptr ? rec + m * kb : nullptr, al + c0,  \
                      be + c0, th + c0, ib + l * n + c0, vb + l * n + c0,      \
                      so + e, vto + e, nc);                                    \
          }                                                                    \
        }                                                                      \
      }                                                                        \
      /* next step's buckets: the spikes just stored */                        \
      if (wp != nullptr && t + 1 < Tn)                                         \
        for (int64_t g = 0; g < ng; ++g) {                                     \
          const int64_t l0 = g * kGroup;                                       \
          std::fill(mask.begin(), mask.end(), uint8_t{0});                     \
          for (int64_t m = 0; m < std::min<int64_t>(kGroup, nr - l0); ++m)     \
            for (int64_t j = 0; j < n; ++j)                                    \
              mask[j] |= static_cast<uint8_t>((so[o + (l0 + m) * n + j] != T(0)) << m); \
          SortByMask(mask.data(), n, 1, gidx.data() + g * (n + 1),             \
                     gptr.data() + g * (kMasks + 1));                          \
        }                                                                      \
    }                                                                          \
  }
BRAINSIM_LIF_ENTRY(float)
BRAINSIM_LIF_ENTRY(double)
#undef BRAINSIM_LIF_ENTRY

template <typename T>
static void LifScan(ffi::ThreadPool& pool, const T* h, const T* wp,
                    const T* al, const T* be, const T* th, const T* i0,
                    const T* v0, const T* s0, T* so, T* vto, int64_t Tn,
                    int64_t R, int64_t n) {
  // Whole groups of kGroup rows per thread: a row's sums (GroupSum) depend on
  // its group, which then does not depend on the number of threads.
  const int64_t work = Tn * R * n * (wp != nullptr ? n / 8 + 4 : 4);
  const int64_t groups = (R + kGroup - 1) / kGroup;
  const int64_t parts = Parts(pool, work, groups);
  ParallelFor(pool, parts, [&](int64_t k) {
    const int64_t r0 = std::min(R, groups * k / parts * kGroup);
    const int64_t r1 = std::min(R, groups * (k + 1) / parts * kGroup);
    if (r1 > r0)
      LifRowsF(h, wp, al, be, th, i0, v0, s0, so, vto, Tn, R, n, r0, r1);
  });
}


// ---------------------------------------------------------------------------
// The reverse scan of the hand-written BPTT in one call (BrainsimLifScanBwd;
// brainsim/train/_bptt.py documents it):
//
//   sbar_t = ct_t + g^I_{t+1} W^T,  gV_t = beta gV_{t+1} (1 - s_t) + sbar_t sg_t,
//   g^I_t = gV_t + alpha g^I_{t+1}
//
// with the per-row sums acc_a += g^I_t I_{t-1}, acc_b += gV_t V_{t-1},
// acc_t += sbar_t sg_t.  The forward kept only the pre-reset V~_t (and s_t):
// here s_t = [V~_t - theta > 0] (the forward's own comparison, so exactly its
// spikes), V_{t-1} = s_{t-1} ? 0 : V~_{t-1} (exact) and
// I_{t-1} = V~_{t-1} - beta V_{t-2} (V~ = beta V + I: exact up to one rounding
// of V~), with V_{-1} = v0, I_{-1} = i0.  Rows are independent again: each
// thread runs all T steps of its rows.  The dense g^I W^T is a
// register-blocked product (kMR rows x 2 vectors of columns, Wt packed in
// panels of kPanel columns, zero-padded), its result consumed in
// registers-sized pieces by the elementwise update (no per-step temporaries,
// no per-step dispatch).  g_h may be written in place of ct or sg (XLA
// aliases g_h with sg): both are read before g^I_t is stored, element by
// element.
template <typename T>
constexpr int64_t kPanel = 2 * static_cast<int64_t>(32 / sizeof(T));
// 4 rows: a batch of 64 splits into 16 whole tiles, 8 per thread on 2 cores
// (5 left one thread 34 rows, the other 30); 8 accumulators + 2 panel
// vectors + 1 broadcast fit the 16 vector registers of AVX2.
constexpr int kMR = 4;

// The state before step t at one element: V_{t-1} and I_{t-1} from V~_{t-1}
// (v1, null at t = 0) and V~_{t-2} (v2, null at t <= 1).
template <typename V>
BRAINSIM_INLINE void PrevState(bool has1, bool has2, V v1, V v2, V v0, V i0, V th,
                               V be, V* vprev, V* iprev) {
  const V zero = V{};
  if (!has1) {
    *vprev = v0, *iprev = i0;
    return;
  }
  *vprev = v1 - th > zero ? zero : v1;
  const V vpp = has2 ? (v2 - th > zero ? zero : v2) : v0;
  *iprev = v1 - be * vpp;
}

template <typename T>
BRAINSIM_INLINE void BwdUpdate(const T* sb_rec, const T* ct, const T* sg,
                               const T* __restrict vt, const T* __restrict v1,
                               const T* __restrict v2, const T* __restrict v0,
                               const T* __restrict i0, const T* __restrict th,
                               const T* __restrict al, const T* __restrict be,
                               const T* __restrict gi_next, T* __restrict gi_new,
                               T* __restrict gv, T* __restrict aa, T* __restrict ab,
                               T* __restrict at, T* gh, int64_t nc) {
  using V = typename Vec<T>::type;
  constexpr int64_t L = 32 / sizeof(T);
  const bool has1 = v1 != nullptr, has2 = v2 != nullptr;
  int64_t j = 0;
  const V one = V{} + T(1), zero = V{};
  for (; j + L <= nc; j += L) {
    V sb = Load(ct + j);
    if (sb_rec != nullptr) sb = sb + Load(sb_rec + j);
    const V tv = Load(th + j), bv = Load(be + j);
    const V keep = Load(vt + j) - tv > zero ? zero : one;  // 1 - s_t
    V vprev, iprev;
    PrevState(has1, has2, has1 ? Load(v1 + j) : zero, has2 ? Load(v2 + j) : zero,
              has2 ? zero : Load(v0 + j), has1 ? zero : Load(i0 + j), tv, bv,
              &vprev, &iprev);
    const V sbs = sb * Load(sg + j);
    const V g_v = bv * Load(gv + j) * keep + sbs;
    const V g_i = g_v + Load(al + j) * Load(gi_next + j);
    Store(aa + j, Load(aa + j) + g_i * iprev);
    Store(ab + j, Load(ab + j) + g_v * vprev);
    Store(at + j, Load(at + j) + sbs);
    Store(gv + j, g_v);
    Store(gi_new + j, g_i);
    Store(gh + j, g_i);
  }
  for (; j < nc; ++j) {
    const T sb = sb_rec != nullptr ? ct[j] + sb_rec[j] : ct[j];
    const T keep = vt[j] - th[j] > T(0) ? T(0) : T(1);
    T vprev, iprev;
    if (!has1) {
      vprev = v0[j], iprev = i0[j];
    } else {
      vprev = v1[j] - th[j] > T(0) ? T(0) : v1[j];
      const T vpp = has2 ? (v2[j] - th[j] > T(0) ? T(0) : v2[j]) : v0[j];
      iprev = v1[j] - be[j] * vpp;
    }
    const T sbs = sb * sg[j];
    const T g_v = be[j] * gv[j] * keep + sbs;
    const T g_i = g_v + al[j] * gi_next[j];
    aa[j] = aa[j] + g_i * iprev;
    ab[j] = ab[j] + g_v * vprev;
    at[j] = at[j] + sbs;
    gv[j] = g_v;
    gi_new[j] = g_i;
    gh[j] = g_i;
  }
}

// acc[0:MR][0:kPanel] = G[0:MR, 0:n] (row stride n) @ panel (n x kPanel).
template <typename T, int MR>
BRAINSIM_INLINE void PanelProduct(const T* __restrict g, int64_t n,
                                  const T* __restrict panel, T* __restrict out) {
  using V = typename Vec<T>::type;
  constexpr int64_t L = 32 / sizeof(T);
  V c0[MR], c1[MR];
  for (int m = 0; m < MR; ++m) c0[m] = V{}, c1[m] = V{};
  for (int64_t j = 0; j < n; ++j) {
    const V b0 = Load(panel + j * kPanel<T>), b1 = Load(panel + j * kPanel<T> + L);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const T a = g[m * n + j];
      c0[m] += a * b0;
      c1[m] += a * b1;
    }
  }
  for (int m = 0; m < MR; ++m) {
    Store(out + m * kPanel<T>, c0[m]);
    Store(out + m * kPanel<T> + L, c1[m]);
  }
}

#define BRAINSIM_BWD_ENTRY(T)                                                  \
  BRAINSIM_CLONES void LifBwdRowsF(                                            \
      const T* ct, const T* sg, const T* vt, const T* wt, const T* al,         \
      const T* be, const T* th, const T* i0, const T* v0, T* gh, T* aa, T* ab, \
      T* at, T* gv0, int64_t Tn, int64_t R, int64_t n, int64_t r0,             \
      int64_t r1) {                                                            \
    const int64_t nr = r1 - r0, P = kPanel<T>, step = R * n;                   \
    const int64_t np = (n + P - 1) / P;                                        \
    /* the per-row state and sums, staggered; copied out at the end */        \
    Staggered<T> st(6, nr * n);                                                \
    T* gi_next = st[0];                                                        \
    T* gi_new = st[1];                                                         \
    T *gv = st[2], *sa = st[3], *sb = st[4], *su = st[5];                      \
    alignas(64) T sbuf[kMR * kPanel<T>];                                       \
    bool first = true;                                                         \
    for (int64_t t = Tn - 1; t >= 0; --t) {                                    \
      const int64_t o = (t * R + r0) * n;                                      \
      /* serpentine over the panels of W^T, as in LifRowsF */                 \
      for (int64_t pi = 0; pi < np; ++pi) {                                    \
        const int64_t p = (t & 1) ? np - 1 - pi : pi;                          \
        const int64_t c0 = p * P, nc = std::min(P, n - c0);                    \
        for (int64_t m0 = 0; m0 < nr; m0 += kMR) {                             \
          const int64_t mr = std::min<int64_t>(kMR, nr - m0);                  \
          const bool rec = wt != nullptr && !first;                            \
          if (rec) {                                                           \
            const T* g = gi_next + m0 * n;                                     \
            const T* pn = wt + c0 * n;                                         \
            switch (mr) {                                                      \
              case 6: PanelProduct<T, 6>(g, n, pn, sbuf); break;               \
              case 5: PanelProduct<T, 5>(g, n, pn, sbuf); break;               \
              case 4: PanelProduct<T, 4>(g, n, pn, sbuf); break;               \
              case 3: PanelProduct<T, 3>(g, n, pn, sbuf); break;               \
              case 2: PanelProduct<T, 2>(g, n, pn, sbuf); break;               \
              default: PanelProduct<T, 1>(g, n, pn, sbuf); break;              \
            }                                                                  \
          }                                                                    \
          for (int64_t m = 0; m < mr; ++m) {                                   \
            const int64_t l = m0 + m, e = o + l * n + c0, q = l * n + c0;      \
            /* the lines the next step reads first (ct, sg and vt three steps \
               back; the rest is in cache): a whole step ahead, since its     \
               4 KiB-strided walk defeats the hardware prefetcher */          \
            for (int64_t b = 0; b < nc; b += 64 / int64_t{sizeof(T)}) {        \
              if (t >= 1) Prefetch(ct + e - step + b), Prefetch(sg + e - step + b); \
              if (t >= 3) Prefetch(vt + e - 3 * step + b);                     \
            }                                                                  \
            BwdUpdate(rec ? sbuf + m * P : nullptr, ct + e, sg + e, vt + e,    \
                      t >= 1 ? vt + e - step : nullptr,                        \
                      t >= 2 ? vt + e - 2 * step : nullptr, v0 + r0 * n + q,   \
                      i0 + r0 * n + q, th + c0, al + c0, be + c0, gi_next + q, \
                      gi_new + q, gv + q, sa + q, sb + q, su + q, gh + e, nc); \
          }                                                                    \
        }                                                                      \
      }                                                                        \
      std::swap(gi_next, gi_new);                                              \
      first = false;                                                           \
    }                                                                          \
    std::copy(gv, gv + nr * n, gv0 + r0 * n);                                  \
    std::copy(sa, sa + nr * n, aa + r0 * n);                                   \
    std::copy(sb, sb + nr * n, ab + r0 * n);                                   \
    std::copy(su, su + nr * n, at + r0 * n);                                   \
  }
BRAINSIM_BWD_ENTRY(float)
BRAINSIM_BWD_ENTRY(double)
#undef BRAINSIM_BWD_ENTRY

template <typename T>
static void LifScanBwd(ffi::ThreadPool& pool, const T* ct, const T* sg,
                       const T* vt, const T* wt, const T* al, const T* be,
                       const T* th, const T* i0, const T* v0, T* gh, T* aa,
                       T* ab, T* at, T* gv0, int64_t Tn, int64_t R, int64_t n) {
  const int64_t work = Tn * R * n * (wt != nullptr ? n : 8);
  // Whole tiles of kMR rows per thread where possible.
  const int64_t parts = Parts(pool, work, (R + kMR - 1) / kMR);
  ParallelFor(pool, parts, [&](int64_t k) {
    const int64_t tiles = (R + kMR - 1) / kMR;
    const int64_t r0 = std::min(R, tiles * k / parts * kMR);
    const int64_t r1 = std::min(R, tiles * (k + 1) / parts * kMR);
    if (r1 > r0)
      LifBwdRowsF(ct, sg, vt, wt, al, be, th, i0, v0, gh, aa, ab, at, gv0, Tn,
                  R, n, r0, r1);
  });
}

static int64_t Prod(ffi::Span<const int64_t> d, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t k = b; k < e; ++k) p *= d[k];
  return p;
}

// swap: x is (A, B, K) and the rows of out (resp. g) are laid out (B, A).
static bool SwapDims(bool swap, ffi::Span<const int64_t> xd,
                     ffi::Span<const int64_t> od, int64_t* A, int64_t* B) {
  *A = 0;
  *B = 0;
  if (!swap) return true;
  if (xd.size() != 3 || od.size() != 3 || od[0] != xd[1] || od[1] != xd[0])
    return false;
  *A = xd[0];
  *B = xd[1];
  return true;
}

// w (K, N), or packed (ceil(N / kBlock), K, kBlock): block b holds columns
// [b * kBlock, (b + 1) * kBlock) of w, zero-padded (kBlock = 64 floats, 32
// doubles); the product is the same, without packing w on every call.
static ffi::Error MatmulImpl(ffi::ThreadPool pool, ffi::AnyBuffer x,
                             ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> out,
                             bool swap) {
  auto xd = x.dimensions(), wd = w.dimensions(), od = out->dimensions();
  const bool packed = wd.size() == 3;
  const int64_t K = packed || wd.size() == 2 ? wd[wd.size() - 2] : -1;
  const int64_t N = od.size() ? od[od.size() - 1] : -1;
  if (xd.size() < 1 || (wd.size() != 2 && !packed) || xd[xd.size() - 1] != K ||
      od.size() != xd.size() || (!packed && N != wd[1]))
    return ffi::Error::InvalidArgument("brainsim rows_matmul: bad shapes");
  const int64_t R = Prod(xd, 0, xd.size() - 1);
  int64_t A, B;
  if (!SwapDims(swap, xd, od, &A, &B))
    return ffi::Error::InvalidArgument("brainsim rows_matmul: bad swap shapes");
  const auto dt = x.element_type();
  if (w.element_type() != dt || out->element_type() != dt)
    return ffi::Error::InvalidArgument("brainsim rows_matmul: dtypes differ");
  const int64_t kb = dt == ffi::DataType::F64 ? kBlock<double> : kBlock<float>;
  if (packed && (wd[2] != kb || wd[0] != (N + kb - 1) / kb))
    return ffi::Error::InvalidArgument("brainsim rows_matmul: bad packed w");
  const void* wv = w.untyped_data();
  HugePageHint(out->untyped_data(), out->size_bytes());
  if (dt == ffi::DataType::F32) {
    const auto* wf = static_cast<const float*>(wv);
    RowsMatmul<float>(pool, static_cast<const float*>(x.untyped_data()), wf,
                      static_cast<float*>(out->untyped_data()), R, K, N, A, B,
                      packed ? wf : nullptr);
  } else if (dt == ffi::DataType::F64) {
    const auto* wf = static_cast<const double*>(wv);
    RowsMatmul<double>(pool, static_cast<const double*>(x.untyped_data()), wf,
                       static_cast<double*>(out->untyped_data()), R, K, N, A,
                       B, packed ? wf : nullptr);
  } else {
    return ffi::Error::InvalidArgument("brainsim rows_matmul: float32/64 only");
  }
  return ffi::Error::Success();
}

static ffi::Error OuterImpl(ffi::ThreadPool pool, ffi::AnyBuffer x,
                            ffi::AnyBuffer g, ffi::Result<ffi::AnyBuffer> dw,
                            bool swap) {
  auto xd = x.dimensions(), gd = g.dimensions(), od = dw->dimensions();
  if (xd.size() < 1 || gd.size() != xd.size() || od.size() != 2)
    return ffi::Error::InvalidArgument("brainsim rows_outer: bad ranks");
  const int64_t K = xd[xd.size() - 1], N = gd[gd.size() - 1];
  const int64_t R = Prod(xd, 0, xd.size() - 1);
  if (Prod(gd, 0, gd.size() - 1) != R || od[0] != K || od[1] != N)
    return ffi::Error::InvalidArgument("brainsim rows_outer: bad shapes");
  int64_t A, B;
  if (!SwapDims(swap, xd, gd, &A, &B))
    return ffi::Error::InvalidArgument("brainsim rows_outer: bad swap shapes");
  const auto dt = x.element_type();
  if (g.element_type() != dt || dw->element_type() != dt)
    return ffi::Error::InvalidArgument("brainsim rows_outer: dtypes differ");
  if (dt == ffi::DataType::F32) {
    RowsOuter<float>(pool, static_cast<const float*>(x.untyped_data()),
                     static_cast<const float*>(g.untyped_data()),
                     static_cast<float*>(dw->untyped_data()), R, K, N, A, B);
  } else if (dt == ffi::DataType::F64) {
    RowsOuter<double>(pool, static_cast<const double*>(x.untyped_data()),
                      static_cast<const double*>(g.untyped_data()),
                      static_cast<double*>(dw->untyped_data()), R, K, N, A,
                      B);
  } else {
    return ffi::Error::InvalidArgument("brainsim rows_outer: float32/64 only");
  }
  return ffi::Error::Success();
}


// h (T, ..., n) [rows R = product of the middle dims]; wp packed
// (ceil(n / kBlock), n, kBlock) when has_rec (else ignored); alpha, beta,
// theta (n,); i0, v0, s0 with R * n elements.  Returns s and the pre-reset
// V~, shaped like h.
static ffi::Error LifScanImpl(ffi::ThreadPool pool, ffi::AnyBuffer h,
                              ffi::AnyBuffer wp, ffi::AnyBuffer al,
                              ffi::AnyBuffer be, ffi::AnyBuffer th,
                              ffi::AnyBuffer i0, ffi::AnyBuffer v0,
                              ffi::AnyBuffer s0, ffi::Result<ffi::AnyBuffer> so,
                              ffi::Result<ffi::AnyBuffer> vto, bool has_rec) {
  auto hd = h.dimensions();
  if (hd.size() < 2)
    return ffi::Error::InvalidArgument("brainsim lif_scan: h must be (T, ..., n)");
  const int64_t Tn = hd[0], n = hd[hd.size() - 1];
  const int64_t R = Prod(hd, 1, hd.size() - 1);
  const auto dt = h.element_type();
  const int64_t kb = dt == ffi::DataType::F64 ? kBlock<double> : kBlock<float>;
  for (auto* b : {&al, &be, &th})
    if (b->element_count() != static_cast<size_t>(n) || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan: bad alpha/beta/theta");
  for (auto* b : {&i0, &v0, &s0})
    if (b->element_count() != static_cast<size_t>(R * n) || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan: bad initial state");
  if (has_rec) {
    auto wd = wp.dimensions();
    if (wd.size() != 3 || wd[0] != (n + kb - 1) / kb || wd[1] != n || wd[2] != kb ||
        wp.element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan: bad packed w_rec");
  }
  for (auto* o : {&so, &vto})
    if ((*o)->element_count() != h.element_count() || (*o)->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan: bad outputs");
  for (auto* o : {&so, &vto})
    HugePageHint((*o)->untyped_data(), (*o)->size_bytes());
#define BRAINSIM_CALL(T)                                                      \
  LifScan<T>(pool, static_cast<const T*>(h.untyped_data()),                   \
             has_rec ? static_cast<const T*>(wp.untyped_data()) : nullptr,    \
             static_cast<const T*>(al.untyped_data()),                        \
             static_cast<const T*>(be.untyped_data()),                        \
             static_cast<const T*>(th.untyped_data()),                        \
             static_cast<const T*>(i0.untyped_data()),                        \
             static_cast<const T*>(v0.untyped_data()),                        \
             static_cast<const T*>(s0.untyped_data()),                        \
             static_cast<T*>(so->untyped_data()),                             \
             static_cast<T*>(vto->untyped_data()), Tn, R, n)
  if (dt == ffi::DataType::F32) {
    BRAINSIM_CALL(float);
  } else if (dt == ffi::DataType::F64) {
    BRAINSIM_CALL(double);
  } else {
    return ffi::Error::InvalidArgument("brainsim lif_scan: float32/64 only");
  }
#undef BRAINSIM_CALL
  return ffi::Error::Success();
}


// ct, sg, vt (T, ..., n) [R rows]; wt: W^T packed in panels
// (ceil(n / kPanel), n, kPanel) when has_rec (else ignored); alpha, beta,
// theta (n,); i0, v0 (R * n).  Returns g_h (T, ..., n; may alias sg) and, per
// row, acc_a, acc_b, acc_t and the final gV (R * n elements each).
static ffi::Error LifScanBwdImpl(
    ffi::ThreadPool pool, ffi::AnyBuffer ct, ffi::AnyBuffer sg, ffi::AnyBuffer vt,
    ffi::AnyBuffer wt, ffi::AnyBuffer al, ffi::AnyBuffer be, ffi::AnyBuffer th,
    ffi::AnyBuffer i0, ffi::AnyBuffer v0, ffi::Result<ffi::AnyBuffer> gh,
    ffi::Result<ffi::AnyBuffer> aa, ffi::Result<ffi::AnyBuffer> ab,
    ffi::Result<ffi::AnyBuffer> at, ffi::Result<ffi::AnyBuffer> gv0,
    bool has_rec) {
  auto cd = ct.dimensions();
  if (cd.size() < 2)
    return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: ct must be (T, ..., n)");
  const int64_t Tn = cd[0], n = cd[cd.size() - 1];
  const int64_t R = Prod(cd, 1, cd.size() - 1);
  const auto dt = ct.element_type();
  const int64_t P = dt == ffi::DataType::F64 ? kPanel<double> : kPanel<float>;
  for (auto* b : {&sg, &vt})
    if (b->element_count() != ct.element_count() || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad residuals");
  for (auto* b : {&al, &be, &th})
    if (b->element_count() != static_cast<size_t>(n) || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad alpha/beta/theta");
  for (auto* b : {&i0, &v0})
    if (b->element_count() != static_cast<size_t>(R * n) || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad initial state");
  if (has_rec) {
    auto wd = wt.dimensions();
    if (wd.size() != 3 || wd[0] != (n + P - 1) / P || wd[1] != n || wd[2] != P ||
        wt.element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad packed w_rec^T");
  }
  if (gh->element_count() != ct.element_count() || gh->element_type() != dt)
    return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad g_h");
  for (auto* o : {&aa, &ab, &at, &gv0})
    if ((*o)->element_count() != static_cast<size_t>(R * n) || (*o)->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad outputs");
  if (gh->untyped_data() != sg.untyped_data())
    HugePageHint(gh->untyped_data(), gh->size_bytes());
#define BRAINSIM_CALL(T)                                                      \
  LifScanBwd<T>(pool, static_cast<const T*>(ct.untyped_data()),               \
                static_cast<const T*>(sg.untyped_data()),                     \
                static_cast<const T*>(vt.untyped_data()),                     \
                has_rec ? static_cast<const T*>(wt.untyped_data()) : nullptr, \
                static_cast<const T*>(al.untyped_data()),                     \
                static_cast<const T*>(be.untyped_data()),                     \
                static_cast<const T*>(th.untyped_data()),                     \
                static_cast<const T*>(i0.untyped_data()),                     \
                static_cast<const T*>(v0.untyped_data()),                     \
                static_cast<T*>(gh->untyped_data()),                          \
                static_cast<T*>(aa->untyped_data()),                          \
                static_cast<T*>(ab->untyped_data()),                          \
                static_cast<T*>(at->untyped_data()),                          \
                static_cast<T*>(gv0->untyped_data()), Tn, R, n)
  if (dt == ffi::DataType::F32) {
    BRAINSIM_CALL(float);
  } else if (dt == ffi::DataType::F64) {
    BRAINSIM_CALL(double);
  } else {
    return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: float32/64 only");
  }
#undef BRAINSIM_CALL
  return ffi::Error::Success();
}


// x, g (T, ..., K|N): dw = sum_{t >= 1} x[t-1]^T g[t] (rows_outer on the
// first T - 1 steps of x against the last T - 1 of g: a pointer offset).
static ffi::Error OuterLaggedImpl(ffi::ThreadPool pool, ffi::AnyBuffer x,
                                  ffi::AnyBuffer g,
                                  ffi::Result<ffi::AnyBuffer> dw) {
  auto xd = x.dimensions(), gd = g.dimensions(), od = dw->dimensions();
  if (xd.size() < 2 || gd.size() != xd.size() || od.size() != 2)
    return ffi::Error::InvalidArgument("brainsim rows_outer_lagged: bad ranks");
  const int64_t K = xd[xd.size() - 1], N = gd[gd.size() - 1];
  const int64_t R = Prod(xd, 0, xd.size() - 1), step = Prod(xd, 1, xd.size() - 1);
  if (Prod(gd, 0, gd.size() - 1) != R || od[0] != K || od[1] != N || xd[0] < 2)
    return ffi::Error::InvalidArgument("brainsim rows_outer_lagged: bad shapes");
  const auto dt = x.element_type();
  if (g.element_type() != dt || dw->element_type() != dt)
    return ffi::Error::InvalidArgument("brainsim rows_outer_lagged: dtypes differ");
  if (dt == ffi::DataType::F32) {
    RowsOuter<float>(pool, static_cast<const float*>(x.untyped_data()),
                     static_cast<const float*>(g.untyped_data()) + step * N,
                     static_cast<float*>(dw->untyped_data()), R - step, K, N, 0, 0);
  } else if (dt == ffi::DataType::F64) {
    RowsOuter<double>(pool, static_cast<const double*>(x.untyped_data()),
                      static_cast<const double*>(g.untyped_data()) + step * N,
                      static_cast<double*>(dw->untyped_data()), R - step, K, N, 0, 0);
  } else {
    return ffi::Error::InvalidArgument("brainsim rows_outer_lagged: float32/64 only");
  }
  return ffi::Error::Success();
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimRowsMatmul(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimRowsOuter(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifScan(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimRowsOuterLagged(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifScanBwd(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimRowsMatmul, MatmulImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()   // x
                                  .Arg<ffi::AnyBuffer>()   // w
                                  .Ret<ffi::AnyBuffer>()   // out
                                  .Attr<bool>("swap"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimRowsOuter, OuterImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()   // x
                                  .Arg<ffi::AnyBuffer>()   // g
                                  .Ret<ffi::AnyBuffer>()   // dw
                                  .Attr<bool>("swap"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifScan, LifScanImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()   // h
                                  .Arg<ffi::AnyBuffer>()   // packed w_rec
                                  .Arg<ffi::AnyBuffer>()   // alpha
                                  .Arg<ffi::AnyBuffer>()   // beta
                                  .Arg<ffi::AnyBuffer>()   // theta
                                  .Arg<ffi::AnyBuffer>()   // i0
                                  .Arg<ffi::AnyBuffer>()   // v0
                                  .Arg<ffi::AnyBuffer>()   // s0
                                  .Ret<ffi::AnyBuffer>()   // s
                                  .Ret<ffi::AnyBuffer>()   // pre-reset V~
                                  .Attr<bool>("has_rec"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifScanBwd, LifScanBwdImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()   // ct
                                  .Arg<ffi::AnyBuffer>()   // sg
                                  .Arg<ffi::AnyBuffer>()   // pre-reset V~
                                  .Arg<ffi::AnyBuffer>()   // packed w_rec^T
                                  .Arg<ffi::AnyBuffer>()   // alpha
                                  .Arg<ffi::AnyBuffer>()   // beta
                                  .Arg<ffi::AnyBuffer>()   // theta
                                  .Arg<ffi::AnyBuffer>()   // i0
                                  .Arg<ffi::AnyBuffer>()   // v0
                                  .Ret<ffi::AnyBuffer>()   // g_h
                                  .Ret<ffi::AnyBuffer>()   // acc_a
                                  .Ret<ffi::AnyBuffer>()   // acc_b
                                  .Ret<ffi::AnyBuffer>()   // acc_t
                                  .Ret<ffi::AnyBuffer>()   // gV at t = 0
                                  .Attr<bool>("has_rec"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimRowsOuterLagged, OuterLaggedImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()   // x
                                  .Arg<ffi::AnyBuffer>()   // g
                                  .Ret<ffi::AnyBuffer>());  // dw
