// brainsim native CPU kernel BrainsimLifNetwork: one step of a network of LIF
// populations and their stored sparse projections (lif_network.h), and the
// step code BrainsimLifNetworkRun (lif_network_run.cc) repeats.

#include "lif_network.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include "event_common.h"

namespace brainsim_lif {

template <typename T>
Scratch<T>& ThreadScratch() {
  static thread_local Scratch<T> s;
  return s;
}

namespace {

// The indices of the nonzero entries of s[0..n) in ascending order, written to
// out, and their values to val; returns their number.  Spikes are rare: blocks
// of 64 without one are skipped by a vectorised bit test, then groups of 8
// within a block.
template <typename T>
inline __attribute__((always_inline)) int64_t CompactBlock(const T* __restrict s,
                                                                  int64_t b, int64_t e,
                                                                  int32_t* __restrict out,
                                                                  T* __restrict val,
                                                                  int64_t na) {
  for (int64_t c = b; c < e; c += 8) {
    if (c + 8 <= e && !brainsim_native::AnyNonZero<T, 8>(s + c)) continue;
    for (int64_t i = c; i < std::min(c + 8, e); ++i) {
      out[na] = static_cast<int32_t>(i);
      val[na] = s[i];
      na += (s[i] != T(0));
    }
  }
  return na;
}

template <typename T>
BRAINSIM_LIF_CLONES int64_t ActiveRows(const T* __restrict s, int64_t n,
                                              int32_t* __restrict out, T* __restrict val) {
  constexpr int64_t kBlock = 64;
  int64_t na = 0;
  const int64_t n_full = n - n % kBlock;
  for (int64_t b = 0; b < n_full; b += kBlock)
    if (brainsim_native::AnyNonZero<T, kBlock>(s + b))
      na = CompactBlock(s, b, b + kBlock, out, val, na);
  return CompactBlock(s, n_full, n, out, val, na);
}

}  // namespace

template <typename T>
ffi::Error PrepareNetwork(Scratch<T>& sc, ArgReader& args, RetReader& rets, const NetAttrs& at,
                          int64_t& B_out) {
  const auto &mode = at.mode, &post = at.post, &source = at.source;
  const auto &homogeneous = at.homogeneous, &conductance = at.conductance;
  auto bad = [](const std::string& what) {
    return ffi::Error::InvalidArgument("brainsim lif_network: " + what);
  };
  const int64_t P = static_cast<int64_t>(mode.size());
  const int64_t Q = static_cast<int64_t>(post.size());
  const int64_t S = at.extras;
  if (P < 1 || S < 0 || static_cast<int64_t>(source.size()) != Q ||
      static_cast<int64_t>(homogeneous.size()) != Q ||
      static_cast<int64_t>(conductance.size()) != Q)
    return bad("bad attributes: one mode per population, one post, source, homogeneous "
               "and conductance per projection");
  // The operands and results, group by group (lif_network.h).
  Network<T>& N = sc.net;
  if (!(args.Take(P, N.v) && args.Take(P, N.refractory) && args.Take(P, N.spike) &&
        args.Take(P, N.current) && args.Take(P, N.params) && args.Take(P, N.n_ref) &&
        args.Take(S, N.extra) && args.Take(Q, N.indptr) && args.Take(Q, N.indices) &&
        args.Take(Q, N.weight) && args.Take(Q, N.g) && args.Take(Q, N.coef)))
    return bad("operands: too few, or of the wrong type (state float32/float64, refractory "
               "and connectivity int32)");
  if (!(rets.Take(P, N.v_out) && rets.Take(P, N.spike_out) && rets.Take(P, N.refractory_out) &&
        rets.Take(Q, N.g_out)))
    return bad("results: too few, or of the wrong type");
  // Populations: sizes, batch, state and parameters.
  sc.n_of.resize(P);
  int64_t B = -1;
  for (int64_t p = 0; p < P; ++p) {
    const int64_t n = N.v[p].last, total = N.v[p].count;
    if (n < 1 || total % n != 0) return bad("bad state shape");
    if (B >= 0 && total / n != B) return bad("populations have different batch sizes");
    B = total / n;
    sc.n_of[p] = n;
    if (mode[p] != 1 && mode[p] != 2) return bad("bad mode");
    if (N.refractory[p].count != total || N.spike[p].count != total ||
        N.v_out[p].count != total || N.spike_out[p].count != total ||
        N.refractory_out[p].count != total)
      return bad("v, refractory and spike must have one shape");
    const int64_t n_in = N.current[p].count;
    if (n_in != 1 && n_in != n && n_in != total)
      return bad("input current must have 1, n or all elements");
    const int64_t Pn = N.n_ref[p].count;
    if (Pn != 1 && Pn != n) return bad("parameters must be scalars or per-neuron");
    if (N.params[p].count != 7 * Pn) return bad("params must be [7, P] with n_ref [P]");
  }
  // The spike array of every source: a population's last spikes or an extra.
  sc.src.resize(P + S);
  sc.src_n.resize(P + S);
  for (int64_t j = 0; j < P + S; ++j) {
    const View<const T>& x = j < P ? N.spike[j] : N.extra[j - P];
    sc.src[j] = x.data;
    sc.src_n[j] = x.count;
  }
  // Projections.
  sc.e_off.resize(Q + 1);
  sc.e_off[0] = 0;
  for (int64_t q = 0; q < Q; ++q) {
    if (post[q] < 0 || post[q] >= P || source[q] < 0 || source[q] >= P + S)
      return bad("bad post or source index");
    const int64_t n_post = sc.n_of[post[q]], total = B * n_post;
    const int64_t n_pre = N.indptr[q].count - 1, nnz = N.indices[q].count;
    const int64_t Pn = N.n_ref[post[q]].count;
    if (n_pre < 0 || sc.src_n[source[q]] != B * n_pre ||
        N.weight[q].count != (homogeneous[q] ? 1 : nnz))
      return bad("connectivity does not match the spikes or the weights");
    if (N.g[q].count != total || N.g_out[q].count != total)
      return bad("a trace must have its population's shape");
    if (N.coef[q].count != 3 * Pn)
      return bad("decay factors and reversal potentials must match the parameters");
    sc.e_off[q + 1] = sc.e_off[q] + total;
    brainsim_native::HugePages(N.indices[q].data, sizeof(int32_t) * nnz);
    if (!homogeneous[q]) brainsim_native::HugePages(N.weight[q].data, sizeof(T) * nnz);
  }
  if (static_cast<int64_t>(sc.e.size()) < sc.e_off[Q]) sc.e.resize(sc.e_off[Q], T(0));
  // The update's arguments of every population, with its projections' traces.
  sc.pops.resize(P);
  for (int64_t p = 0; p < P; ++p) {
    Args<T>& A = sc.pops[p];
    A.K = 0;
    for (int64_t q = 0; q < Q; ++q) {
      if (post[q] != p) continue;
      if (A.K == kMaxTraces) return bad("too many projections onto one population");
      const int k = A.K++;
      const int64_t Pn = N.coef[q].count / 3;
      A.g[k] = N.g[q].data;
      A.e[k] = sc.e.data() + sc.e_off[q];
      A.a[k] = N.coef[q].data;
      A.erev[k] = A.a[k] + Pn;
      A.mean[k] = A.a[k] + 2 * Pn;
      A.g_out[k] = N.g_out[q].data;
      A.mask_cond[k] = conductance[q] ? T(1) : T(0);
      A.mask_cur[k] = conductance[q] ? T(0) : T(1);
    }
    const int64_t Pn = N.n_ref[p].count;
    const T* pp = N.params[p].data;
    for (const T** x : {&A.gl, &A.cm, &A.vrest, &A.vth, &A.vreset, &A.iext, &A.step}) {
      *x = pp;
      pp += Pn;
    }
    A.v = N.v[p].data;
    A.ref = N.refractory[p].data;
    A.in = N.current[p].data;
    A.nref = N.n_ref[p].data;
    A.v_out = N.v_out[p].data;
    A.s_out = N.spike_out[p].data;
    A.ref_out = N.refractory_out[p].data;
  }
  B_out = B;
  return ffi::Error::Success();
}

template <typename T>
void CollectActive(Scratch<T>& sc, const NetAttrs& at, int64_t B) {
  const auto& source = at.source;
  const int64_t Q = static_cast<int64_t>(at.post.size());
  const int64_t P = static_cast<int64_t>(at.mode.size());
  const int64_t S = static_cast<int64_t>(sc.src.size()) - P;
  sc.act_beg.assign((P + S) * B, -1);
  sc.act_end.resize((P + S) * B);
  int64_t n_act = 0;
  for (int64_t q = 0; q < Q; ++q) {
    const int64_t sidx = source[q];
    if (sc.act_beg[sidx * B] >= 0) continue;
    const int64_t count = sc.src_n[sidx], n_pre = count / B;
    if (static_cast<int64_t>(sc.active.size()) < n_act + count) {
      sc.active.resize(n_act + count);
      sc.value.resize(n_act + count);
    }
    for (int64_t b = 0; b < B; ++b) {
      sc.act_beg[sidx * B + b] = n_act;
      n_act += ActiveRows(sc.src[sidx] + b * n_pre, n_pre, sc.active.data() + n_act,
                          sc.value.data() + n_act);
      sc.act_end[sidx * B + b] = n_act;
    }
  }
}

template <typename T>
bool StepNetwork(Scratch<T>& sc, ffi::ThreadPool& pool, const NetAttrs& at, int64_t B,
                        bool collected) {
  const auto &mode = at.mode, &post = at.post, &source = at.source;
  const auto& homogeneous = at.homogeneous;
  const int64_t P = static_cast<int64_t>(mode.size());
  const int64_t Q = static_cast<int64_t>(post.size());
  const Network<T>& N = sc.net;
  if (!collected) CollectActive(sc, at, B);
  for (int64_t p = 0; p < P; ++p) {
    Args<T>& A = sc.pops[p];
    // The events back to zero: as the update reads them when they are dense
    // (an event per 16 targets, a cache line, on average: most lines were
    // written anyway), else after the update only where they arrived.
    double events = 0;
    for (int64_t q = 0; q < Q; ++q) {
      if (post[q] != p) continue;
      const int64_t n_pre = N.indptr[q].count - 1;
      const double fan_out = n_pre > 0 ? double(N.indices[q].count) / double(n_pre) : 0;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t sb = source[q] * B + b;
        events += fan_out * double(sc.act_end[sb] - sc.act_beg[sb]);
      }
    }
    A.zero_events = 16 * events >= double(A.K * B * sc.n_of[p]);
  }
  // The network's neurons are split into contiguous ranges (the same fraction
  // of every population; one range per thread of XLA's intra-op pool in a
  // large network), and each range is one independent part: (1) the events
  // of all active rows for its own targets, each target's in the order of
  // BrainsimCsrEventMulti (ascending rows, then synapses), so the sums do not
  // depend on the split; (2) the update of its neurons; (3) its scratch back
  // to zero where events arrived.  A range reads no other range's results:
  // the spike values of the active rows were copied above, before any update
  // overwrites the spikes in place.  So the ranges need no barrier between
  // the events and the update, and a step is one hand-off to the pool.
  int64_t neurons = 0;
  for (int64_t p = 0; p < P; ++p) neurons += B * sc.n_of[p];
  const int64_t parts =
      at.split > 0 ? std::min<int64_t>(at.split, 0xFFFF)
      : neurons < kParallelNeurons ? 1
                                    : std::min<int64_t>(brainsim_native::TeamThreads(pool), 8);
  auto range = [parts](int64_t n, int64_t k) {
    return std::pair<int64_t, int64_t>{n * k / parts, n * (k + 1) / parts};
  };
  struct Rows {
    const int32_t* act;
    const T* val;
    int64_t na;
  };
  auto rows_of = [&](int64_t q, int64_t b) {
    const int64_t a0 = sc.act_beg[source[q] * B + b];
    return Rows{sc.active.data() + a0, sc.value.data() + a0, sc.act_end[source[q] * B + b] - a0};
  };
  std::atomic<bool> malformed{false};
  brainsim_native::TeamFor(pool, parts, [&](int64_t k) {
    // (1) Events.
    for (int64_t q = 0; q < Q; ++q) {
      const int32_t* ip = N.indptr[q].data;
      const int32_t* ix = N.indices[q].data;
      const T* w = N.weight[q].data;
      const int64_t nnz = N.indices[q].count, n_post = sc.n_of[post[q]];
      const auto [lo, hi] = range(n_post, k);
      for (int64_t b = 0; b < B; ++b) {
        T* e = sc.e.data() + sc.e_off[q] + b * n_post;
        const Rows r = rows_of(q, b);
        auto value = [&r](int64_t j) { return r.val[j]; };
        const bool ok =
            homogeneous[q]
                ? brainsim_native::AddRowsOf<T, true>(ip, ix, w, value, r.act, r.na, nnz, e, lo, hi)
                : brainsim_native::AddRowsOf<T, false>(ip, ix, w, value, r.act, r.na, nnz, e, lo,
                                                       hi);
        // Every range walks the same rows and meets the same malformed one:
        // then none updates or walks the rows again (the caller zeroes all).
        if (!ok) {
          malformed.store(true);
          return;
        }
      }
    }
    // (2) The update of the range's neurons.
    for (int64_t p = 0; p < P; ++p) {
      const int64_t n = sc.n_of[p];
      const auto [lo, hi] = range(n, k);
      if (hi == lo) continue;
      const int64_t n_in = N.current[p].count, Pn = N.n_ref[p].count;
      RunPopulation(sc.pops[p], static_cast<int>(mode[p]), B, n, lo, hi, Pn, n_in);
    }
    // (3) Back to zero where events arrived (the active rows' targets in
    // range), unless the update did it.
    for (int64_t q = 0; q < Q; ++q) {
      if (sc.pops[post[q]].zero_events) continue;
      const int32_t* ip = N.indptr[q].data;
      const int32_t* ix = N.indices[q].data;
      const int64_t n_post = sc.n_of[post[q]];
      const auto [lo, hi] = range(n_post, k);
      const uint64_t span = static_cast<uint64_t>(hi - lo);
      for (int64_t b = 0; b < B; ++b) {
        T* e = sc.e.data() + sc.e_off[q] + b * n_post + lo;
        const Rows r = rows_of(q, b);
        for (int64_t j = 0; j < r.na; ++j) {
          for (int64_t s = ip[r.act[j]]; s < ip[r.act[j] + 1]; ++s) {
            const uint64_t t = static_cast<uint64_t>(ix[s] - lo);
            if (t < span) e[t] = T(0);
          }
        }
      }
    }
  });
  return !malformed.load();
}

