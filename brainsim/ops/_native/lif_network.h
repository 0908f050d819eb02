// brainsim native CPU kernels: one step of a whole network of LIF populations
// and their stored sparse projections (BrainsimLifNetwork, lif_network.cc) and
// many steps in one call (BrainsimLifNetworkRun, lif_network_run.cc).
//
// BrainsimLifNetwork: one step of a whole network of LIF populations whose
// projections are stored CSR layouts, in one call: the events of every
// projection (CSR propagation of its arriving spikes, as
// BrainsimCsrEventMulti computes them) and then the update above of every
// population.  A step is one custom call instead of one for the events, one
// per population (or a dozen XLA loops each) and the intermediate event
// arrays.
//
// Operands and results are named groups (Network below): every group holds one
// typed buffer per population (P), extra spike source (S) or projection (Q),
// and the groups follow each other in the order of Network's members, which
// brainsim.ops.lif_network.OPERANDS/RESULTS name in the same order (a group's
// size comes from the attributes, its element type is checked as it is read).
// T = float32 or float64; B rows of the batch, n_p neurons of population p:
//   per population   v, refractory (int32), spike    [B n_p]
//                    current                          [1], [n_p] or [B n_p]
//                    params: g_l, c_m, v_rest, v_th, v_reset, i_ext, step
//                                                     [7, P_p], P_p = 1 or n_p
//                    n_ref (int32)                    [P_p]
//   per extra source extra                            [B n_pre]
//   per projection   indptr, indices (int32)          [n_pre + 1], [nnz]
//                    weight                           [1] or [nnz]
//                    g                                [B n_post]
//                    coef: a, e_rev, m                [3, P_post]
// (the parameters packed: one operand costs XLA's call set-up ~15 ns).
// Results: per population v, spike, refractory; per projection g.
// Attributes, one int64 per population or projection:
//   mode (p): 1 or 2 as above;
//   post (q): the population it targets;
//   source (q): p < P for population p's spike operand (the last step's
//     spikes, read before the update overwrites them), P + s for extra s;
//   homogeneous (q), conductance (q): 0/1;
// and extras (S) and parts: the number of neuron ranges the step is split
// into (0: one below kParallelNeurons, else one per thread free; see
// TeamThreads).
// The events of projection q are summed into a per-thread scratch array,
// zero before the call, in the order and with the operations of
// BrainsimCsrEventMulti (ascending presynaptic row, then synapse), and set
// back to zero by the update as it reads them where they are dense, else
// after it only where an event arrived.

#ifndef BRAINSIM_LIF_NETWORK_H_
#define BRAINSIM_LIF_NETWORK_H_

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "lif_step.h"
#include "xla/ffi/api/ffi.h"

namespace brainsim_lif {

namespace ffi = xla::ffi;

// Neurons per network below which one thread does the step.  A split step is
// one hand-off (Team: ~0.1 us to a polling helper) but every range walks all
// of the step's events, and a range's state is in the cache of the core that
// ran it last (a line from the other core of this 2-vCPU VM costs ~10 ns).
// On the loaded machine of session 5 a split step was not faster at 16k-64k
// (per-call times, paired in one process); the quiet break-even could not be
// measured there, so the threshold stays where session 4's quiet runs put it.
constexpr int64_t kParallelNeurons = int64_t{1} << 17;

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

// The operands and results of a network call by name, in their order.
template <typename T>
struct Network {
  // Per population.
  std::vector<View<const T>> v;
  std::vector<View<const int32_t>> refractory;
  std::vector<View<const T>> spike, current, params;
  std::vector<View<const int32_t>> n_ref;
  // Per extra spike source.
  std::vector<View<const T>> extra;
  // Per projection.
  std::vector<View<const int32_t>> indptr, indices;
  std::vector<View<const T>> weight, g, coef;
  // Results: per population, then per projection.
  std::vector<View<T>> v_out, spike_out;
  std::vector<View<int32_t>> refractory_out;
  std::vector<View<T>> g_out;
};

// Per-thread buffers, reused across calls (no allocation in a steady state).
template <typename T>
struct Scratch {
  Network<T> net;               // this call's operands and results
  std::vector<T> e;             // events per projection; all-zero between calls
  std::vector<int32_t> active;  // active rows per (source, batch row), this call
  std::vector<T> value;         // their spike values (the update overwrites the spikes)
  std::vector<int64_t> act_beg, act_end, n_of, e_off;
  std::vector<Args<T>> pops;    // each population's update arguments, this call
  std::vector<const T*> src;    // the spikes of each source (populations, then extras)
  std::vector<int64_t> src_n;   // their element counts
  std::vector<int32_t> rec_pos; // write offsets of the recorded populations (multi-step)
};

template <typename T>
Scratch<T>& ThreadScratch();

// The attributes of a network call.
struct NetAttrs {
  ffi::Span<const int64_t> mode, post, source, homogeneous, conductance;
  int64_t extras, split;
};

// Reads the network's groups of operands and results (the caller's own
// groups may follow) into the thread's scratch (sc.net), checks them and
// prepares the update arguments of every population and the spike array of
// every source.  Returns the batch size B through `B_out`.
template <typename T>
ffi::Error PrepareNetwork(Scratch<T>& sc, ArgReader& args, RetReader& rets, const NetAttrs& at,
                          int64_t& B_out);

// The active rows (nonzero spikes, ascending) of each spike source that a
// projection uses, once per source and batch row, and their spike values.
template <typename T>
void CollectActive(Scratch<T>& sc, const NetAttrs& at, int64_t B);

// One step of the network prepared by PrepareNetwork: the events of the
// sources' spikes (sc.src; their active rows already collected when
// `collected`), the update of every population (sc.pops).  Returns false if
// an indptr is malformed (the events are then left set).
template <typename T>
bool StepNetwork(Scratch<T>& sc, ffi::ThreadPool& pool, const NetAttrs& at, int64_t B,
                 bool collected = false);

// The binding the network handlers share: the thread pool, the operands and
// results (named groups above), the attributes of NetAttrs (a handler adds its
// own).
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

// A failed call may have left events in the scratch: back to zero.
template <typename T>
ffi::Error NetworkError(Scratch<T>& sc, ffi::Error err);

}  // namespace brainsim_lif

#endif  // BRAINSIM_LIF_NETWORK_H_
