// brainsim native CPU kernel: one network step of every per-synapse-delay
// ring in one call (BrainsimDelayedEventMulti), instead of one call per
// projection (delayed_event.cc).  Each ring r receives the projections p with
// ring_p = r, in their order; for each, with the spike vector s of its source:
//
//   R_r = ring_r;  for each projection p of r, active row i, synapse q of i:
//     R_r[(c_r + steps_p[group_p[q]] - 1) mod D_r, indices_p[q]] += s[i] * w_p[q]
//   arriving_r = R_r[c_r];  R_r[c_r] = 0;  c_r' = (c_r + 1) mod D_r
//
// so projections onto one population with one synaptic trace share a ring and
// arrive summed.  Each source's spike vector is scanned once for its active
// rows, whatever the number of projections it feeds.  Operands
// (RemainingArgs): S spike sources [u..., n_pre_s] (one batch shape u... for
// all), then for each of the P projections indptr s32[n_pre + 1], indices
// s32[nnz], group (u8/s16/s32)[nnz] and weights ([] homogeneous or [nnz]),
// then for each of the R rings the ring [u..., D, n_post] and its cursor
// s32[]; results (RemainingRets), per ring: the ring (aliased to the operand:
// updated in place), arriving [u..., n_post] and the next cursor (aliased).
// Attributes: `source` and `ring` (P: which source feeds, and which ring
// receives, each projection), `n_groups` (P: delay values per projection) and
// `steps` (the delay in steps, 1 <= d <= D of its ring, of each projection's
// values, concatenated).  Floats: float32 or float64, one for all.  Entries of
// indices outside [0, n_post) and of group outside [0, n_groups) are skipped;
// a malformed indptr, a cursor outside [0, D) or a delay outside [1, D] is an
// error.
//
// Large steps run on several threads of XLA's intra-op pool, each taking
// whole rings (claimed through an atomic counter): every ring receives its
// additions in the same order whatever the thread count, so results are
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

// One projection's synapses (CSR by presynaptic row, rows sorted by delay).
template <typename T>
struct Proj {
  const int32_t *ip, *ix;
  const void* group;
  ffi::DataType group_type;
  const T* w;
  const int64_t* steps;  // n_groups delays (steps)
  int64_t source, ring, n_pre, nnz, n_groups;
  bool homo;
};

// One ring and the projections that it receives, in order.
template <typename T>
struct Ring {
  const T* in;  // the ring operand (the output itself when aliased)
  T *out, *arriving;
  int32_t* cursor_out;
  int64_t depth, n_post, cursor;
  std::vector<int64_t> members;
};

// Steps whose estimated work (synapses of the active rows + ring slots read
// and cleared) is below this run on the calling thread alone: the pool's
// dispatch (a few microseconds) would cost more than it saves.
constexpr int64_t kParallelWork = int64_t{1} << 16;

template <typename T, typename G>
static bool Scatter(const Proj<T>& p, int64_t n_post, const int64_t* off, const T* s,
                    const std::vector<int32_t>& act, T* ring) {
  const G* g = static_cast<const G*>(p.group);
  const int64_t na = static_cast<int64_t>(act.size());
  return p.homo ? DelayedRowsAt<T, G, true>(p.ip, p.ix, g, off, p.n_groups, p.w, s,
                                           act.data(), na, ring, n_post, p.nnz)
                : DelayedRowsAt<T, G, false>(p.ip, p.ix, g, off, p.n_groups, p.w, s,
                                            act.data(), na, ring, n_post, p.nnz);
}

// One projection's scatter into batch entry u of its ring.
template <typename T>
static bool ScatterProj(const Proj<T>& p, const Ring<T>& r, const T* s,
                        const std::vector<int32_t>& act, T* ring) {
  std::vector<int64_t> off(static_cast<size_t>(std::max<int64_t>(p.n_groups, 1)));
  for (int64_t g = 0; g < p.n_groups; ++g)
    off[g] = (r.cursor + p.steps[g] - 1) % r.depth * r.n_post;
  switch (p.group_type) {
    case ffi::DataType::U8:
      return Scatter<T, uint8_t>(p, r.n_post, off.data(), s, act, ring);
    case ffi::DataType::S16:
      return Scatter<T, int16_t>(p, r.n_post, off.data(), s, act, ring);
    default:
      return Scatter<T, int32_t>(p, r.n_post, off.data(), s, act, ring);
  }
}

