// brainsim native CPU kernel BrainsimLifNetworkRun: many steps of a network
// of LIF populations (lif_network.h) in one call, recording spikes.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lif_network.h"
#include "lif_network_plastic.h"
#include "network_loop.h"

namespace {

using namespace brainsim_lif;

// BrainsimLifNetworkRun: `steps` steps of the network in one call, each as
// BrainsimLifNetwork computes it (the generic loop's RunSteps: the same
// StepNetwork on the state the last step left), with the spikes of the
// recorded populations appended after each step as BrainsimSpikeAppend
// appends them.  Only the populations' own spikes
// are sources (no extra operands: those would change every step), and the
// input currents are the same in every step.
//
// Projections with plastic[q] != 0 learn by pair STDP (lif_network_plastic.h)
// in every step, their events with the new weights.
//
// Operands: named groups, the network's, then the plastic projections'
// (Pairs), then the recording's (brainsim_net::Recording).  Results: the
// network's, then the plastic projections', then the recording's.
template <typename T>
static ffi::Error RunNetworkSteps(ffi::ThreadPool& pool, ffi::RemainingArgs args,
                                  ffi::RemainingRets rets, const NetAttrs& at, int64_t steps,
                                  ffi::Span<const int64_t> record,
                                  ffi::Span<const int64_t> plastic) {
  Scratch<T>& sc = ThreadScratch<T>();
  auto bad = [&sc](const std::string& what) {
    return NetworkError(sc, ffi::Error::InvalidArgument("brainsim lif_network_run: " + what));
  };
  const int64_t R = static_cast<int64_t>(record.size());
  int64_t B = 0, n_plastic = 0;
  if (plastic.size() != at.post.size()) return bad("one plastic code per projection");
  for (int64_t c : plastic) n_plastic += c != 0;
  ArgReader in(args);
  RetReader out(rets);
  ffi::Error err = PrepareNetwork(sc, in, out, at, B);
  if (err.failure()) return NetworkError(sc, std::move(err));
  static thread_local Pairs<T> pairs;  // reused across calls
  static thread_local brainsim_net::Recording rec;
  if (!(pairs.Read(in, out, n_plastic) && rec.Read(in, out, R)) || !in.Done() || !out.Done())
    return bad("operands or results: not those the attributes name, or of the wrong type");
  if (n_plastic && B != 1) return bad("plastic projections need an unbatched state");
  static thread_local std::vector<PairRule<T>> rules;  // reused across calls
  err = PreparePairs(sc, plastic, pairs, rules);
  if (err.failure()) return NetworkError(sc, std::move(err));
  LifModel<T> model{sc, at, B};
  const std::string failed = brainsim_net::RunSteps<T>(
      sc, sc.net, pool, at, B, steps, record, rec, model, PairLearning<T>(sc, at, rules));
  if (!failed.empty()) return bad(failed);
  return ffi::Error::Success();
}

static ffi::Error LifNetworkRunImpl(ffi::ThreadPool pool, ffi::RemainingArgs args,
                                    ffi::RemainingRets rets, ffi::Span<const int64_t> mode,
                                    ffi::Span<const int64_t> post,
                                    ffi::Span<const int64_t> source,
                                    ffi::Span<const int64_t> homogeneous,
                                    ffi::Span<const int64_t> conductance, int64_t extras,
                                    int64_t parts, int64_t steps,
                                    ffi::Span<const int64_t> record,
                                    ffi::Span<const int64_t> plastic) {
  const NetAttrs at{mode, post, source, homogeneous, conductance, extras, parts};
  return ByFloatType(args, "brainsim lif_network_run", [&](auto zero) {
    return RunNetworkSteps<decltype(zero)>(pool, args, rets, at, steps, record, plastic);
  });
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifNetworkRun(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifNetworkRun, LifNetworkRunImpl,
                              BindNetwork()
                                  .Attr<int64_t>("steps")
                                  .Attr<ffi::Span<const int64_t>>("record")
                                  .Attr<ffi::Span<const int64_t>>("plastic"));
