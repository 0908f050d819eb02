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
// Also here, for training (brainsim/train/_bptt.py): the lagged outer
// product sum_t x[t-1]^T g[t] (BrainsimRowsOuterLagged).  The LIF time scans
// that share these building blocks (rows_common.h) are in lif_scan.cc.
//
// The handlers hold no global state and are safe to call concurrently.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "rows_common.h"

namespace {

using namespace brainsim_rows;

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
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimRowsOuterLagged(XLA_FFI_CallFrame*);

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

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimRowsOuterLagged, OuterLaggedImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()   // x
                                  .Arg<ffi::AnyBuffer>()   // g
                                  .Ret<ffi::AnyBuffer>());