// One ring's step over the batch: copy (unless aliased), its projections'
// scatters in order, read and clear the arriving slot.  `active[k][u]`: the
// active rows of source k in batch entry u.
template <typename T>
static bool StepRing(const Ring<T>& r, const std::vector<Proj<T>>& projs,
                     const std::vector<const T*>& spikes, int64_t n_u,
                     const std::vector<std::vector<std::vector<int32_t>>>& active) {
  const int64_t slab = r.depth * r.n_post;
  for (int64_t u = 0; u < n_u; ++u) {
    T* ring = r.out + u * slab;
    if (r.in + u * slab != ring) std::memcpy(ring, r.in + u * slab, sizeof(T) * slab);
    for (int64_t m : r.members) {
      const Proj<T>& p = projs[m];
      const T* s = spikes[p.source] + u * p.n_pre;
      if (!ScatterProj(p, r, s, active[p.source][u], ring)) return false;
    }
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

// Reads and checks projection k's operands (at `at`) into p; error text or nullptr.
template <typename T>
static const char* SetupProj(ffi::RemainingArgs& args, int64_t at, ffi::DataType dt,
                             Proj<T>& p) {
  auto ip = args.get<ffi::AnyBuffer>(at);
  auto ix = args.get<ffi::AnyBuffer>(at + 1);
  auto gr = args.get<ffi::AnyBuffer>(at + 2);
  auto w = args.get<ffi::AnyBuffer>(at + 3);
  if (!ip || !ix || !gr || !w) return "bad operand";
  if (ip->element_type() != ffi::DataType::S32 || ix->element_type() != ffi::DataType::S32)
    return "indptr/indices must be int32";
  p.group_type = gr->element_type();
  if (p.group_type != ffi::DataType::U8 && p.group_type != ffi::DataType::S16 &&
      p.group_type != ffi::DataType::S32)
    return "group must be uint8, int16 or int32";
  if (w->element_type() != dt) return "spikes/weights/rings dtypes differ";
  if (ip->dimensions().size() != 1 || ix->dimensions().size() != 1 ||
      gr->element_count() != ix->element_count())
    return "bad ranks";
  p.n_pre = static_cast<int64_t>(ip->element_count()) - 1;
  p.nnz = static_cast<int64_t>(ix->element_count());
  p.homo = w->dimensions().size() == 0;
  if (!p.homo && static_cast<int64_t>(w->element_count()) != p.nnz)
    return "weights must be a scalar or one per synapse";
  p.ip = static_cast<const int32_t*>(ip->untyped_data());
  p.ix = static_cast<const int32_t*>(ix->untyped_data());
  p.group = gr->untyped_data();
  p.w = static_cast<const T*>(w->untyped_data());
  brainsim_native::HugePages(p.ix, sizeof(int32_t) * p.nnz);
  if (!p.homo) brainsim_native::HugePages(p.w, sizeof(T) * p.nnz);
  return nullptr;
}

// Reads and checks ring k's operands (at `at`) and results into r.
template <typename T>
static const char* SetupRing(ffi::RemainingArgs& args, ffi::RemainingRets& rets, int64_t at,
                             int64_t k, ffi::DataType dt, int64_t n_u, Ring<T>& r) {
  auto ring = args.get<ffi::AnyBuffer>(at);
  auto cur = args.get<ffi::AnyBuffer>(at + 1);
  auto out = rets.get<ffi::AnyBuffer>(3 * k);
  auto arr = rets.get<ffi::AnyBuffer>(3 * k + 1);
  auto cur_out = rets.get<ffi::AnyBuffer>(3 * k + 2);
  if (!ring || !cur || !out || !arr || !cur_out) return "bad operand";
  if (cur->element_type() != ffi::DataType::S32 ||
      (*cur_out)->element_type() != ffi::DataType::S32 || cur->element_count() != 1)
    return "cursor must be an int32 scalar";
  if (ring->element_type() != dt || (*out)->element_type() != dt ||
      (*arr)->element_type() != dt)
    return "spikes/weights/rings dtypes differ";
  auto rd = ring->dimensions();
  if (rd.size() < 2) return "bad ranks";
  if (BatchOf(rd, 2) != n_u) return "ring and spikes batch shapes differ";
  r.depth = rd[rd.size() - 2];
  r.n_post = rd[rd.size() - 1];
  if (static_cast<int64_t>((*out)->element_count()) != ring->element_count() ||
      static_cast<int64_t>((*arr)->element_count()) * r.depth !=
          static_cast<int64_t>(ring->element_count()))
    return "outputs do not match the ring";
  r.in = static_cast<const T*>(ring->untyped_data());
  r.out = static_cast<T*>((*out)->untyped_data());
  r.arriving = static_cast<T*>((*arr)->untyped_data());
  r.cursor_out = static_cast<int32_t*>((*cur_out)->untyped_data());
  r.cursor = *static_cast<const int32_t*>(cur->untyped_data());
  if (r.cursor < 0 || r.cursor >= r.depth) return "cursor outside [0, D)";
  return nullptr;
}

template <typename T>
static ffi::Error Run(ffi::ThreadPool& pool, ffi::RemainingArgs args,
                      ffi::RemainingRets rets, ffi::Span<const int64_t> source,
                      ffi::Span<const int64_t> ring_of, ffi::Span<const int64_t> n_groups,
                      ffi::Span<const int64_t> steps, ffi::DataType dt) {
  const int64_t P = static_cast<int64_t>(source.size());
  const int64_t R = static_cast<int64_t>(rets.size()) / 3;
  const int64_t S = static_cast<int64_t>(args.size()) - 4 * P - 2 * R;
  if (S < 1 || static_cast<int64_t>(n_groups.size()) != P ||
      static_cast<int64_t>(ring_of.size()) != P || static_cast<int64_t>(rets.size()) != 3 * R)
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
  std::vector<Ring<T>> rings(R);
  int64_t work = 0;
  for (int64_t k = 0; k < R; ++k) {
    if (const char* err = SetupRing(args, rets, S + 4 * P + 2 * k, k, dt, n_u, rings[k]))
      return Invalid(err);
    work += n_u * rings[k].n_post;
  }
  std::vector<Proj<T>> projs(P);
  int64_t next_step = 0;
  for (int64_t m = 0; m < P; ++m) {
    Proj<T>& p = projs[m];
    if (const char* err = SetupProj(args, S + 4 * m, dt, p)) return Invalid(err);
    p.source = source[m];
    p.ring = ring_of[m];
    p.n_groups = n_groups[m];
    if (p.source < 0 || p.source >= S || p.ring < 0 || p.ring >= R || p.n_groups < 0 ||
        next_step + p.n_groups > static_cast<int64_t>(steps.size()))
      return Invalid("bad source, ring or n_groups attribute");
    if (p.n_pre != n_pre[p.source]) return Invalid("indptr does not match its spike source");
    p.steps = steps.begin() + next_step;
    next_step += p.n_groups;
    const Ring<T>& r = rings[p.ring];
    for (int64_t g = 0; g < p.n_groups; ++g)
      if (p.steps[g] < 1 || p.steps[g] > r.depth) return Invalid("delay outside [1, D] steps");
    rings[p.ring].members.push_back(m);
    const int64_t fan = p.n_pre > 0 ? p.nnz / p.n_pre + 1 : 0;
    for (const auto& a : active[p.source]) work += fan * static_cast<int64_t>(a.size());
  }
  const int64_t parts = work < kParallelWork
                            ? 1
                            : std::min<int64_t>(brainsim_native::MaxThreads(pool), R);
  std::atomic<int64_t> next{0};
  std::atomic<bool> malformed{false};
  brainsim_native::ParallelFor(pool, parts, [&](int64_t) {
    for (int64_t k; (k = next.fetch_add(1)) < R;)
      if (!StepRing(rings[k], projs, spikes, n_u, active)) malformed.store(true);
  });
  if (malformed.load()) return Invalid("malformed indptr (row out of range)");
  return ffi::Error::Success();
}

static ffi::Error Impl(ffi::ThreadPool pool, ffi::RemainingArgs args,
                       ffi::RemainingRets rets, ffi::Span<const int64_t> source,
                       ffi::Span<const int64_t> ring, ffi::Span<const int64_t> n_groups,
                       ffi::Span<const int64_t> steps) {
  if (args.size() < 1) return Invalid("no operands");
  auto first = args.get<ffi::AnyBuffer>(0);
  if (!first) return Invalid("bad operand");
  switch (first->element_type()) {
    case ffi::DataType::F32:
      return Run<float>(pool, args, rets, source, ring, n_groups, steps, ffi::DataType::F32);
    case ffi::DataType::F64:
      return Run<double>(pool, args, rets, source, ring, n_groups, steps, ffi::DataType::F64);
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
                                  .RemainingArgs()  // sources, per projection 4, per ring 2
                                  .RemainingRets()  // per ring: ring, arriving, cursor
                                  .Attr<ffi::Span<const int64_t>>("source")
                                  .Attr<ffi::Span<const int64_t>>("ring")
                                  .Attr<ffi::Span<const int64_t>>("n_groups")
                                  .Attr<ffi::Span<const int64_t>>("steps"));
