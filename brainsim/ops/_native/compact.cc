// brainsim native CPU kernel: compaction of spike vectors (BrainsimSpikeCompact).
//
//   idx[r, :count_r] = the positions i of x[r, i] != 0, ascending (slots
//   beyond are left unwritten: writing them costs as much as the scan);
//   count[r] = number of nonzeros (it may exceed the capacity C, and then only
//   the first C positions are stored).
//
// Shapes: x PRED [rows..., n] (any leading dims, treated as rows), idx
// S32 [rows..., C], count S32 [rows...].  Silent blocks of 64 entries are
// skipped with eight 64-bit loads, so a sparse row costs ~n / 64 tests.
// Stateless, safe to call concurrently.

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

static void CompactRow(const uint8_t* __restrict x, int64_t n, int32_t* __restrict idx,
                       int64_t cap, int32_t* count) {
  constexpr int64_t kBlock = 64;
  int64_t c = 0;
  auto visit = [&](int64_t i) {
    if (x[i]) {
      if (c < cap) idx[c] = static_cast<int32_t>(i);
      ++c;
    }
  };
  const int64_t n_full = n - n % kBlock;
  for (int64_t b = 0; b < n_full; b += kBlock) {
    uint64_t acc = 0;
    for (int k = 0; k < kBlock / 8; ++k) {
      uint64_t w;
      std::memcpy(&w, x + b + 8 * k, 8);
      acc |= w;
    }
    if (acc == 0) continue;
    for (int64_t i = b; i < b + kBlock; ++i) visit(i);
  }
  for (int64_t i = n_full; i < n; ++i) visit(i);
  *count = static_cast<int32_t>(c);
}

static ffi::Error CompactImpl(ffi::AnyBuffer x, ffi::Result<ffi::AnyBuffer> idx,
                              ffi::Result<ffi::AnyBuffer> count) {
  if (x.element_type() != ffi::DataType::PRED ||
      idx->element_type() != ffi::DataType::S32 ||
      count->element_type() != ffi::DataType::S32)
    return ffi::Error::InvalidArgument("brainsim spike_compact: x must be bool, outputs int32");
  auto dims = x.dimensions();
  if (dims.size() < 1)
    return ffi::Error::InvalidArgument("brainsim spike_compact: x must have rank >= 1");
  const int64_t n = dims[dims.size() - 1];
  const int64_t rows = static_cast<int64_t>(count->element_count());
  const int64_t cap = rows ? static_cast<int64_t>(idx->element_count()) / rows : 0;
  if (rows * n != static_cast<int64_t>(x.element_count()))
    return ffi::Error::InvalidArgument("brainsim spike_compact: shapes do not match");
  const uint8_t* xp = static_cast<const uint8_t*>(x.untyped_data());
  int32_t* ip = static_cast<int32_t*>(idx->untyped_data());
  int32_t* cp = static_cast<int32_t*>(count->untyped_data());
  for (int64_t r = 0; r < rows; ++r) CompactRow(xp + r * n, n, ip + r * cap, cap, cp + r);
  return ffi::Error::Success();
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimSpikeCompact(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimSpikeCompact, CompactImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()   // x
                                  .Ret<ffi::AnyBuffer>()   // idx
                                  .Ret<ffi::AnyBuffer>()); // count

// ---------------------------------------------------------------------------
// Appending one step's spikes to a chunk-level event buffer (BrainsimSpikeAppend).
//
//   k = 0;  for i ascending with x[i] != 0:  if (offset + k < C) buf[offset + k] = i;  ++k
//   end = offset + k  (saturated at INT32_MAX; it may exceed C: the caller detects
//   the overflow by comparing the end with C, and nothing past C is written).
//
// Shapes: x PRED, F32 or F64 [n] (any shape, flattened), buf S32 [C] (the result is
// aliased to it: only the k new slots are written), offset S32 [].  Silent blocks of
// 64 neurons are skipped with a few 64-bit loads (the sign bit of floats is masked,
// so -0.0 is silent, as `x != 0`), so a step with few spikes costs ~n / 64 tests.
// Stateless, safe to call concurrently on distinct buffers.
namespace {

// Bit k of the result: x[k] != 0, for 64 consecutive entries (SSE2 compares and
// movemask where available, the baseline of x86-64; a plain loop elsewhere).
template <typename T>
static inline uint64_t NonzeroMask64(const T* x) {
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
static int64_t AppendRow(const T* __restrict x, int64_t n, int32_t* __restrict buf,
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

static ffi::Error AppendImpl(ffi::AnyBuffer x, ffi::AnyBuffer buf_in, ffi::AnyBuffer offset,
                             ffi::Result<ffi::AnyBuffer> buf, ffi::Result<ffi::AnyBuffer> end) {
  if (buf_in.element_type() != ffi::DataType::S32 ||
      buf->element_type() != ffi::DataType::S32 ||
      offset.element_type() != ffi::DataType::S32 ||
      end->element_type() != ffi::DataType::S32 || offset.element_count() != 1 ||
      end->element_count() != 1 || buf->element_count() != buf_in.element_count())
    return ffi::Error::InvalidArgument(
        "brainsim spike_append: buffer and offset must be int32, offset a scalar");
  const int64_t n = static_cast<int64_t>(x.element_count());
  const int64_t cap = static_cast<int64_t>(buf->element_count());
  int32_t* out = static_cast<int32_t*>(buf->untyped_data());
  const int32_t* in = static_cast<const int32_t*>(buf_in.untyped_data());
  if (out != in && cap) std::memcpy(out, in, cap * sizeof(int32_t));  // not aliased
  const int64_t start = *static_cast<const int32_t*>(offset.untyped_data());
  if (start < 0) return ffi::Error::InvalidArgument("brainsim spike_append: offset < 0");
  int64_t stop;
  switch (x.element_type()) {
    case ffi::DataType::PRED:
      stop = AppendRow<uint8_t, ~uint64_t{0}>(static_cast<const uint8_t*>(x.untyped_data()), n,
                                              out, cap, start);
      break;
    case ffi::DataType::F32:
      stop = AppendRow<float, 0x7FFFFFFF7FFFFFFFull>(
          static_cast<const float*>(x.untyped_data()), n, out, cap, start);
      break;
    case ffi::DataType::F64:
      stop = AppendRow<double, 0x7FFFFFFFFFFFFFFFull>(
          static_cast<const double*>(x.untyped_data()), n, out, cap, start);
      break;
    default:
      return ffi::Error::InvalidArgument(
          "brainsim spike_append: x must be bool, float32 or float64");
  }
  constexpr int64_t kMax = 2147483647;
  *static_cast<int32_t*>(end->untyped_data()) = static_cast<int32_t>(stop < kMax ? stop : kMax);
  return ffi::Error::Success();
}

}  // namespace

BRAINSIM_EXPORT XLA_FFI_Error* BrainsimSpikeAppend(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimSpikeAppend, AppendImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()   // x
                                  .Arg<ffi::AnyBuffer>()   // buf (aliased to the result)
                                  .Arg<ffi::AnyBuffer>()   // offset
                                  .Ret<ffi::AnyBuffer>()   // buf
                                  .Ret<ffi::AnyBuffer>()); // end
