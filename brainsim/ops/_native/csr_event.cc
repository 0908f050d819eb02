// brainsim native CPU kernels: event-driven CSR matrix-vector product.
//
//   out[..., j] = sum_i spikes[..., i] * w_ij        (BrainsimCsrEventMatvec)
//
// The connectivity is CSR by presynaptic neuron (row i = presynaptic neuron,
// indices[indptr[i]:indptr[i+1]] = its postsynaptic targets).  Rows whose
// spike value is exactly zero are skipped, so the cost is
// O(n_pre / SIMD width) for the spike scan + O(active rows * fan-out).
//
// Shapes (all arguments carry the same number V >= 0 of leading "vmap" dims,
// which is how jax.ffi's vmap_method="expand_dims" presents batched calls;
// every such dim is either 1 (broadcast) or equal to the output's):
//   indptr  : int32 [v..., n_pre + 1]
//   indices : int32 [v..., nnz]
//   weights : T     [v...]            (homogeneous=true)
//             T     [v..., nnz]       (homogeneous=false)
//   spikes  : T     [v..., u..., n_pre]   (u... = user batch dims, U >= 0)
//   out     : T     [v..., u..., n_post]
// with T = float32 or float64.
//
// The handlers hold no global state and are safe to call concurrently.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "event_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using brainsim_native::kMaxRank;
using brainsim_native::Operand;

static bool SetupOperand(Operand& op, const ffi::AnyBuffer& buf, int V,
                         int core_rank, const int64_t* out_vdims,
                         std::string* err, const char* name) {
  return brainsim_native::SetupOperand(op, buf, V, core_rank, out_vdims, err,
                                       "brainsim csr_event_matvec", name);
}

// Core: one (spike vector, connectivity) pair, added into `out` (zeroed by the
// caller) for the targets in [lo, hi) (all by default).  Returns false on
// malformed CSR.
template <typename T, bool kHomo>
static bool EventRows(const int32_t* __restrict indptr, const int32_t* __restrict indices,
                      const T* __restrict w, const T* __restrict s, int64_t n_pre,
                      T* __restrict out, int64_t n_post, int64_t nnz, int64_t lo = 0,
                      int64_t hi = -1) {
  if (hi < 0) hi = n_post;
  return brainsim_native::ForEachActiveList(s, n_pre, [&](const int32_t* act, int64_t na) {
    return brainsim_native::AddRows<T, kHomo>(indptr, indices, w, s, act, na, nnz, out, lo, hi);
  });
}

template <typename T>
static ffi::Error Run(ffi::AnyBuffer indptr_b, ffi::AnyBuffer indices_b,
                      ffi::AnyBuffer weights_b, ffi::AnyBuffer spikes_b,
                      ffi::Result<ffi::AnyBuffer> out_b, bool homogeneous) {
  auto odims = out_b->dimensions();
  auto idims = indptr_b.dimensions();
  const int V = static_cast<int>(idims.size()) - 1;
  const int out_rank = static_cast<int>(odims.size());
  const int U = out_rank - V - 1;
  if (V < 0 || U < 0 || V >= kMaxRank) {
    return ffi::Error::InvalidArgument("brainsim csr_event_matvec: bad ranks");
  }
  const int64_t n_pre = idims[V] - 1;
  const int64_t n_post = odims[out_rank - 1];
  const int64_t nnz = indices_b.dimensions()[V];
  int64_t out_vdims[kMaxRank];
  int64_t n_v = 1;
  for (int d = 0; d < V; ++d) {
    out_vdims[d] = odims[d];
    n_v *= odims[d];
  }
  int64_t n_u = 1;
  for (int d = V; d < V + U; ++d) n_u *= odims[d];

  std::string err;
  Operand indptr, indices, weights, spikes;
  if (!SetupOperand(indptr, indptr_b, V, 1, out_vdims, &err, "indptr") ||
      !SetupOperand(indices, indices_b, V, 1, out_vdims, &err, "indices") ||
      !SetupOperand(weights, weights_b, V, homogeneous ? 0 : 1, out_vdims,
                    &err, "weights") ||
      !SetupOperand(spikes, spikes_b, V, U + 1, out_vdims, &err, "spikes")) {
    return ffi::Error::InvalidArgument(err);
  }
  if (spikes.core_size != n_u * n_pre)
    return ffi::Error::InvalidArgument(
        "brainsim csr_event_matvec: spikes shape does not match indptr/out");
  if (!homogeneous && weights.core_size != nnz)
    return ffi::Error::InvalidArgument(
        "brainsim csr_event_matvec: weights must have the shape of indices");

  T* out = reinterpret_cast<T*>(out_b->untyped_data());
  int64_t vidx[kMaxRank] = {};
  for (int64_t v = 0; v < n_v; ++v) {
    // Offsets of this vmap slice in each operand.
    int64_t o_ip = 0, o_ix = 0, o_w = 0, o_s = 0;
    for (int d = 0; d < V; ++d) {
      o_ip += vidx[d] * indptr.vstride[d];
      o_ix += vidx[d] * indices.vstride[d];
      o_w += vidx[d] * weights.vstride[d];
      o_s += vidx[d] * spikes.vstride[d];
    }
    const int32_t* ip = static_cast<const int32_t*>(indptr.data) + o_ip;
    const int32_t* ix = static_cast<const int32_t*>(indices.data) + o_ix;
    const T* w = static_cast<const T*>(weights.data) + o_w;
    for (int64_t u = 0; u < n_u; ++u) {
      const T* s = static_cast<const T*>(spikes.data) + o_s + u * n_pre;
      T* o = out + (v * n_u + u) * n_post;
      std::memset(o, 0, sizeof(T) * n_post);
      bool ok = homogeneous ? EventRows<T, true>(ip, ix, w, s, n_pre, o, n_post, nnz)
                            : EventRows<T, false>(ip, ix, w, s, n_pre, o, n_post, nnz);
      if (!ok)
        return ffi::Error::InvalidArgument(
            "brainsim csr_event_matvec: malformed indptr (row out of range)");
    }
    // Advance the vmap multi-index.
    for (int d = V - 1; d >= 0; --d) {
      if (++vidx[d] < out_vdims[d]) break;
      vidx[d] = 0;
    }
  }
  return ffi::Error::Success();
}

