// brainsim native CPU kernels: the loop of a whole network's step and of many
// steps in one call, generic over the neuron model.  A model's kernel reads
// its own operands (the populations' state and parameters) and hands this
// loop its projections (CSR layouts) and an update functor; the loop does
// everything else: the active rows of every spike source, the events of every
// projection summed into a per-thread scratch array in the order of
// BrainsimCsrEventMulti (ascending presynaptic row, then synapse, so the sums
// are those of the separate event op bit for bit), the split of the neurons
// into ranges run in parallel, the scratch back to zero, and (RunSteps) the
// steps' spikes appended to event buffers as BrainsimSpikeAppend appends them.
// Instances: LIF (lif_network.cc, lif_network_run.cc) and Izhikevich
// (izhikevich_network.cc).
//
// Calls have named groups of operands and results: every group holds one
// typed buffer per population (P), extra spike source (S) or projection (Q),
// and a kernel takes them group by group (ArgReader, RetReader).  Attributes
// (NetAttrs), one int64 per population or projection: mode (p), the model's
// variant of the population's update; post (q), the population it targets;
// source (q): p < P for population p's spikes (the last step's, read before
// the update overwrites them), P + s for extra s; homogeneous (q): one weight
// for all synapses; conductance (q), the model's kind of input; extras (S);
// parts: the number of neuron ranges a step is split into (0: one below
// kParallelNeurons (kParallelLearningNeurons with learning in the loop), else one
// per thread free; see TeamThreads).

#ifndef BRAINSIM_NETWORK_LOOP_H_
#define BRAINSIM_NETWORK_LOOP_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "event_common.h"
#include "spike_append.h"
#include "xla/ffi/api/ffi.h"

namespace brainsim_net {

namespace ffi = xla::ffi;

// Neurons per network below which one thread does the step.  A split step is
// one hand-off (Team: ~0.1 us to a polling helper) but every range walks all
// of the step's events, and a range's state is in the cache of the core that
// ran it last (a line from the other core of this 2-vCPU VM costs ~10 ns).
// On the loaded machine of session 5 a split step was not faster at 16k-64k
// (per-call times, paired in one process); the quiet break-even could not be
// measured there, so the threshold stays where session 4's quiet runs put it.
constexpr int64_t kParallelNeurons = int64_t{1} << 17;
// The same for a step with learning in the loop (a plastic projection): its
// column, row and trace passes are split with the neurons.  Quiet A/B of
// session 15 (COBA with pair STDP on E->E, coba_stdp.py --parts 2 against one
// range, 2 rounds): 64k plastic 1.98-2.69 s against 3.23-3.78 s, 4k no gain
// (0.12-0.13 s against 0.10-0.13 s), 16k within the noise; so a split from
// 2^15 neurons on.
constexpr int64_t kParallelLearningNeurons = int64_t{1} << 15;

// A typed operand or result, decoded once per call.
template <typename E>
struct View {
  E* data;
  int64_t count;  // elements
  int64_t last;   // size of the last dimension
};

// The FFI element type of E.
template <typename E>
constexpr ffi::DataType kTypeOf =
    std::is_same_v<E, float>      ? ffi::DataType::F32
    : std::is_same_v<E, double>   ? ffi::DataType::F64
    : std::is_same_v<E, int32_t>  ? ffi::DataType::S32
    : std::is_same_v<E, uint16_t> ? ffi::DataType::U16
    : std::is_same_v<E, uint8_t>  ? ffi::DataType::U8
                                  : ffi::DataType::INVALID;

template <typename E, typename Buffer>
View<E> ViewOf(E* data, const Buffer& x) {
  const auto d = x.dimensions();
  return {data, static_cast<int64_t>(x.element_count()), d.size() ? d[d.size() - 1] : 1};
}

// Reads a call's operands group by group, in order: Take(n, group) decodes
// the next n operands into `group`, each of element type E (false: fewer
// operands left or another type).  Done() once all are read.
class ArgReader {
 public:
  explicit ArgReader(ffi::RemainingArgs args) : args_(args) {}
  template <typename E>
  bool Take(int64_t n, std::vector<View<const E>>& group) {
    group.clear();
    for (int64_t i = 0; i < n; ++i, ++pos_) {
      auto x = args_.get<ffi::Buffer<kTypeOf<E>>>(pos_);
      if (!x) return false;
      group.push_back(ViewOf<const E>(x->typed_data(), *x));
    }
    return true;
  }
  // Operands of any element type (the caller checks which).
  bool TakeAny(int64_t n, std::vector<View<const void>>& group,
               std::vector<ffi::DataType>& types) {
    group.clear();
    types.clear();
    for (int64_t i = 0; i < n; ++i, ++pos_) {
      auto x = args_.get<ffi::AnyBuffer>(pos_);
      if (!x) return false;
      group.push_back(ViewOf<const void>(x->untyped_data(), *x));
      types.push_back(x->element_type());
    }
    return true;
  }
  bool Done() const { return pos_ == args_.size(); }

