// brainsim native CPU kernel: one step of event-driven plastic weight updates
// with a bounded, factored change (BrainsimPlasticBounded; brainsim.ops.plastic_bounded
// is its reference and documents the formula; plastic_common.h has the passes):
// the columns of the spiking postsynaptic neurons (1), then the rows of the
// spiking presynaptic ones (2), with a_post [n_pre], b_post [n_post], a_pre
// [n_post], b_pre [n_pre] arrays.
//
// Shapes: w F32/F64 [S] (the result is aliased to it), pre [n_pre], post
// [n_post], a_post [n_pre], b_post [n_post], a_pre [n_post], b_pre [n_pre],
// lo/hi [] (all of w's type); indptr S32 [n_pre + 1], indices S32 [S];
// col_ptr S32 [n_post + 1], col_pre U16/S32 [S], col_offset U8/U16/S32 [S].
// Attribute soft: bit 0 soft_plus, bit 1 soft_minus (multiplicative bounds).
// Stateless, safe to call concurrently on distinct weights.

#include <cmath>
#include <cstdint>
#include <cstring>

#include "event_common.h"
#include "plastic_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using brainsim_plastic::Bound;

template <typename T>
static const T* Data(const ffi::AnyBuffer& b) {
  return static_cast<const T*>(b.untyped_data());
}

template <typename T, typename Pre, typename Off>
static bool Columns(T* w, const T* post, int64_t n_post, const int32_t* indptr,
                    const int32_t* col_ptr, const Pre* col_pre, const Off* col_off,
                    const T* a, const T* b, const Bound<T>& bound, int64_t n_syn,
                    int64_t n_pre) {
  return brainsim_native::ForEachActiveList(post, n_post, [&](const int32_t* act, int na) {
    return brainsim_plastic::ColumnList(
        w, post, act, na, indptr, col_ptr, col_pre, col_off, [a](int64_t i) { return a[i]; },
        [b](int64_t j) { return b[j]; }, bound, n_syn, n_pre);
  });
}

template <typename T>
static bool Rows(T* w, const T* pre, int64_t n_pre, const int32_t* indptr,
                 const int32_t* indices, const T* a, const T* b, const Bound<T>& bound,
                 int64_t n_syn, int64_t n_post) {
  return brainsim_native::ForEachActiveList(pre, n_pre, [&](const int32_t* act, int na) {
    T val[512];  // ForEachActiveList's list holds at most 512 rows
    for (int k = 0; k < na; ++k) val[k] = pre[act[k]];
    return brainsim_plastic::RowList(w, val, act, na, indptr, indices,
                                     [a](int64_t j) { return a[j]; },
                                     [b](int64_t i) { return b[i]; }, bound, n_syn, n_post);
  });
}

// Dispatch of the column pass on the index widths (col_pre U16/S32, col_offset
// U8/U16/S32).
template <typename T, typename Pre>
static bool ColumnsPre(T* w, const T* post, int64_t n_post, const int32_t* indptr,
                       const int32_t* col_ptr, const Pre* col_pre, const ffi::AnyBuffer& off,
                       const T* a, const T* b, const Bound<T>& bound, int64_t n_syn,
                       int64_t n_pre) {
  switch (off.element_type()) {
    case ffi::DataType::U8:
      return Columns(w, post, n_post, indptr, col_ptr, col_pre, Data<uint8_t>(off), a, b,
                     bound, n_syn, n_pre);
    case ffi::DataType::U16:
      return Columns(w, post, n_post, indptr, col_ptr, col_pre, Data<uint16_t>(off), a, b,
                     bound, n_syn, n_pre);
    default:
      return Columns(w, post, n_post, indptr, col_ptr, col_pre, Data<int32_t>(off), a, b,
                     bound, n_syn, n_pre);
  }
}

