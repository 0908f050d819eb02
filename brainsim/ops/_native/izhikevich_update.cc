// brainsim native CPU kernel BrainsimIzhikevichUpdateF32 / F64: one step of an
// Izhikevich population driven by a current and voltage jumps (delta
// synapses), in one pass over its state.  It computes what
// bs.neurons.Izhikevich.step computes with forward Euler and a Heaviside
// spike, operation by operation in its order (the model's step is the
// specification and the pure-JAX path: brainsim.ops.izhikevich):
//
//   i  = (i_ext + current) / c_m
//   v1 = v + dt ((((0.04 v) v + 5 v) + 140 - u) + i)
//   u1 = u + dt (a (b v - u))
// rounded with the fused multiply-adds XLA's CPU backend forms for that step
// (fma(5, v, (0.04 v) v), fma(dv, dt, v), fma(b, v, -u), and dt a folded when
// the parameters are shared), so the native and pure-JAX paths agree bit for bit;
//   x  = ref == 0 ? v1 + jump : c,   jump = ((0 + e_0) + e_1) + ...
//   s  = (ref == 0 and x - v_peak > 0) ? 1 : 0
//   v' = x + (c - x) s,   u' = u1 + d s
//   ref' = s > 0 ? n_ref : max(ref - 1, 0)
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
// Built with -ffp-contract=off: no multiply-add is contracted beyond the
// explicit std::fma calls above.

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "xla/ffi/api/ffi.h"

// The selects and the division must not be turned into branches (a division
// might trap), else the neuron loop does not vectorise.
#pragma GCC optimize("no-trapping-math")

namespace ffi = xla::ffi;

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(BRAINSIM_NO_CLONES)
#define BRAINSIM_IZH_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define BRAINSIM_IZH_CLONES
#endif

constexpr int64_t kMaxJumps = 16;

// A row's operands: the state (read and written in place), its jumps, and
// where the parameters and the current start.
template <typename T>
struct Row {
  T* v;
  T* u;
  T* s;
  int32_t* ref;
  const T* e0;  // the first two jumps (kJumps 1 or 2), else unused
  const T* e1;
  const T* const* p;  // a, b, c, d, v_peak, c_m, i_ext
  const int32_t* n_ref;
  const T* in;
};

// x y + z rounded once.  A macro over GCC's builtins, not std::fma: std::fma is an
// out-of-line function compiled for the baseline ISA, so a call to it stays a call
// (to libm) inside the AVX2 clone and the loop does not vectorise; the builtin
// expands to vfmadd in the clone.
#define BRAINSIM_IZH_FMA(x, y, z)                                          \
  (std::is_same_v<T, float> ? T(__builtin_fmaf(float(x), float(y), float(z))) \
                            : T(__builtin_fma(double(x), double(y), double(z))))

// A parameter of neuron j: per neuron (kPer), else one value read before the
// loop (GCC does not vectorise a loop that loads a shared value in it).
template <typename E, bool kPer>
struct Param {
  const E* __restrict p;
  E x;
  explicit Param(const E* q) : p(q), x(q[0]) {}
  E operator[](int64_t j) const { return kPer ? p[j] : x; }
};

// n neurons of one row.  kJumps 1 or 2: the jumps are e0 (+ e1); 0: they were
// summed into s beforehand.  kPer: parameters per neuron (else shared); kIn: a
// current per neuron (else one for all).  The arrays are restrict parameters
// (GCC ignores restrict on locals); each is read and written at one index.
template <typename T, int kJumps, bool kPer, bool kIn>
BRAINSIM_IZH_CLONES void Update(int64_t n, T* __restrict v, T* __restrict u, T* __restrict s,
                                int32_t* __restrict ref, const T* __restrict e0,
                                const T* __restrict e1, const Row<T>& R, T dt) {
  const Param<T, kPer> a(R.p[0]), b(R.p[1]), c(R.p[2]), d(R.p[3]), v_peak(R.p[4]),
      c_m(R.p[5]), i_ext(R.p[6]);
  const Param<int32_t, kPer> n_ref(R.n_ref);
  const Param<T, kIn> in(R.in);
  for (int64_t j = 0; j < n; ++j) {
    const T vj = v[j], uj = u[j];
    const int32_t r = ref[j];
    const T jump = kJumps == 0 ? s[j] : kJumps == 1 ? T(0) + e0[j] : (T(0) + e0[j]) + e1[j];
    const T i = (i_ext[j] + in[j]) / c_m[j];
    // Rounded as XLA's CPU program of the model's step rounds it (its LLVM backend
    // contracts a product feeding one sum into an FMA, and folds dt * a when both are
    // constants), so the native and pure-JAX paths give the same spikes
    // (tests/test_path_independence.py).
    const T dv = ((BRAINSIM_IZH_FMA(T(5.0), vj, (T(0.04) * vj) * vj) + T(140.0)) - uj) + i;
    const T v1 = BRAINSIM_IZH_FMA(dv, dt, vj);
    const T bu = BRAINSIM_IZH_FMA(b[j], vj, -uj);
    const T u1 =
        kPer ? BRAINSIM_IZH_FMA(a[j] * bu, dt, uj) : BRAINSIM_IZH_FMA(bu, dt * a[j], uj);
    const bool free = r == 0;
    const T x = free ? v1 + jump : c[j];
    const bool fire = free & (x - v_peak[j] > T(0));  // no branch: the loop vectorises
    const T sj = fire ? T(1) : T(0);
    v[j] = x + (c[j] - x) * sj;
    u[j] = u1 + d[j] * sj;
    s[j] = sj;
    ref[j] = fire ? n_ref[j] : std::max(r - 1, 0);
  }
}

// The K jumps of a row summed into s, ((0 + e_0) + e_1) + ... in order.
template <typename T>
BRAINSIM_IZH_CLONES void SumJumps(int64_t n, T* __restrict s, const T* const* e, int64_t K) {
  std::fill(s, s + n, T(0));
  for (int64_t k = 0; k < K; ++k) {
    const T* __restrict x = e[k];
    for (int64_t j = 0; j < n; ++j) s[j] = s[j] + x[j];
  }
}

template <typename T, int kJumps>
void UpdateAny(int64_t n, const Row<T>& R, bool per, bool current, T dt) {
  auto go = [&](auto update) { update(n, R.v, R.u, R.s, R.ref, R.e0, R.e1, R, dt); };
  if (per && current) go(Update<T, kJumps, true, true>);
  if (per && !current) go(Update<T, kJumps, true, false>);
  if (!per && current) go(Update<T, kJumps, false, true>);
  if (!per && !current) go(Update<T, kJumps, false, false>);
}

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
