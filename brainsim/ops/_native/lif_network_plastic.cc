// brainsim native CPU kernels: pair STDP inside BrainsimLifNetworkRun's loop
// (lif_network_plastic.h). Compiled with -ffp-contract=off: it rounds as the
// reference does, operation by operation (plastic_common.h).

#include "lif_network_plastic.h"

#include <cmath>
#include <cstring>
#include <string>

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
    if (plastic[q] < 0 || plastic[q] > 7) return bad("bad plastic code");
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
    if (o.rule[k].count != 6) return bad("rule must be T [6]");
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
    R.f_plus = c[0];
    R.f_minus = c[1];
    R.a_plus = c[2];
    R.a_minus = c[3];
    R.bound = {c[4], c[5], T(1) / (c[5] - c[4]), (plastic[q] & 2) != 0, (plastic[q] & 4) != 0};
    rules.push_back(R);
  }
  return ffi::Error::Success();
}

// x[i] <- x[i] f + s: for the listed (spiking) i the reference's x f + s,
// which XLA contracts into one fused multiply-add; elsewhere x f (s = 0, the
// same value), vectorised.
template <typename T>
static void DecayJump(T* x, T f, int64_t n, const int32_t* act, const T* val, int64_t na,
                      std::vector<T>& tmp) {
  tmp.resize(na);
  for (int64_t k = 0; k < na; ++k) tmp[k] = std::fma(x[act[k]], f, val[k]);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * f;
  for (int64_t k = 0; k < na; ++k) x[act[k]] = tmp[k];
}

template <typename T>
bool StepPairs(Scratch<T>& sc, const NetAttrs& at, std::vector<PairRule<T>>& rules) {
  static thread_local std::vector<int32_t> seen_act;
  static thread_local std::vector<T> seen_val, tmp;
  for (PairRule<T>& R : rules) {
    const int64_t src = at.source[R.q], tgt = at.post[R.q];
    if (sc.n_of[tgt] != R.n_post || sc.src_n[src] != R.n_pre) return false;
    // (1) The traces decay: read decayed by (2) and (3), stored by (4).
    const T a_plus = R.a_plus, a_minus = R.a_minus, f_plus = R.f_plus, f_minus = R.f_minus;
    const T* x_plus = R.x_plus;
    const T* y_minus = R.y_minus;
    auto one = [](int64_t) { return T(1); };
    // x (f A), as the reference (bs.plasticity.stdp) writes it.
    const T ltp_f = f_plus * a_plus, ltd_f = f_minus * a_minus;
    auto ltp = [=](int64_t i) { return x_plus[i] * ltp_f; };
    auto ltd = [=](int64_t j) { return T(0) - y_minus[j] * ltd_f; };
    // (2) Columns of the postsynaptic spikes seen now.
    seen_act.clear();
    seen_val.clear();
    bool ok = WithColumnTypes(R.pre_type, R.off_type, R.col_pre, R.col_off,
                              [&](const auto* pre, const auto* off) {
      return brainsim_native::ForEachActiveList(R.seen, R.n_post, [&](const int32_t* act, int na) {
        for (int k = 0; k < na; ++k) {
          seen_act.push_back(act[k]);
          seen_val.push_back(R.seen[act[k]]);
        }
        return brainsim_plastic::ColumnList(R.w, R.seen, act, na, R.indptr, R.col_ptr, pre, off,
                                            ltp, one, R.bound, R.n_syn, R.n_pre);
      });
    });
    if (!ok) return false;
    // (3) Rows of the presynaptic spikes (the source's active rows, B = 1).
    const int64_t b0 = sc.act_beg[src], na = sc.act_end[src] - b0;
    const int32_t* act = sc.active.data() + b0;
    const T* val = sc.value.data() + b0;
    if (!brainsim_plastic::RowList(R.w, val, act, na, R.indptr, R.indices, ltd, one, R.bound,
                                   R.n_syn, R.n_post))
      return false;
    // (4) Decay and jump.
    DecayJump(R.x_plus, f_plus, R.n_pre, act, val, na, tmp);
    DecayJump(R.x_minus, f_minus, R.n_pre, act, val, na, tmp);
    const int64_t ns = static_cast<int64_t>(seen_act.size());
    DecayJump(R.y_plus, f_plus, R.n_post, seen_act.data(), seen_val.data(), ns, tmp);
    DecayJump(R.y_minus, f_minus, R.n_post, seen_act.data(), seen_val.data(), ns, tmp);
    // (5) The postsynaptic spikes of the last step, seen in the next.
    std::memcpy(R.seen, sc.src[tgt], sizeof(T) * R.n_post);
  }
  return true;
}

#define BRAINSIM_INSTANTIATE(T)                                                              \
  template ffi::Error PreparePairs<T>(Scratch<T>&, ffi::Span<const int64_t>, const Pairs<T>&,   \
                                      std::vector<PairRule<T>>&);                             \
  template bool StepPairs<T>(Scratch<T>&, const NetAttrs&, std::vector<PairRule<T>>&);
BRAINSIM_INSTANTIATE(float)
BRAINSIM_INSTANTIATE(double)
#undef BRAINSIM_INSTANTIATE

}  // namespace brainsim_lif
