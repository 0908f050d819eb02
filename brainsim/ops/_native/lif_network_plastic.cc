// brainsim native CPU kernels: pair and triplet STDP inside BrainsimLifNetworkRun's loop
// (lif_network_plastic.h). Compiled with -ffp-contract=off: it rounds as the
// reference does, operation by operation (plastic_common.h).

#include "lif_network_plastic.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "event_common.h"

namespace brainsim_lif {

namespace {

// f(col_pre, col_offset) with the index arrays at their stored widths.
template <typename F>
bool WithColumnTypes(ffi::DataType pre_type, ffi::DataType off_type, const void* pre,
                     const void* off, F f) {
  auto with_off = [&](auto* p) {
    switch (off_type) {
      case ffi::DataType::U8:
        return f(p, static_cast<const uint8_t*>(off));
      case ffi::DataType::U16:
        return f(p, static_cast<const uint16_t*>(off));
      default:
        return f(p, static_cast<const int32_t*>(off));
    }
  };
  return pre_type == ffi::DataType::U16 ? with_off(static_cast<const uint16_t*>(pre))
                                        : with_off(static_cast<const int32_t*>(pre));
}

}  // namespace

template <typename T>
ffi::Error PreparePairs(Scratch<T>& sc, ffi::Span<const int64_t> plastic, const Pairs<T>& pairs,
                        std::vector<PairRule<T>>& rules) {
  auto bad = [](const std::string& what) {
    return ffi::Error::InvalidArgument("brainsim lif_network_run (plastic): " + what);
  };
  constexpr ffi::DataType kI32 = ffi::DataType::S32;
  const int64_t Q = static_cast<int64_t>(plastic.size());
  Network<T>& N = sc.net;
  rules.clear();
  for (int64_t q = 0; q < Q; ++q) {
    if (plastic[q] == 0) continue;
    if (plastic[q] < 0 || plastic[q] > 63 || (plastic[q] & 40) == 40)
      return bad("bad plastic code");
    const size_t k = rules.size();
    const Pairs<T>& o = pairs;
    PairRule<T> R;
    R.q = q;
    R.n_pre = N.indptr[q].count - 1;
    R.n_syn = N.indices[q].count;
    R.n_post = o.y_plus[k].count;
    if (N.weight[q].count != R.n_syn || o.w_out[k].count != R.n_syn)
      return bad("plastic weights must be per synapse");
    if (o.x_plus[k].count != R.n_pre || o.x_minus[k].count != R.n_pre)
      return bad("x traces must be [n_pre]");
    if (o.y_minus[k].count != R.n_post || o.seen[k].count != R.n_post)
      return bad("y traces must be [n_post]");
    if (o.x_plus_out[k].count != o.x_plus[k].count ||
        o.x_minus_out[k].count != o.x_minus[k].count ||
        o.y_plus_out[k].count != o.y_plus[k].count ||
        o.y_minus_out[k].count != o.y_minus[k].count || o.seen_out[k].count != o.seen[k].count)
      return bad("results must match");
    const ffi::DataType pre = o.pre_type[k], off = o.offset_type[k];
    if (o.col_ptr[k].count != R.n_post + 1 ||
        !(pre == ffi::DataType::U16 || pre == kI32) || o.col_pre[k].count != R.n_syn ||
        !(off == ffi::DataType::U8 || off == ffi::DataType::U16 || off == kI32) ||
        o.col_offset[k].count != R.n_syn)
      return bad("bad column index");
    if (o.rule[k].count != 11) return bad("rule must be T [11]");
    // The state into the results (unless aliased), then updated there.
    auto take = [](const View<const T>& in, const View<T>& out) {
      if (out.data != in.data && in.count) std::memcpy(out.data, in.data, sizeof(T) * in.count);
      return out.data;
    };
    R.w = take(N.weight[q], o.w_out[k]);
    N.weight[q].data = R.w;  // the events of every step read the plastic weights
    R.x_plus = take(o.x_plus[k], o.x_plus_out[k]);
    R.x_minus = take(o.x_minus[k], o.x_minus_out[k]);
    R.y_plus = take(o.y_plus[k], o.y_plus_out[k]);
    R.y_minus = take(o.y_minus[k], o.y_minus_out[k]);
    R.seen = take(o.seen[k], o.seen_out[k]);
    R.indptr = N.indptr[q].data;
    R.indices = N.indices[q].data;
    R.col_ptr = o.col_ptr[k].data;
    R.col_pre = o.col_pre[k].data;
    R.col_off = o.col_offset[k].data;
    R.pre_type = pre;
    R.off_type = off;
    const T* c = o.rule[k].data;
    std::copy(c, c + 4, R.f);
    R.a_plus = c[4];
    R.a_minus = c[5];
    R.a3_plus = c[6];
    R.a3_minus = c[7];
    R.offset = c[8];
    R.bound = {c[9], c[10], T(1) / (c[10] - c[9]), (plastic[q] & 2) != 0, (plastic[q] & 4) != 0};
    R.symmetric = (plastic[q] & 8) != 0;
    R.nearest = (plastic[q] & 16) != 0;
    R.triplet = (plastic[q] & 32) != 0;
    rules.push_back(R);
  }
  return ffi::Error::Success();
}

// y[i] <- jump(x[i] f, s) for i in [lo, hi) (y may be x): for the listed
// (spiking) i the reference's all-to-all x f + s, which XLA contracts into
// one fused multiply-add, or nearest-neighbour t + s (1 - t), t = x f (two
// uses of t: not contracted; the same value either way for s in {0, 1});
// elsewhere x f (s = 0, the same value), vectorised. act[0..na) lie in
// [lo, hi), val their values.
template <typename T>
static void DecayJump(T* y, const T* x, T f, int64_t lo, int64_t hi, const int32_t* act,
                      const T* val, int64_t na, bool nearest) {
  static thread_local std::vector<T> tmp;
  tmp.resize(na);
  for (int64_t k = 0; k < na; ++k) {
    const T t = x[act[k]] * f;
    tmp[k] = nearest ? std::fma(val[k], T(1) - t, t) : std::fma(x[act[k]], f, val[k]);
  }
  for (int64_t i = lo; i < hi; ++i) y[i] = x[i] * f;
  for (int64_t k = 0; k < na; ++k) y[act[k]] = tmp[k];
}

// The seen spikes (indices ascending, values) of every rule in the range the
// calling thread runs: found by Begin, read by Update. A range's Begin and
// Update run on one thread, one range at a time (brainsim_net's Learning).
template <typename T>
struct Spikes {
  std::vector<int32_t> act;
  std::vector<T> val;
};
template <typename T>
static std::vector<Spikes<T>>& RangeSeen(size_t n_rules) {
  static thread_local std::vector<Spikes<T>> seen;
  if (seen.size() < n_rules) seen.resize(n_rules);
  return seen;
}

template <typename T>
PairLearning<T>::PairLearning(Scratch<T>& s, const NetAttrs& a, std::vector<PairRule<T>>& r)
    : sc(s), at(a), rules(r), rule_of(a.post.size(), -1), spare(2 * r.size()) {
  for (size_t k = 0; k < rules.size(); ++k) {
    rule_of[rules[k].q] = static_cast<int32_t>(k);
    for (T* x : {rules[k].x_plus, rules[k].x_minus}) {
      spare[x_next.size()].resize(rules[k].n_pre);
      x_next.push_back(spare[x_next.size()].data());
      x_result.push_back(x);
    }
  }
}

template <typename T>
bool PairLearning<T>::Before() {
  for (const PairRule<T>& R : rules)
    if (sc.n_of[at.post[R.q]] != R.n_post || sc.src_n[at.source[R.q]] != R.n_pre) return false;
  return true;
}

template <typename T>
bool PairLearning<T>::Begin(int64_t p, int64_t lo, int64_t hi) const {
  for (size_t k = 0; k < rules.size(); ++k) {
    const PairRule<T>& R = rules[k];
    if (at.post[R.q] != p) continue;
    const T *x_plus = R.x_plus, *x_minus = R.x_minus, *y_plus = R.y_plus;
    const bool sym = R.symmetric;
    // (2) The columns of the postsynaptic spikes seen now (kept for Update).
    Spikes<T>& seen = RangeSeen<T>(rules.size())[k];
    seen.act.clear();
    seen.val.clear();
    brainsim_native::ForEachActiveList(R.seen + lo, hi - lo, [&](const int32_t* list, int n) {
      for (int m = 0; m < n; ++m) {
        seen.act.push_back(static_cast<int32_t>(lo + list[m]));
        seen.val.push_back(R.seen[lo + list[m]]);
      }
      return true;
    });
    auto columns = [&](const auto& a, const auto& b) {
      return WithColumnTypes(R.pre_type, R.off_type, R.col_pre, R.col_off,
                             [&](const auto* pre, const auto* off) {
        return brainsim_plastic::ColumnList(R.w, R.seen, seen.act.data(),
                                            static_cast<int>(seen.act.size()), R.indptr,
                                            R.col_ptr, pre, off, a, b, R.bound, R.n_syn, R.n_pre);
      });
    };
    // The decay (1) of the traces read here, stored by Update. Pair STDP:
    // x (f A), as the reference (bs.plasticity.stdp) writes it; the symmetric
    // window's difference of two products as XLA contracts it, fma(a, b,
    // -(c d)). Triplet: r1 f times A2+ + o2 (f A3+), the sum contracted
    // (bs.plasticity.triplet).
    const T ltp_f = R.f[0] * R.a_plus, ltd_f = R.f[1] * R.a_minus;
    const T f_r1 = R.f[0], slow_f = R.f[2] * R.a3_plus, a2 = R.a_plus;
    auto ltp = [=](int64_t i) {
      return sym ? std::fma(x_plus[i], ltp_f, -(x_minus[i] * ltd_f)) : x_plus[i] * ltp_f;
    };
    auto one = [](int64_t) { return T(1); };
    auto r1 = [=](int64_t i) { return x_plus[i] * f_r1; };
    auto triplet = [=](int64_t j) { return std::fma(y_plus[j], slow_f, a2); };
    if (!(R.triplet ? columns(r1, triplet) : columns(ltp, one))) return false;
  }
  return true;
}

template <typename T>
bool PairLearning<T>::Row(int64_t q, int64_t i, T s, int64_t lo, int64_t hi) const {
  const PairRule<T>& R = rules[rule_of[q]];
  const T *y_plus = R.y_plus, *y_minus = R.y_minus;
  const bool sym = R.symmetric;
  // The decay (1) of the traces read here, stored by Update (after every
  // event; x double-buffered). The row's extent was checked by the events.
  auto row = [&](T own, const auto& a) {
    return brainsim_plastic::RowChange(R.w, s, own, R.indices, R.indptr[i], R.indptr[i + 1], a,
                                       R.bound, R.n_post, lo, hi);
  };
  if (R.triplet) {  // offset - o1 f (contracted) times A2- + r2 (f A3-), as in Begin
    const T f_o1 = R.f[3], off = R.offset;
    return row(std::fma(R.x_minus[i], R.f[1] * R.a3_minus, R.a_minus),
               [=](int64_t j) { return std::fma(-y_minus[j], f_o1, off); });
  }
  const T ltp_f = R.f[2] * R.a_plus, ltd_f = R.f[3] * R.a_minus;
  return row(T(1), [=](int64_t j) {
    return sym ? std::fma(y_plus[j], ltp_f, -(y_minus[j] * ltd_f)) : T(0) - y_minus[j] * ltd_f;
  });
}

template <typename T>
void PairLearning<T>::Update(int64_t p, int64_t lo, int64_t hi) const {
  for (size_t k = 0; k < rules.size(); ++k) {
    const PairRule<T>& R = rules[k];
    const bool nn = R.nearest;
    if (at.source[R.q] == p) {  // the source's active rows in [lo, hi) (B = 1)
      const int32_t *a0 = sc.active.data() + sc.act_beg[p], *a1 = sc.active.data() + sc.act_end[p];
      const int32_t* act = std::lower_bound(a0, a1, lo);
      const int64_t na = std::lower_bound(act, a1, hi) - act;
      const T* val = sc.value.data() + (act - sc.active.data());
      DecayJump(x_next[2 * k], R.x_plus, R.f[0], lo, hi, act, val, na, nn);
      DecayJump(x_next[2 * k + 1], R.x_minus, R.f[1], lo, hi, act, val, na, nn);
    }
    if (at.post[R.q] == p) {  // the spikes Begin found in seen[lo, hi), unchanged since
      const Spikes<T>& seen = RangeSeen<T>(rules.size())[k];
      const int32_t* act = seen.act.data();
      const T* val = seen.val.data();
      const int64_t na = static_cast<int64_t>(seen.act.size());
      DecayJump(R.y_plus, R.y_plus, R.f[2], lo, hi, act, val, na, nn);
      DecayJump(R.y_minus, R.y_minus, R.f[3], lo, hi, act, val, na, nn);
      // (5) The postsynaptic spikes of the last step (before the update
      // overwrites them), seen in the next.
      std::memcpy(R.seen + lo, sc.src[p] + lo, sizeof(T) * (hi - lo));
    }
  }
}

template <typename T>
void PairLearning<T>::After(bool last) {
  for (size_t k = 0; k < rules.size(); ++k) {
    std::swap(rules[k].x_plus, x_next[2 * k]);
    std::swap(rules[k].x_minus, x_next[2 * k + 1]);
    if (!last) continue;
    for (size_t m : {2 * k, 2 * k + 1}) {
      T* x = m % 2 ? rules[k].x_minus : rules[k].x_plus;
      if (x != x_result[m]) std::memcpy(x_result[m], x, sizeof(T) * rules[k].n_pre);
    }
  }
}

#define BRAINSIM_INSTANTIATE(T)                                                              \
  template ffi::Error PreparePairs<T>(Scratch<T>&, ffi::Span<const int64_t>, const Pairs<T>&,   \
                                      std::vector<PairRule<T>>&);                             \
  template struct PairLearning<T>;
BRAINSIM_INSTANTIATE(float)
BRAINSIM_INSTANTIATE(double)
#undef BRAINSIM_INSTANTIATE

}  // namespace brainsim_lif
