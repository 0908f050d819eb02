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
// T = float32 or float64.  Cost: one scan of x (R*K) + nnz(x) * N
// multiply-adds, vectorised along N (AVX2/FMA clone on x86-64 when the CPU
// has it, chosen at load time; the baseline ISA otherwise).
//
// Both first compact x to CSR (column indices and values per row), then
// walk column blocks of w (resp. dw) so that a block stays in L2 while the
// rows stream through.  Large calls are split over XLA's intra-op threads.
//
// The handlers hold no global state and are safe to call concurrently.

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BRAINSIM_CLONES \
  __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define BRAINSIM_CLONES
#endif
#define BRAINSIM_INLINE inline __attribute__((always_inline))

// out[0:n] += a * w[0:n]
template <typename T>
BRAINSIM_INLINE void Axpy(T* __restrict out, const T* __restrict w, T a,
                          int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] += a * w[j];
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

// Columns [c0, c1) of rows [r0, r1) of out = x @ w, x given as CSR (ptr,
// idx, val) over those rows (ptr[0] = 0); out row Swapped(r, A, B).
template <typename T>
BRAINSIM_INLINE void MatmulBlock(const int64_t* ptr, const int32_t* idx,
                                 const T* val, const T* w, T* out, int64_t r0,
                                 int64_t r1, int64_t N, int64_t A, int64_t B,
                                 int64_t c0, int64_t c1) {
  const int64_t nc = c1 - c0;
  const T* wc = w + c0;
  for (int64_t r = r0; r < r1; ++r) {
    T* o = out + Swapped(r, A, B) * N + c0;
    std::memset(o, 0, sizeof(T) * nc);
    int64_t q = ptr[r - r0];
    const int64_t e = ptr[r - r0 + 1];
    for (; q + 4 <= e; q += 4)
      Axpy4(o, wc + idx[q] * N, wc + idx[q + 1] * N, wc + idx[q + 2] * N,
            wc + idx[q + 3] * N, val + q, nc);
    for (; q < e; ++q) Axpy(o, wc + idx[q] * N, val[q], nc);
  }
}

// Columns [c0, c1) of dw += x^T g, x given as CSR (ptr, idx, val) over R rows.
template <typename T>
BRAINSIM_INLINE void OuterCols(const int64_t* ptr, const int32_t* idx,
                               const T* val, const T* g, T* dw, int64_t R,
                               int64_t N, int64_t A, int64_t B, int64_t c0,
                               int64_t c1) {
  const int64_t w = c1 - c0;
  for (int64_t r = 0; r < R; ++r) {
    const T* gr = g + Swapped(r, A, B) * N + c0;
    for (int64_t q = ptr[r]; q < ptr[r + 1]; ++q)
      Axpy(dw + idx[q] * N + c0, gr, val[q], w);
  }
}

// Entry points, compiled once per target (the template bodies inline).
BRAINSIM_CLONES void MatmulBlockF(const int64_t* ptr, const int32_t* idx,
                                  const float* val, const float* w, float* out,
                                  int64_t r0, int64_t r1, int64_t N, int64_t A,
                                  int64_t B, int64_t c0, int64_t c1) {
  MatmulBlock(ptr, idx, val, w, out, r0, r1, N, A, B, c0, c1);
}
BRAINSIM_CLONES void MatmulBlockF(const int64_t* ptr, const int32_t* idx,
                                  const double* val, const double* w,
                                  double* out, int64_t r0, int64_t r1,
                                  int64_t N, int64_t A, int64_t B, int64_t c0,
                                  int64_t c1) {
  MatmulBlock(ptr, idx, val, w, out, r0, r1, N, A, B, c0, c1);
}
BRAINSIM_CLONES int64_t CompactF(const float* x, int64_t k, int32_t* idx,
                                 float* val) {
  return Compact(x, k, idx, val);
}
BRAINSIM_CLONES int64_t CompactF(const double* x, int64_t k, int32_t* idx,
                                 double* val) {
  return Compact(x, k, idx, val);
}
BRAINSIM_CLONES void OuterColsF(const int64_t* ptr, const int32_t* idx,
                                const float* val, const float* g, float* dw,
                                int64_t R, int64_t N, int64_t A, int64_t B,
                                int64_t c0, int64_t c1) {
  OuterCols(ptr, idx, val, g, dw, R, N, A, B, c0, c1);
}
BRAINSIM_CLONES void OuterColsF(const int64_t* ptr, const int32_t* idx,
                                const double* val, const double* g,
                                double* dw, int64_t R, int64_t N, int64_t A,
                                int64_t B, int64_t c0, int64_t c1) {
  OuterCols(ptr, idx, val, g, dw, R, N, A, B, c0, c1);
}

