// brainsim native CPU kernels: the bounded, factored change of a plastic
// weight and its column and row passes, shared by the one-step kernel
// (BrainsimPlasticBounded, plastic_event.cc) and the many-step network loop
// (BrainsimLifNetworkRun's pair STDP, lif_network_plastic.cc: ColumnList and
// RowChange, one row at a time as its events are delivered).
// brainsim.ops.plastic_bounded is the reference and documents the formula:
//
//   for j with post[j] != 0, for the synapses s = (i, j) of column j:      (1)
//       w[s] += post[j] * change(w[s], a_post(i) * b_post(j))
//   for i with pre[i] != 0, for the synapses s = (i, j) of row i:          (2)
//       w[s] += pre[i] * change(w[s], a_pre(j) * b_pre(i))
//   change(w, r) = clip(w + r f, lo, hi) - w,  u = (w - lo) / (hi - lo),
//   f = 1 - u (r > 0, soft_plus) or u (r <= 0, soft_minus), else 1
//
// The synapse s of column entry e is indptr[col_pre[e]] + col_offset[e] (the
// column index stores no positions). Every synapse is touched at most once
// per pass, so the result does not depend on the order of the events. The
// floating-point operations are those of the reference as XLA compiles it,
// one by one (Bound::Apply): files including this header are compiled with
// -ffp-contract=off and make their fused multiply-adds explicit.

#ifndef BRAINSIM_PLASTIC_COMMON_H_
#define BRAINSIM_PLASTIC_COMMON_H_

#include <cmath>
#include <cstdint>
#include <vector>

namespace brainsim_plastic {

// The weight after an event of value s with raw change a b. XLA's CPU backend
// contracts a product into the addition that is its only use (one fused
// multiply-add, one rounding) and not s d into the scatter's addition, so the
// kernel does the same: bit for bit the reference's value. `inv` is
// 1 / (hi - lo), the reference's reciprocal of the span (soft bounds only).
template <typename T>
struct Bound {
  T lo, hi, inv;
  bool soft_plus, soft_minus;

  __attribute__((always_inline)) inline T Apply(T w, T s, T a, T b) const {
    T x;
    if (!soft_plus && !soft_minus) {
      x = std::fma(a, b, w);
    } else {
      const T r = a * b;  // two uses (the sign test, the product): rounded
      const T u = (w - lo) * inv;
      T f = T(1);
      if (r > T(0)) {
        if (soft_plus) f = soft_minus ? T(1) - u : std::fma(-(w - lo), inv, T(1));
      } else if (soft_minus) {
        f = u;
      }
      x = std::fma(r, f, w);
    }
    x = x < lo ? lo : x;  // jnp.clip: max with lo, then min with hi
    x = x > hi ? hi : x;
    const T d = s * (x - w);
    return w + d;
  }
};

// Pass (1) over the columns act[0..na) (post[j] their spike values): returns
// false where the column index or the layout is malformed. A column's synapses
// lie scattered over the rows, so the loads, not the arithmetic, bound the
// pass: a first sweep prefetches the columns' entries, a second finds every
// synapse and prefetches its weight, the third updates them (the same
// operations in the same order as one sweep; each synapse is in one column).
template <typename T, typename Pre, typename Off, typename A, typename B>
inline bool ColumnList(T* w, const T* post, const int32_t* act, int na, const int32_t* indptr,
                       const int32_t* col_ptr, const Pre* col_pre, const Off* col_off,
                       const A& a, const B& b, const Bound<T>& bound, int64_t n_syn,
                       int64_t n_pre) {
  constexpr int64_t kLine = 64;
  int64_t total = 0;
  for (int k = 0; k < na; ++k) {
    const int64_t start = col_ptr[act[k]], stop = col_ptr[act[k] + 1];
    if (start < 0 || start > stop || stop > n_syn) return false;
    for (int64_t e = start; e < stop; e += kLine / sizeof(Pre)) __builtin_prefetch(col_pre + e);
    for (int64_t e = start; e < stop; e += kLine / sizeof(Off)) __builtin_prefetch(col_off + e);
    total += stop - start;
  }
  static thread_local std::vector<int64_t> scratch;
  scratch.resize(total);
  int64_t* const at = scratch.data();  // the synapse of each entry, column by column
  int64_t* q = at;
  for (int k = 0; k < na; ++k) {
    for (int64_t e = col_ptr[act[k]]; e < col_ptr[act[k] + 1]; ++e, ++q) {
      const int64_t i = col_pre[e];
      if (i < 0 || i >= n_pre) return false;
      *q = static_cast<int64_t>(indptr[i]) + col_off[e];
      if (*q < 0 || *q >= n_syn) return false;
      __builtin_prefetch(w + *q, 1);
    }
  }
  q = at;
  for (int k = 0; k < na; ++k) {
    const int32_t j = act[k];
    const T s = post[j], own = b(j);
    for (int64_t e = col_ptr[j]; e < col_ptr[j + 1]; ++e, ++q)
      w[*q] = bound.Apply(w[*q], s, a(col_pre[e]), own);
  }
  return true;
}

// Pass (2) at one row: the synapses [beg, end) (spike value s, own = b(i))
// whose targets lie in [lo, hi) (all of them: lo = 0, hi = n_post); false
// where a target lies outside [0, n_post).
template <typename T, typename A>
inline bool RowChange(T* w, T s, T own, const int32_t* indices, int64_t beg, int64_t end,
                      const A& a, const Bound<T>& bound, int64_t n_post, int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo);
  for (int64_t q = beg; q < end; ++q) {
    const int64_t j = indices[q];
    if (j < 0 || j >= n_post) return false;
    if (static_cast<uint64_t>(j - lo) < span) w[q] = bound.Apply(w[q], s, a(j), own);
  }
  return true;
}

// Pass (2) over the rows act[0..na), val[k] the spike value of row act[k].
// Each row starts at a scattered place (a cache miss for its targets and its
// weights), so every row's lines are prefetched before the first is updated.
template <typename T, typename A, typename B>
inline bool RowList(T* w, const T* val, const int32_t* act, int64_t na, const int32_t* indptr,
                    const int32_t* indices, const A& a, const B& b, const Bound<T>& bound,
                    int64_t n_syn, int64_t n_post) {
  constexpr int64_t kLine = 64;
  for (int64_t k = 0; k < na; ++k) {
    const int64_t start = indptr[act[k]], stop = indptr[act[k] + 1];
    if (start < 0 || stop > n_syn || start > stop) return false;
    for (int64_t q = start; q < stop; q += kLine / 4) __builtin_prefetch(indices + q);
    for (int64_t q = start; q < stop; q += kLine / sizeof(T)) __builtin_prefetch(w + q, 1);
  }
  for (int64_t k = 0; k < na; ++k) {
    const int32_t i = act[k];
    const int64_t start = indptr[i], stop = indptr[i + 1];
    if (start < 0 || stop > n_syn || start > stop ||
        !RowChange(w, val[k], b(i), indices, start, stop, a, bound, n_post, int64_t{0}, n_post))
      return false;
  }
  return true;
}

}  // namespace brainsim_plastic

#endif  // BRAINSIM_PLASTIC_COMMON_H_
