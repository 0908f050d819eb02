// brainsim native CPU kernels: products of a sparse-rows matrix (spikes) with
// a dense one, touching only the nonzero entries of the sparse operand.
//
//   out[r, :] = sum_{i: x[r,i] != 0} x[r, i] * w[i, :]     (BrainsimRowsMatmul)
//   dw[i, :]  = sum_{r: x[r,i] != 0} x[r, i] * g[r, :]     (BrainsimRowsOuter)
//
// Shapes: x T[..., K] (all leading dims are rows, R = their product);
// w T[K, N]; g T[..., N] with the rows of x; out T[..., N]; dw T[K, N];
// T = float32 or float64.  Cost: one scan of x (R*K) + nnz(x) * N
// multiply-adds, vectorised along N (AVX2/FMA clone on x86-64 when the CPU
// has it, chosen at load time; the baseline ISA otherwise).
//
// RowsOuter first compacts x to CSR (column indices and values per row),
// then walks column blocks of dw so that a block of dw stays in cache while
// all rows of g stream through once.
//
// The handlers hold no global state and are safe to call concurrently.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BRAINSIM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define BRAINSIM_CLONES
#endif

// out[0:n] += a * w[0:n]
BRAINSIM_CLONES static void Axpy(float* __restrict out,
                                 const float* __restrict w, float a,
                                 int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] += a * w[j];
}
BRAINSIM_CLONES static void Axpy(double* __restrict out,
                                 const double* __restrict w, double a,
                                 int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] += a * w[j];
}

// out[0:n] += sum_{q<4} a[q] * w[q][0:n]: one load/store of out per 4 rows.
BRAINSIM_CLONES static void Axpy4(float* __restrict out, const float* w0,
                                  const float* w1, const float* w2,
                                  const float* w3, const float* a, int64_t n) {
  const float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
  for (int64_t j = 0; j < n; ++j)
    out[j] += a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + a3 * w3[j];
}
BRAINSIM_CLONES static void Axpy4(double* __restrict out, const double* w0,
                                  const double* w1, const double* w2,
                                  const double* w3, const double* a,
                                  int64_t n) {
  const double a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
  for (int64_t j = 0; j < n; ++j)
    out[j] += a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + a3 * w3[j];
}

// Nonzero entries of x[0:k]: their indices and values; returns how many.
// Chunks of 8 all-zero entries (most of them for sparse spikes) are skipped
// after one OR of their bits (sign bit dropped: -0.0 counts as zero).
template <typename T>
static int64_t Compact(const T* __restrict x, int64_t k, int32_t* idx,
                       T* val) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  int64_t n = 0, i = 0;
  for (; i + 8 <= k; i += 8) {
    U acc = 0;
    for (int q = 0; q < 8; ++q) {
      U b;
      std::memcpy(&b, x + i + q, sizeof(T));
      acc |= b;
    }
    if ((acc << 1) == 0) continue;
    for (int64_t q = i; q < i + 8; ++q) {
      idx[n] = static_cast<int32_t>(q);
      val[n] = x[q];
      n += (x[q] != T(0));
    }
  }
  for (; i < k; ++i) {
    idx[n] = static_cast<int32_t>(i);
    val[n] = x[i];
    n += (x[i] != T(0));
  }
  return n;
}

template <typename T>
static void RowsMatmul(const T* x, const T* w, T* out, int64_t R, int64_t K,
                       int64_t N) {
  std::vector<int32_t> idx(K + 8);
  std::vector<T> val(K + 8);
  for (int64_t r = 0; r < R; ++r) {
    T* o = out + r * N;
    std::memset(o, 0, sizeof(T) * N);
    const int64_t n = Compact(x + r * K, K, idx.data(), val.data());
    int64_t q = 0;
    for (; q + 4 <= n; q += 4)
      Axpy4(o, w + idx[q] * N, w + idx[q + 1] * N, w + idx[q + 2] * N,
            w + idx[q + 3] * N, val.data() + q, N);
    for (; q < n; ++q) Axpy(o, w + idx[q] * N, val[q], N);
  }
}

