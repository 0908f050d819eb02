// brainsim native CPU kernels: the fused step of a LIF population with K
// exponential synaptic traces, one pass over its state (shared by
// BrainsimLifUpdate, lif_update.cc, and the network kernels, lif_network.cc).
//
// For each neuron (all arrays flattened to B rows of n neurons):
//
//   g_k   <- g_k * a_k + e_k                             (k = 0..K-1)
//   I      = i_in + sum_{k current} m_k g_k              (pA)
//   G      = sum_{k cond} m_k g_k,  R = sum_{k cond} m_k g_k E_k (nS, nS mV)
//            (m_k: the trace's mean over the step / its start value)
//   dV     = ((g_L (V_rest - V) + i_ext) + ((I + R) - G V)) / C_m
//            (times 1 / C_m when C_m is a scalar)
//   V     <- V + h dV,   h = dt (mode 0, forward Euler),
//                        h = step (mode 1, exp. Euler with a precomputed
//                                  (exp(a dt) - 1) / a),
//                        h = expm1(a dt) / a, a = -(g_L + G) / C_m (mode 2)
//   free   = (ref == 0);  V <- free ? V : V_reset
//   s      = (V - V_th > 0) && free
//   V     <- V + (V_reset - V) s
//   ref   <- s ? n_ref : max(ref - 1, 0)
//
// in the same floating-point operation order as the pure-JAX path
// (brainsim.ops.lif.lif_update_pure), so the two agree to a few ulp.
//
// Args holds one population's arrays; RunPopulation runs the update over
// neurons of every batch row.

#ifndef BRAINSIM_LIF_STEP_H_
#define BRAINSIM_LIF_STEP_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <new>
#include <type_traits>

#include "fast_math.h"

// Floating-point exceptions are never inspected: without this, GCC keeps the
// refractory select as a branch (the division above it might trap) and the
// neuron loop does not vectorise.
#pragma GCC optimize("no-trapping-math")

namespace brainsim_lif {

// The library is built for the baseline ISA; the neuron loops get AVX2+FMA and
// AVX-512 clones as well, picked at load time (AVX2 about twice as fast as the
// baseline; AVX-512 another ~10 % per network step at N = 4k-16k, where the
// loop runs from L2).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(BRAINSIM_NO_CLONES)
#define BRAINSIM_LIF_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BRAINSIM_LIF_CLONES
#endif

constexpr int kMaxTraces = 16;

template <typename T>
struct Args {
  const T* v;
  const int32_t* ref;
  const T* g[kMaxTraces];
  const T* e[kMaxTraces];
  const T* in;
  const T *gl, *cm, *vrest, *vth, *vreset, *iext, *step;
  const int32_t* nref;
  const T* a[kMaxTraces];
  const T* erev[kMaxTraces];
  const T* mean[kMaxTraces];
  T mask_cur[kMaxTraces];
  T mask_cond[kMaxTraces];
  T* v_out;
  T* s_out;
  int32_t* ref_out;
  T* g_out[kMaxTraces];
  // The events are writable scratch, set to zero as they are read (through
  // e, cast to non-const: they are the network kernel's own arrays).
  bool zero_events = false;
  int K;

