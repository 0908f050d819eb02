// brainsim native CPU kernel BrainsimLifNetworkRun: many steps of a network
// of LIF populations (lif_network.h) in one call, recording spikes.

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "lif_network.h"
#include "lif_network_plastic.h"
#include "spike_append.h"

namespace {

using namespace brainsim_lif;

// BrainsimLifNetworkRun: `steps` steps of the network in one call, each as
// BrainsimLifNetwork computes it (the same StepNetwork on the state the last
// step left), with the spikes of the recorded populations appended after each
// step as BrainsimSpikeAppend appends them.  Only the populations' own spikes
// are sources (no extra operands: those would change every step), and the
// input currents are the same in every step.
//
// Projections with plastic[q] != 0 learn by pair STDP (lif_network_plastic.h)
// before every step's events.
//
// Operands: named groups, the network's, then the plastic projections'
// (Pairs), then per recorded population r (attribute record: the population
// indices, R of them) `buffer`, its event buffer (int32 [C_r]), then per r
// `offset`, its write offset (int32 []).  Results: the network's, then the
// plastic projections', then per r `buffer` (aliased to its operand), then
// per r `end`, the end offset (int32 [], saturated at INT32_MAX; it may
// exceed C_r: nothing past C_r is written), then per r `counts`, the spike
// count of every step (int32 [steps]).
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
  static thread_local std::vector<View<const int32_t>> buffer, offset;
  static thread_local std::vector<View<int32_t>> buffer_out, end_out, counts_out;
  if (!(pairs.Read(in, out, n_plastic) && in.Take(R, buffer) && in.Take(R, offset) &&
        out.Take(R, buffer_out) && out.Take(R, end_out) && out.Take(R, counts_out)) ||
      !in.Done() || !out.Done())
    return bad("operands or results: not those the attributes name, or of the wrong type");
  const int64_t P = static_cast<int64_t>(at.mode.size());
  if (static_cast<int64_t>(sc.src.size()) != P)
    return bad("spike sources other than the populations need one call per step");
  if (steps < 1) return bad("steps must be >= 1");
  if (n_plastic && B != 1) return bad("plastic projections need an unbatched state");
  static thread_local std::vector<PairRule<T>> rules;  // reused across calls
  err = PreparePairs(sc, plastic, pairs, rules);
  if (err.failure()) return NetworkError(sc, std::move(err));
  sc.rec_pos.resize(R);
  for (int64_t r = 0; r < R; ++r) {
    if (record[r] < 0 || record[r] >= P) return bad("bad recorded population");
    if (buffer_out[r].count != buffer[r].count || offset[r].count != 1 ||
        end_out[r].count != 1 || counts_out[r].count != steps)
      return bad("buffers, offsets and counts must have their shapes");
    const int32_t start = *offset[r].data;
    if (start < 0) return bad("offset < 0");
    if (buffer_out[r].data != buffer[r].data && buffer[r].count)  // not aliased
      std::memcpy(buffer_out[r].data, buffer[r].data, sizeof(int32_t) * buffer[r].count);
    sc.rec_pos[r] = start;
  }
  // The spikes of step s, appended: from the active rows the next step
  // collects where the population is a source (the same positions in the same
  // order: both take the entries != 0), else (and after the last step) by
  // AppendRow's scan.
  auto append = [&](int64_t s, bool collected) {
    for (int64_t r = 0; r < R; ++r) {
      const int64_t p = record[r], n = sc.n_of[p];
      int32_t* buf = buffer_out[r].data;
      const int64_t cap = buffer_out[r].count;
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
      counts_out[r].data[s] = end - start;
      sc.rec_pos[r] = end;
    }
  };
  for (int64_t s = 0; s < steps; ++s) {
    CollectActive(sc, at, B);
    if (s > 0) append(s - 1, true);
    if (!StepPairs(sc, at, rules)) return bad("malformed layout or column index");
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
  for (int64_t r = 0; r < R; ++r) *end_out[r].data = sc.rec_pos[r];
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
