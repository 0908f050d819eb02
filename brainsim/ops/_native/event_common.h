// Helpers shared by brainsim's event-driven CPU kernels (csr_event.cc,
// delayed_event.cc): per-operand vmap strides, a vectorisable "any spike in
// this block?" test, and a portable prefetch.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <cstring>
#include <string>
#include <type_traits>

#include "xla/ffi/api/ffi.h"

namespace brainsim_native {

namespace ffi = xla::ffi;

constexpr int kMaxRank = 16;

// One operand: its data, the elements of one call, and the element stride of
// each leading vmap dim (0 = broadcast).
struct Operand {
  const void* data = nullptr;
  int64_t core_size = 0;
  int64_t vstride[kMaxRank] = {};
};

// Sets up `op` from `buf`, whose rank must be V + core_rank; each of its V
// leading dims must be 1 (broadcast) or equal to the output's `out_vdims`.
// On error writes "<kernel>: operand '<name>' ..." to `err` and returns false.
inline bool SetupOperand(Operand& op, const ffi::AnyBuffer& buf, int V,
                         int core_rank, const int64_t* out_vdims,
                         std::string* err, const char* kernel,
                         const char* name) {
  auto dims = buf.dimensions();
  if (static_cast<int>(dims.size()) != V + core_rank) {
    *err = std::string(kernel) + ": operand '" + name +
           "' has unexpected rank " + std::to_string(dims.size());
    return false;
  }
  int64_t core = 1;
  for (int d = V; d < V + core_rank; ++d) core *= dims[d];
  op.core_size = core;
  int64_t stride = core;
  for (int d = V - 1; d >= 0; --d) {
    if (dims[d] != 1 && dims[d] != out_vdims[d]) {
      *err = std::string(kernel) + ": operand '" + name +
             "' has a batch dim that does not match the output";
      return false;
    }
    op.vstride[d] = dims[d] == 1 ? 0 : stride;
    stride *= dims[d];
  }
  op.data = buf.untyped_data();
  return true;
}

// Unsigned integer of the same width as T (for bit tests on floats).
template <typename T>
using UInt = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

// True iff any of x[0..kN) is non-zero (+0.0 and -0.0 count as zero).
// Integer OR-reduction of the bits without the sign bit: vectorises with the
// baseline ISA (SSE2 / NEON) and needs no float compares.
template <typename T, int64_t kN>
inline bool AnyNonZero(const T* x) {
  UInt<T> acc = 0;
  for (int64_t k = 0; k < kN; ++k) {
    UInt<T> b;
    std::memcpy(&b, x + k, sizeof(T));
    acc |= b;
  }
  return (acc << 1) != 0;
}

inline void Prefetch(const void* p) {
#if (defined(__GNUC__) || defined(__clang__)) && !defined(BRAINSIM_NO_PREFETCH)
  __builtin_prefetch(p, 0, 3);
#endif
}

// Calls visit(act, na) with the presynaptic rows i with s[i] != 0, in
// ascending order, in lists act[0..na) of at most 512 rows (stop and return
// false when visit does).  The rows are compacted 64 spikes at a time
// (AnyNonZero skips silent blocks) into a small on-stack list.
template <typename T, typename VisitList>
inline bool ForEachActiveList(const T* __restrict s, int64_t n_pre, VisitList visit) {
  constexpr int64_t kBlock = 64;
  constexpr int kMaxActive = 512;
  int32_t act[kMaxActive];
  int na = 0;
  const int64_t n_full = n_pre - n_pre % kBlock;
  for (int64_t b = 0; b < n_full; b += kBlock) {
    if (!AnyNonZero<T, kBlock>(s + b)) continue;
    if (na > kMaxActive - kBlock) {
      if (!visit(act, na)) return false;
      na = 0;
    }
    for (int64_t i = b; i < b + kBlock; ++i) {
      act[na] = static_cast<int32_t>(i);
      na += (s[i] != T(0));
    }
  }
  for (int64_t i = n_full; i < n_pre; ++i) {
    if (na == kMaxActive) {
      if (!visit(act, na)) return false;
      na = 0;
    }
    act[na] = static_cast<int32_t>(i);
    na += (s[i] != T(0));
  }
  return visit(act, na);
}

// Prefetch distances (rows ahead) for walking a list of active rows: in a
// large network neither a row's extent (indptr) nor its synapses are in
// cache.  The extent is prefetched kFar rows ahead, so that by the time the
// synapses are prefetched from it (kNear rows ahead) it is a cache hit and
// does not hold up the adds of the current row.
constexpr int64_t kNear = 4, kFar = 12;

// Visits the rows act[0..na) in order: row(i) for each (stop and return false
// when it does), after locate(i) for the row kFar entries ahead and
// prefetch(i) for the row kNear entries ahead.
template <typename LocateRow, typename PrefetchRow, typename VisitRow>
inline bool VisitRows(const int32_t* act, int64_t na, LocateRow locate,
                      PrefetchRow prefetch, VisitRow row) {
  for (int64_t k = 0; k < std::min(na, kFar); ++k) locate(act[k]);
  for (int64_t k = 0; k < std::min(na, kNear); ++k) prefetch(act[k]);
  for (int64_t k = 0; k < na; ++k) {
    if (k + kFar < na) locate(act[k + kFar]);
    if (k + kNear < na) prefetch(act[k + kNear]);
    if (!row(static_cast<int64_t>(act[k]))) return false;
  }
  return true;
}

// Visits the presynaptic rows i with s[i] != 0 in ascending order (VisitRows
// over ForEachActiveList).
template <typename T, typename LocateRow, typename PrefetchRow, typename VisitRow>
inline bool ForEachActiveRow(const T* __restrict s, int64_t n_pre, LocateRow locate,
                             PrefetchRow prefetch, VisitRow row) {
  return ForEachActiveList(s, n_pre, [&](const int32_t* act, int64_t na) {
    return VisitRows(act, na, locate, prefetch, row);
  });
}

// ForEachActiveRow for rows whose extent is known without a memory access.
template <typename T, typename PrefetchRow, typename VisitRow>
inline bool ForEachActiveRow(const T* __restrict s, int64_t n_pre, PrefetchRow prefetch,
                             VisitRow row) {
  return ForEachActiveRow(s, n_pre, [](int64_t) {}, prefetch, row);
}

// The synaptic events of the CSR rows act[0..na) (in that order, then each
// row's synapses in stored order): out[j] += s[i] w_ij, w_ij = w[0] when kHomo
// else w[synapse], for the targets j in [lo, hi) only; the others and indices
// out of range are skipped (one unsigned compare).  Splitting the targets
// into ranges leaves every target's additions in the same order.  Returns
// false on a malformed indptr.
template <typename T, bool kHomo>
inline bool AddRows(const int32_t* __restrict indptr, const int32_t* __restrict indices,
                    const T* __restrict w, const T* __restrict s, const int32_t* act,
                    int64_t na, int64_t nnz, T* __restrict out, int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo);
  T* __restrict out_lo = out + lo;
  auto locate = [&](int64_t r) { Prefetch(indptr + r); };
  auto prefetch = [&](int64_t r) {
    const int64_t b = std::max<int64_t>(indptr[r], 0);
    const int64_t e = std::min<int64_t>(indptr[r + 1], nnz);
    for (int64_t q = b; q < e; q += 64 / sizeof(int32_t)) Prefetch(indices + q);
    if constexpr (!kHomo) {
      for (int64_t q = b; q < e; q += 64 / sizeof(T)) Prefetch(w + q);
    }
  };
  auto row = [&](int64_t i) -> bool {
    const int64_t beg = indptr[i], end = indptr[i + 1];
    if (beg < 0 || end < beg || end > nnz) return false;
    const int32_t* __restrict idx = indices + beg;
    const int64_t len = end - beg;
    const T si = s[i];
    if constexpr (kHomo) {
      const T v = si * w[0];
      for (int64_t q = 0; q < len; ++q) {
        const uint64_t j = static_cast<uint64_t>(idx[q] - lo);
        if (j < span) out_lo[j] += v;
      }
    } else {
      const T* __restrict wr = w + beg;
      for (int64_t q = 0; q < len; ++q) {
        const uint64_t j = static_cast<uint64_t>(idx[q] - lo);
        if (j < span) out_lo[j] += si * wr[q];
      }
    }
    return true;
  };
  return VisitRows(act, na, locate, prefetch, row);
}