static ffi::Error MatvecImpl(ffi::AnyBuffer indptr, ffi::AnyBuffer indices,
                             ffi::AnyBuffer weights, ffi::AnyBuffer spikes,
                             ffi::Result<ffi::AnyBuffer> out,
                             bool homogeneous) {
  if (indptr.element_type() != ffi::DataType::S32 ||
      indices.element_type() != ffi::DataType::S32) {
    return ffi::Error::InvalidArgument(
        "brainsim csr_event_matvec: indptr/indices must be int32");
  }
  const ffi::DataType dt = spikes.element_type();
  if (weights.element_type() != dt || out->element_type() != dt) {
    return ffi::Error::InvalidArgument(
        "brainsim csr_event_matvec: weights/spikes/out dtypes differ");
  }
  switch (dt) {
    case ffi::DataType::F32:
      return Run<float>(indptr, indices, weights, spikes, out, homogeneous);
    case ffi::DataType::F64:
      return Run<double>(indptr, indices, weights, spikes, out, homogeneous);
    default:
      return ffi::Error::InvalidArgument(
          "brainsim csr_event_matvec: only float32/float64 are supported");
  }
}

// Several projections in one call (BrainsimCsrEventMulti): one FFI call per
// network step instead of one per projection.  Operands: S spike sources
// [b..., n_pre_s] (all with the same leading batch shape b...), then for each
// of the P projections indptr [n_pre + 1], indices [nnz] and weights
// ([] or [nnz]); results: P outputs [b..., n_post_p].  Attributes: `source`
// (P ints: which spike source feeds each projection) and `homogeneous` (P
// ints, 1 = scalar weight).  The connectivity is never batched here: the
// Python side falls back to per-projection calls when it is.
//
// The active rows of each (spike source, batch row) are found once and shared
// by every projection reading that source (a network's populations each feed
// several projections), in ascending order as ForEachActiveList visits them:
// the same additions in the same order as a scan per projection.
//
// In a large network the targets are split into contiguous ranges, one per
// thread of XLA's intra-op pool: every thread walks all active rows and adds
// only into its own range, so each target receives its additions in the same
// order as with one thread (results are bitwise independent of the thread
// count) and no two threads write the same cache line.
template <typename T>
struct Projection {
  const int32_t *ip, *ix;
  const T *w, *s;
  T* out;
  int64_t n_pre, n_post, nnz, source;
  bool homo;
};

// Targets per network below which one thread does it all: the pool's
// dispatch (a few microseconds) would cost more than it saves.
constexpr int64_t kParallelTargets = int64_t{1} << 17;

