// brainsim native CPU kernel: one network step of every per-synapse-delay
// ring in one call (BrainsimDelayedEventMulti), instead of one call per
// projection (delayed_event.cc).  For each projection p, with the spike
// vector s of its source:
//
//   R_p = ring_p;  for every active row i, synapse q of row i:
//     R_p[(c_p + steps_p[group[q]] - 1) mod D_p, indices[q]] += s[i] * w[q]
//   arriving_p = R_p[c_p];  R_p[c_p] = 0;  c_p' = (c_p + 1) mod D_p
//
// Each source's spike vector is scanned once for its active rows, whatever
// the number of projections it feeds.  Operands (RemainingArgs): S spike
// sources [u..., n_pre_s] (one batch shape u... for all), then for each of the
// P projections indptr s32[n_pre + 1], indices s32[nnz], group
// (u8/s16/s32)[nnz], weights ([] homogeneous or [nnz]), ring [u..., D, n_post]
// and cursor s32[]; results (RemainingRets), per projection: the ring
// (aliased to the operand: updated in place), arriving [u..., n_post] and the
// next cursor (aliased).  Attributes: `source` (P: which source feeds each
// projection), `n_groups` (P: delay values per projection) and `steps` (the
// delay in steps, 1 <= d <= D_p, of each projection's values, concatenated).
// Floats: float32 or float64, one for all.  Entries of indices outside
// [0, n_post) and of group outside [0, n_groups) are skipped; a malformed
// indptr, a cursor outside [0, D) or a delay outside [1, D] is an error.
//
// Large steps run on several threads of XLA's intra-op pool, each taking
// whole projections (claimed through an atomic counter): every ring receives
// its additions in the same order whatever the thread count, so results are
// bitwise independent of it.  No global state: safe to call concurrently.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "delayed_rows.h"
#include "event_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using brainsim_native::DelayedRowsAt;
using brainsim_native::ForEachActiveList;

constexpr char kName[] = "brainsim delayed_event_multi: ";

ffi::Error Invalid(const char* what) {
  return ffi::Error::InvalidArgument(std::string(kName) + what);
}

template <typename T>
struct Ring {
  const int32_t *ip, *ix;
  const void* group;
  ffi::DataType group_type;
  const T* w;
  const T* in;  // the ring operand (the output itself when aliased)
  T *out, *arriving;
  int32_t* cursor_out;
  const int64_t* steps;  // n_groups delays (steps)
  int64_t source, n_pre, nnz, depth, n_post, n_groups, cursor;
  bool homo;
};

// Steps whose estimated work (synapses of the active rows + ring slots read
// and cleared) is below this run on the calling thread alone: the pool's
// dispatch (a few microseconds) would cost more than it saves.
constexpr int64_t kParallelWork = int64_t{1} << 16;

template <typename T, typename G>
static bool Scatter(const Ring<T>& r, const int64_t* off, const T* s,
                    const std::vector<int32_t>& act, T* ring) {
  const G* g = static_cast<const G*>(r.group);
  const int64_t na = static_cast<int64_t>(act.size());
  return r.homo ? DelayedRowsAt<T, G, true>(r.ip, r.ix, g, off, r.n_groups, r.w, s,
                                           act.data(), na, ring, r.n_post, r.nnz)
                : DelayedRowsAt<T, G, false>(r.ip, r.ix, g, off, r.n_groups, r.w, s,
                                            act.data(), na, ring, r.n_post, r.nnz);
}

// One projection's step over the batch: copy (unless aliased), scatter, read
// and clear the arriving slot.  `active[u]`: its source's active rows.
template <typename T>
static bool StepRing(const Ring<T>& r, const T* spikes, int64_t n_u,
                     const std::vector<std::vector<int32_t>>& active) {
  std::vector<int64_t> off(static_cast<size_t>(std::max<int64_t>(r.n_groups, 1)));
  for (int64_t g = 0; g < r.n_groups; ++g)
    off[g] = (r.cursor + r.steps[g] - 1) % r.depth * r.n_post;
  const int64_t slab = r.depth * r.n_post;
  for (int64_t u = 0; u < n_u; ++u) {
    T* ring = r.out + u * slab;
    if (r.in + u * slab != ring) std::memcpy(ring, r.in + u * slab, sizeof(T) * slab);
    const T* s = spikes + u * r.n_pre;
    bool ok = false;
    switch (r.group_type) {
      case ffi::DataType::U8:
        ok = Scatter<T, uint8_t>(r, off.data(), s, active[u], ring);
        break;
      case ffi::DataType::S16:
        ok = Scatter<T, int16_t>(r, off.data(), s, active[u], ring);
        break;
      default:
        ok = Scatter<T, int32_t>(r, off.data(), s, active[u], ring);
    }
    if (!ok) return false;
    T* now = ring + r.cursor * r.n_post;  // arrives in this step: read, then clear
    std::memcpy(r.arriving + u * r.n_post, now, sizeof(T) * r.n_post);
    std::memset(now, 0, sizeof(T) * r.n_post);
  }
  *r.cursor_out = static_cast<int32_t>((r.cursor + 1) % r.depth);
  return true;
}

