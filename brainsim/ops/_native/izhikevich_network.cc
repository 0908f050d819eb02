// brainsim native CPU kernel BrainsimIzhikevichNetworkRun: many steps of a
// network of Izhikevich populations and their stored sparse projections with
// voltage-jump (delta) synapses in one call, recording spikes: the generic
// loop (network_loop.h: events, ranges, recording) with the Izhikevich step
// (izhikevich_step.h) as its update.  Each step is what
// BrainsimCsrEventMulti (the events of every projection) and then
// BrainsimIzhikevichUpdate of every population compute, with the jumps of a
// population's projections summed in projection order, ((0 + e_0) + e_1) + ...
//
// Operands (T = float32 or float64; B rows of the batch, n_p neurons of
// population p), named groups in this order:
//   per population   v, u, spike                      T [B n_p]
//                    refractory                       int32 [B n_p]
//                    current                          T [1], [n_p] or [B n_p]
//                    params: a, b, c, d, v_peak, c_m, i_ext   T [7, P_p]
//                    n_ref                            int32 [P_p]  (P_p = 1 or n_p)
//   per projection   indptr, indices (int32), weight  [n_pre + 1], [nnz], [1] or [nnz]
//   the recording's (brainsim_net::Recording).
// Results: per population v, u, spike, refractory (aliased to their operands:
// the state is updated in place); per projection g, its events of the last
// step (the state of its Delta kinetics) T [B n_post]; the recording's.
// Attributes: NetAttrs (mode and conductance 0, extras 0: the populations'
// spikes are the only sources), steps, record, dt (float64, ms).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "izhikevich_step.h"
#include "network_loop.h"

namespace {

namespace ffi = xla::ffi;
using brainsim_net::NetAttrs;
using brainsim_net::View;
using namespace brainsim_izh;

// Per-thread buffers and this call's operands, reused across calls.
template <typename T>
struct Scratch : brainsim_net::Loop<T> {
  brainsim_net::Csr<T> csr;
  std::vector<View<const T>> v, u, spike, current, params;
  std::vector<View<const int32_t>> refractory, n_ref;
  std::vector<View<T>> v_out, u_out, spike_out, g_out;
  std::vector<View<int32_t>> refractory_out;
  brainsim_net::Recording rec;
  std::vector<int64_t> incoming;  // the projections onto each population, in order
  std::vector<int64_t> in_beg;    // population p's: incoming[in_beg[p] .. in_beg[p + 1])
};

template <typename T>
Scratch<T>& ThreadScratch() {
  static thread_local Scratch<T> s;
  return s;
}

// The update of neurons [lo, hi) of population p in every batch row, in place
// in the results, its jumps read from the loop's events (and set back to zero
// where they are dense; copied into the results g in the last step).
template <typename T>
struct Model {
  Scratch<T>& sc;
  int64_t B;
  T dt;
  bool last = false;
  void Begin() {}
  void InPlace() {}
  void operator()(int64_t p, int64_t lo, int64_t hi) const {
    const int64_t n = sc.n_of[p], len = hi - lo;
    const int64_t P = sc.n_ref[p].count, n_in = sc.current[p].count;
    const bool per = P != 1, current_row = n_in != 1;
    const int64_t k0 = sc.in_beg[p], K = sc.in_beg[p + 1] - k0;
    const T* params[7];
    for (int k = 0; k < 7; ++k) params[k] = sc.params[p].data + k * P + (per ? lo : 0);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t o = b * n + lo;
      T* e[kMaxJumps];
      for (int64_t k = 0; k < K; ++k) e[k] = sc.e.data() + sc.e_off[sc.incoming[k0 + k]] + o;
      const Row<T> R{sc.v_out[p].data + o,
                     sc.u_out[p].data + o,
                     sc.spike_out[p].data + o,
                     sc.refractory_out[p].data + o,
                     K > 0 ? e[0] : nullptr,
                     K > 1 ? e[1] : nullptr,
                     params,
                     sc.n_ref[p].data + (per ? lo : 0),
                     sc.current[p].data + (n_in == B * n ? o : n_in == n ? lo : 0)};
      if (K == 1) {
        UpdateAny<T, 1>(len, R, per, current_row, dt);
      } else if (K == 2) {
        UpdateAny<T, 2>(len, R, per, current_row, dt);
      } else {
        SumJumps(len, R.s, e, K);
        UpdateAny<T, 0>(len, R, per, current_row, dt);
      }
      for (int64_t k = 0; k < K; ++k) {
        if (last) std::memcpy(sc.g_out[sc.incoming[k0 + k]].data + o, e[k], sizeof(T) * len);
        if (sc.dense[p]) std::fill(e[k], e[k] + len, T(0));
      }
    }
  }
};

