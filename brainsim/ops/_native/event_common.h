// Helpers shared by brainsim's event-driven CPU kernels (csr_event.cc,
// delayed_event.cc): per-operand vmap strides, a vectorisable "any spike in
// this block?" test, and a portable prefetch.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
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

// Visits the presynaptic rows i with s[i] != 0 in ascending order: row(i) for
// each (stop and return false when it does), after locate(r) was called for
// the row r kFar entries ahead and prefetch(r) for the row kNear entries
// ahead.  Phase 1 compacts active rows, 64 spikes at a time (AnyNonZero skips
// silent blocks), into a small on-stack list; phase 2 walks the list.  In a
// large network neither a row's extent (indptr) nor its synapses are in
// cache: locate prefetches the extent early, so that by the time prefetch
// reads it to prefetch the synapses it is a cache hit and does not hold up
// the adds of the current row.
template <typename T, typename LocateRow, typename PrefetchRow,
          typename VisitRow>
inline bool ForEachActiveRow(const T* __restrict s, int64_t n_pre,
                             LocateRow locate, PrefetchRow prefetch,
                             VisitRow row) {
  constexpr int64_t kBlock = 64;
  constexpr int kMaxActive = 512;
  constexpr int kNear = 64;
  constexpr int kFar = 128;
  int32_t act[kMaxActive];
  int na = 0;
  auto flush = [&]() -> bool {
    for (int k = 0; k < std::min(na, kFar); ++k) locate(act[k]);
    for (int k = 0; k < std::min(na, kNear); ++k) prefetch(act[k]);
    for (int k = 0; k < na; ++k) {
      if (k + kFar < na) locate(static_cast<int64_t>(act[k + kFar]));
      if (k + kNear < na) prefetch(static_cast<int64_t>(act[k + kNear]));
      if (!row(static_cast<int64_t>(act[k]))) return false;
    }
    na = 0;
    return true;
  };
  const int64_t n_full = n_pre - n_pre % kBlock;
  for (int64_t b = 0; b < n_full; b += kBlock) {
    if (!AnyNonZero<T, kBlock>(s + b)) continue;
    if (na > kMaxActive - kBlock && !flush()) return false;
    for (int64_t i = b; i < b + kBlock; ++i) {
      act[na] = static_cast<int32_t>(i);
      na += (s[i] != T(0));
    }
  }
  for (int64_t i = n_full; i < n_pre; ++i) {
    if (na == kMaxActive && !flush()) return false;
    act[na] = static_cast<int32_t>(i);
    na += (s[i] != T(0));
  }
  return flush();
}

// ForEachActiveRow for rows whose extent is known without a memory access.
template <typename T, typename PrefetchRow, typename VisitRow>
inline bool ForEachActiveRow(const T* __restrict s, int64_t n_pre,
                             PrefetchRow prefetch, VisitRow row) {
  return ForEachActiveRow(s, n_pre, [](int64_t) {}, prefetch, row);
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