// The leading (batch) size of `dims` before its last `core` dims, or -1.
static int64_t BatchOf(ffi::Span<const int64_t> dims, size_t core) {
  if (dims.size() < core) return -1;
  int64_t b = 1;
  for (size_t d = 0; d + core < dims.size(); ++d) b *= dims[d];
  return b;
}

// Reads and checks projection p's operands into r; nullptr-free error text.
template <typename T>
static const char* Setup(ffi::RemainingArgs& args, ffi::RemainingRets& rets, int64_t S,
                         int64_t p, ffi::DataType dt, Ring<T>& r) {
  auto ip = args.get<ffi::AnyBuffer>(S + 6 * p);
  auto ix = args.get<ffi::AnyBuffer>(S + 6 * p + 1);
  auto gr = args.get<ffi::AnyBuffer>(S + 6 * p + 2);
  auto w = args.get<ffi::AnyBuffer>(S + 6 * p + 3);
  auto ring = args.get<ffi::AnyBuffer>(S + 6 * p + 4);
  auto cur = args.get<ffi::AnyBuffer>(S + 6 * p + 5);
  auto out = rets.get<ffi::AnyBuffer>(3 * p);
  auto arr = rets.get<ffi::AnyBuffer>(3 * p + 1);
  auto cur_out = rets.get<ffi::AnyBuffer>(3 * p + 2);
  if (!ip || !ix || !gr || !w || !ring || !cur || !out || !arr || !cur_out)
    return "bad operand";
  if (ip->element_type() != ffi::DataType::S32 || ix->element_type() != ffi::DataType::S32 ||
      cur->element_type() != ffi::DataType::S32 ||
      (*cur_out)->element_type() != ffi::DataType::S32)
    return "indptr/indices/cursor must be int32";
  r.group_type = gr->element_type();
  if (r.group_type != ffi::DataType::U8 && r.group_type != ffi::DataType::S16 &&
      r.group_type != ffi::DataType::S32)
    return "group must be uint8, int16 or int32";
  if (w->element_type() != dt || ring->element_type() != dt ||
      (*out)->element_type() != dt || (*arr)->element_type() != dt)
    return "spikes/weights/rings dtypes differ";
  auto rd = ring->dimensions();
  if (rd.size() < 2 || ip->dimensions().size() != 1 || ix->dimensions().size() != 1 ||
      gr->element_count() != ix->element_count() || cur->element_count() != 1)
    return "bad ranks";
  r.n_pre = static_cast<int64_t>(ip->element_count()) - 1;
  r.nnz = static_cast<int64_t>(ix->element_count());
  r.depth = rd[rd.size() - 2];
  r.n_post = rd[rd.size() - 1];
  r.homo = w->dimensions().size() == 0;
  if (!r.homo && static_cast<int64_t>(w->element_count()) != r.nnz)
    return "weights must be a scalar or one per synapse";
  if (static_cast<int64_t>((*out)->element_count()) != ring->element_count() ||
      static_cast<int64_t>((*arr)->element_count()) * r.depth !=
          static_cast<int64_t>(ring->element_count()))
    return "outputs do not match the ring";
  r.ip = static_cast<const int32_t*>(ip->untyped_data());
  r.ix = static_cast<const int32_t*>(ix->untyped_data());
  r.group = gr->untyped_data();
  r.w = static_cast<const T*>(w->untyped_data());
  r.in = static_cast<const T*>(ring->untyped_data());
  r.out = static_cast<T*>((*out)->untyped_data());
  r.arriving = static_cast<T*>((*arr)->untyped_data());
  r.cursor_out = static_cast<int32_t*>((*cur_out)->untyped_data());
  r.cursor = *static_cast<const int32_t*>(cur->untyped_data());
  if (r.cursor < 0 || r.cursor >= r.depth) return "cursor outside [0, D)";
  brainsim_native::HugePages(r.ix, sizeof(int32_t) * r.nnz);
  if (!r.homo) brainsim_native::HugePages(r.w, sizeof(T) * r.nnz);
  return nullptr;
}