template <typename T>
ffi::Error Run(ffi::ThreadPool& pool, ffi::RemainingArgs args, ffi::RemainingRets rets,
               const NetAttrs& at, int64_t steps, ffi::Span<const int64_t> record, double dt) {
  Scratch<T>& sc = ThreadScratch<T>();
  auto bad = [&sc](const std::string& what) {
    // A failed call may have left events in the scratch: back to zero.
    std::fill(sc.e.begin(), sc.e.end(), T(0));
    return ffi::Error::InvalidArgument("brainsim izhikevich_network_run: " + what);
  };
  const int64_t P = static_cast<int64_t>(at.mode.size());
  const int64_t Q = static_cast<int64_t>(at.post.size());
  const int64_t R = static_cast<int64_t>(record.size());
  if (P < 1 || at.extras != 0 || static_cast<int64_t>(at.conductance.size()) != Q ||
      std::any_of(at.mode.begin(), at.mode.end(), [](int64_t m) { return m != 0; }) ||
      std::any_of(at.conductance.begin(), at.conductance.end(), [](int64_t c) { return c != 0; }))
    return bad("bad attributes: mode 0 per population, conductance 0 per projection, no extras");
  brainsim_net::ArgReader in(args);
  brainsim_net::RetReader out(rets);
  if (!(in.Take(P, sc.v) && in.Take(P, sc.u) && in.Take(P, sc.spike) &&
        in.Take(P, sc.refractory) && in.Take(P, sc.current) && in.Take(P, sc.params) &&
        in.Take(P, sc.n_ref) && in.Take(Q, sc.csr.indptr) && in.Take(Q, sc.csr.indices) &&
        in.Take(Q, sc.csr.weight) && out.Take(P, sc.v_out) && out.Take(P, sc.u_out) &&
        out.Take(P, sc.spike_out) && out.Take(P, sc.refractory_out) && out.Take(Q, sc.g_out) &&
        sc.rec.Read(in, out, R)) ||
      !in.Done() || !out.Done())
    return bad("operands or results: not those the attributes name, or of the wrong type "
               "(state float32/float64, refractory and connectivity int32)");
  // Populations: sizes, batch, state and parameters; their spikes are the sources.
  sc.n_of.resize(P);
  sc.src.resize(P);
  sc.src_n.resize(P);
  int64_t B = -1;
  for (int64_t p = 0; p < P; ++p) {
    const int64_t n = sc.v[p].last, total = sc.v[p].count;
    if (n < 1 || total % n != 0) return bad("bad state shape");
    if (B >= 0 && total / n != B) return bad("populations have different batch sizes");
    B = total / n;
    sc.n_of[p] = n;
    for (int64_t c : {sc.u[p].count, sc.spike[p].count, sc.refractory[p].count,
                      sc.v_out[p].count, sc.u_out[p].count, sc.spike_out[p].count,
                      sc.refractory_out[p].count})
      if (c != total) return bad("v, u, spike and refractory must have one shape");
    const int64_t n_in = sc.current[p].count;
    if (n_in != 1 && n_in != n && n_in != total)
      return bad("input current must have 1, n or all elements");
    const int64_t Pn = sc.n_ref[p].count;
    if ((Pn != 1 && Pn != n) || sc.params[p].count != 7 * Pn)
      return bad("parameters must be scalars or per-neuron, packed [7, P] with n_ref [P]");
    sc.src[p] = sc.spike_out[p].data;  // aliased: the last step's spikes, then each step's
    sc.src_n[p] = total;
  }
  ffi::Error err = brainsim_net::PrepareProjections<T>(sc, sc.csr, at, B);
  if (err.failure()) return bad(err.message());
  sc.incoming.clear();
  sc.in_beg.assign(1, 0);
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t q = 0; q < Q; ++q)
      if (at.post[q] == p) sc.incoming.push_back(q);
    sc.in_beg.push_back(static_cast<int64_t>(sc.incoming.size()));
    if (sc.in_beg[p + 1] - sc.in_beg[p] > kMaxJumps)
      return bad("too many projections onto one population");
  }
  for (int64_t q = 0; q < Q; ++q)
    if (sc.g_out[q].count != B * sc.n_of[at.post[q]])
      return bad("g must have its population's shape");
  Model<T> model{sc, B, static_cast<T>(dt)};
  const std::string failed = brainsim_net::RunSteps<T>(sc, sc.csr, pool, at, B, steps, record,
                                                       sc.rec, model);
  if (!failed.empty()) return bad(failed);
  return ffi::Error::Success();
}

ffi::Error IzhikevichNetworkRunImpl(ffi::ThreadPool pool, ffi::RemainingArgs args,
                                    ffi::RemainingRets rets, ffi::Span<const int64_t> mode,
                                    ffi::Span<const int64_t> post,
                                    ffi::Span<const int64_t> source,
                                    ffi::Span<const int64_t> homogeneous,
                                    ffi::Span<const int64_t> conductance, int64_t extras,
                                    int64_t parts, int64_t steps,
                                    ffi::Span<const int64_t> record, double dt) {
  const NetAttrs at{mode, post, source, homogeneous, conductance, extras, parts};
  return brainsim_net::ByFloatType(args, "brainsim izhikevich_network_run", [&](auto zero) {
    return Run<decltype(zero)>(pool, args, rets, at, steps, record, dt);
  });
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimIzhikevichNetworkRun(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimIzhikevichNetworkRun, IzhikevichNetworkRunImpl,
                              brainsim_net::BindNetwork()
                                  .Attr<int64_t>("steps")
                                  .Attr<ffi::Span<const int64_t>>("record")
                                  .Attr<double>("dt"));