// Threads a kernel may use: XLA's intra-op pool, capped by the environment
// variable BRAINSIM_NATIVE_THREADS when it is a positive integer (e.g. 1 when
// several simulations share the cores); read once per process.
inline int64_t MaxThreads(ffi::ThreadPool& pool) {
  static const int64_t cap = [] {
    const char* v = std::getenv("BRAINSIM_NATIVE_THREADS");
    return v ? std::max<int64_t>(0, std::atoll(v)) : int64_t{0};
  }();
  const int64_t n = std::max<int64_t>(1, pool.num_threads());
  return cap > 0 ? std::min(cap, n) : n;
}

// Runs part(k) for k in [0, n_parts) on the caller and on up to
// n_parts - 1 tasks of XLA's intra-op pool.  Parts are claimed through an
// atomic counter, so the caller never waits for a task that has not started
// (no deadlock when the pool is busy); it waits only for claimed parts.
template <typename F>
inline void ParallelFor(ffi::ThreadPool& pool, int64_t n_parts, F part) {
  if (n_parts <= 1) {
    if (n_parts == 1) part(0);
    return;
  }
  struct Shared {
    std::atomic<int64_t> next{0}, done{0};
  };
  auto sh = std::make_shared<Shared>();
  auto work = [sh, n_parts, &part]() {
    for (int64_t k; (k = sh->next.fetch_add(1)) < n_parts;) {
      part(k);
      sh->done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t t = 1; t < n_parts; ++t)
    pool.Schedule([sh, n_parts, work]() {
      if (sh->next.load() < n_parts) work();
    });
  work();
  while (sh->done.load(std::memory_order_acquire) < n_parts)
    std::this_thread::yield();
}

}  // namespace brainsim_native
