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
// Operands (T = float32 or float64; B rows of the batch, n_p neurons):
//   per population p (PopOperand):
//                           v, ref (int32), spike   [B n_p]
//                           i_in                    [1], [n_p] or [B n_p]
//                           g_l, c_m, v_rest, v_th, v_reset, i_ext, step
//                                                   [7, P_p], P_p = 1 or n_p
//                           n_ref (int32)           [P_p]
//   S extra spike sources                            [B n_pre]
//   per projection q (ProjOperand):
//                           indptr, indices (int32) [n_pre + 1], [nnz]
//                           weights                 [1] or [nnz]
//                           g                       [B n_post]
//                           a, e_rev, m             [3, P_post]
// (the parameters packed: one operand costs XLA's call set-up ~15 ns).
// Results: per population v, s, ref; per projection g.
// Attributes: layout, the operands' names (kLayout; brainsim.ops.lif_network
// declares them in the same order and a call with another layout fails), and
// one int64 per population or projection:
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

#ifndef BRAINSIM_LIF_NETWORK_H_
#define BRAINSIM_LIF_NETWORK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lif_step.h"
#include "xla/ffi/api/ffi.h"

namespace brainsim_lif {

namespace ffi = xla::ffi;

// The operands of a population and of a projection, in order.
enum PopOperand : int64_t { kV, kRef, kSpike, kIn, kParams, kNRef, kPopOps };
enum ProjOperand : int64_t { kIndptr, kIndices, kWeight, kG, kCoef, kProjOps };
// The results of a population (then one trace g per projection).
enum PopResult : int64_t { kVOut, kSOut, kRefOut, kPopRets };
constexpr const char* kLayout =
    "v,refractory,spike,current,params,n_ref;indptr,indices,weight,g,coef";

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
Scratch<T>& ThreadScratch();

// The attributes of a network call.
struct NetAttrs {
  std::string_view layout;
  ffi::Span<const int64_t> mode, post, source, homogeneous, conductance;
  int64_t split;
};

// Decodes and checks the operands and results of a network call (the network
// operands above, then `n_tail` operands and `n_tail_rets` results of the
// caller) into the thread's scratch: the update arguments of every population
// and the spike array of every source.  Returns the batch size B through `B_out`.
template <typename T>
ffi::Error PrepareNetwork(Scratch<T>& sc, ffi::RemainingArgs args, ffi::RemainingRets rets,
                          const NetAttrs& at, int64_t n_tail, int64_t n_tail_rets,
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
// results (layout above), the attributes of NetAttrs (a handler adds its own).
inline auto BindNetwork() {
  return ffi::Ffi::Bind()
      .Ctx<ffi::ThreadPool>()
      .RemainingArgs()
      .RemainingRets()
      .Attr<std::string_view>("layout")
      .Attr<ffi::Span<const int64_t>>("mode")
      .Attr<ffi::Span<const int64_t>>("post")
      .Attr<ffi::Span<const int64_t>>("source")
      .Attr<ffi::Span<const int64_t>>("homogeneous")
      .Attr<ffi::Span<const int64_t>>("conductance")
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
