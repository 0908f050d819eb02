// brainsim native CPU kernel BrainsimLifUpdate: one fused step of a LIF
// population with K exponential synaptic traces (the update of lif_step.h),
// in the same floating-point operation order as the pure-JAX path
// (brainsim.ops.lif.lif_update_pure), so the two agree to a few ulp.
//
// Operands (T = float32 or float64):
//   v, spike_old     T     [total]   (spike_old is only aliased to s)
//   ref              int32 [total]
//   g_k, e_k         T     [total]   (k = 0..K-1)
//   i_in             T     [1], [n] or [total]
//   g_l, c_m, v_rest, v_th, v_reset, i_ext, step      T     [P]
//   n_ref                                             int32 [P]
//   a_k, e_rev_k, m_k                                 T     [P]
// with P = 1 (scalar parameters) or n (per-neuron); total = B * n.
// Results: v, s, ref, g_k (aliased to their inputs where XLA allows).
// Attributes: k = K, n, mode, conductance = bit mask of the conductance traces.

#include <cstdint>
#include <string>
#include <vector>

#include "lif_step.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using namespace brainsim_lif;

template <typename T>
ffi::Error Run(ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t K,
                      int64_t n, int64_t mode, int64_t conductance) {
  const char* kName = "brainsim lif_update";
  auto bad = [&](const std::string& what) {
    return ffi::Error::InvalidArgument(std::string(kName) + ": " + what);
  };
  if (K < 0 || K > kMaxTraces) return bad("too many synaptic traces");
  if (static_cast<int64_t>(args.size()) != 3 + 2 * K + 1 + 8 + 3 * K ||
      static_cast<int64_t>(rets.size()) != 3 + K)
    return bad("bad arity");
  if (mode < 0 || mode > 2) return bad("bad mode");
  const ffi::DataType dt = sizeof(T) == 4 ? ffi::DataType::F32 : ffi::DataType::F64;
  std::vector<ffi::AnyBuffer> a;
  for (size_t i = 0; i < args.size(); ++i) {
    auto x = args.get<ffi::AnyBuffer>(i);
    if (!x) return bad("bad operand");
    a.push_back(*x);
  }
  std::vector<ffi::Result<ffi::AnyBuffer>> r;
  for (size_t i = 0; i < rets.size(); ++i) {
    auto x = rets.get<ffi::AnyBuffer>(i);
    if (!x) return bad("bad result");
    r.push_back(*x);
  }
  const int64_t total = static_cast<int64_t>(a[0].element_count());
  if (n < 1 || total % n != 0) return bad("state size is not a multiple of n");
  const int64_t B = total / n;
  // Operand indices.
  const int64_t iv = 0, iref = 1, ispk = 2, ig = 3, ie = 3 + K, iin = 3 + 2 * K;
  const int64_t ip = iin + 1;  // g_l, c_m, v_rest, v_th, v_reset, i_ext, step, n_ref
  const int64_t ia = ip + 8, ier = ia + K, im = ier + K;
  auto need = [&](const ffi::AnyBuffer& x, ffi::DataType t, int64_t count) {
    return x.element_type() == t && static_cast<int64_t>(x.element_count()) == count;
  };
  if (!need(a[iv], dt, total) || !need(a[iref], ffi::DataType::S32, total) ||
      !need(a[ispk], dt, total))
    return bad("v, refractory and spike must have one shape (float, int32, float)");
  for (int64_t k = 0; k < K; ++k)
    if (!need(a[ig + k], dt, total) || !need(a[ie + k], dt, total))
      return bad("g and events must have the state's shape and dtype");
  const int64_t n_in = static_cast<int64_t>(a[iin].element_count());
  if (a[iin].element_type() != dt || (n_in != 1 && n_in != n && n_in != total))
    return bad("input current must have 1, n or all elements");
  const int64_t P = static_cast<int64_t>(a[ip].element_count());
  if (P != 1 && P != n) return bad("parameters must be scalars or per-neuron");
  for (int64_t j = ip; j < ip + 8 + 3 * K; ++j) {
    const ffi::DataType t = j == ip + 7 ? ffi::DataType::S32 : dt;
    if (!need(a[j], t, P)) return bad("parameters must share one size and the dtype");
  }
  if (!need(*r[0], dt, total) || !need(*r[1], dt, total) ||
      !need(*r[2], ffi::DataType::S32, total))
    return bad("bad result shapes");
  for (int64_t k = 0; k < K; ++k)
    if (!need(*r[3 + k], dt, total)) return bad("bad result shapes");

  auto ptr = [&](int64_t j) { return static_cast<const T*>(a[j].untyped_data()); };
  Args<T> A;
  A.K = static_cast<int>(K);
  A.v = ptr(iv);
  A.ref = static_cast<const int32_t*>(a[iref].untyped_data());
  for (int64_t k = 0; k < K; ++k) {
    A.g[k] = ptr(ig + k);
    A.e[k] = ptr(ie + k);
    A.a[k] = ptr(ia + k);
    A.erev[k] = ptr(ier + k);
    A.mean[k] = ptr(im + k);
    const bool cond = (conductance >> k) & 1;
    A.mask_cond[k] = cond ? T(1) : T(0);
    A.mask_cur[k] = cond ? T(0) : T(1);
    A.g_out[k] = static_cast<T*>(r[3 + k]->untyped_data());
  }
  A.in = ptr(iin);
  A.gl = ptr(ip);
  A.cm = ptr(ip + 1);
  A.vrest = ptr(ip + 2);
  A.vth = ptr(ip + 3);
  A.vreset = ptr(ip + 4);
  A.iext = ptr(ip + 5);
  A.step = ptr(ip + 6);
  A.nref = static_cast<const int32_t*>(a[ip + 7].untyped_data());
  A.v_out = static_cast<T*>(r[0]->untyped_data());
  A.s_out = static_cast<T*>(r[1]->untyped_data());
  A.ref_out = static_cast<int32_t*>(r[2]->untyped_data());

  RunPopulation(A, static_cast<int>(mode), B, n, 0, n, P, n_in);
  return ffi::Error::Success();
}

static ffi::Error LifUpdateImpl(ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t k,
                                int64_t n, int64_t mode, int64_t conductance) {
  if (args.size() < 1) return ffi::Error::InvalidArgument("brainsim lif_update: no operands");
  auto first = args.get<ffi::AnyBuffer>(0);
  if (!first) return ffi::Error::InvalidArgument("brainsim lif_update: bad operand");
  switch (first->element_type()) {
    case ffi::DataType::F32:
      return Run<float>(args, rets, k, n, mode, conductance);
    case ffi::DataType::F64:
      return Run<double>(args, rets, k, n, mode, conductance);
    default:
      return ffi::Error::InvalidArgument(
          "brainsim lif_update: only float32/float64 are supported");
  }
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifUpdate(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifUpdate, LifUpdateImpl,
                              ffi::Ffi::Bind()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<int64_t>("k")
                                  .Attr<int64_t>("n")
                                  .Attr<int64_t>("mode")
                                  .Attr<int64_t>("conductance"));
