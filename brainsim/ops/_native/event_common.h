// Helpers shared by brainsim's event-driven CPU kernels (csr_event.cc,
// delayed_event.cc): per-operand vmap strides, a vectorisable "any spike in
// this block?" test, and a portable prefetch.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <thread>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

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

// The same for a line about to be written.
inline void PrefetchW(const void* p) {
#if (defined(__GNUC__) || defined(__clang__)) && !defined(BRAINSIM_NO_PREFETCH)
  __builtin_prefetch(p, 1, 3);
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

// Visits the rows act[0..na) in order: row(k, act[k]) for each (stop and
// return false when it does), after locate(i) for the row kFar entries ahead
// and prefetch(i) for the row kNear entries ahead.
template <typename LocateRow, typename PrefetchRow, typename VisitRow>
inline bool VisitRowsAt(const int32_t* act, int64_t na, LocateRow locate,
                        PrefetchRow prefetch, VisitRow row) {
  for (int64_t k = 0; k < std::min(na, kFar); ++k) locate(act[k]);
  for (int64_t k = 0; k < std::min(na, kNear); ++k) prefetch(act[k]);
  for (int64_t k = 0; k < na; ++k) {
    if (k + kFar < na) locate(act[k + kFar]);
    if (k + kNear < na) prefetch(act[k + kNear]);
    if (!row(k, static_cast<int64_t>(act[k]))) return false;
  }
  return true;
}

// VisitRowsAt with row(i) (the row only).
template <typename LocateRow, typename PrefetchRow, typename VisitRow>
inline bool VisitRows(const int32_t* act, int64_t na, LocateRow locate,
                      PrefetchRow prefetch, VisitRow row) {
  return VisitRowsAt(act, na, locate, prefetch,
                     [&row](int64_t, int64_t i) { return row(i); });
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
// row's synapses in stored order): out[j] += s_i w_ij, w_ij = w[0] when kHomo
// else w[synapse], for the targets j in [lo, hi) only; the others and indices
// out of range are skipped (one unsigned compare).  Splitting the targets
// into ranges leaves every target's additions in the same order.  The spike
// value s_i of row act[k] is value(k).  touch(k, i) runs before row act[k] = i
// is read (a plastic row's weights updated in the same traversal; false:
// stop, as malformed; w is not restrict-qualified, a row's own restrict view
// starts after touch).  Returns false on a malformed indptr.
struct NoTouch {
  bool operator()(int64_t, int64_t) const { return true; }
};
template <typename T, bool kHomo, typename Value, typename Touch = NoTouch>
inline bool AddRowsOf(const int32_t* __restrict indptr, const int32_t* __restrict indices,
                      const T* w, Value value, const int32_t* act, int64_t na,
                      int64_t nnz, T* __restrict out, int64_t lo, int64_t hi,
                      Touch touch = {}) {
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
  auto row = [&](int64_t k, int64_t i) -> bool {
    const int64_t beg = indptr[i], end = indptr[i + 1];
    if (beg < 0 || end < beg || end > nnz || !touch(k, i)) return false;
    const int32_t* __restrict idx = indices + beg;
    const int64_t len = end - beg;
    const T si = value(k);
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
  return VisitRowsAt(act, na, locate, prefetch, row);
}

// AddRowsOf with s_i = s[i] (the spike vector itself).
template <typename T, bool kHomo>
inline bool AddRows(const int32_t* __restrict indptr, const int32_t* __restrict indices,
                    const T* __restrict w, const T* __restrict s, const int32_t* act,
                    int64_t na, int64_t nnz, T* __restrict out, int64_t lo, int64_t hi) {
  return AddRowsOf<T, kHomo>(
      indptr, indices, w, [s, act](int64_t k) { return s[act[k]]; }, act, na, nnz, out, lo,
      hi);
}

// Allocator of cache-line-aligned arrays, for kernel scratch read by vector
// loads: malloc's 16-byte alignment makes every other 32-byte load of a
// gathered 256-byte row straddle two cache lines (measured: a gather-sum over
// an L1-resident packed block takes ~25 % longer at 16 than at 64 bytes).
template <typename T>
struct LineAligned {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  LineAligned() = default;
  template <typename U>
  LineAligned(const LineAligned<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <typename U>
  bool operator==(const LineAligned<U>&) const { return true; }
  template <typename U>
  bool operator!=(const LineAligned<U>&) const { return false; }
};
template <typename T>
using AlignedVector = std::vector<T, LineAligned<T>>;

// The whole 2 MiB pages inside [p, p + bytes): [first, second), empty when none.
inline std::pair<uintptr_t, uintptr_t> WholeHugePages(const void* p, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  return {a, std::max(a, b)};
}

// Fresh outputs about to be written (XLA's per-call temporaries, mapped anew by
// each run when larger than glibc's mmap threshold; first-touching 4 KiB pages
// cost a page fault each, ~1/5 of a training step at hidden 1024): hinted as
// transparent-huge-page memory (MADV_HUGEPAGE), one fault per 2 MiB.  Only from
// 8 MiB.  A hint: no effect where THP is off, never an error.
inline void HugePageHint(void* p, size_t bytes) {
#if defined(__linux__)
  const auto [a, b] = WholeHugePages(p, bytes);
  if (bytes >= (size_t{8} << 20) && b > a)
    madvise(reinterpret_cast<void*>(a), b - a, MADV_HUGEPAGE);
#else
  (void)p, (void)bytes;
#endif
}

// Read-only operands accessed at random rows (a network's connectivity): with
// 4 KiB pages every row visited is a TLB miss, a nested page walk in a VM, and
// whether XLA's buffer landed in memory that happened to be backed by huge
// pages decided a run's speed.  Asks Linux to back the whole 2 MiB pages now
// (MADV_COLLAPSE, Linux 6.1+: the pages are copied once) and on later faults
// (MADV_HUGEPAGE); once per range and thread.  The memory is XLA's: only its
// backing changes, not its contents.  Errors (other systems, THP disabled) are
// ignored: the pages only stay as they were.
inline void HugePages(const void* p, size_t bytes) {
#if defined(__linux__)
  const auto [a, b] = WholeHugePages(p, bytes);
  if (b <= a) return;
  static thread_local std::vector<std::pair<uintptr_t, uintptr_t>> done;
  for (const auto& r : done)
    if (r.first == a && r.second == b) return;
  if (done.size() > 256) done.clear();
  done.emplace_back(a, b);
  void* q = reinterpret_cast<void*>(a);
  madvise(q, b - a, MADV_HUGEPAGE);
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
  madvise(q, b - a, MADV_COLLAPSE);
#else
  (void)p, (void)bytes;
#endif
}

// The settings of brainsim.ops.configure, set through brainsim_native_configure
// (csr_event.cc) and read at every call: the most threads a call may use (0: XLA's
// intra-op pool, one per core) and how long (ns) a helper of TeamFor keeps polling
// for the next call after its last part (0: it returns to the pool at once).
inline std::atomic<int64_t> g_thread_cap{0};
inline std::atomic<int64_t> g_linger_ns{0};

// Threads a kernel may use: XLA's intra-op pool, capped by g_thread_cap.
inline int64_t MaxThreads(ffi::ThreadPool& pool) {
  const int64_t cap = g_thread_cap.load(std::memory_order_relaxed);
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

// A spin-wait hint to the core (no system call).
inline void CpuRelax() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_ia32_pause();
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
  asm volatile("yield");
#endif
}

// How long (ns) a helper of TeamFor keeps polling for the next call after its
// last part: g_linger_ns (default 0: helpers return to the pool at once, as
// ParallelFor's tasks do, and no thread spins between calls).
inline int64_t LingerNs() { return g_linger_ns.load(std::memory_order_relaxed); }

// The process's team for TeamFor: helper tasks on XLA's intra-op pool that,
// after running parts of a call, keep polling for the next call for
// LingerNs() before returning their thread to the pool.  With a linger set
// (brainsim.ops.configure(spin_us=...)), a kernel called once per simulation
// step, microseconds apart, hands its parts over through one shared atomic
// word instead of waking a sleeping pool thread each call (~7 us per wake-up
// on a VM); the cost is a core kept busy polling between calls, as OpenMP's
// spinning threads do.  The default (0) does not poll.
//
// A call is published as one 64-bit word: job number (32 bits), one past the
// highest unclaimed part (16), the lowest unclaimed part (16).  Anyone claims
// a part by a compare-and-swap of the word (so a stale job cannot be
// claimed): the caller from the bottom, helpers from the top; the caller too,
// so the caller never waits for a helper that has not started: it runs every
// part nobody claimed and then waits only for the claimed ones, which are
// running.  A helper that has claimed a part of job J reads the job's function
// safely: the caller does not return (nor publish the next job) before every
// part of J has been counted done.
//
// More runnable threads than cores (other processes): a polling helper then
// takes CPU time from the caller, it is rarely running when a call comes (the
// caller runs every part, and the neurons' state moves between the cores'
// caches), and a helper descheduled in the middle of a part holds the caller
// up for a time slice.  Each is seen (a helper's polls more than
// kPreemptedNs apart; fewer than 3/4 of kWindow calls helped; the caller
// waiting kPreemptedNs longer than its own parts took) and the team then
// works alone for kSoloNs (TeamThreads says 1: the kernel makes one part)
// before it tries helpers again.
class Team {
 public:
  static Team& Get() {
    static Team team;
    return team;
  }

  // Threads a call may use now: 1 while the team works alone, else max_threads.
  int64_t Threads(int64_t max_threads) const {
    return Now() < solo_until_.load(std::memory_order_relaxed) ? 1 : max_threads;
  }

  // Runs part(k) for k in [0, n_parts) on the caller and up to n_threads - 1
  // helpers; false (nothing run) when another caller holds the team or
  // n_parts does not fit the word.
  template <typename F>
  bool Run(ffi::ThreadPool& pool, int64_t n_parts, int64_t n_threads, F& part) {
    if (n_parts < 1 || n_parts > 0xFFFF) return false;
    if (busy_.exchange(true, std::memory_order_acquire)) return false;
    fn_.store([](void* f, int64_t k) { (*static_cast<F*>(f))(k); }, std::memory_order_relaxed);
    ctx_.store(static_cast<void*>(&part), std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    const uint64_t job = (claim_.load(std::memory_order_relaxed) >> 32) + 1;
    claim_.store(job << 32 | static_cast<uint64_t>(n_parts) << 16, std::memory_order_release);
    const int64_t start = Now();
    const bool solo = start < solo_until_.load(std::memory_order_relaxed);
    const int64_t want = solo ? 0 : std::min(n_threads, n_parts) - 1;
    for (int64_t h = helpers_.load(std::memory_order_relaxed); h < want;) {
      if (helpers_.compare_exchange_weak(h, h + 1, std::memory_order_relaxed)) {
        ++h;
        const std::thread::id caller = std::this_thread::get_id();
        pool.Schedule([this, caller] { Help(caller); });
      }
    }
    int64_t mine = 0;
    while (Work(false)) ++mine;
    if (want > 0 && ++window_calls_ == kWindow) {  // were the helpers there?
      if (window_helped_ + (mine < n_parts) < kWindow * 3 / 4) Solo(Now());
      window_calls_ = window_helped_ = 0;
    } else if (want > 0) {
      window_helped_ += mine < n_parts;
    }
    if (done_.load(std::memory_order_acquire) < n_parts) {
      const int64_t own = Now(), limit = own + (own - start) + kPreemptedNs;
      for (uint32_t spin = 1; done_.load(std::memory_order_acquire) < n_parts; ++spin) {
        if (spin % 64) {
          CpuRelax();
          continue;
        }
        const int64_t now = Now();
        if (now > limit) {  // a helper was descheduled mid-part
          Solo(now);
          std::this_thread::yield();
        }
      }
    }
    busy_.store(false, std::memory_order_release);
    return true;
  }

 private:
  static constexpr int64_t kPreemptedNs = 100'000, kSoloNs = 100'000'000, kWindow = 64;

  static int64_t Now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void Solo(int64_t now) { solo_until_.store(now + kSoloNs, std::memory_order_relaxed); }

  // Claims and runs one part of the published job, the lowest unclaimed one
  // (the caller) or the highest (a helper); false when none is left.  With
  // two threads each then keeps its own range from call to call, and its
  // neurons' state in its own cache, unless the other one is late.
  bool Work(bool top) {
    uint64_t w = claim_.load(std::memory_order_acquire);
    for (;;) {
      const uint64_t lo = w & 0xFFFF, hi = (w >> 16) & 0xFFFF;
      if (lo >= hi) return false;
      const uint64_t claimed = top ? w - (uint64_t{1} << 16) : w + 1;
      if (claim_.compare_exchange_weak(w, claimed, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed),
                                            static_cast<int64_t>(top ? hi - 1 : lo));
        done_.fetch_add(1, std::memory_order_release);
        return true;
      }
    }
  }

  // A helper task: parts of every job published until none has come for
  // LingerNs(), or until it finds it was descheduled while polling.  Run
  // inline by the caller (a pool that cannot schedule): leave at once.
  void Help(std::thread::id caller) {
    if (std::this_thread::get_id() != caller) {
      const int64_t linger = LingerNs();
      int64_t last = Now(), poll = last;
      for (uint32_t spin = 1;; ++spin) {
        if (Work(true)) {
          last = poll = Now();
          continue;
        }
        if (spin % 64) {
          CpuRelax();
          continue;
        }
        const int64_t now = Now();
        if (now - poll > kPreemptedNs) {
          Solo(now);
          break;
        }
        if (now - last >= linger) break;
        poll = now;
      }
    }
    helpers_.fetch_sub(1, std::memory_order_release);
  }

  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> helpers_{0};
  std::atomic<int64_t> solo_until_{0};
  std::atomic<bool> busy_{false};
  int64_t window_calls_ = 0, window_helped_ = 0;  // the caller's (under busy_)
  std::atomic<void (*)(void*, int64_t)> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
};

// ParallelFor for a kernel called once per simulation step: the same parts on
// the caller and the pool, through the process's Team (helpers that linger
// between calls), or through ParallelFor when another call holds the team.
template <typename F>
inline void TeamFor(ffi::ThreadPool& pool, int64_t n_parts, F part) {
  if (n_parts <= 1) {
    if (n_parts == 1) part(0);
    return;
  }
  if (!Team::Get().Run(pool, n_parts, MaxThreads(pool), part)) ParallelFor(pool, n_parts, part);
}

// Threads a TeamFor call may use now: MaxThreads, or 1 while the team works
// alone (more runnable threads than cores; see Team).
inline int64_t TeamThreads(ffi::ThreadPool& pool) {
  return Team::Get().Threads(MaxThreads(pool));
}

}  // namespace brainsim_native
