// brainsim native CPU kernel: event-driven propagation with per-synapse delays
// into a postsynaptic ring buffer (NEST-style), and the read-out of the slot
// that arrives now (BrainsimDelayedEventStep):
//
//   R = ring;  for every active row i, synapse q of row i:
//     R[slot[group[q]], indices[q]] += spikes[i] * w[q]
//   arriving = R[cursor];  R[cursor] = 0;  out = R
//
// ring is aliased to out, so the update is in place when XLA can reuse the
// ring's buffer (a scan carry): a step touches the synapses of the active rows
// and one slot, never the whole ring.  The connectivity is CSR by presynaptic
// neuron; group[q] indexes the small table `slot` of ring rows (one per
// distinct delay value, computed by the caller from the cursor).  Rows whose
// spike value is exactly zero are skipped: the cost is O(n_pre / SIMD width)
// for the spike scan + O(active rows * fan-out) + O(n_post), whatever the
// number of delay values.
//
// Shapes (every operand carries the same number V >= 0 of leading "vmap" dims,
// each either 1 (broadcast) or equal to the output's):
//   indptr  : int32          [v..., n_pre + 1]
//   indices : int32          [v..., nnz]
//   group   : u8/s16/s32     [v..., nnz]
//   slot    : int32          [v..., n_groups]    ring row of each delay value
//   weights : T              [v...] (homogeneous) or [v..., nnz]
//   spikes  : T              [v..., u..., n_pre]
//   ring    : T              [v..., u..., D, n_post]
//   cursor  : int32          [v...]              slot that arrives now
//   out     : T              [v..., u..., D, n_post]
//   arriving: T              [v..., u..., n_post]
// with T = float32 or float64.  Entries of indices outside [0, n_post) and of
// group outside [0, n_groups) are skipped; a slot or cursor outside [0, D) or
// an indptr outside indices is an error.  No global state: safe to call concurrently.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "delayed_rows.h"
#include "event_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using brainsim_native::DelayedRows;
using brainsim_native::kMaxRank;
using brainsim_native::Operand;

static bool Setup(Operand& op, const ffi::AnyBuffer& buf, int V, int core_rank,
                  const int64_t* out_vdims, std::string* err,
                  const char* name) {
  return brainsim_native::SetupOperand(op, buf, V, core_rank, out_vdims, err,
                                       "brainsim delayed_event_step", name);
}

struct Ops {
  Operand indptr, indices, group, slot, weights, spikes;
};