 private:
  ffi::RemainingArgs args_;
  size_t pos_ = 0;
};

// The same for a call's results.
class RetReader {
 public:
  explicit RetReader(ffi::RemainingRets rets) : rets_(rets) {}
  template <typename E>
  bool Take(int64_t n, std::vector<View<E>>& group) {
    group.clear();
    for (int64_t i = 0; i < n; ++i, ++pos_) {
      auto x = rets_.get<ffi::Buffer<kTypeOf<E>>>(pos_);
      if (!x) return false;
      group.push_back(ViewOf<E>((*x)->typed_data(), **x));
    }
    return true;
  }
  bool Done() const { return pos_ == rets_.size(); }

 private:
  ffi::RemainingRets rets_;
  size_t pos_ = 0;
};

// The attributes of a network call (header comment).
struct NetAttrs {
  ffi::Span<const int64_t> mode, post, source, homogeneous, conductance;
  int64_t extras, split;
};

// The binding the network handlers share: the thread pool, the operands and
// results, the attributes of NetAttrs (a handler adds its own).
inline auto BindNetwork() {
  return ffi::Ffi::Bind()
      .Ctx<ffi::ThreadPool>()
      .RemainingArgs()
      .RemainingRets()
      .Attr<ffi::Span<const int64_t>>("mode")
      .Attr<ffi::Span<const int64_t>>("post")
      .Attr<ffi::Span<const int64_t>>("source")
      .Attr<ffi::Span<const int64_t>>("homogeneous")
      .Attr<ffi::Span<const int64_t>>("conductance")
      .Attr<int64_t>("extras")
      .Attr<int64_t>("parts");
}

// run(float{}) or run(double{}), by the dtype of the first operand; `name`
// names the kernel in the errors.
template <typename Run>
ffi::Error ByFloatType(ffi::RemainingArgs args, const char* name, Run run) {
  if (args.size() < 1) return ffi::Error::InvalidArgument(std::string(name) + ": no operands");
  auto first = args.get<ffi::AnyBuffer>(0);
  if (!first) return ffi::Error::InvalidArgument(std::string(name) + ": bad operand");
  switch (first->element_type()) {
    case ffi::DataType::F32:
      return run(float{});
    case ffi::DataType::F64:
      return run(double{});
    default:
      return ffi::Error::InvalidArgument(std::string(name) +
                                         ": only float32/float64 are supported");
  }
}

// The projections' stored layouts: per projection CSR indptr, indices (int32,
// [n_pre + 1], [nnz]) and weight ([1] or [nnz]).
template <typename T>
struct Csr {
  std::vector<View<const int32_t>> indptr, indices;
  std::vector<View<const T>> weight;
};

// The loop's per-thread buffers, reused across calls (no allocation in a
// steady state).  A model's scratch derives from it.
template <typename T>
struct Loop {
  std::vector<T> e;             // events per projection; all-zero between calls
  std::vector<int32_t> active;  // active rows per (source, batch row), this step
  std::vector<T> value;         // their spike values (the update overwrites the spikes)
  std::vector<int64_t> act_beg, act_end, n_of, e_off;
  std::vector<const T*> src;    // the spikes of each source (populations, then extras)
  std::vector<int64_t> src_n;   // their element counts
  std::vector<int32_t> rec_pos; // write offsets of the recorded populations (RunSteps)
  std::vector<char> dense;      // per population: its update zeroes its events (this step)
};

// Checks the projections against the sources (sc.src, sc.src_n: B rows each)
// and the populations (sc.n_of), places their events in sc.e (sc.e_off) and
// asks for huge pages under the layouts.
template <typename T>
ffi::Error PrepareProjections(Loop<T>& sc, const Csr<T>& csr, const NetAttrs& at, int64_t B);

// The active rows (nonzero spikes, ascending) of each spike source that a
// projection uses, once per source and batch row, and their spike values.
template <typename T>
void CollectActive(Loop<T>& sc, const NetAttrs& at, int64_t B);

// Marks the populations whose update zeroes its events as it reads them
// (sc.dense): an event per 16 targets, a cache line, on average (most lines
// were written anyway); elsewhere the loop zeroes them after the update only
// where they arrived.
template <typename T>
void MarkDense(Loop<T>& sc, const Csr<T>& csr, const NetAttrs& at, int64_t B);

// A model (the update functor of StepNetwork and RunSteps) has
//   void Begin();                  once per step, before the ranges run;
//   void operator()(int64_t p, int64_t lo, int64_t hi) const;  the update of
//       neurons [lo, hi) of population p in every batch row, reading the
//       events of its projections q at sc.e + sc.e_off[q] + b n_p, setting
//       them back to zero where sc.dense[p];
//   void InPlace();                after a run's first step (the state is then
//       the results, and sc.src the results' spikes);
//   bool last;                     set by RunSteps: the call's last step.
//
// Learning in the loop (RunSteps' `learn`; NoLearning: none) has
//   bool Before();                 once per step, after the active rows are
//       collected, before the events (false: fail as malformed);
//   bool Begin(int64_t p, int64_t lo, int64_t hi) const;  the learning at
//       neurons [lo, hi) of population p before any event of their range
//       (false: malformed);
//   bool Learns(int64_t q) const;  projection q's weights change in the loop;
//   bool Row(int64_t q, int64_t i, T s, int64_t lo, int64_t hi) const;  the
//       change of row i of a learning projection q (spike value s) at its
//       targets in [lo, hi), run by the events of each range right before the
//       row is read (so each row is walked once; false: malformed);
//   void Update(int64_t p, int64_t lo, int64_t hi) const;  the learning state
//       of neurons [lo, hi) of population p, right before model(p, lo, hi);
//   void After(bool last);         once per step, after it (last: the call's).
// Begin, Row and Update of a range run on one thread, in that order, before it
// runs another range, and may touch only the range's own targets and neurons
// (the ranges run in parallel).
struct NoLearning {
  bool Before() { return true; }
  bool Begin(int64_t, int64_t, int64_t) const { return true; }
  bool Learns(int64_t) const { return false; }
  template <typename T>
  bool Row(int64_t, int64_t, T, int64_t, int64_t) const { return true; }
  void Update(int64_t, int64_t, int64_t) const {}
  void After(bool) {}
};

// One step: the events of the sources' spikes (their active rows already
// collected), then model(p, lo, hi) for every population p, each range in
// parallel.  Returns false if an indptr is malformed (the events are then
// left set).
//
// The network's neurons are split into contiguous ranges (the same fraction
// of every population; one range per thread of XLA's intra-op pool in a large
// network), and each range is one independent part: (1) the events of all
// active rows for its own targets, each target's in the order of
// BrainsimCsrEventMulti, so the sums do not depend on the split; (2) the
// update of its neurons; (3) its scratch back to zero where events arrived,
// unless the update did it (sc.dense).  A range reads no other range's
// results: the spike values of the active rows were copied before any update
// overwrites the spikes in place.  So the ranges need no barrier between the
// events and the update, and a step is one hand-off to the pool.
template <typename T, typename Model, typename Learning = NoLearning>
bool StepNetwork(Loop<T>& sc, const Csr<T>& csr, ffi::ThreadPool& pool, const NetAttrs& at,
                 int64_t B, Model& model, const Learning& learn = Learning{}) {
  const auto &post = at.post, &source = at.source, &homogeneous = at.homogeneous;
  const int64_t P = static_cast<int64_t>(at.mode.size());
  const int64_t Q = static_cast<int64_t>(post.size());
  MarkDense(sc, csr, at, B);
  model.Begin();
  int64_t neurons = 0;
  for (int64_t p = 0; p < P; ++p) neurons += B * sc.n_of[p];
  bool learns = false;
  for (int64_t q = 0; q < Q; ++q) learns = learns || learn.Learns(q);
  const int64_t threshold = learns ? kParallelLearningNeurons : kParallelNeurons;
  const int64_t parts =
      at.split > 0 ? std::min<int64_t>(at.split, 0xFFFF)
      : neurons < threshold ? 1
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
    for (int64_t p = 0; p < P; ++p) {
      const auto [lo, hi] = range(sc.n_of[p], k);
      if (hi > lo && !learn.Begin(p, lo, hi)) {
        malformed.store(true);
        return;
      }
    }
    // (1) Events.
    for (int64_t q = 0; q < Q; ++q) {
      const int32_t* ip = csr.indptr[q].data;
      const int32_t* ix = csr.indices[q].data;
      const T* w = csr.weight[q].data;
      const int64_t nnz = csr.indices[q].count, n_post = sc.n_of[post[q]];
      const auto [lo, hi] = range(n_post, k);
      for (int64_t b = 0; b < B; ++b) {
        T* e = sc.e.data() + sc.e_off[q] + b * n_post;
        const Rows r = rows_of(q, b);
        auto value = [&r](int64_t j) { return r.val[j]; };
        auto learn_row = [&, q, lo = lo, hi = hi](int64_t j, int64_t i) {
          return learn.Row(q, i, r.val[j], lo, hi);
        };
        const bool ok =
            homogeneous[q]
                ? brainsim_native::AddRowsOf<T, true>(ip, ix, w, value, r.act, r.na, nnz, e, lo, hi)
            : learn.Learns(q) ? brainsim_native::AddRowsOf<T, false>(ip, ix, w, value, r.act, r.na,
                                                                     nnz, e, lo, hi, learn_row)
                              : brainsim_native::AddRowsOf<T, false>(ip, ix, w, value, r.act, r.na,
                                                                     nnz, e, lo, hi);
        // Every range walks the same rows and meets the same malformed one:
        // then none updates or walks the rows again (the caller zeroes all).
        if (!ok) {
          malformed.store(true);
          return;
        }
      }
    }
    // (2) The update of the range's neurons (first their learning state).
    for (int64_t p = 0; p < P; ++p) {
      const auto [lo, hi] = range(sc.n_of[p], k);
      if (hi > lo) {
        learn.Update(p, lo, hi);
        model(p, lo, hi);
      }
    }
    // (3) Back to zero where events arrived (the active rows' targets in
    // range), unless the update did it.
    for (int64_t q = 0; q < Q; ++q) {
      if (sc.dense[post[q]]) continue;
      const int32_t* ip = csr.indptr[q].data;
      const int32_t* ix = csr.indices[q].data;
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

// The recording of a multi-step call: per recorded population r (attribute
// record: the population indices, R of them) the operands `buffer`, its event
// buffer (int32 [C_r]), then per r `offset`, its write offset (int32 []);
// results per r `buffer` (aliased to its operand), then per r `end`, the end
// offset (int32 [], saturated at INT32_MAX; it may exceed C_r: nothing past
// C_r is written), then per r `counts`, the spike count of every step (int32
// [steps]).
struct Recording {
  std::vector<View<const int32_t>> buffer, offset;
  std::vector<View<int32_t>> buffer_out, end_out, counts_out;
  bool Read(ArgReader& args, RetReader& rets, int64_t R) {
    return args.Take(R, buffer) && args.Take(R, offset) && rets.Take(R, buffer_out) &&
           rets.Take(R, end_out) && rets.Take(R, counts_out);
  }
};

// `steps` steps of a network prepared in sc (the sources: the populations
// only), each as StepNetwork computes it on the state the last step left,
// with the spikes of the recorded populations appended after each step and
// the learning of `learn` (Learning above); model.InPlace() after the first
// step (from then on the state is the results, updated in place, and sc.src
// the results' spikes).  Returns an empty string, else the error.
template <typename T, typename Model, typename Learning = NoLearning>
std::string RunSteps(Loop<T>& sc, const Csr<T>& csr, ffi::ThreadPool& pool, const NetAttrs& at,
                     int64_t B, int64_t steps, ffi::Span<const int64_t> record,
                     const Recording& rec, Model& model, Learning&& learn = Learning{}) {
  const int64_t R = static_cast<int64_t>(record.size());
  const int64_t P = static_cast<int64_t>(at.mode.size());
  if (static_cast<int64_t>(sc.src.size()) != P)
    return "spike sources other than the populations need one call per step";
  if (steps < 1) return "steps must be >= 1";
  sc.rec_pos.resize(R);
  for (int64_t r = 0; r < R; ++r) {
    if (record[r] < 0 || record[r] >= P) return "bad recorded population";
    if (rec.buffer_out[r].count != rec.buffer[r].count || rec.offset[r].count != 1 ||
        rec.end_out[r].count != 1 || rec.counts_out[r].count != steps)
      return "buffers, offsets and counts must have their shapes";
    const int32_t start = *rec.offset[r].data;
    if (start < 0) return "offset < 0";
    if (rec.buffer_out[r].data != rec.buffer[r].data && rec.buffer[r].count)  // not aliased
      std::memcpy(rec.buffer_out[r].data, rec.buffer[r].data,
                  sizeof(int32_t) * rec.buffer[r].count);
    sc.rec_pos[r] = start;
  }
  // The spikes of step s, appended: from the active rows the next step
  // collects where the population is a source (the same positions in the same
  // order: both take the entries != 0), else (and after the last step) by
  // AppendFloat's scan.
  auto append = [&](int64_t s, bool collected) {
    for (int64_t r = 0; r < R; ++r) {
      const int64_t p = record[r], n = sc.n_of[p];
      int32_t* buf = rec.buffer_out[r].data;
      const int64_t cap = rec.buffer_out[r].count;
      const int32_t start = sc.rec_pos[r];
      int64_t pos = start;
      if (collected && sc.act_beg[p * B] >= 0) {
        for (int64_t b = 0; b < B; ++b) {
          const int32_t* act = sc.active.data();
          for (int64_t j = sc.act_beg[p * B + b]; j < sc.act_end[p * B + b]; ++j, ++pos)
            if (pos < cap) buf[pos] = static_cast<int32_t>(b * n + act[j]);
        }
      } else {
        pos = brainsim_native::AppendFloat(sc.src[p], B * n, buf, cap, pos);
      }
      const int32_t end = brainsim_native::SaturatedEnd(pos);
      rec.counts_out[r].data[s] = end - start;
      sc.rec_pos[r] = end;
    }
  };
  for (int64_t s = 0; s < steps; ++s) {
    CollectActive(sc, at, B);
    if (s > 0) append(s - 1, true);
    if (!learn.Before()) return "malformed layout or column index";
    model.last = s == steps - 1;
    if (!StepNetwork(sc, csr, pool, at, B, model, learn))
      return "malformed indptr or plastic row (row or target out of range)";
    learn.After(s == steps - 1);
    if (s == 0) model.InPlace();
  }
  append(steps - 1, false);
  for (int64_t r = 0; r < R; ++r) *rec.end_out[r].data = sc.rec_pos[r];
  return "";
}

}  // namespace brainsim_net

#endif  // BRAINSIM_NETWORK_LOOP_H_
