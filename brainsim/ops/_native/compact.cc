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

#include "spike_append.h"
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
// aliased to it: only the k new slots are written), offset S32 [].  The loop is
// AppendRow (spike_append.h): a step with few spikes costs ~n / 64 tests.
// Stateless, safe to call concurrently on distinct buffers.
namespace {

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
      stop = brainsim_native::AppendRow<uint8_t, ~uint64_t{0}>(
          static_cast<const uint8_t*>(x.untyped_data()), n, out, cap, start);
      break;
    case ffi::DataType::F32:
      stop = brainsim_native::AppendFloat(static_cast<const float*>(x.untyped_data()), n, out,
                                          cap, start);
      break;
    case ffi::DataType::F64:
      stop = brainsim_native::AppendFloat(static_cast<const double*>(x.untyped_data()), n, out,
                                          cap, start);
      break;
    default:
      return ffi::Error::InvalidArgument(
          "brainsim spike_append: x must be bool, float32 or float64");
  }
  *static_cast<int32_t*>(end->untyped_data()) = brainsim_native::SaturatedEnd(stop);
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
