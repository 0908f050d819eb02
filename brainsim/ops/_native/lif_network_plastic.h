// brainsim native CPU kernels: pair STDP on the stored weights of a network's
// projections, stepped inside BrainsimLifNetworkRun's loop
// (lif_network_plastic.cc). brainsim.ops.lif_network_run documents the rule
// and its reference (bs.plasticity.PairSTDP through bs.Plastic).
//
// Every step: (1) every trace decays (x_plus, x_minus, y_plus, y_minus each
// by its own factor f); (2) the postsynaptic spikes seen at the synapses
// (`seen`: those of the step before, the one-step dendritic delay) update
// their columns by a_plus x_plus[i]; (3) the presynaptic spikes (the source's
// active rows) update their rows by -a_minus y_minus[j], each through Bound
// (plastic_common.h); (4) the traces jump by the spikes (all-to-all pairing;
// decay and jump are stored together, x f + s, one fused multiply-add as XLA
// computes the reference); (5) `seen` becomes the postsynaptic population's
// spikes of the last step. The events of the step propagate with the new
// weights. Where in the loop (PairLearning,
// brainsim_net's Learning), per range of the step's split: (2) at the
// range's columns before its events (Begin); (3) as each row's events are
// delivered, right before the row is read (Row: every row is walked once);
// (1)(4) and (5) right before the update of the range's neurons (Update: x of
// the source's, y and seen of the target's), after every event, so before the
// update overwrites the spikes (5) copies. A range changes and reads only the
// synapses of its targets (the columns of its targets, the rows at its
// targets: every synapse gets (2) then (3), as in the reference) and the y
// traces and seen of its neurons; the x traces, read by every range's (2),
// are double-buffered (Update stores x_next, After swaps). So every synapse
// and trace gets the same operations on the same values, in the same order,
// whatever the split, and the ranges need no barrier.
//
// The triplet rule (bs.plasticity.TripletSTDP; plastic[q] & 32) is the same
// loop with the changes (2) and (3) factored as the reference factors them:
// with x_plus = r1, x_minus = r2, y_plus = o2, y_minus = o1 (decayed by (1)),
// (2) changes by r1[i] (a_plus + a3_plus o2[j]) and (3) by
// (offset - o1[j]) (a_minus + a3_minus r2[i]), the slow traces before their
// jumps (offset 0). Vogels-Sprekeler (bs.plasticity.VogelsSprekeler) is this
// form with a3 = 0, a_plus = eta, a_minus = -eta, offset = alpha: traces x in
// x_plus and y in y_minus (x_minus and y_plus unused, decay 0).
//
// Operands: named groups after the network's (Pairs below, in its order of
// members), one buffer per plastic projection (attribute plastic[q] != 0) in
// projection order: the traces x_plus, x_minus [n_pre], y_plus, y_minus
// [n_post], seen [n_post], the column index col_ptr S32 [n_post + 1],
// col_pre U16/S32 [S], col_offset U8/U16/S32 [S], and rule T [11] =
// f of x_plus, x_minus, y_plus, y_minus (pair STDP: f_plus, f_minus, f_plus,
// f_minus), a_plus, a_minus, a3_plus, a3_minus, offset (0 but for the triplet
// form), w_min, w_max. Results: w [S] (its projection's weight operand, aliased),
// the four traces and seen. plastic[q]: 0 static, else 1 | 2 soft_plus |
// 4 soft_minus | 8 symmetric window (x_minus and y_plus enter (2) and (3) as
// in bs.plasticity.stdp) | 16 nearest-neighbour pairing (the jump of (4)
// resets the trace to 1) | 32 the triplet rule (not with 8).

#ifndef BRAINSIM_LIF_NETWORK_PLASTIC_H_
#define BRAINSIM_LIF_NETWORK_PLASTIC_H_

#include <cstdint>
#include <vector>

#include "lif_network.h"
#include "plastic_common.h"

namespace brainsim_lif {

// The plastic projections' operands and results by name, in their order.
template <typename T>
struct Pairs {
  std::vector<View<const T>> x_plus, x_minus, y_plus, y_minus, seen;
  std::vector<View<const int32_t>> col_ptr;
  std::vector<View<const void>> col_pre, col_offset;
  std::vector<ffi::DataType> pre_type, offset_type;
  std::vector<View<const T>> rule;
  std::vector<View<T>> w_out, x_plus_out, x_minus_out, y_plus_out, y_minus_out, seen_out;

  // Reads the groups of n plastic projections; false: too few or mistyped.
  bool Read(ArgReader& args, RetReader& rets, int64_t n) {
    return args.Take(n, x_plus) && args.Take(n, x_minus) && args.Take(n, y_plus) &&
           args.Take(n, y_minus) && args.Take(n, seen) && args.Take(n, col_ptr) &&
           args.TakeAny(n, col_pre, pre_type) && args.TakeAny(n, col_offset, offset_type) &&
           args.Take(n, rule) && rets.Take(n, w_out) && rets.Take(n, x_plus_out) &&
           rets.Take(n, x_minus_out) && rets.Take(n, y_plus_out) &&
           rets.Take(n, y_minus_out) && rets.Take(n, seen_out);
  }
};

template <typename T>
struct PairRule {
  int64_t q, n_pre, n_post, n_syn;
  T *w, *x_plus, *x_minus, *y_plus, *y_minus, *seen;
  const int32_t *indptr, *indices, *col_ptr;
  const void *col_pre, *col_off;
  ffi::DataType pre_type, off_type;
  T f[4];  // x_plus, x_minus, y_plus, y_minus
  T a_plus, a_minus, a3_plus, a3_minus, offset;
  brainsim_plastic::Bound<T> bound;
  bool symmetric, nearest, triplet;  // plastic[q] & 8, & 16, & 32
};

// Checks the plastic operands (read into `pairs`; the network's already read
// by PrepareNetwork into sc), copies the state into the results and points
// each plastic projection's weight operand at its result: the loop then
// updates the results in place.
template <typename T>
ffi::Error PreparePairs(Scratch<T>& sc, ffi::Span<const int64_t> plastic, const Pairs<T>& pairs,
                        std::vector<PairRule<T>>& rules);

// The pair STDP of a run's rules as brainsim_net's Learning (header
// comment: which step where). Compiled with the rule's rounding
// (lif_network_plastic.cc); Begin, Row and Update run once per range and row.
template <typename T>
struct PairLearning {
  Scratch<T>& sc;
  const NetAttrs& at;
  std::vector<PairRule<T>>& rules;
  std::vector<int32_t> rule_of;             // per projection: its rule's index, or -1
  std::vector<std::vector<T>> spare;        // per rule: x_plus_next, x_minus_next
  std::vector<T*> x_next, x_result;         // per rule (x_plus, x_minus): written, result

  PairLearning(Scratch<T>& s, const NetAttrs& a, std::vector<PairRule<T>>& r);
  // Checks the rules against the network. False where they do not match.
  bool Before();
  // (2) at columns [lo, hi) of population p. False: a malformed column index.
  bool Begin(int64_t p, int64_t lo, int64_t hi) const;
  bool Learns(int64_t q) const { return rule_of[q] >= 0; }
  // (3) of row i, targets in [lo, hi). False: a target out of range.
  bool Row(int64_t q, int64_t i, T s, int64_t lo, int64_t hi) const;
  // (1)(4), (5) of neurons [lo, hi) of population p.
  void Update(int64_t p, int64_t lo, int64_t hi) const;
  // x_next becomes x; after the last step, x in the results.
  void After(bool last);
};

}  // namespace brainsim_lif

#endif  // BRAINSIM_LIF_NETWORK_PLASTIC_H_
