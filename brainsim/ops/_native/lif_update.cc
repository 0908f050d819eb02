// brainsim native CPU kernel BrainsimLifUpdateF32 / BrainsimLifUpdateF64: one
// fused step of a LIF population with K exponential synaptic traces (the
// update of lif_step.h), in the same floating-point operation order as the
// pure-JAX path (brainsim.ops.lif.lif_update_pure), so the two agree to a few
// ulp.
//
// Typed bindings (T = float32 or float64, one handler each; B rows of n):
//   operands  v, spike          T     [B, n]   (spike is only aliased to s)
//             refractory        int32 [B, n]
//             current           T     [1], [n] or [B, n]
//             params            T     [7, P]  g_l, c_m, v_rest, v_th, v_reset,
//                                             i_ext, step (lif._PARAMS)
//             n_ref             int32 [P]
//             coef              T     [3, K, P]  decay a_k, reversal e_rev_k,
//                                                step mean m_k
//             traces            T     [B, n] each: g_0..g_{K-1}, then the
//                                     arriving events e_0..e_{K-1}
//   results   v, spike          T     [B, n]
//             refractory        int32 [B, n]
//             g                 T     [B, n] each, K of them
// with P = 1 (scalar parameters) or n (per-neuron).  K is the number of trace
// results.  Attributes: mode (0/1: V += step dV, 2: exponential Euler with
// conductances), conductance (bit k: trace k is a conductance).

#include <cstdint>
#include <string>

#include "lif_step.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using namespace brainsim_lif;

template <ffi::DataType D>
ffi::Error LifUpdate(ffi::Buffer<D> v, ffi::Buffer<ffi::S32> refractory, ffi::Buffer<D> spike,
                     ffi::Buffer<D> current, ffi::Buffer<D> params, ffi::Buffer<ffi::S32> n_ref,
                     ffi::Buffer<D> coef, ffi::RemainingArgs traces,
                     ffi::ResultBuffer<D> v_out, ffi::ResultBuffer<D> spike_out,
                     ffi::ResultBuffer<ffi::S32> refractory_out, ffi::RemainingRets g_out,
                     int64_t mode, int64_t conductance) {
  using T = ffi::NativeType<D>;
  auto bad = [](const std::string& what) {
    return ffi::Error::InvalidArgument("brainsim lif_update: " + what);
  };
  const int64_t K = static_cast<int64_t>(g_out.size());
  if (K > kMaxTraces) return bad("too many synaptic traces");
  if (static_cast<int64_t>(traces.size()) != 2 * K)
    return bad("need one trace and one events operand per trace result");
  if (mode < 0 || mode > 2) return bad("bad mode");
  const auto dims = v.dimensions();
  const int64_t n = dims.size() ? dims.back() : 1;
  const int64_t total = static_cast<int64_t>(v.element_count());
  if (n < 1 || total % n != 0) return bad("bad state shape");
  const int64_t B = total / n;
  auto count = [](const auto& x) { return static_cast<int64_t>(x.element_count()); };
  if (count(refractory) != total || count(spike) != total || count(*v_out) != total ||
      count(*spike_out) != total || count(*refractory_out) != total)
    return bad("v, refractory and spike must have one shape");
  const int64_t n_in = count(current);
  if (n_in != 1 && n_in != n && n_in != total)
    return bad("input current must have 1, n or all elements");
  const int64_t P = count(n_ref);
  if ((P != 1 && P != n) || count(params) != 7 * P || count(coef) != 3 * K * P)
    return bad("parameters must be scalars or per-neuron, packed [7, P] and [3, K, P]");

  Args<T> A;
  A.K = static_cast<int>(K);
  A.v = v.typed_data();
  A.ref = refractory.typed_data();
  A.in = current.typed_data();
  const T* p = params.typed_data();
  for (const T** q : {&A.gl, &A.cm, &A.vrest, &A.vth, &A.vreset, &A.iext, &A.step}) {
    *q = p;
    p += P;
  }
  A.nref = n_ref.typed_data();
  const T* c = coef.typed_data();
  for (int64_t k = 0; k < K; ++k) {
    auto g = traces.get<ffi::Buffer<D>>(k);
    auto e = traces.get<ffi::Buffer<D>>(K + k);
    auto out = g_out.get<ffi::Buffer<D>>(k);
    if (!g || !e || !out) return bad("traces, events and their results must have v's dtype");
    if (count(*g) != total || count(*e) != total || count(**out) != total)
      return bad("traces and events must have the state's shape");
    A.g[k] = g->typed_data();
    A.e[k] = e->typed_data();
    A.g_out[k] = (*out)->typed_data();
    A.a[k] = c + k * P;
    A.erev[k] = c + (K + k) * P;
    A.mean[k] = c + (2 * K + k) * P;
    const bool cond = (conductance >> k) & 1;
    A.mask_cond[k] = cond ? T(1) : T(0);
    A.mask_cur[k] = cond ? T(0) : T(1);
  }
  A.v_out = v_out->typed_data();
  A.s_out = spike_out->typed_data();
  A.ref_out = refractory_out->typed_data();
  RunPopulation(A, static_cast<int>(mode), B, n, 0, n, P, n_in);
  return ffi::Error::Success();
}

// The binding of LifUpdate<D>'s parameters, in their order (`template`: the
// binding's type depends on D).
template <ffi::DataType D>
auto BindLifUpdate() {
  using Float = ffi::Buffer<D>;
  using Int = ffi::Buffer<ffi::S32>;
  return ffi::Ffi::Bind()
      .Arg<Float>()  // v
      .template Arg<Int>()    // refractory
      .template Arg<Float>()  // spike
      .template Arg<Float>()  // current
      .template Arg<Float>()  // params
      .template Arg<Int>()    // n_ref
      .template Arg<Float>()  // coef
      .RemainingArgs()        // g_k, then e_k
      .template Ret<Float>()  // v
      .template Ret<Float>()  // spike
      .template Ret<Int>()    // refractory
      .RemainingRets()        // g_k
      .template Attr<int64_t>("mode")
      .template Attr<int64_t>("conductance");
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifUpdateF32(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifUpdateF64(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifUpdateF32, LifUpdate<ffi::DataType::F32>,
                              BindLifUpdate<ffi::DataType::F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifUpdateF64, LifUpdate<ffi::DataType::F64>,
                              BindLifUpdate<ffi::DataType::F64>());
