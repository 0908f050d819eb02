// brainsim native CPU kernels: one step of a whole network of LIF populations
// and their stored sparse projections (BrainsimLifNetwork, lif_network.cc) and
// many steps in one call (BrainsimLifNetworkRun, lif_network_run.cc).
//
// BrainsimLifNetwork: one step of a whole network of LIF populations whose
// projections are stored CSR layouts, in one call: the events of every
// projection (CSR propagation of its arriving spikes, as
// BrainsimCsrEventMulti computes them) and then the update of lif_step.h of
// every population.  A step is one custom call instead of one for the events, one
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
// The step is the generic loop's (network_loop.h) with LifModel as its
// update: the events of projection q are summed into a per-thread scratch
// array, zero before the call, in the order and with the operations of
// BrainsimCsrEventMulti (ascending presynaptic row, then synapse), and set
// back to zero by the update as it reads them where they are dense, else
// after it only where an event arrived.

#ifndef BRAINSIM_LIF_NETWORK_H_
#define BRAINSIM_LIF_NETWORK_H_

#include <cstdint>
#include <vector>

#include "lif_step.h"
#include "network_loop.h"

namespace brainsim_lif {

// The generic loop's pieces (network_loop.h) under the names this kernel's
// files (and lif_network_plastic.cc) use.
namespace ffi = xla::ffi;
using brainsim_net::ArgReader;
using brainsim_net::BindNetwork;
using brainsim_net::ByFloatType;
using brainsim_net::NetAttrs;
using brainsim_net::RetReader;
using brainsim_net::View;

// The operands and results of a network call by name, in their order.
template <typename T>
struct Network : brainsim_net::Csr<T> {  // per projection indptr, indices, weight
  // Per population.
  std::vector<View<const T>> v;
  std::vector<View<const int32_t>> refractory;
  std::vector<View<const T>> spike, current, params;
  std::vector<View<const int32_t>> n_ref;
  // Per extra spike source.
  std::vector<View<const T>> extra;
  // Per projection.
  std::vector<View<const T>> g, coef;
  // Results: per population, then per projection.
  std::vector<View<T>> v_out, spike_out;
  std::vector<View<int32_t>> refractory_out;
  std::vector<View<T>> g_out;
};

// Per-thread buffers, reused across calls (no allocation in a steady state).
template <typename T>
struct Scratch : brainsim_net::Loop<T> {
  Network<T> net;             // this call's operands and results
  std::vector<Args<T>> pops;  // each population's update arguments, this call
};

template <typename T>
Scratch<T>& ThreadScratch();

// Reads the network's groups of operands and results (the caller's own
// groups may follow) into the thread's scratch (sc.net), checks them and
// prepares the update arguments of every population and the spike array of
// every source.  Returns the batch size B through `B_out`.
template <typename T>
ffi::Error PrepareNetwork(Scratch<T>& sc, ArgReader& args, RetReader& rets, const NetAttrs& at,
                          int64_t& B_out);

// The update of the populations prepared by PrepareNetwork, the model of
// brainsim_net::StepNetwork and RunSteps: mode[p] and the events' zeroing
// (sc.dense) into sc.pops; after the first of many steps the state is the
// results, updated in place.
template <typename T>
struct LifModel {
  Scratch<T>& sc;
  const NetAttrs& at;
  int64_t B;
  bool last = true;  // unused: the traces are results after every step
  void Begin() {
    for (size_t p = 0; p < sc.pops.size(); ++p) sc.pops[p].zero_events = sc.dense[p];
  }
  void operator()(int64_t p, int64_t lo, int64_t hi) const {
    RunPopulation(sc.pops[p], static_cast<int>(at.mode[p]), B, sc.n_of[p], lo, hi,
                  sc.net.n_ref[p].count, sc.net.current[p].count);
  }
  void InPlace() {
    for (size_t p = 0; p < sc.pops.size(); ++p) {
      Args<T>& A = sc.pops[p];
      A.v = A.v_out;
      A.ref = A.ref_out;
      for (int k = 0; k < A.K; ++k) A.g[k] = A.g_out[k];
      sc.src[p] = A.s_out;
    }
  }
};

// A failed call may have left events in the scratch: back to zero.
template <typename T>
ffi::Error NetworkError(Scratch<T>& sc, ffi::Error err);

}  // namespace brainsim_lif

#endif  // BRAINSIM_LIF_NETWORK_H_