template <typename T, typename G>
static ffi::Error Run(const ffi::AnyBuffer& indptr_b,
                      const ffi::AnyBuffer& indices_b,
                      const ffi::AnyBuffer& group_b,
                      const ffi::AnyBuffer& slot_b,
                      const ffi::AnyBuffer& weights_b,
                      const ffi::AnyBuffer& spikes_b,
                      const ffi::AnyBuffer& ring_b,
                      const ffi::AnyBuffer& cursor_b, ffi::AnyBuffer& out_b,
                      ffi::AnyBuffer& arr_b, bool homogeneous) {
  auto odims = out_b.dimensions();
  const int V = static_cast<int>(indptr_b.dimensions().size()) - 1;
  const int out_rank = static_cast<int>(odims.size());
  const int U = out_rank - V - 2;
  if (V < 0 || U < 0 || V >= kMaxRank)
    return ffi::Error::InvalidArgument("brainsim delayed_event_step: bad ranks");
  const int64_t n_pre = indptr_b.dimensions()[V] - 1;
  const int64_t nnz = indices_b.dimensions()[V];
  const int64_t depth = odims[out_rank - 2], n_post = odims[out_rank - 1];
  const int64_t n_groups = slot_b.dimensions()[V];
  int64_t vdims[kMaxRank];
  int64_t n_v = 1, n_u = 1;
  for (int d = 0; d < V; ++d) n_v *= (vdims[d] = odims[d]);
  for (int d = V; d < V + U; ++d) n_u *= odims[d];

  std::string err;
  Ops o;
  Operand ring, cursor;
  if (!Setup(o.indptr, indptr_b, V, 1, vdims, &err, "indptr") ||
      !Setup(o.indices, indices_b, V, 1, vdims, &err, "indices") ||
      !Setup(o.group, group_b, V, 1, vdims, &err, "group") ||
      !Setup(o.slot, slot_b, V, 1, vdims, &err, "slot") ||
      !Setup(o.weights, weights_b, V, homogeneous ? 0 : 1, vdims, &err,
             "weights") ||
      !Setup(o.spikes, spikes_b, V, U + 1, vdims, &err, "spikes") ||
      !Setup(ring, ring_b, V, U + 2, vdims, &err, "ring") ||
      !Setup(cursor, cursor_b, V, 0, vdims, &err, "cursor"))
    return ffi::Error::InvalidArgument(err);
  if (o.group.core_size != nnz || o.spikes.core_size != n_u * n_pre ||
      ring.core_size != n_u * depth * n_post ||
      (!homogeneous && o.weights.core_size != nnz))
    return ffi::Error::InvalidArgument(
        "brainsim delayed_event_step: operand shapes do not match");

  const int64_t slab = depth * n_post;  // one ring
  T* out = reinterpret_cast<T*>(out_b.untyped_data());
  T* arr = reinterpret_cast<T*>(arr_b.untyped_data());
  const T* in = static_cast<const T*>(ring.data);
  std::vector<int64_t> off(static_cast<size_t>(std::max<int64_t>(n_groups, 1)));
  int64_t vidx[kMaxRank] = {};
  for (int64_t v = 0; v < n_v; ++v) {
    auto at = [&](const Operand& op) {
      int64_t x = 0;
      for (int d = 0; d < V; ++d) x += vidx[d] * op.vstride[d];
      return x;
    };
    const int32_t* ip = static_cast<const int32_t*>(o.indptr.data) + at(o.indptr);
    const int32_t* ix = static_cast<const int32_t*>(o.indices.data) + at(o.indices);
    const G* gr = static_cast<const G*>(o.group.data) + at(o.group);
    const int32_t* sl = static_cast<const int32_t*>(o.slot.data) + at(o.slot);
    const T* w = static_cast<const T*>(o.weights.data) + at(o.weights);
    const T* sp = static_cast<const T*>(o.spikes.data) + at(o.spikes);
    const T* rg = in + at(ring);
    const int64_t c = static_cast<const int32_t*>(cursor.data)[at(cursor)];
    if (c < 0 || c >= depth)
      return ffi::Error::InvalidArgument(
          "brainsim delayed_event_step: cursor outside [0, D)");
    for (int64_t g = 0; g < n_groups; ++g) {
      if (sl[g] < 0 || sl[g] >= depth)
        return ffi::Error::InvalidArgument(
            "brainsim delayed_event_step: slot outside [0, D)");
      off[g] = static_cast<int64_t>(sl[g]) * n_post;
    }
    for (int64_t u = 0; u < n_u; ++u) {
      T* dst = out + (v * n_u + u) * slab;
      const T* src = rg + u * slab;
      if (src != dst) std::memcpy(dst, src, sizeof(T) * slab);  // not aliased
      const T* s = sp + u * n_pre;
      const bool ok =
          homogeneous
              ? DelayedRows<T, G, true>(ip, ix, gr, off.data(), n_groups, w, s,
                                        n_pre, dst, n_post, nnz)
              : DelayedRows<T, G, false>(ip, ix, gr, off.data(), n_groups, w, s,
                                         n_pre, dst, n_post, nnz);
      if (!ok)
        return ffi::Error::InvalidArgument(
            "brainsim delayed_event_step: malformed indptr (row out of range)");
      T* now = dst + c * n_post;  // arrives in this step: read, then clear
      std::memcpy(arr + (v * n_u + u) * n_post, now, sizeof(T) * n_post);
      std::memset(now, 0, sizeof(T) * n_post);
    }
    for (int d = V - 1; d >= 0; --d) {
      if (++vidx[d] < vdims[d]) break;
      vidx[d] = 0;
    }
  }
  return ffi::Error::Success();
}

