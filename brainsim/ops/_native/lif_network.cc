// brainsim native CPU kernel BrainsimLifNetwork: one step of a network of LIF
// populations and their stored sparse projections (lif_network.h): the LIF
// operands and update (LifModel) in the generic loop (network_loop.h), which
// BrainsimLifNetworkRun (lif_network_run.cc) repeats.

#include "lif_network.h"

#include <algorithm>
#include <string>
#include <utility>

namespace brainsim_lif {

template <typename T>
Scratch<T>& ThreadScratch() {
  static thread_local Scratch<T> s;
  return s;
}

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
  // Projections: the loop's checks, then the traces'.
  ffi::Error err = brainsim_net::PrepareProjections<T>(sc, N, at, B);
  if (err.failure()) return err;
  for (int64_t q = 0; q < Q; ++q) {
    const int64_t total = B * sc.n_of[post[q]], Pn = N.n_ref[post[q]].count;
    if (N.g[q].count != total || N.g_out[q].count != total)
      return bad("a trace must have its population's shape");
    if (N.coef[q].count != 3 * Pn)
      return bad("decay factors and reversal potentials must match the parameters");
  }
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
ffi::Error NetworkError(Scratch<T>& sc, ffi::Error err) {
  std::fill(sc.e.begin(), sc.e.end(), T(0));
  return err;
}

#define BRAINSIM_INSTANTIATE(T)                                                              \
  template Scratch<T>& ThreadScratch<T>();                                                    \
  template ffi::Error PrepareNetwork<T>(Scratch<T>&, ArgReader&, RetReader&, const NetAttrs&,  \
                                        int64_t&);                                            \
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
  brainsim_net::CollectActive<T>(sc, at, B);
  LifModel<T> model{sc, at, B};
  if (!brainsim_net::StepNetwork<T>(sc, sc.net, pool, at, B, model))
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