template <typename T>
static ffi::Error Run(ffi::AnyBuffer w_in, ffi::AnyBuffer pre, ffi::AnyBuffer post,
                      ffi::AnyBuffer indptr, ffi::AnyBuffer indices, ffi::AnyBuffer col_ptr,
                      ffi::AnyBuffer col_pre, ffi::AnyBuffer col_off, ffi::AnyBuffer a_post,
                      ffi::AnyBuffer b_post, ffi::AnyBuffer a_pre, ffi::AnyBuffer b_pre,
                      ffi::AnyBuffer lo, ffi::AnyBuffer hi, int64_t soft,
                      ffi::AnyBuffer* w_out) {
  const int64_t n_syn = static_cast<int64_t>(w_in.element_count());
  const int64_t n_pre = static_cast<int64_t>(pre.element_count());
  const int64_t n_post = static_cast<int64_t>(post.element_count());
  for (const ffi::AnyBuffer* b : {&pre, &post, &a_post, &b_post, &a_pre, &b_pre, &lo, &hi})
    if (b->element_type() != w_in.element_type())
      return ffi::Error::InvalidArgument("brainsim plastic_bounded: operands must share w's dtype");
  if (indptr.element_type() != ffi::DataType::S32 ||
      indices.element_type() != ffi::DataType::S32 ||
      col_ptr.element_type() != ffi::DataType::S32 ||
      !(col_pre.element_type() == ffi::DataType::U16 ||
        col_pre.element_type() == ffi::DataType::S32) ||
      !(col_off.element_type() == ffi::DataType::U8 ||
        col_off.element_type() == ffi::DataType::U16 ||
        col_off.element_type() == ffi::DataType::S32))
    return ffi::Error::InvalidArgument("brainsim plastic_bounded: bad index dtypes");
  if (static_cast<int64_t>(indptr.element_count()) != n_pre + 1 ||
      static_cast<int64_t>(indices.element_count()) != n_syn ||
      static_cast<int64_t>(col_ptr.element_count()) != n_post + 1 ||
      static_cast<int64_t>(col_pre.element_count()) != n_syn ||
      static_cast<int64_t>(col_off.element_count()) != n_syn ||
      static_cast<int64_t>(a_post.element_count()) != n_pre ||
      static_cast<int64_t>(b_post.element_count()) != n_post ||
      static_cast<int64_t>(a_pre.element_count()) != n_post ||
      static_cast<int64_t>(b_pre.element_count()) != n_pre || lo.element_count() != 1 ||
      hi.element_count() != 1 ||
      w_out->element_count() != w_in.element_count())
    return ffi::Error::InvalidArgument("brainsim plastic_bounded: shapes do not match");
  T* w = static_cast<T*>(w_out->untyped_data());
  if (w != Data<T>(w_in) && n_syn) std::memcpy(w, Data<T>(w_in), n_syn * sizeof(T));
  const T lo_v = *Data<T>(lo), hi_v = *Data<T>(hi);
  const Bound<T> bound{lo_v, hi_v, T(1) / (hi_v - lo_v), (soft & 1) != 0, (soft & 2) != 0};
  const int32_t* ip = Data<int32_t>(indptr);
  bool ok = col_pre.element_type() == ffi::DataType::U16
                ? ColumnsPre(w, Data<T>(post), n_post, ip, Data<int32_t>(col_ptr),
                             Data<uint16_t>(col_pre), col_off, Data<T>(a_post),
                             Data<T>(b_post), bound, n_syn, n_pre)
                : ColumnsPre(w, Data<T>(post), n_post, ip, Data<int32_t>(col_ptr),
                             Data<int32_t>(col_pre), col_off, Data<T>(a_post),
                             Data<T>(b_post), bound, n_syn, n_pre);
  if (!ok) return ffi::Error::InvalidArgument("brainsim plastic_bounded: malformed column index");
  ok = Rows(w, Data<T>(pre), n_pre, ip, Data<int32_t>(indices), Data<T>(a_pre), Data<T>(b_pre),
            bound, n_syn, n_post);
  if (!ok) return ffi::Error::InvalidArgument("brainsim plastic_bounded: malformed layout");
  return ffi::Error::Success();
}

static ffi::Error PlasticImpl(ffi::AnyBuffer w_in, ffi::AnyBuffer pre, ffi::AnyBuffer post,
                              ffi::AnyBuffer indptr, ffi::AnyBuffer indices,
                              ffi::AnyBuffer col_ptr, ffi::AnyBuffer col_pre,
                              ffi::AnyBuffer col_off, ffi::AnyBuffer a_post,
                              ffi::AnyBuffer b_post, ffi::AnyBuffer a_pre,
                              ffi::AnyBuffer b_pre, ffi::AnyBuffer lo, ffi::AnyBuffer hi,
                              ffi::Result<ffi::AnyBuffer> w_out, int64_t soft) {
  switch (w_in.element_type()) {
    case ffi::DataType::F32:
      return Run<float>(w_in, pre, post, indptr, indices, col_ptr, col_pre, col_off, a_post,
                        b_post, a_pre, b_pre, lo, hi, soft, &*w_out);
    case ffi::DataType::F64:
      return Run<double>(w_in, pre, post, indptr, indices, col_ptr, col_pre, col_off, a_post,
                         b_post, a_pre, b_pre, lo, hi, soft, &*w_out);
    default:
      return ffi::Error::InvalidArgument("brainsim plastic_bounded: w must be float32/64");
  }
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimPlasticBounded(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimPlasticBounded, PlasticImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()  // w (aliased to the result)
                                  .Arg<ffi::AnyBuffer>()  // pre spikes
                                  .Arg<ffi::AnyBuffer>()  // post spikes
                                  .Arg<ffi::AnyBuffer>()  // indptr
                                  .Arg<ffi::AnyBuffer>()  // indices
                                  .Arg<ffi::AnyBuffer>()  // col_ptr
                                  .Arg<ffi::AnyBuffer>()  // col_pre
                                  .Arg<ffi::AnyBuffer>()  // col_offset
                                  .Arg<ffi::AnyBuffer>()  // a_post
                                  .Arg<ffi::AnyBuffer>()  // b_post
                                  .Arg<ffi::AnyBuffer>()  // a_pre
                                  .Arg<ffi::AnyBuffer>()  // b_pre
                                  .Arg<ffi::AnyBuffer>()  // lo
                                  .Arg<ffi::AnyBuffer>()  // hi
                                  .Ret<ffi::AnyBuffer>()  // w
                                  .Attr<int64_t>("soft"));