template <typename T>
static ffi::Error RunMulti(ffi::ThreadPool& pool, ffi::RemainingArgs args,
                           ffi::RemainingRets rets,
                           ffi::Span<const int64_t> source,
                           ffi::Span<const int64_t> homogeneous) {
  const int64_t P = static_cast<int64_t>(source.size());
  const int64_t S = static_cast<int64_t>(args.size()) - 3 * P;
  if (S < 1 || static_cast<int64_t>(homogeneous.size()) != P ||
      static_cast<int64_t>(rets.size()) != P)
    return ffi::Error::InvalidArgument("brainsim csr_event_multi: bad arity");
  int64_t batch = -1, targets = 0;
  // Reused by this thread's calls (no allocation per step); the worker threads
  // reach it through the reference.
  static thread_local std::vector<Projection<T>> reused;
  std::vector<Projection<T>>& projs = reused;
  projs.clear();
  for (int64_t p = 0; p < P; ++p) {
    if (source[p] < 0 || source[p] >= S)
      return ffi::Error::InvalidArgument("brainsim csr_event_multi: bad source");
    auto s_b = args.get<ffi::AnyBuffer>(source[p]);
    auto ip_b = args.get<ffi::AnyBuffer>(S + 3 * p);
    auto ix_b = args.get<ffi::AnyBuffer>(S + 3 * p + 1);
    auto w_b = args.get<ffi::AnyBuffer>(S + 3 * p + 2);
    auto out_b = rets.get<ffi::AnyBuffer>(p);
    if (!s_b || !ip_b || !ix_b || !w_b || !out_b)
      return ffi::Error::InvalidArgument("brainsim csr_event_multi: bad operand");
    if (ip_b->element_type() != ffi::DataType::S32 ||
        ix_b->element_type() != ffi::DataType::S32)
      return ffi::Error::InvalidArgument(
          "brainsim csr_event_multi: indptr/indices must be int32");
    const ffi::DataType dt =
        sizeof(T) == 4 ? ffi::DataType::F32 : ffi::DataType::F64;
    if (s_b->element_type() != dt || w_b->element_type() != dt ||
        (*out_b)->element_type() != dt)
      return ffi::Error::InvalidArgument(
          "brainsim csr_event_multi: spikes/weights/out dtypes differ");
    auto sd = s_b->dimensions();
    auto od = (*out_b)->dimensions();
    if (sd.size() < 1 || od.size() != sd.size())
      return ffi::Error::InvalidArgument("brainsim csr_event_multi: bad ranks");
    Projection<T> pr;
    pr.n_pre = sd[sd.size() - 1];
    pr.n_post = od[od.size() - 1];
    pr.nnz = static_cast<int64_t>(ix_b->element_count());
    pr.homo = homogeneous[p] != 0;
    pr.source = source[p];
    int64_t b = 1;
    for (size_t d = 0; d + 1 < sd.size(); ++d) {
      if (sd[d] != od[d])
        return ffi::Error::InvalidArgument(
            "brainsim csr_event_multi: batch shapes of spikes and out differ");
      b *= sd[d];
    }
    if (batch >= 0 && b != batch)
      return ffi::Error::InvalidArgument(
          "brainsim csr_event_multi: spike sources have different batch sizes");
    batch = b;
    if (static_cast<int64_t>(ip_b->element_count()) != pr.n_pre + 1 ||
        static_cast<int64_t>(w_b->element_count()) != (pr.homo ? 1 : pr.nnz))
      return ffi::Error::InvalidArgument(
          "brainsim csr_event_multi: connectivity does not match the spikes");
    pr.ip = static_cast<const int32_t*>(ip_b->untyped_data());
    pr.ix = static_cast<const int32_t*>(ix_b->untyped_data());
    pr.w = static_cast<const T*>(w_b->untyped_data());
    brainsim_native::HugePages(pr.ix, sizeof(int32_t) * pr.nnz);
    if (!pr.homo) brainsim_native::HugePages(pr.w, sizeof(T) * pr.nnz);
    pr.s = static_cast<const T*>(s_b->untyped_data());
    pr.out = static_cast<T*>((*out_b)->untyped_data());
    targets += b * pr.n_post;
    projs.push_back(pr);
  }
  // active[source * batch + u]: the rows of source `source`, batch row u, with
  // a nonzero spike; reused by this thread's calls (no allocation per step).
  static thread_local std::vector<std::vector<int32_t>> reused_active;
  std::vector<std::vector<int32_t>>& active = reused_active;
  std::vector<bool> found(static_cast<size_t>(S * std::max<int64_t>(batch, 0)), false);
  if (active.size() < found.size()) active.resize(found.size());
  for (const Projection<T>& pr : projs) {
    for (int64_t u = 0; u < batch; ++u) {
      const size_t key = static_cast<size_t>(pr.source * batch + u);
      if (found[key]) continue;
      found[key] = true;
      std::vector<int32_t>& rows = active[key];
      rows.clear();
      brainsim_native::ForEachActiveList(pr.s + u * pr.n_pre, pr.n_pre,
                                         [&rows](const int32_t* act, int64_t na) {
                                           rows.insert(rows.end(), act, act + na);
                                           return true;
                                         });
    }
  }
  const int64_t parts =
      targets < kParallelTargets
          ? 1
          : std::min<int64_t>(brainsim_native::MaxThreads(pool), 8);
  std::atomic<bool> malformed{false};
  auto part = [&](int64_t k) {
    for (const Projection<T>& pr : projs) {
      const int64_t lo = pr.n_post * k / parts, hi = pr.n_post * (k + 1) / parts;
      for (int64_t u = 0; u < batch; ++u) {
        T* out = pr.out + u * pr.n_post;
        std::memset(out + lo, 0, sizeof(T) * (hi - lo));
        const T* s = pr.s + u * pr.n_pre;
        const std::vector<int32_t>& rows = active[pr.source * batch + u];
        const int64_t na = static_cast<int64_t>(rows.size());
        const bool ok =
            pr.homo ? brainsim_native::AddRows<T, true>(pr.ip, pr.ix, pr.w, s, rows.data(),
                                                        na, pr.nnz, out, lo, hi)
                    : brainsim_native::AddRows<T, false>(pr.ip, pr.ix, pr.w, s, rows.data(),
                                                         na, pr.nnz, out, lo, hi);
        if (!ok) malformed.store(true);
      }
    }
  };
  brainsim_native::ParallelFor(pool, parts, part);
  if (malformed.load())
    return ffi::Error::InvalidArgument(
        "brainsim csr_event_multi: malformed indptr (row out of range)");
  return ffi::Error::Success();
}