  // The same arrays from neuron lo of each row on: the state always, the
  // parameters when per-neuron (kPer), the input when a vector.
  Args Slice(int64_t lo, bool per, bool in_vec) const {
    Args r = *this;
    r.v += lo, r.ref += lo, r.v_out += lo, r.s_out += lo, r.ref_out += lo;
    for (int k = 0; k < K; ++k) {
      r.g[k] += lo, r.e[k] += lo, r.g_out[k] += lo;
      if (per) r.a[k] += lo, r.erev[k] += lo, r.mean[k] += lo;
    }
    if (per) {
      for (const T** q : {&r.gl, &r.cm, &r.vrest, &r.vth, &r.vreset, &r.iext, &r.step}) *q += lo;
      r.nref += lo;
    }
    if (in_vec) r.in += lo;
    return r;
  }
};

// Calls f(integral_constant<int, k>) for k = 0..K-1, unrolled at compile time.
template <int K, typename F>
inline __attribute__((always_inline)) void Unrolled(F&& f) {
  if constexpr (K > 0) {
    Unrolled<K - 1>(f);
    f(std::integral_constant<int, K - 1>{});
  }
}

// A parameter: per-neuron (kPer) or a scalar read once before the loop.
template <typename T, bool kPer>
struct Param {
  const T* __restrict p;
  T val;
  explicit Param(const T* q) : p(q), val(q[0]) {}
  __attribute__((always_inline)) T operator()(int64_t i) const { return kPer ? p[i] : val; }
};

// The per-row view of Args: local restrict pointers and hoisted scalars.
template <typename T, bool kPer>
struct RowView {
  const T* __restrict v;
  const int32_t* __restrict ref;
  T* __restrict v_out;
  T* __restrict s_out;
  int32_t* __restrict ref_out;
  Param<T, kPer> gl, cm, vrest, vth, vreset, iext, step;
  Param<int32_t, kPer> nref;
  T inv_cm;
  RowView(const Args<T>& A, int64_t off)
      : v(A.v + off), ref(A.ref + off), v_out(A.v_out + off), s_out(A.s_out + off),
        ref_out(A.ref_out + off), gl(A.gl), cm(A.cm), vrest(A.vrest), vth(A.vth),
        vreset(A.vreset), iext(A.iext), step(A.step), nref(A.nref), inv_cm(T(1) / A.cm[0]) {}
};

// The membrane, spike and refractory part of neuron i of a row, given its
// synaptic current `cur`, conductance `G` and reversal term `R`.
template <typename T, bool kPer, int kMode>
inline __attribute__((always_inline)) void Membrane(const RowView<T, kPer>& W, int64_t i, T cur, T G, T R) {
  const T x0 = W.v[i];
  const int32_t r = W.ref[i];
  const T gl = W.gl(i);
  // Scalar C_m: multiply by its reciprocal, as XLA does for a division by a
  // constant (a division per neuron costs a third of the loop's time).
  auto per_cm = [&](T x) { return kPer ? x / W.cm(i) : x * W.inv_cm; };
  const T dv = per_cm((gl * (W.vrest(i) - x0) + W.iext(i)) + ((cur + R) - G * x0));
  T h;
  if constexpr (kMode == 2) {
    const T a = per_cm(-gl + -G);
    const T dt = W.step(i);
    const T safe = a == T(0) ? T(1) : a;
    h = a == T(0) ? dt : brainsim_math::Expm1(safe * dt) / safe;  // inlined: vectorises
  } else {
    h = W.step(i);
  }
  T x = x0 + h * dv;
  const T vreset = W.vreset(i);
  // Branch-free (selects and masks), so the neuron loop vectorises.
  x = r == 0 ? x : vreset;
  const int32_t fire = (r == 0) & (x - W.vth(i) > T(0));
  const T s = fire ? T(1) : T(0);
  x = x + (vreset - x) * s;
  W.v_out[i] = x;
  W.s_out[i] = s;
  const int32_t down = std::max(r - 1, 0), m = -fire;  // m: all ones where fired
  W.ref_out[i] = (W.nref(i) & m) | (down & ~m);
}

// One row of n neurons with kK (compile-time) traces; kPer: per-neuron
// parameters (else scalars); kInVec: i_in is a vector over the row (else a
// scalar); kMode: see top.
template <typename T, bool kPer, bool kInVec, int kMode, int kK>
BRAINSIM_LIF_CLONES inline void Row(const Args<T>& A, int64_t off, int64_t in_off, int64_t n) {
  const RowView<T, kPer> W(A, off);
  const T* __restrict in = A.in + in_off;
  const T in0 = in[0];
  constexpr int kN = kK > 0 ? kK : 1;
  const T* __restrict g[kN];
  T* __restrict e[kN];  // written only when A.zero_events
  T* __restrict go[kN];
  const Param<T, kPer>* a[kN];
  const Param<T, kPer>* erev[kN];
  const Param<T, kPer>* mean[kN];
  T mcur[kN], mcond[kN];
  // Params cannot live in an array without a default constructor: build them here.
  alignas(Param<T, kPer>) unsigned char store[3 * kN * sizeof(Param<T, kPer>)];
  auto* pa = reinterpret_cast<Param<T, kPer>*>(store);
  for (int k = 0; k < kK; ++k) {
    g[k] = A.g[k] + off;
    e[k] = const_cast<T*>(A.e[k]) + off;
    go[k] = A.g_out[k] + off;
    a[k] = new (pa + 3 * k) Param<T, kPer>(A.a[k]);
    erev[k] = new (pa + 3 * k + 1) Param<T, kPer>(A.erev[k]);
    mean[k] = new (pa + 3 * k + 2) Param<T, kPer>(A.mean[k]);
    mcur[k] = A.mask_cur[k];
    mcond[k] = A.mask_cond[k];
  }
  // One loop with the events set back to zero as they are read, one without
  // (the caller zeroes them where they arrived).
  auto loop = [&](auto zero) __attribute__((always_inline)) {
#pragma GCC ivdep
    for (int64_t i = 0; i < n; ++i) {
      T cur = kInVec ? in[i] : in0;
      T G = T(0), R = T(0);
      Unrolled<kK>([&](auto kc) {
        constexpr int k = decltype(kc)::value;
        const T gk = g[k][i] * (*a[k])(i) + e[k][i];
        go[k][i] = gk;
        if constexpr (decltype(zero)::value) e[k][i] = T(0);
        const T gm = gk * (*mean[k])(i);
        cur += mcur[k] * gm;
        const T gc = mcond[k] * gm;
        G += gc;
        R += gc * (*erev[k])(i);
      });
      Membrane<T, kPer, kMode>(W, i, cur, G, R);
    }
  };
  if (A.zero_events)
    loop(std::true_type{});
  else
    loop(std::false_type{});
}

// Any number of traces (not vectorised).
template <typename T, bool kPer, bool kInVec, int kMode>
BRAINSIM_LIF_CLONES inline void RowAnyK(const Args<T>& A, int64_t off, int64_t in_off, int64_t n) {
  const RowView<T, kPer> W(A, off);
  auto P = [](const T* p, int64_t j) { return kPer ? p[j] : p[0]; };
  for (int64_t i = 0; i < n; ++i) {
    T cur = kInVec ? A.in[in_off + i] : A.in[in_off];
    T G = T(0), R = T(0);
    for (int k = 0; k < A.K; ++k) {
      const T gk = A.g[k][off + i] * P(A.a[k], i) + A.e[k][off + i];
      A.g_out[k][off + i] = gk;
      if (A.zero_events) const_cast<T*>(A.e[k])[off + i] = T(0);
      const T gm = gk * P(A.mean[k], i);
      cur += A.mask_cur[k] * gm;
      const T gc = A.mask_cond[k] * gm;
      G += gc;
      R += gc * P(A.erev[k], i);
    }
    Membrane<T, kPer, kMode>(W, i, cur, G, R);
  }
}

template <typename T, bool kPer, bool kInVec, int kMode>
inline void RunRows(const Args<T>& A, int64_t B, int64_t n, int64_t len,
                    int64_t in_row_stride) {
  // len neurons of each of the B rows of n (len < n: a thread's range, A sliced).
  for (int64_t b = 0; b < B; ++b) {
    const int64_t off = b * n, in_off = b * in_row_stride;
    switch (A.K) {
      case 0: Row<T, kPer, kInVec, kMode, 0>(A, off, in_off, len); break;
      case 1: Row<T, kPer, kInVec, kMode, 1>(A, off, in_off, len); break;
      case 2: Row<T, kPer, kInVec, kMode, 2>(A, off, in_off, len); break;
      case 3: Row<T, kPer, kInVec, kMode, 3>(A, off, in_off, len); break;
      default: RowAnyK<T, kPer, kInVec, kMode>(A, off, in_off, len); break;
    }
  }
}

template <typename T, bool kPer, bool kInVec>
inline void RunMode(const Args<T>& A, int mode, int64_t B, int64_t n, int64_t len,
                    int64_t in_row_stride) {
  if (mode == 2)
    RunRows<T, kPer, kInVec, 2>(A, B, n, len, in_row_stride);
  else  // modes 0 and 1: h = step (dt or the precomputed phi)
    RunRows<T, kPer, kInVec, 1>(A, B, n, len, in_row_stride);
}

// The update of neurons [lo, hi) of each of the B rows of n, dispatched on its
// compile-time cases: per-neuron parameters (P = n elements, or n == 1), a
// vector input (n_in = n or B n elements), the mode.
template <typename T>
inline void RunPopulation(const Args<T>& all, int mode, int64_t B, int64_t n, int64_t lo,
                          int64_t hi, int64_t P, int64_t n_in) {
  const bool per = P != 1 || n == 1;
  const bool in_vec = n_in != 1 || n == 1;
  const int64_t in_row = n_in == B * n ? n : 0;
  const Args<T> A = all.Slice(lo, per, in_vec);
  const int64_t len = hi - lo;
  if (per && in_vec)
    RunMode<T, true, true>(A, mode, B, n, len, in_row);
  else if (per)
    RunMode<T, true, false>(A, mode, B, n, len, in_row);
  else if (in_vec)
    RunMode<T, false, true>(A, mode, B, n, len, in_row);
  else
    RunMode<T, false, false>(A, mode, B, n, len, in_row);
}

}  // namespace brainsim_lif

#endif  // BRAINSIM_LIF_STEP_H_
