// brainsim native CPU kernels: the step of an Izhikevich population driven by
// a current and voltage jumps, one pass over its state (shared by
// BrainsimIzhikevichUpdate, izhikevich_update.cc, and the whole-network run
// BrainsimIzhikevichNetworkRun, izhikevich_network.cc).  It computes what
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
// The files that include it are built with -ffp-contract=off: no multiply-add
// is contracted beyond the explicit ones.  Internal linkage (an anonymous
// namespace): each including file has its own per-ISA clones.

#ifndef BRAINSIM_IZHIKEVICH_STEP_H_
#define BRAINSIM_IZHIKEVICH_STEP_H_

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace brainsim_izh {
namespace {

// The selects and the division must not be turned into branches (a division
// might trap), else the neuron loop does not vectorise.
#pragma GCC optimize("no-trapping-math")

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

}  // namespace
}  // namespace brainsim_izh

#endif  // BRAINSIM_IZHIKEVICH_STEP_H_
