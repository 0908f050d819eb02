// brainsim native CPU kernel BrainsimIzhikevichUpdateF32 / F64: one step of an
// Izhikevich population driven by a current and voltage jumps (delta
// synapses), in one pass over its state (izhikevich_step.h: the step and its
// rounding).
//
// Typed bindings (T = float32 or float64, one handler each; B rows of n):
//   operands  v, u, spike        T     [B, n]
//             refractory         int32 [B, n]
//             current            T     [1], [n] or [B, n]
//             params             T     [7, P]  a, b, c, d, v_peak, c_m, i_ext
//             n_ref              int32 [P]
//             jumps              T     [B, n] each, K >= 0 of them
//   results   v, u, spike        T     [B, n]  (aliased to the operands v, u,
//             refractory         int32 [B, n]   spike, refractory: the state is
//                                               read and written in place)
// with P = 1 (scalar parameters) or n (per-neuron).  Attribute: dt (float64).

#include <cstdint>
#include <string>

#include "izhikevich_step.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using namespace brainsim_izh;

template <ffi::DataType D>
ffi::Error IzhikevichUpdate(ffi::Buffer<D> v, ffi::Buffer<D> u, ffi::Buffer<D> spike,
                            ffi::Buffer<ffi::S32> refractory, ffi::Buffer<D> current,
                            ffi::Buffer<D> params, ffi::Buffer<ffi::S32> n_ref,
                            ffi::RemainingArgs jumps, ffi::ResultBuffer<D> v_out,
                            ffi::ResultBuffer<D> u_out, ffi::ResultBuffer<D> spike_out,
                            ffi::ResultBuffer<ffi::S32> refractory_out, double dt) {
  using T = ffi::NativeType<D>;
  auto bad = [](const std::string& what) {
    return ffi::Error::InvalidArgument("brainsim izhikevich_update: " + what);
  };
  auto count = [](const auto& x) { return static_cast<int64_t>(x.element_count()); };
  const auto dims = v.dimensions();
  const int64_t n = dims.size() ? dims.back() : 1;
  const int64_t total = count(v);
  if (n < 1 || total % n != 0) return bad("bad state shape");
  for (int64_t c : {count(u), count(spike), count(refractory), count(*v_out), count(*u_out),
                    count(*spike_out), count(*refractory_out)})
    if (c != total) return bad("v, u, spike and refractory must have one shape");
  const int64_t n_in = count(current);
  if (n_in != 1 && n_in != n && n_in != total)
    return bad("input current must have 1, n or all elements");
  const int64_t P = count(n_ref);
  if ((P != 1 && P != n) || count(params) != 7 * P)
    return bad("parameters must be scalars or per-neuron, packed [7, P]");
  const int64_t K = static_cast<int64_t>(jumps.size());
  if (K > kMaxJumps) return bad("too many voltage-jump inputs");
  const T* e[kMaxJumps];
  for (int64_t k = 0; k < K; ++k) {
    auto x = jumps.get<ffi::Buffer<D>>(k);
    if (!x) return bad("voltage jumps must have v's dtype");
    if (count(*x) != total) return bad("voltage jumps must have the state's shape");
    e[k] = x->typed_data();
  }
  // The results hold the operands' values (aliased; XLA copies where it cannot).
  const T* p[7];
  for (int k = 0; k < 7; ++k) p[k] = params.typed_data() + k * P;
  const T step = static_cast<T>(dt);
  for (int64_t o = 0; o < total; o += n) {
    const T* row_e[kMaxJumps];
    for (int64_t k = 0; k < K; ++k) row_e[k] = e[k] + o;
    Row<T> R{v_out->typed_data() + o,
             u_out->typed_data() + o,
             spike_out->typed_data() + o,
             refractory_out->typed_data() + o,
             K > 0 ? row_e[0] : nullptr,
             K > 1 ? row_e[1] : nullptr,
             p,
             n_ref.typed_data(),
             current.typed_data() + (n_in == total ? o : 0)};
    const bool per = P != 1, current_row = n_in != 1;
    if (K == 1) {
      UpdateAny<T, 1>(n, R, per, current_row, step);
    } else if (K == 2) {
      UpdateAny<T, 2>(n, R, per, current_row, step);
    } else {
      SumJumps(n, R.s, row_e, K);
      UpdateAny<T, 0>(n, R, per, current_row, step);
    }
  }
  return ffi::Error::Success();
}

template <ffi::DataType D>
auto BindIzhikevichUpdate() {
  using Float = ffi::Buffer<D>;
  using Int = ffi::Buffer<ffi::S32>;
  return ffi::Ffi::Bind()
      .Arg<Float>()           // v
      .template Arg<Float>()  // u
      .template Arg<Float>()  // spike
      .template Arg<Int>()    // refractory
      .template Arg<Float>()  // current
      .template Arg<Float>()  // params
      .template Arg<Int>()    // n_ref
      .RemainingArgs()        // jumps
      .template Ret<Float>()  // v
      .template Ret<Float>()  // u
      .template Ret<Float>()  // spike
      .template Ret<Int>()    // refractory
      .template Attr<double>("dt");
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimIzhikevichUpdateF32(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimIzhikevichUpdateF64(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimIzhikevichUpdateF32, IzhikevichUpdate<ffi::DataType::F32>,
                              BindIzhikevichUpdate<ffi::DataType::F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimIzhikevichUpdateF64, IzhikevichUpdate<ffi::DataType::F64>,
                              BindIzhikevichUpdate<ffi::DataType::F64>());