// Runs part(k) for k in [0, n_parts) on the caller and on up to
// n_parts - 1 tasks of XLA's intra-op pool.  Parts are claimed through an
// atomic counter, so the caller never waits for a task that has not started
// (no deadlock when the pool is busy); it waits only for claimed parts.
template <typename F>
static void ParallelFor(ffi::ThreadPool& pool, int64_t n_parts, F part) {
  if (n_parts <= 1) {
    if (n_parts == 1) part(0);
    return;
  }
  struct Shared {
    std::atomic<int64_t> next{0}, done{0};
  };
  auto sh = std::make_shared<Shared>();
  auto work = [sh, n_parts, &part]() {
    for (int64_t k; (k = sh->next.fetch_add(1)) < n_parts;) {
      part(k);
      sh->done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t t = 1; t < n_parts; ++t)
    pool.Schedule([sh, n_parts, work]() {
      if (sh->next.load() < n_parts) work();
    });
  work();
  while (sh->done.load(std::memory_order_acquire) < n_parts)
    std::this_thread::yield();
}

// Work below which one thread does it all (multiply-adds).
constexpr int64_t kSerialWork = int64_t{1} << 20;

static int64_t Parts(ffi::ThreadPool& pool, int64_t work, int64_t max_parts) {
  const int64_t nt = std::max<int64_t>(1, pool.num_threads());
  if (work < kSerialWork) return 1;
  return std::max<int64_t>(1, std::min(nt, max_parts));
}

// CSR (ptr from 0, idx, val) of rows [r0, r1) of x (R x K).
template <typename T>
static void ToCsr(const T* x, int64_t r0, int64_t r1, int64_t K,
                  std::vector<int64_t>& ptr, std::vector<int32_t>& idx,
                  std::vector<T>& val) {
  ptr.assign(r1 - r0 + 1, 0);
  idx.resize(static_cast<size_t>(r1 - r0) * 4 + K);
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

// Columns per block so that a K x block slice of w (or dw), ~256 KiB, stays
// in L2 while the rows stream through.
template <typename T>
static int64_t BlockCols(int64_t K, int64_t N) {
  const int64_t nb = (int64_t{1} << 18) / (sizeof(T) * std::max<int64_t>(K, 1));
  return std::min<int64_t>(N, std::max<int64_t>(16, nb / 16 * 16));
}

template <typename T>
static void RowsMatmul(ffi::ThreadPool& pool, const T* x, const T* w, T* out,
                       int64_t R, int64_t K, int64_t N, int64_t A, int64_t B) {
  const int64_t parts = Parts(pool, R * K / 8 + R * N, R);
  const int64_t nb = BlockCols<T>(K, N);
  ParallelFor(pool, parts, [&](int64_t k) {
    const int64_t r0 = R * k / parts, r1 = R * (k + 1) / parts;
    std::vector<int64_t> ptr;
    std::vector<int32_t> idx;
    std::vector<T> val;
    ToCsr(x, r0, r1, K, ptr, idx, val);
    for (int64_t c0 = 0; c0 < N; c0 += nb)
      MatmulBlockF(ptr.data(), idx.data(), val.data(), w, out, r0, r1, N, A, B,
                   c0, std::min(N, c0 + nb));
  });
}

template <typename T>
static void RowsOuter(ffi::ThreadPool& pool, const T* x, const T* g, T* dw,
                      int64_t R, int64_t K, int64_t N, int64_t A, int64_t B) {
  std::vector<int64_t> ptr;
  std::vector<int32_t> idx;
  std::vector<T> val;
  ToCsr(x, 0, R, K, ptr, idx, val);
  std::memset(dw, 0, sizeof(T) * K * N);
  const int64_t nb = BlockCols<T>(K, N);
  const int64_t n_blocks = (N + nb - 1) / nb;
  const int64_t parts = Parts(pool, ptr[R] * N, n_blocks);
  ParallelFor(pool, parts, [&](int64_t k) {
    for (int64_t b = k; b < n_blocks; b += parts) {
      const int64_t c0 = b * nb;
      OuterColsF(ptr.data(), idx.data(), val.data(), g, dw, R, N, A, B, c0,
                 std::min(N, c0 + nb));
    }
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

static ffi::Error MatmulImpl(ffi::ThreadPool pool, ffi::AnyBuffer x,
                             ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> out,
                             bool swap) {
  auto xd = x.dimensions(), wd = w.dimensions(), od = out->dimensions();
  if (xd.size() < 1 || wd.size() != 2 || xd[xd.size() - 1] != wd[0] ||
      od.size() != xd.size() || od[od.size() - 1] != wd[1])
    return ffi::Error::InvalidArgument("brainsim rows_matmul: bad shapes");
  const int64_t K = wd[0], N = wd[1], R = Prod(xd, 0, xd.size() - 1);
  int64_t A, B;
  if (!SwapDims(swap, xd, od, &A, &B))
    return ffi::Error::InvalidArgument("brainsim rows_matmul: bad swap shapes");
  const auto dt = x.element_type();
  if (w.element_type() != dt || out->element_type() != dt)
    return ffi::Error::InvalidArgument("brainsim rows_matmul: dtypes differ");
  if (dt == ffi::DataType::F32) {
    RowsMatmul<float>(pool, static_cast<const float*>(x.untyped_data()),
                      static_cast<const float*>(w.untyped_data()),
                      static_cast<float*>(out->untyped_data()), R, K, N, A,
                      B);
  } else if (dt == ffi::DataType::F64) {
    RowsMatmul<double>(pool, static_cast<const double*>(x.untyped_data()),
                       static_cast<const double*>(w.untyped_data()),
                       static_cast<double*>(out->untyped_data()), R, K, N,
                       A, B);
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

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimRowsMatmul(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimRowsOuter(XLA_FFI_CallFrame*);

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