template <typename T>
static void RowsOuter(const T* x, const T* g, T* dw, int64_t R, int64_t K,
                      int64_t N) {
  std::vector<int64_t> ptr(R + 1, 0);
  std::vector<int32_t> idx;
  std::vector<T> val;
  idx.reserve(static_cast<size_t>(R) * 8);
  val.reserve(static_cast<size_t>(R) * 8);
  std::vector<int32_t> ri(K + 8);
  std::vector<T> rv(K + 8);
  for (int64_t r = 0; r < R; ++r) {
    const int64_t n = Compact(x + r * K, K, ri.data(), rv.data());
    idx.insert(idx.end(), ri.begin(), ri.begin() + n);
    val.insert(val.end(), rv.begin(), rv.begin() + n);
    ptr[r + 1] = ptr[r] + n;
  }
  std::memset(dw, 0, sizeof(T) * K * N);
  // A column block of dw (K x nb) of about 256 KiB stays in L2.
  const int64_t nb = std::min<int64_t>(
      N, std::max<int64_t>(16, (int64_t{1} << 18) / (sizeof(T) * std::max<int64_t>(K, 1)) / 16 * 16));
  for (int64_t c = 0; c < N; c += nb) {
    const int64_t w = std::min(nb, N - c);
    for (int64_t r = 0; r < R; ++r) {
      const T* gr = g + r * N + c;
      for (int64_t q = ptr[r]; q < ptr[r + 1]; ++q)
        Axpy(dw + idx[q] * N + c, gr, val[q], w);
    }
  }
}

static int64_t Prod(ffi::Span<const int64_t> d, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t k = b; k < e; ++k) p *= d[k];
  return p;
}

static ffi::Error MatmulImpl(ffi::AnyBuffer x, ffi::AnyBuffer w,
                             ffi::Result<ffi::AnyBuffer> out) {
  auto xd = x.dimensions(), wd = w.dimensions(), od = out->dimensions();
  if (xd.size() < 1 || wd.size() != 2 || xd[xd.size() - 1] != wd[0] ||
      od.size() != xd.size() || od[od.size() - 1] != wd[1])
    return ffi::Error::InvalidArgument("brainsim rows_matmul: bad shapes");
  const int64_t K = wd[0], N = wd[1], R = Prod(xd, 0, xd.size() - 1);
  const auto dt = x.element_type();
  if (w.element_type() != dt || out->element_type() != dt)
    return ffi::Error::InvalidArgument("brainsim rows_matmul: dtypes differ");
  if (dt == ffi::DataType::F32) {
    RowsMatmul<float>(static_cast<const float*>(x.untyped_data()),
                      static_cast<const float*>(w.untyped_data()),
                      static_cast<float*>(out->untyped_data()), R, K, N);
  } else if (dt == ffi::DataType::F64) {
    RowsMatmul<double>(static_cast<const double*>(x.untyped_data()),
                       static_cast<const double*>(w.untyped_data()),
                       static_cast<double*>(out->untyped_data()), R, K, N);
  } else {
    return ffi::Error::InvalidArgument("brainsim rows_matmul: float32/64 only");
  }
  return ffi::Error::Success();
}

static ffi::Error OuterImpl(ffi::AnyBuffer x, ffi::AnyBuffer g,
                            ffi::Result<ffi::AnyBuffer> dw) {
  auto xd = x.dimensions(), gd = g.dimensions(), od = dw->dimensions();
  if (xd.size() < 1 || gd.size() != xd.size() || od.size() != 2)
    return ffi::Error::InvalidArgument("brainsim rows_outer: bad ranks");
  const int64_t K = xd[xd.size() - 1], N = gd[gd.size() - 1];
  const int64_t R = Prod(xd, 0, xd.size() - 1);
  if (Prod(gd, 0, gd.size() - 1) != R || od[0] != K || od[1] != N)
    return ffi::Error::InvalidArgument("brainsim rows_outer: bad shapes");
  const auto dt = x.element_type();
  if (g.element_type() != dt || dw->element_type() != dt)
    return ffi::Error::InvalidArgument("brainsim rows_outer: dtypes differ");
  if (dt == ffi::DataType::F32) {
    RowsOuter<float>(static_cast<const float*>(x.untyped_data()),
                     static_cast<const float*>(g.untyped_data()),
                     static_cast<float*>(dw->untyped_data()), R, K, N);
  } else if (dt == ffi::DataType::F64) {
    RowsOuter<double>(static_cast<const double*>(x.untyped_data()),
                      static_cast<const double*>(g.untyped_data()),
                      static_cast<double*>(dw->untyped_data()), R, K, N);
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
                                  .Arg<ffi::AnyBuffer>()   // x
                                  .Arg<ffi::AnyBuffer>()   // w
                                  .Ret<ffi::AnyBuffer>());  // out

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimRowsOuter, OuterImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()   // x
                                  .Arg<ffi::AnyBuffer>()   // g
                                  .Ret<ffi::AnyBuffer>());  // dw
