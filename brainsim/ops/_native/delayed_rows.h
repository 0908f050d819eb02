// The scatter of brainsim's delay-ring kernels (delayed_event.cc: one ring;
// delayed_multi.cc: every ring of a network step in one call): the synapses
// of active presynaptic rows add their weighted spike to the ring row of
// their delay value,
//
//   ring[off[group[q]] + indices[q]] += s_i * w[q]     (w[0] when kHomo)
//
// for every synapse q of row i.  The rows are CSR by presynaptic neuron with
// each row's synapses sorted by (delay value, target) (bs.conn.with_delays),
// so the writes of one row walk each ring row upwards.  Entries of indices
// outside [0, n_post) and of group outside [0, n_groups) are skipped.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "event_common.h"

namespace brainsim_native {

// The rows act[0..na) (ascending), spike value s[act[k]].  `off[g]`: ring
// offset of delay value g's row (slot * n_post).  Returns false on a
// malformed indptr.
template <typename T, typename G, bool kHomo>
inline bool DelayedRowsAt(const int32_t* __restrict indptr,
                          const int32_t* __restrict indices,
                          const G* __restrict group, const int64_t* __restrict off,
                          uint64_t n_groups, const T* __restrict w, const T* __restrict s,
                          const int32_t* act, int64_t na, T* __restrict ring,
                          int64_t n_post, int64_t nnz) {
  const uint64_t n_post_u = static_cast<uint64_t>(n_post);
  const T w0 = kHomo ? w[0] : T(0);
  auto locate = [&](int64_t r) { Prefetch(indptr + r); };
  auto prefetch = [&](int64_t r) {
    const int64_t b = std::max<int64_t>(indptr[r], 0);
    const int64_t e = std::min<int64_t>(indptr[r + 1], nnz);
    for (int64_t q = b; q < e; q += 16) Prefetch(indices + q);
    for (int64_t q = b; q < e; q += 64 / sizeof(G)) Prefetch(group + q);
    if constexpr (!kHomo) {
      for (int64_t q = b; q < e; q += 64 / sizeof(T)) Prefetch(w + q);
    }
  };
  auto row = [&](int64_t i) -> bool {
    const int64_t beg = indptr[i], end = indptr[i + 1];
    if (beg < 0 || end < beg || end > nnz) return false;
    const T si = s[i];
    for (int64_t q = beg; q < end; ++q) {
      const uint32_t j = static_cast<uint32_t>(indices[q]);
      const uint64_t g = static_cast<uint64_t>(
          static_cast<std::make_unsigned_t<G>>(group[q]));
      if (j >= n_post_u || g >= n_groups) continue;
      if constexpr (kHomo) {
        ring[off[g] + j] += si * w0;
      } else {
        ring[off[g] + j] += si * w[q];
      }
    }
    return true;
  };
  return VisitRows(act, na, locate, prefetch, row);
}

// The same for every row i with s[i] != 0.
template <typename T, typename G, bool kHomo>
inline bool DelayedRows(const int32_t* __restrict indptr,
                        const int32_t* __restrict indices, const G* __restrict group,
                        const int64_t* __restrict off, uint64_t n_groups,
                        const T* __restrict w, const T* __restrict s, int64_t n_pre,
                        T* __restrict ring, int64_t n_post, int64_t nnz) {
  return ForEachActiveList(s, n_pre, [&](const int32_t* act, int64_t na) {
    return DelayedRowsAt<T, G, kHomo>(indptr, indices, group, off, n_groups, w, s, act,
                                      na, ring, n_post, nnz);
  });
}

}  // namespace brainsim_native