static ffi::Error MultiImpl(ffi::ThreadPool pool, ffi::RemainingArgs args,
                            ffi::RemainingRets rets,
                            ffi::Span<const int64_t> source,
                            ffi::Span<const int64_t> homogeneous) {
  if (args.size() < 1)
    return ffi::Error::InvalidArgument("brainsim csr_event_multi: no operands");
  auto first = args.get<ffi::AnyBuffer>(0);
  if (!first) return ffi::Error::InvalidArgument("brainsim csr_event_multi");
  switch (first->element_type()) {
    case ffi::DataType::F32:
      return RunMulti<float>(pool, args, rets, source, homogeneous);
    case ffi::DataType::F64:
      return RunMulti<double>(pool, args, rets, source, homogeneous);
    default:
      return ffi::Error::InvalidArgument(
          "brainsim csr_event_multi: only float32/float64 are supported");
  }
}

}  // namespace

// The library is built with -fvisibility=hidden; export only the handlers.
#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimCsrEventMatvec(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimCsrEventMulti(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT int brainsim_native_abi_version();
BRAINSIM_EXPORT void brainsim_native_configure(int64_t max_threads, int64_t linger_ns);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimCsrEventMatvec, MatvecImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()  // indptr
                                  .Arg<ffi::AnyBuffer>()  // indices
                                  .Arg<ffi::AnyBuffer>()  // weights
                                  .Arg<ffi::AnyBuffer>()  // spikes
                                  .Ret<ffi::AnyBuffer>()  // out
                                  .Attr<bool>("homogeneous"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimCsrEventMulti, MultiImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .RemainingArgs()  // spike sources, then CSRs
                                  .RemainingRets()  // one output per projection
                                  .Attr<ffi::Span<const int64_t>>("source")
                                  .Attr<ffi::Span<const int64_t>>("homogeneous"));

// ABI tag so the loader can check it loaded the library it expects.
int brainsim_native_abi_version() { return 13; }

// brainsim.ops.configure: the most threads a call may use (0: XLA's intra-op
// pool) and how long (ns) TeamFor's helpers poll for the next call (0: none).
void brainsim_native_configure(int64_t max_threads, int64_t linger_ns) {
  brainsim_native::g_thread_cap.store(std::max<int64_t>(0, max_threads));
  brainsim_native::g_linger_ns.store(std::max<int64_t>(0, linger_ns));
}