template <typename T>
ffi::Error NetworkError(Scratch<T>& sc, ffi::Error err) {
  std::fill(sc.e.begin(), sc.e.end(), T(0));
  return err;
}

#define BRAINSIM_INSTANTIATE(T)                                                              \
  template Scratch<T>& ThreadScratch<T>();                                                    \
  template ffi::Error PrepareNetwork<T>(Scratch<T>&, ArgReader&, RetReader&, const NetAttrs&,  \
                                        int64_t&);                                            \
  template void CollectActive<T>(Scratch<T>&, const NetAttrs&, int64_t);                     \
  template bool StepNetwork<T>(Scratch<T>&, ffi::ThreadPool&, const NetAttrs&, int64_t, bool); \
  template ffi::Error NetworkError<T>(Scratch<T>&, ffi::Error);
BRAINSIM_INSTANTIATE(float)
BRAINSIM_INSTANTIATE(double)
#undef BRAINSIM_INSTANTIATE

}  // namespace brainsim_lif

namespace {

using namespace brainsim_lif;

template <typename T>
static ffi::Error RunNetwork(ffi::ThreadPool& pool, ffi::RemainingArgs args,
                             ffi::RemainingRets rets, const NetAttrs& at) {
  Scratch<T>& sc = ThreadScratch<T>();
  int64_t B = 0;
  ArgReader in(args);
  RetReader out(rets);
  ffi::Error err = PrepareNetwork(sc, in, out, at, B);
  if (err.failure()) return NetworkError(sc, std::move(err));
  if (!in.Done() || !out.Done())
    return NetworkError(sc, ffi::Error::InvalidArgument(
                                "brainsim lif_network: more operands or results than the "
                                "attributes name"));
  if (!StepNetwork(sc, pool, at, B))
    return NetworkError(sc, ffi::Error::InvalidArgument(
                                "brainsim lif_network: malformed indptr (row out of range)"));
  return ffi::Error::Success();
}

static ffi::Error LifNetworkImpl(ffi::ThreadPool pool, ffi::RemainingArgs args,
                                 ffi::RemainingRets rets, ffi::Span<const int64_t> mode, ffi::Span<const int64_t> post,
                                 ffi::Span<const int64_t> source,
                                 ffi::Span<const int64_t> homogeneous,
                                 ffi::Span<const int64_t> conductance, int64_t extras,
                                 int64_t parts) {
  const NetAttrs at{mode, post, source, homogeneous, conductance, extras, parts};
  return ByFloatType(args, "brainsim lif_network", [&](auto zero) {
    return RunNetwork<decltype(zero)>(pool, args, rets, at);
  });
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifNetwork(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifNetwork, LifNetworkImpl, BindNetwork());
