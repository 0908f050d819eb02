// brainsim native CPU kernel: one fused step of a LIF population with K
// exponential synaptic traces (BrainsimLifUpdate), one pass over the state.
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

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <new>
#include <utility>
#include <vector>

#include "event_common.h"
#include "spike_append.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

// Floating-point exceptions are never inspected: without this, GCC keeps the
// refractory select as a branch (the division above it might trap) and the
// neuron loop does not vectorise.
#pragma GCC optimize("no-trapping-math")

namespace {

// The library is built for the baseline ISA; the neuron loops get AVX2+FMA and
// AVX-512 clones as well, picked at load time (AVX2 about twice as fast as the
// baseline; AVX-512 another ~10 % per network step at N = 4k-16k, where the
// loop runs from L2).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
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
static inline __attribute__((always_inline)) void Unrolled(F&& f) {
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
static inline __attribute__((always_inline)) void Membrane(const RowView<T, kPer>& W, int64_t i, T cur, T G, T R) {
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
    h = a == T(0) ? dt : std::expm1(safe * dt) / safe;
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
BRAINSIM_LIF_CLONES static void Row(const Args<T>& A, int64_t off, int64_t in_off, int64_t n) {
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
BRAINSIM_LIF_CLONES static void RowAnyK(const Args<T>& A, int64_t off, int64_t in_off, int64_t n) {
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
static void RunRows(const Args<T>& A, int64_t B, int64_t n, int64_t len,
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
static void RunMode(const Args<T>& A, int mode, int64_t B, int64_t n, int64_t len,
                    int64_t in_row_stride) {
  if (mode == 2)
    RunRows<T, kPer, kInVec, 2>(A, B, n, len, in_row_stride);
  else  // modes 0 and 1: h = step (dt or the precomputed phi)
    RunRows<T, kPer, kInVec, 1>(A, B, n, len, in_row_stride);
}

template <typename T>
static ffi::Error Run(ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t K,
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

  const bool per = P != 1 || n == 1;
  const bool in_vec = n_in != 1 || n == 1;
  const int64_t in_row = n_in == total ? n : 0;
  const int m = static_cast<int>(mode);
  if (per && in_vec)
    RunMode<T, true, true>(A, m, B, n, n, in_row);
  else if (per)
    RunMode<T, true, false>(A, m, B, n, n, in_row);
  else if (in_vec)
    RunMode<T, false, true>(A, m, B, n, n, in_row);
  else
    RunMode<T, false, false>(A, m, B, n, n, in_row);
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

// ---------------------------------------------------------------------------
// BrainsimLifNetwork: one step of a whole network of LIF populations whose
// projections are stored CSR layouts, in one call: the events of every
// projection (CSR propagation of its arriving spikes, as
// BrainsimCsrEventMulti computes them) and then the update above of every
// population.  A step is one custom call instead of one for the events, one
// per population (or a dozen XLA loops each) and the intermediate event
// arrays.
//
// Operands (T = float32 or float64; B rows of the batch, n_p neurons):
//   per population p (6):   v, ref (int32), spike   [B n_p]
//                           i_in                    [1], [n_p] or [B n_p]
//                           g_l, c_m, v_rest, v_th, v_reset, i_ext, step
//                                                   [7, P_p], P_p = 1 or n_p
//                           n_ref (int32)           [P_p]
//   S extra spike sources                            [B n_pre]
//   per projection q (5):   indptr, indices (int32) [n_pre + 1], [nnz]
//                           weights                 [1] or [nnz]
//                           g                       [B n_post]
//                           a, e_rev, m             [3, P_post]
// (the parameters packed: one operand costs XLA's call set-up ~15 ns).
// Results: per population v, s, ref; per projection g.
// Attributes (one int64 per population or projection):
//   mode (p): 1 or 2 as above;
//   post (q): the population it targets;
//   source (q): p < P for population p's spike operand (the last step's
//     spikes, read before the update overwrites them), P + s for extra s;
//   homogeneous (q), conductance (q): 0/1.
//   parts: the number of neuron ranges the step is split into (0: one below
//     kParallelNeurons, else one per thread free; see TeamThreads).
// The events of projection q are summed into a per-thread scratch array,
// zero before the call, in the order and with the operations of
// BrainsimCsrEventMulti (ascending presynaptic row, then synapse), and set
// back to zero by the update as it reads them where they are dense, else
// after it only where an event arrived.
constexpr int64_t kPopOps = 6, kProjOps = 5;

// Neurons per network below which one thread does the step.  A split step is
// one hand-off (Team: ~0.1 us to a polling helper) but every range walks all
// of the step's events, and a range's state is in the cache of the core that
// ran it last (a line from the other core of this 2-vCPU VM costs ~10 ns).
// On the loaded machine of session 5 a split step was not faster at 16k-64k
// (per-call times, paired in one process); the quiet break-even could not be
// measured there, so the threshold stays where session 4's quiet runs put it.
constexpr int64_t kParallelNeurons = int64_t{1} << 17;

// An operand or result, decoded once per call.
struct Buf {
  void* data;
  int64_t count;
  ffi::DataType type;
  int64_t last;  // size of the last dimension
};

// Per-thread buffers, reused across calls (no allocation in a steady state).
template <typename T>
struct Scratch {
  std::vector<T> e;             // events per projection; all-zero between calls
  std::vector<int32_t> active;  // active rows per (source, batch row), this call
  std::vector<T> value;         // their spike values (the update overwrites the spikes)
  std::vector<int64_t> act_beg, act_end, n_of, e_off;
  std::vector<Buf> in, out;
  std::vector<Args<T>> pops;    // each population's update arguments, this call
  std::vector<const T*> src;    // the spikes of each source (populations, then extras)
  std::vector<int64_t> src_n;   // their element counts
  std::vector<int32_t> rec_pos; // write offsets of the recorded populations (multi-step)
  int64_t base = 0;             // index of the first projection operand
};

template <typename T>
static Scratch<T>& ThreadScratch() {
  static thread_local Scratch<T> s;
  return s;
}

// The indices of the nonzero entries of s[0..n) in ascending order, written to
// out, and their values to val; returns their number.  Spikes are rare: blocks
// of 64 without one are skipped by a vectorised bit test, then groups of 8
// within a block.
template <typename T>
static inline __attribute__((always_inline)) int64_t CompactBlock(const T* __restrict s,
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
BRAINSIM_LIF_CLONES static int64_t ActiveRows(const T* __restrict s, int64_t n,
                                              int32_t* __restrict out, T* __restrict val) {
  constexpr int64_t kBlock = 64;
  int64_t na = 0;
  const int64_t n_full = n - n % kBlock;
  for (int64_t b = 0; b < n_full; b += kBlock)
    if (brainsim_native::AnyNonZero<T, kBlock>(s + b))
      na = CompactBlock(s, b, b + kBlock, out, val, na);
  return CompactBlock(s, n_full, n, out, val, na);
}

// The attributes of a network call.
struct NetAttrs {
  ffi::Span<const int64_t> mode, post, source, homogeneous, conductance;
  int64_t split;
};

// Decodes and checks the operands and results of a network call (the network
// operands above, then `n_tail` operands and `n_tail_rets` results of the
// caller) into the thread's scratch: the update arguments of every population
// and the spike array of every source.  Returns the batch size B through `B_out`.
template <typename T>
static ffi::Error PrepareNetwork(Scratch<T>& sc, ffi::RemainingArgs args,
                                 ffi::RemainingRets rets, const NetAttrs& at, int64_t n_tail,
                                 int64_t n_tail_rets, int64_t& B_out) {
  const auto &mode = at.mode, &post = at.post, &source = at.source;
  const auto &homogeneous = at.homogeneous, &conductance = at.conductance;
  auto bad = [](const std::string& what) {
    return ffi::Error::InvalidArgument("brainsim lif_network: " + what);
  };
  const int64_t P = static_cast<int64_t>(mode.size());
  const int64_t Q = static_cast<int64_t>(post.size());
  const int64_t S = static_cast<int64_t>(args.size()) - kPopOps * P - kProjOps * Q - n_tail;
  if (P < 1 || S < 0 || static_cast<int64_t>(source.size()) != Q ||
      static_cast<int64_t>(homogeneous.size()) != Q ||
      static_cast<int64_t>(conductance.size()) != Q ||
      static_cast<int64_t>(rets.size()) != 3 * P + Q + n_tail_rets)
    return bad("bad arity");
  const ffi::DataType dt = sizeof(T) == 4 ? ffi::DataType::F32 : ffi::DataType::F64;
  constexpr ffi::DataType kI32 = ffi::DataType::S32;
  // Decode every operand and result once.
  sc.in.resize(args.size());
  sc.out.resize(rets.size());
  auto decode = [](const ffi::AnyBuffer& x, Buf& o) {
    auto d = x.dimensions();
    o = {x.untyped_data(), static_cast<int64_t>(x.element_count()), x.element_type(),
         d.size() ? d[d.size() - 1] : 1};
  };
  for (size_t j = 0; j < args.size(); ++j) {
    auto x = args.get<ffi::AnyBuffer>(j);
    if (!x) return bad("bad operand");
    decode(*x, sc.in[j]);
  }
  for (size_t j = 0; j < rets.size(); ++j) {
    auto x = rets.get<ffi::AnyBuffer>(j);
    if (!x) return bad("bad result");
    decode(**x, sc.out[j]);
  }
  const Buf* in = sc.in.data();
  const Buf* out = sc.out.data();
  auto is = [](const Buf& x, ffi::DataType t, int64_t count) {
    return x.type == t && x.count == count;
  };
  // Populations: sizes, batch, state and parameters.
  sc.n_of.resize(P);
  int64_t B = -1;
  for (int64_t p = 0; p < P; ++p) {
    const Buf* o = in + kPopOps * p;
    const int64_t n = o[0].last;
    if (o[0].type != dt || n < 1 || o[0].count % n != 0) return bad("bad state shape");
    const int64_t total = o[0].count;
    if (B >= 0 && total / n != B) return bad("populations have different batch sizes");
    B = total / n;
    sc.n_of[p] = n;
    if (mode[p] != 1 && mode[p] != 2) return bad("bad mode");
    if (!is(o[1], kI32, total) || !is(o[2], dt, total) || !is(out[3 * p], dt, total) ||
        !is(out[3 * p + 1], dt, total) || !is(out[3 * p + 2], kI32, total))
      return bad("v, refractory and spike must have one shape (float, int32, float)");
    if (o[3].type != dt || (o[3].count != 1 && o[3].count != n && o[3].count != total))
      return bad("input current must have 1, n or all elements");
    const int64_t Pn = o[5].count;
    if (Pn != 1 && Pn != n) return bad("parameters must be scalars or per-neuron");
    if (!is(o[4], dt, 7 * Pn) || !is(o[5], kI32, Pn))
      return bad("parameters must share one size and the dtype");
  }
  // The spike array of every source: a population's last spikes or an extra.
  sc.src.resize(P + S);
  sc.src_n.resize(P + S);
  for (int64_t j = 0; j < P + S; ++j) {
    const Buf& x = j < P ? in[kPopOps * j + 2] : in[kPopOps * P + j - P];
    sc.src[j] = static_cast<const T*>(x.data);
    sc.src_n[j] = x.count;
  }
  // Projections.
  const int64_t base = kPopOps * P + S;
  sc.base = base;
  sc.e_off.resize(Q + 1);
  sc.e_off[0] = 0;
  for (int64_t q = 0; q < Q; ++q) {
    if (post[q] < 0 || post[q] >= P || source[q] < 0 || source[q] >= P + S)
      return bad("bad post or source index");
    const Buf* o = in + base + kProjOps * q;
    const int64_t n_post = sc.n_of[post[q]], total = B * n_post;
    const Buf& src = source[q] < P ? in[kPopOps * source[q] + 2] : in[kPopOps * P + source[q] - P];
    const int64_t n_pre = o[0].count - 1, nnz = o[1].count;
    const int64_t Pn = in[kPopOps * post[q] + 5].count;
    if (o[0].type != kI32 || o[1].type != kI32 || n_pre < 0 || !is(src, dt, B * n_pre) ||
        !is(o[2], dt, homogeneous[q] ? 1 : nnz))
      return bad("connectivity does not match the spikes (int32 indices, state dtype)");
    if (!is(o[3], dt, total) || !is(out[3 * P + q], dt, total))
      return bad("a trace must have its population's shape");
    if (!is(o[4], dt, 3 * Pn))
      return bad("decay factors and reversal potentials must match the parameters");
    sc.e_off[q + 1] = sc.e_off[q] + total;
    brainsim_native::HugePages(o[1].data, sizeof(int32_t) * nnz);  // indices
    if (!homogeneous[q]) brainsim_native::HugePages(o[2].data, sizeof(T) * nnz);
  }
  if (static_cast<int64_t>(sc.e.size()) < sc.e_off[Q]) sc.e.resize(sc.e_off[Q], T(0));
  // The update's arguments of every population, with its projections' traces.
  sc.pops.resize(P);
  for (int64_t p = 0; p < P; ++p) {
    const Buf* o = in + kPopOps * p;
    Args<T>& A = sc.pops[p];
    A.K = 0;
    for (int64_t q = 0; q < Q; ++q) {
      if (post[q] != p) continue;
      if (A.K == kMaxTraces) return bad("too many projections onto one population");
      const Buf* t = in + base + kProjOps * q;
      const int k = A.K++;
      A.g[k] = static_cast<const T*>(t[3].data);
      A.e[k] = sc.e.data() + sc.e_off[q];
      A.a[k] = static_cast<const T*>(t[4].data);
      A.erev[k] = A.a[k] + t[4].count / 3;
      A.mean[k] = A.a[k] + 2 * (t[4].count / 3);
      A.g_out[k] = static_cast<T*>(out[3 * P + q].data);
      A.mask_cond[k] = conductance[q] ? T(1) : T(0);
      A.mask_cur[k] = conductance[q] ? T(0) : T(1);
    }
    const int64_t Pn = o[5].count;
    const T* pp[7];
    for (int j = 0; j < 7; ++j) pp[j] = static_cast<const T*>(o[4].data) + j * Pn;
    A.v = static_cast<const T*>(o[0].data);
    A.ref = static_cast<const int32_t*>(o[1].data);
    A.in = static_cast<const T*>(o[3].data);
    A.gl = pp[0];
    A.cm = pp[1];
    A.vrest = pp[2];
    A.vth = pp[3];
    A.vreset = pp[4];
    A.iext = pp[5];
    A.step = pp[6];
    A.nref = static_cast<const int32_t*>(o[5].data);
    A.v_out = static_cast<T*>(out[3 * p].data);
    A.s_out = static_cast<T*>(out[3 * p + 1].data);
    A.ref_out = static_cast<int32_t*>(out[3 * p + 2].data);
  }
  B_out = B;
  return ffi::Error::Success();
}

// The active rows (nonzero spikes, ascending) of each spike source that a
// projection uses, once per source and batch row, and their spike values.
template <typename T>
static void CollectActive(Scratch<T>& sc, const NetAttrs& at, int64_t B) {
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

// One step of the network prepared by PrepareNetwork: the events of the
// sources' spikes (sc.src; their active rows already collected when
// `collected`), the update of every population (sc.pops).  Returns false if
// an indptr is malformed (the events are then left set).
template <typename T>
static bool StepNetwork(Scratch<T>& sc, ffi::ThreadPool& pool, const NetAttrs& at, int64_t B,
                        bool collected = false) {
  const auto &mode = at.mode, &post = at.post, &source = at.source;
  const auto& homogeneous = at.homogeneous;
  const int64_t P = static_cast<int64_t>(mode.size());
  const int64_t Q = static_cast<int64_t>(post.size());
  const Buf* in = sc.in.data();
  const int64_t base = sc.base;
  if (!collected) CollectActive(sc, at, B);
  for (int64_t p = 0; p < P; ++p) {
    Args<T>& A = sc.pops[p];
    // The events back to zero: as the update reads them when they are dense
    // (an event per 16 targets, a cache line, on average: most lines were
    // written anyway), else after the update only where they arrived.
    double events = 0;
    for (int64_t q = 0; q < Q; ++q) {
      if (post[q] != p) continue;
      const Buf* t = in + base + kProjOps * q;
      const double fan_out = t[0].count > 1 ? double(t[1].count) / double(t[0].count - 1) : 0;
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
      const Buf* o = in + base + kProjOps * q;
      const int32_t* ip = static_cast<const int32_t*>(o[0].data);
      const int32_t* ix = static_cast<const int32_t*>(o[1].data);
      const T* w = static_cast<const T*>(o[2].data);
      const int64_t nnz = o[1].count, n_post = sc.n_of[post[q]];
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
      const Buf* o = in + kPopOps * p;
      const int64_t n = sc.n_of[p], total = B * n;
      const auto [lo, hi] = range(n, k);
      if (hi == lo) continue;
      const int64_t n_in = o[3].count, Pn = o[5].count;
      const bool per = Pn != 1 || n == 1;
      const bool in_vec = n_in != 1 || n == 1;
      const int64_t in_row = n_in == total ? n : 0;
      const Args<T> A = sc.pops[p].Slice(lo, per, in_vec);
      const int m = static_cast<int>(mode[p]);
      if (per && in_vec)
        RunMode<T, true, true>(A, m, B, n, hi - lo, in_row);
      else if (per)
        RunMode<T, true, false>(A, m, B, n, hi - lo, in_row);
      else if (in_vec)
        RunMode<T, false, true>(A, m, B, n, hi - lo, in_row);
      else
        RunMode<T, false, false>(A, m, B, n, hi - lo, in_row);
    }
    // (3) Back to zero where events arrived (the active rows' targets in
    // range), unless the update did it.
    for (int64_t q = 0; q < Q; ++q) {
      if (sc.pops[post[q]].zero_events) continue;
      const Buf* o = in + base + kProjOps * q;
      const int32_t* ip = static_cast<const int32_t*>(o[0].data);
      const int32_t* ix = static_cast<const int32_t*>(o[1].data);
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

// A failed call may have left events in the scratch: back to zero.
template <typename T>
static ffi::Error NetworkError(Scratch<T>& sc, ffi::Error err) {
  std::fill(sc.e.begin(), sc.e.end(), T(0));
  return err;
}

template <typename T>
static ffi::Error RunNetwork(ffi::ThreadPool& pool, ffi::RemainingArgs args,
                             ffi::RemainingRets rets, const NetAttrs& at) {
  Scratch<T>& sc = ThreadScratch<T>();
  int64_t B = 0;
  ffi::Error err = PrepareNetwork(sc, args, rets, at, 0, 0, B);
  if (err.failure()) return NetworkError(sc, std::move(err));
  if (!StepNetwork(sc, pool, at, B))
    return NetworkError(sc, ffi::Error::InvalidArgument(
                                "brainsim lif_network: malformed indptr (row out of range)"));
  return ffi::Error::Success();
}

// BrainsimLifNetworkRun: `steps` steps of the network in one call, each as
// BrainsimLifNetwork computes it (the same StepNetwork on the state the last
// step left), with the spikes of the recorded populations appended after each
// step as BrainsimSpikeAppend appends them.  Only the populations' own spikes
// are sources (no extra operands: those would change every step), and the
// input currents are the same in every step.
//
// Operands: the network's, then per recorded population r (attribute record:
// the population indices, R of them) its event buffer (int32 [C_r]), then per
// r its write offset (int32 []).  Results: the network's, then per r the
// buffer (aliased to its operand), then per r the end offset (int32 [],
// saturated at INT32_MAX; it may exceed C_r: nothing past C_r is written),
// then per r the spike count of every step (int32 [steps]).
template <typename T>
static ffi::Error RunNetworkSteps(ffi::ThreadPool& pool, ffi::RemainingArgs args,
                                  ffi::RemainingRets rets, const NetAttrs& at, int64_t steps,
                                  ffi::Span<const int64_t> record) {
  Scratch<T>& sc = ThreadScratch<T>();
  auto bad = [&sc](const std::string& what) {
    return NetworkError(sc, ffi::Error::InvalidArgument("brainsim lif_network_run: " + what));
  };
  const int64_t R = static_cast<int64_t>(record.size());
  int64_t B = 0;
  ffi::Error err = PrepareNetwork(sc, args, rets, at, 2 * R, 3 * R, B);
  if (err.failure()) return NetworkError(sc, std::move(err));
  const int64_t P = static_cast<int64_t>(at.mode.size());
  if (static_cast<int64_t>(sc.src.size()) != P)
    return bad("spike sources other than the populations need one call per step");
  if (steps < 1) return bad("steps must be >= 1");
  const int64_t a0 = static_cast<int64_t>(args.size()) - 2 * R;
  const int64_t r0 = static_cast<int64_t>(rets.size()) - 3 * R;
  constexpr ffi::DataType kI32 = ffi::DataType::S32;
  sc.rec_pos.resize(R);
  for (int64_t r = 0; r < R; ++r) {
    const Buf &buf = sc.in[a0 + r], &off = sc.in[a0 + R + r];
    const Buf &buf_out = sc.out[r0 + r], &end = sc.out[r0 + R + r];
    const Buf& counts = sc.out[r0 + 2 * R + r];
    if (record[r] < 0 || record[r] >= P) return bad("bad recorded population");
    if (buf.type != kI32 || buf_out.type != kI32 || buf_out.count != buf.count ||
        off.type != kI32 || off.count != 1 || end.type != kI32 || end.count != 1 ||
        counts.type != kI32 || counts.count != steps)
      return bad("buffers, offsets and counts must be int32 of their shapes");
    const int32_t start = *static_cast<const int32_t*>(off.data);
    if (start < 0) return bad("offset < 0");
    if (buf_out.data != buf.data && buf.count)  // not aliased
      std::memcpy(buf_out.data, buf.data, sizeof(int32_t) * buf.count);
    sc.rec_pos[r] = start;
  }
  // The spikes of step s, appended: from the active rows the next step
  // collects where the population is a source (the same positions in the same
  // order: both take the entries != 0), else (and after the last step) by
  // AppendRow's scan.
  auto append = [&](int64_t s, bool collected) {
    for (int64_t r = 0; r < R; ++r) {
      const int64_t p = record[r], n = sc.n_of[p];
      int32_t* buf = static_cast<int32_t*>(sc.out[r0 + r].data);
      const int64_t cap = sc.out[r0 + r].count;
      const int32_t start = sc.rec_pos[r];
      int64_t pos = start;
      if (collected && sc.act_beg[p * B] >= 0) {
        for (int64_t b = 0; b < B; ++b) {
          const int32_t* act = sc.active.data();
          for (int64_t j = sc.act_beg[p * B + b]; j < sc.act_end[p * B + b]; ++j, ++pos)
            if (pos < cap) buf[pos] = static_cast<int32_t>(b * n + act[j]);
        }
      } else {
        pos = brainsim_native::AppendFloat(sc.pops[p].s_out, B * n, buf, cap, pos);
      }
      const int32_t end = brainsim_native::SaturatedEnd(pos);
      static_cast<int32_t*>(sc.out[r0 + 2 * R + r].data)[s] = end - start;
      sc.rec_pos[r] = end;
    }
  };
  for (int64_t s = 0; s < steps; ++s) {
    CollectActive(sc, at, B);
    if (s > 0) append(s - 1, true);
    if (!StepNetwork(sc, pool, at, B, true)) return bad("malformed indptr (row out of range)");
    if (s == 0) {  // from now on the state is the results, updated in place
      for (int64_t p = 0; p < P; ++p) {
        Args<T>& A = sc.pops[p];
        A.v = A.v_out;
        A.ref = A.ref_out;
        for (int k = 0; k < A.K; ++k) A.g[k] = A.g_out[k];
        sc.src[p] = A.s_out;
      }
    }
  }
  append(steps - 1, false);
  for (int64_t r = 0; r < R; ++r)
    *static_cast<int32_t*>(sc.out[r0 + R + r].data) = sc.rec_pos[r];
  return ffi::Error::Success();
}

static ffi::Error LifNetworkImpl(ffi::ThreadPool pool, ffi::RemainingArgs args,
                                 ffi::RemainingRets rets,
                                 ffi::Span<const int64_t> mode, ffi::Span<const int64_t> post,
                                 ffi::Span<const int64_t> source,
                                 ffi::Span<const int64_t> homogeneous,
                                 ffi::Span<const int64_t> conductance, int64_t parts) {
  if (args.size() < 1) return ffi::Error::InvalidArgument("brainsim lif_network: no operands");
  auto first = args.get<ffi::AnyBuffer>(0);
  if (!first) return ffi::Error::InvalidArgument("brainsim lif_network: bad operand");
  const NetAttrs at{mode, post, source, homogeneous, conductance, parts};
  switch (first->element_type()) {
    case ffi::DataType::F32:
      return RunNetwork<float>(pool, args, rets, at);
    case ffi::DataType::F64:
      return RunNetwork<double>(pool, args, rets, at);
    default:
      return ffi::Error::InvalidArgument(
          "brainsim lif_network: only float32/float64 are supported");
  }
}

static ffi::Error LifNetworkRunImpl(ffi::ThreadPool pool, ffi::RemainingArgs args,
                                    ffi::RemainingRets rets, ffi::Span<const int64_t> mode,
                                    ffi::Span<const int64_t> post,
                                    ffi::Span<const int64_t> source,
                                    ffi::Span<const int64_t> homogeneous,
                                    ffi::Span<const int64_t> conductance, int64_t parts,
                                    int64_t steps, ffi::Span<const int64_t> record) {
  if (args.size() < 1)
    return ffi::Error::InvalidArgument("brainsim lif_network_run: no operands");
  auto first = args.get<ffi::AnyBuffer>(0);
  if (!first) return ffi::Error::InvalidArgument("brainsim lif_network_run: bad operand");
  const NetAttrs at{mode, post, source, homogeneous, conductance, parts};
  switch (first->element_type()) {
    case ffi::DataType::F32:
      return RunNetworkSteps<float>(pool, args, rets, at, steps, record);
    case ffi::DataType::F64:
      return RunNetworkSteps<double>(pool, args, rets, at, steps, record);
    default:
      return ffi::Error::InvalidArgument(
          "brainsim lif_network_run: only float32/float64 are supported");
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

BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifNetwork(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifNetwork, LifNetworkImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<ffi::Span<const int64_t>>("mode")
                                  .Attr<ffi::Span<const int64_t>>("post")
                                  .Attr<ffi::Span<const int64_t>>("source")
                                  .Attr<ffi::Span<const int64_t>>("homogeneous")
                                  .Attr<ffi::Span<const int64_t>>("conductance")
                                  .Attr<int64_t>("parts"));

BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifNetworkRun(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifNetworkRun, LifNetworkRunImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<ffi::Span<const int64_t>>("mode")
                                  .Attr<ffi::Span<const int64_t>>("post")
                                  .Attr<ffi::Span<const int64_t>>("source")
                                  .Attr<ffi::Span<const int64_t>>("homogeneous")
                                  .Attr<ffi::Span<const int64_t>>("conductance")
                                  .Attr<int64_t>("parts")
                                  .Attr<int64_t>("steps")
                                  .Attr<ffi::Span<const int64_t>>("record"));