template <typename T>
static ffi::Error Run(ffi::ThreadPool& pool, ffi::RemainingArgs args,
                      ffi::RemainingRets rets, ffi::Span<const int64_t> source,
                      ffi::Span<const int64_t> n_groups, ffi::Span<const int64_t> steps,
                      ffi::DataType dt) {
  const int64_t P = static_cast<int64_t>(source.size());
  const int64_t S = static_cast<int64_t>(args.size()) - 6 * P;
  if (S < 1 || static_cast<int64_t>(n_groups.size()) != P ||
      static_cast<int64_t>(rets.size()) != 3 * P)
    return Invalid("bad arity");
  // The sources' active rows, per batch entry, found once.
  std::vector<const T*> spikes(S);
  std::vector<int64_t> n_pre(S);
  std::vector<std::vector<std::vector<int32_t>>> active(S);
  int64_t n_u = -1;
  for (int64_t k = 0; k < S; ++k) {
    auto b = args.get<ffi::AnyBuffer>(k);
    if (!b || b->element_type() != dt) return Invalid("spike sources must share a float dtype");
    auto d = b->dimensions();
    const int64_t u = BatchOf(d, 1);
    if (u < 0 || (n_u >= 0 && u != n_u)) return Invalid("spike sources' batch shapes differ");
    n_u = u;
    n_pre[k] = d[d.size() - 1];
    spikes[k] = static_cast<const T*>(b->untyped_data());
    active[k].resize(n_u);
    for (int64_t v = 0; v < n_u; ++v) {
      std::vector<int32_t>& a = active[k][v];
      ForEachActiveList(spikes[k] + v * n_pre[k], n_pre[k], [&a](const int32_t* x, int64_t n) {
        a.insert(a.end(), x, x + n);
        return true;
      });
    }
  }
  std::vector<Ring<T>> rings(P);
  int64_t next_step = 0, work = 0;
  for (int64_t p = 0; p < P; ++p) {
    Ring<T>& r = rings[p];
    if (const char* err = Setup(args, rets, S, p, dt, r)) return Invalid(err);
    r.source = source[p];
    r.n_groups = n_groups[p];
    if (r.source < 0 || r.source >= S || r.n_groups < 0 ||
        next_step + r.n_groups > static_cast<int64_t>(steps.size()))
      return Invalid("bad source or n_groups attribute");
    if (r.n_pre != n_pre[r.source]) return Invalid("indptr does not match its spike source");
    auto rd = args.get<ffi::AnyBuffer>(S + 6 * p + 4)->dimensions();
    if (BatchOf(rd, 2) != n_u) return Invalid("ring and spikes batch shapes differ");
    r.steps = steps.begin() + next_step;
    next_step += r.n_groups;
    for (int64_t g = 0; g < r.n_groups; ++g)
      if (r.steps[g] < 1 || r.steps[g] > r.depth) return Invalid("delay outside [1, D] steps");
    const int64_t fan = r.n_pre > 0 ? r.nnz / r.n_pre + 1 : 0;
    for (const auto& a : active[r.source])
      work += r.n_post + fan * static_cast<int64_t>(a.size());
  }
  const int64_t parts = work < kParallelWork
                            ? 1
                            : std::min<int64_t>(brainsim_native::MaxThreads(pool), P);
  std::atomic<int64_t> next{0};
  std::atomic<bool> malformed{false};
  brainsim_native::ParallelFor(pool, parts, [&](int64_t) {
    for (int64_t p; (p = next.fetch_add(1)) < P;) {
      const Ring<T>& r = rings[p];
      if (!StepRing(r, spikes[r.source], n_u, active[r.source])) malformed.store(true);
    }
  });
  if (malformed.load()) return Invalid("malformed indptr (row out of range)");
  return ffi::Error::Success();
}

static ffi::Error Impl(ffi::ThreadPool pool, ffi::RemainingArgs args,
                       ffi::RemainingRets rets, ffi::Span<const int64_t> source,
                       ffi::Span<const int64_t> n_groups, ffi::Span<const int64_t> steps) {
  if (args.size() < 1) return Invalid("no operands");
  auto first = args.get<ffi::AnyBuffer>(0);
  if (!first) return Invalid("bad operand");
  switch (first->element_type()) {
    case ffi::DataType::F32:
      return Run<float>(pool, args, rets, source, n_groups, steps, ffi::DataType::F32);
    case ffi::DataType::F64:
      return Run<double>(pool, args, rets, source, n_groups, steps, ffi::DataType::F64);
    default:
      return Invalid("only float32/float64 are supported");
  }
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimDelayedEventMulti(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimDelayedEventMulti, Impl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .RemainingArgs()  // spike sources, then per ring 6
                                  .RemainingRets()  // per ring: ring, arriving, cursor
                                  .Attr<ffi::Span<const int64_t>>("source")
                                  .Attr<ffi::Span<const int64_t>>("n_groups")
                                  .Attr<ffi::Span<const int64_t>>("steps"));