template <typename T>
static ffi::Error ByGroup(const ffi::AnyBuffer& indptr,
                          const ffi::AnyBuffer& indices,
                          const ffi::AnyBuffer& group,
                          const ffi::AnyBuffer& slot,
                          const ffi::AnyBuffer& weights,
                          const ffi::AnyBuffer& spikes,
                          const ffi::AnyBuffer& ring,
                          const ffi::AnyBuffer& cursor, ffi::AnyBuffer& out,
                          ffi::AnyBuffer& arr, bool homogeneous) {
  switch (group.element_type()) {
    case ffi::DataType::U8:
      return Run<T, uint8_t>(indptr, indices, group, slot, weights, spikes,
                             ring, cursor, out, arr, homogeneous);
    case ffi::DataType::S16:
      return Run<T, int16_t>(indptr, indices, group, slot, weights, spikes,
                             ring, cursor, out, arr, homogeneous);
    case ffi::DataType::S32:
      return Run<T, int32_t>(indptr, indices, group, slot, weights, spikes,
                             ring, cursor, out, arr, homogeneous);
    default:
      return ffi::Error::InvalidArgument(
          "brainsim delayed_event_step: group must be uint8, int16 or int32");
  }
}

static ffi::Error Impl(ffi::AnyBuffer indptr, ffi::AnyBuffer indices,
                       ffi::AnyBuffer group, ffi::AnyBuffer slot,
                       ffi::AnyBuffer weights, ffi::AnyBuffer spikes,
                       ffi::AnyBuffer ring, ffi::AnyBuffer cursor,
                       ffi::Result<ffi::AnyBuffer> out,
                       ffi::Result<ffi::AnyBuffer> arr, bool homogeneous) {
  if (indptr.element_type() != ffi::DataType::S32 ||
      indices.element_type() != ffi::DataType::S32 ||
      slot.element_type() != ffi::DataType::S32 ||
      cursor.element_type() != ffi::DataType::S32)
    return ffi::Error::InvalidArgument(
        "brainsim delayed_event_step: indptr/indices/slot/cursor must be int32");
  const ffi::DataType dt = ring.element_type();
  if (weights.element_type() != dt || spikes.element_type() != dt ||
      out->element_type() != dt || arr->element_type() != dt)
    return ffi::Error::InvalidArgument(
        "brainsim delayed_event_step: weights/spikes/ring dtypes differ");
  switch (dt) {
    case ffi::DataType::F32:
      return ByGroup<float>(indptr, indices, group, slot, weights, spikes,
                            ring, cursor, *out, *arr, homogeneous);
    case ffi::DataType::F64:
      return ByGroup<double>(indptr, indices, group, slot, weights, spikes,
                             ring, cursor, *out, *arr, homogeneous);
    default:
      return ffi::Error::InvalidArgument(
          "brainsim delayed_event_step: only float32/float64 are supported");
  }
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimDelayedEventStep(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimDelayedEventStep, Impl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()  // indptr
                                  .Arg<ffi::AnyBuffer>()  // indices
                                  .Arg<ffi::AnyBuffer>()  // group
                                  .Arg<ffi::AnyBuffer>()  // slot
                                  .Arg<ffi::AnyBuffer>()  // weights
                                  .Arg<ffi::AnyBuffer>()  // spikes
                                  .Arg<ffi::AnyBuffer>()  // ring
                                  .Arg<ffi::AnyBuffer>()  // cursor
                                  .Ret<ffi::AnyBuffer>()  // out (aliases ring)
                                  .Ret<ffi::AnyBuffer>()  // arriving
                                  .Attr<bool>("homogeneous"));
