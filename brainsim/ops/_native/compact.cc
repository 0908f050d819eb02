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
