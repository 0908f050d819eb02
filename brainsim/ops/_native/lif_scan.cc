// brainsim native CPU kernels for training (brainsim/train/_bptt.py): the
// whole forward time scan of a (recurrent) LIF layer (BrainsimLifScan) and
// its reverse BPTT scan (BrainsimLifScanBwd), each in one call, built on the
// sparse-rows blocks of rows_common.h.  See their comments below.
//
// The handlers hold no global state and are safe to call concurrently.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "rows_common.h"

namespace {

using namespace brainsim_rows;

// ---------------------------------------------------------------------------
// The whole forward time scan of a (recurrent) LIF layer in one call
// (BrainsimLifScan; brainsim/train/_bptt.py documents the recurrence):
//
//   I_t = (alpha I_{t-1} + h_t) + s_{t-1} W,  V~_t = beta V_{t-1} + I_t,
//   x_t = V~_t - theta,  s_t = [x_t > 0],  V_t = (x_t > 0 ? 0 : V~_t)
//
// for h (T, R, n), W packed as in MatmulImpl (n_blocks, n, kBlock) (or none),
// per-neuron alpha, beta, theta (n,), initial i0, v0, s0 (R, n).  Outputs
// (T, R, n): s_t and the pre-reset V~_t (the residuals of the hand-written
// BPTT: x_t, I_{t-1} and V_{t-1} are recomputed from them and i0, v0 in the
// reverse scan, which keeps two (T, R, n) buffers instead of four).  The
// rows are independent, so each thread runs all T steps of its own rows (no synchronisation per step); per step and column block, each
// row sums the packed block rows of its previous spikes (an index list kept
// from the step before: no scan for nonzeros) in registers, then updates its
// 64 neurons.  The elementwise update keeps the evaluation order of the XLA
// path, so the spikes agree with it up to rounding (the summation order of
// the recurrent input, fused multiply-adds).
template <typename T>
BRAINSIM_INLINE void LifUpdate(const T* __restrict h, const T* __restrict rec,
                               const T* __restrict al, const T* __restrict be,
                               const T* __restrict th, T* __restrict ib,
                               T* __restrict vb, T* __restrict so,
                               T* __restrict vto, int64_t nc) {
  using V = typename Vec<T>::type;
  constexpr int64_t L = 32 / sizeof(T);
  const V one = V{} + T(1), zero = V{};
  int64_t j = 0;
  for (; j + L <= nc; j += L) {
    const V ip = Load(ib + j), vp = Load(vb + j);
    V i = Load(al + j) * ip + Load(h + j);
    if (rec != nullptr) i = i + Load(rec + j);
    const V v = Load(be + j) * vp + i;
    const auto spike = v - Load(th + j) > zero;
    Store(so + j, spike ? one : zero);
    Store(vto + j, v);
    Store(ib + j, i);
    Store(vb + j, spike ? zero : v);
  }
  for (; j < nc; ++j) {
    const T ip = ib[j], vp = vb[j];
    T i = al[j] * ip + h[j];
    if (rec != nullptr) i = i + rec[j];
    const T v = be[j] * vp + i;
    const bool spike = v - th[j] > T(0);
    so[j] = spike ? T(1) : T(0);
    vto[j] = v;
    ib[j] = i;
    vb[j] = spike ? T(0) : v;
  }
}

#define BRAINSIM_LIF_ENTRY(T)                                                  \
  BRAINSIM_CLONES void LifRowsF(const T* h, const T* wp, const T* al,          \
                                const T* be, const T* th, const T* i0,         \
                                const T* v0, const T* s0, T* so, T* vto,       \
                                int64_t Tn, int64_t R, int64_t n,              \
                                int64_t r0, int64_t r1) {                      \
    const int64_t nr = r1 - r0, kb = kBlock<T>;                                \
    const int64_t nb = (n + kb - 1) / kb, ng = (nr + kGroup - 1) / kGroup;     \
    Staggered<T> iv(2, nr * n);                                                \
    T* const ib = iv[0];                                                       \
    T* const vb = iv[1];                                                       \
    std::copy(i0 + r0 * n, i0 + r1 * n, ib);                                   \
    std::copy(v0 + r0 * n, v0 + r1 * n, vb);                                   \
    /* the first step's recurrent input: per row, the lists of s0 (any      \
       values); later steps: per group, the buckets of the spikes */          \
    std::vector<int32_t> idx(nr * n), gidx(ng * (n + 1));                      \
    std::vector<int32_t> gptr(ng * (kMasks + 1));                              \
    std::vector<uint8_t> mask(n);                                              \
    std::vector<T> val(nr * n), ones(n, T(1));                                 \
    std::vector<int64_t> cnt(nr);                                              \
    for (int64_t l = 0; l < nr; ++l)                                           \
      cnt[l] = Compact(s0 + (r0 + l) * n, n, idx.data() + l * n,               \
                       val.data() + l * n);                                    \
    alignas(64) T rec[kGroup * kBlock<T>];                                     \
    alignas(64) T tmp[kBlock<T>];                                              \
    for (int64_t t = 0; t < Tn; ++t) {                                         \
      const int64_t o = (t * R + r0) * n;                                      \
      /* serpentine over the column blocks: the blocks of w last used are    \
         first in the next step, still in L2 (w: 4 MiB at n = 1024) */        \
      for (int64_t bi = 0; bi < nb; ++bi) {                                    \
        const int64_t b = (t & 1) ? nb - 1 - bi : bi;                          \
        const int64_t c0 = b * kb, nc = std::min(kb, n - c0);                  \
        for (int64_t g = 0; g < ng; ++g) {                                     \
          const int64_t l0 = g * kGroup;                                       \
          const int rows = static_cast<int>(std::min<int64_t>(kGroup, nr - l0)); \
          if (wp != nullptr && t > 0)                                          \
            GroupSum(rec, false, tmp, wp + c0 * n, gidx.data() + g * (n + 1),  \
                     gptr.data() + g * (kMasks + 1), ones.data(), rows);       \
          else if (wp != nullptr)                                              \
            for (int m = 0; m < rows; ++m)                                     \
              GatherSum(rec + m * kb, false, wp + c0 * n, kb,                  \
                        idx.data() + (l0 + m) * n, val.data() + (l0 + m) * n,  \
                        cnt[l0 + m]);                                          \
          for (int m = 0; m < rows; ++m) {                                     \
            const int64_t l = l0 + m, e = o + l * n + c0;                      \
            /* the next step's lines of h, s and V~, a step ahead (their     \
               4 KiB-strided walk defeats the hardware prefetcher) */         \
            if (t + 1 < Tn)                                                    \
              for (int64_t q = 0; q < nc; q += 64 / int64_t{sizeof(T)}) {      \
                Prefetch(h + e + R * n + q);                                   \
                PrefetchW(so + e + R * n + q), PrefetchW(vto + e + R * n + q); \
              }                                                                \
            LifUpdate(h + e, wp != nullptr ? rec + m * kb : nullptr, al + c0,  \
                      be + c0, th + c0, ib + l * n + c0, vb + l * n + c0,      \
                      so + e, vto + e, nc);                                    \
          }                                                                    \
        }                                                                      \
      }                                                                        \
      /* next step's buckets: the spikes just stored */                        \
      if (wp != nullptr && t + 1 < Tn)                                         \
        for (int64_t g = 0; g < ng; ++g) {                                     \
          const int64_t l0 = g * kGroup;                                       \
          std::fill(mask.begin(), mask.end(), uint8_t{0});                     \
          for (int64_t m = 0; m < std::min<int64_t>(kGroup, nr - l0); ++m)     \
            for (int64_t j = 0; j < n; ++j)                                    \
              mask[j] |= static_cast<uint8_t>((so[o + (l0 + m) * n + j] != T(0)) << m); \
          SortByMask(mask.data(), n, 1, gidx.data() + g * (n + 1),             \
                     gptr.data() + g * (kMasks + 1));                          \
        }                                                                      \
    }                                                                          \
  }
BRAINSIM_LIF_ENTRY(float)
BRAINSIM_LIF_ENTRY(double)
#undef BRAINSIM_LIF_ENTRY

template <typename T>
static void LifScan(ffi::ThreadPool& pool, const T* h, const T* wp,
                    const T* al, const T* be, const T* th, const T* i0,
                    const T* v0, const T* s0, T* so, T* vto, int64_t Tn,
                    int64_t R, int64_t n) {
  // Whole groups of kGroup rows per thread: a row's sums (GroupSum) depend on
  // its group, which then does not depend on the number of threads.
  const int64_t work = Tn * R * n * (wp != nullptr ? n / 8 + 4 : 4);
  const int64_t groups = (R + kGroup - 1) / kGroup;
  const int64_t parts = Parts(pool, work, groups);
  ParallelFor(pool, parts, [&](int64_t k) {
    const int64_t r0 = std::min(R, groups * k / parts * kGroup);
    const int64_t r1 = std::min(R, groups * (k + 1) / parts * kGroup);
    if (r1 > r0)
      LifRowsF(h, wp, al, be, th, i0, v0, s0, so, vto, Tn, R, n, r0, r1);
  });
}


// ---------------------------------------------------------------------------
// The reverse scan of the hand-written BPTT in one call (BrainsimLifScanBwd;
// brainsim/train/_bptt.py documents it):
//
//   sbar_t = ct_t + g^I_{t+1} W^T,  gV_t = beta gV_{t+1} (1 - s_t) + sbar_t sg_t,
//   g^I_t = gV_t + alpha g^I_{t+1}
//
// with the per-row sums acc_a += g^I_t I_{t-1}, acc_b += gV_t V_{t-1},
// acc_t += sbar_t sg_t.  The forward kept only the pre-reset V~_t (and s_t):
// here s_t = [V~_t - theta > 0] (the forward's own comparison, so exactly its
// spikes), V_{t-1} = s_{t-1} ? 0 : V~_{t-1} (exact) and
// I_{t-1} = V~_{t-1} - beta V_{t-2} (V~ = beta V + I: exact up to one rounding
// of V~), with V_{-1} = v0, I_{-1} = i0.  Rows are independent again: each
// thread runs all T steps of its rows.  The dense g^I W^T is a
// register-blocked product (kMR rows x 2 vectors of columns, Wt packed in
// panels of kPanel columns, zero-padded), its result consumed in
// registers-sized pieces by the elementwise update (no per-step temporaries,
// no per-step dispatch).  g_h may be written in place of ct or sg (XLA
// aliases g_h with sg): both are read before g^I_t is stored, element by
// element.
template <typename T>
constexpr int64_t kPanel = 2 * static_cast<int64_t>(32 / sizeof(T));
// 4 rows: a batch of 64 splits into 16 whole tiles, 8 per thread on 2 cores
// (5 left one thread 34 rows, the other 30); 8 accumulators + 2 panel
// vectors + 1 broadcast fit the 16 vector registers of AVX2.
constexpr int kMR = 4;

// The state before step t at one element: V_{t-1} and I_{t-1} from V~_{t-1}
// (v1, null at t = 0) and V~_{t-2} (v2, null at t <= 1).
template <typename V>
BRAINSIM_INLINE void PrevState(bool has1, bool has2, V v1, V v2, V v0, V i0, V th,
                               V be, V* vprev, V* iprev) {
  const V zero = V{};
  if (!has1) {
    *vprev = v0, *iprev = i0;
    return;
  }
  *vprev = v1 - th > zero ? zero : v1;
  const V vpp = has2 ? (v2 - th > zero ? zero : v2) : v0;
  *iprev = v1 - be * vpp;
}

template <typename T>
BRAINSIM_INLINE void BwdUpdate(const T* sb_rec, const T* ct, const T* sg,
                               const T* __restrict vt, const T* __restrict v1,
                               const T* __restrict v2, const T* __restrict v0,
                               const T* __restrict i0, const T* __restrict th,
                               const T* __restrict al, const T* __restrict be,
                               const T* __restrict gi_next, T* __restrict gi_new,
                               T* __restrict gv, T* __restrict aa, T* __restrict ab,
                               T* __restrict at, T* gh, int64_t nc) {
  using V = typename Vec<T>::type;
  constexpr int64_t L = 32 / sizeof(T);
  const bool has1 = v1 != nullptr, has2 = v2 != nullptr;
  int64_t j = 0;
  const V one = V{} + T(1), zero = V{};
  for (; j + L <= nc; j += L) {
    V sb = Load(ct + j);
    if (sb_rec != nullptr) sb = sb + Load(sb_rec + j);
    const V tv = Load(th + j), bv = Load(be + j);
    const V keep = Load(vt + j) - tv > zero ? zero : one;  // 1 - s_t
    V vprev, iprev;
    PrevState(has1, has2, has1 ? Load(v1 + j) : zero, has2 ? Load(v2 + j) : zero,
              has2 ? zero : Load(v0 + j), has1 ? zero : Load(i0 + j), tv, bv,
              &vprev, &iprev);
    const V sbs = sb * Load(sg + j);
    const V g_v = bv * Load(gv + j) * keep + sbs;
    const V g_i = g_v + Load(al + j) * Load(gi_next + j);
    Store(aa + j, Load(aa + j) + g_i * iprev);
    Store(ab + j, Load(ab + j) + g_v * vprev);
    Store(at + j, Load(at + j) + sbs);
    Store(gv + j, g_v);
    Store(gi_new + j, g_i);
    Store(gh + j, g_i);
  }
  for (; j < nc; ++j) {
    const T sb = sb_rec != nullptr ? ct[j] + sb_rec[j] : ct[j];
    const T keep = vt[j] - th[j] > T(0) ? T(0) : T(1);
    T vprev, iprev;
    if (!has1) {
      vprev = v0[j], iprev = i0[j];
    } else {
      vprev = v1[j] - th[j] > T(0) ? T(0) : v1[j];
      const T vpp = has2 ? (v2[j] - th[j] > T(0) ? T(0) : v2[j]) : v0[j];
      iprev = v1[j] - be[j] * vpp;
    }
    const T sbs = sb * sg[j];
    const T g_v = be[j] * gv[j] * keep + sbs;
    const T g_i = g_v + al[j] * gi_next[j];
    aa[j] = aa[j] + g_i * iprev;
    ab[j] = ab[j] + g_v * vprev;
    at[j] = at[j] + sbs;
    gv[j] = g_v;
    gi_new[j] = g_i;
    gh[j] = g_i;
  }
}

// acc[0:MR][0:kPanel] = G[0:MR, 0:n] (row stride n) @ panel (n x kPanel).
template <typename T, int MR>
BRAINSIM_INLINE void PanelProduct(const T* __restrict g, int64_t n,
                                  const T* __restrict panel, T* __restrict out) {
  using V = typename Vec<T>::type;
  constexpr int64_t L = 32 / sizeof(T);
  V c0[MR], c1[MR];
  for (int m = 0; m < MR; ++m) c0[m] = V{}, c1[m] = V{};
  for (int64_t j = 0; j < n; ++j) {
    const V b0 = Load(panel + j * kPanel<T>), b1 = Load(panel + j * kPanel<T> + L);
#pragma GCC unroll 8
    for (int m = 0; m < MR; ++m) {
      const T a = g[m * n + j];
      c0[m] += a * b0;
      c1[m] += a * b1;
    }
  }
  for (int m = 0; m < MR; ++m) {
    Store(out + m * kPanel<T>, c0[m]);
    Store(out + m * kPanel<T> + L, c1[m]);
  }
}

#define BRAINSIM_BWD_ENTRY(T)                                                  \
  BRAINSIM_CLONES void LifBwdRowsF(                                            \
      const T* ct, const T* sg, const T* vt, const T* wt, const T* al,         \
      const T* be, const T* th, const T* i0, const T* v0, T* gh, T* aa, T* ab, \
      T* at, T* gv0, int64_t Tn, int64_t R, int64_t n, int64_t r0,             \
      int64_t r1) {                                                            \
    const int64_t nr = r1 - r0, P = kPanel<T>, step = R * n;                   \
    const int64_t np = (n + P - 1) / P;                                        \
    /* the per-row state and sums, staggered; copied out at the end */        \
    Staggered<T> st(6, nr * n);                                                \
    T* gi_next = st[0];                                                        \
    T* gi_new = st[1];                                                         \
    T *gv = st[2], *sa = st[3], *sb = st[4], *su = st[5];                      \
    alignas(64) T sbuf[kMR * kPanel<T>];                                       \
    bool first = true;                                                         \
    for (int64_t t = Tn - 1; t >= 0; --t) {                                    \
      const int64_t o = (t * R + r0) * n;                                      \
      /* serpentine over the panels of W^T, as in LifRowsF */                 \
      for (int64_t pi = 0; pi < np; ++pi) {                                    \
        const int64_t p = (t & 1) ? np - 1 - pi : pi;                          \
        const int64_t c0 = p * P, nc = std::min(P, n - c0);                    \
        for (int64_t m0 = 0; m0 < nr; m0 += kMR) {                             \
          const int64_t mr = std::min<int64_t>(kMR, nr - m0);                  \
          const bool rec = wt != nullptr && !first;                            \
          if (rec) {                                                           \
            const T* g = gi_next + m0 * n;                                     \
            const T* pn = wt + c0 * n;                                         \
            switch (mr) {                                                      \
              case 6: PanelProduct<T, 6>(g, n, pn, sbuf); break;               \
              case 5: PanelProduct<T, 5>(g, n, pn, sbuf); break;               \
              case 4: PanelProduct<T, 4>(g, n, pn, sbuf); break;               \
              case 3: PanelProduct<T, 3>(g, n, pn, sbuf); break;               \
              case 2: PanelProduct<T, 2>(g, n, pn, sbuf); break;               \
              default: PanelProduct<T, 1>(g, n, pn, sbuf); break;              \
            }                                                                  \
          }                                                                    \
          for (int64_t m = 0; m < mr; ++m) {                                   \
            const int64_t l = m0 + m, e = o + l * n + c0, q = l * n + c0;      \
            /* the lines the next step reads first (ct, sg and vt three steps \
               back; the rest is in cache): a whole step ahead, since its     \
               4 KiB-strided walk defeats the hardware prefetcher */          \
            for (int64_t b = 0; b < nc; b += 64 / int64_t{sizeof(T)}) {        \
              if (t >= 1) Prefetch(ct + e - step + b), Prefetch(sg + e - step + b); \
              if (t >= 3) Prefetch(vt + e - 3 * step + b);                     \
            }                                                                  \
            BwdUpdate(rec ? sbuf + m * P : nullptr, ct + e, sg + e, vt + e,    \
                      t >= 1 ? vt + e - step : nullptr,                        \
                      t >= 2 ? vt + e - 2 * step : nullptr, v0 + r0 * n + q,   \
                      i0 + r0 * n + q, th + c0, al + c0, be + c0, gi_next + q, \
                      gi_new + q, gv + q, sa + q, sb + q, su + q, gh + e, nc); \
          }                                                                    \
        }                                                                      \
      }                                                                        \
      std::swap(gi_next, gi_new);                                              \
      first = false;                                                           \
    }                                                                          \
    std::copy(gv, gv + nr * n, gv0 + r0 * n);                                  \
    std::copy(sa, sa + nr * n, aa + r0 * n);                                   \
    std::copy(sb, sb + nr * n, ab + r0 * n);                                   \
    std::copy(su, su + nr * n, at + r0 * n);                                   \
  }
BRAINSIM_BWD_ENTRY(float)
BRAINSIM_BWD_ENTRY(double)
#undef BRAINSIM_BWD_ENTRY

template <typename T>
static void LifScanBwd(ffi::ThreadPool& pool, const T* ct, const T* sg,
                       const T* vt, const T* wt, const T* al, const T* be,
                       const T* th, const T* i0, const T* v0, T* gh, T* aa,
                       T* ab, T* at, T* gv0, int64_t Tn, int64_t R, int64_t n) {
  const int64_t work = Tn * R * n * (wt != nullptr ? n : 8);
  // Whole tiles of kMR rows per thread where possible.
  const int64_t parts = Parts(pool, work, (R + kMR - 1) / kMR);
  ParallelFor(pool, parts, [&](int64_t k) {
    const int64_t tiles = (R + kMR - 1) / kMR;
    const int64_t r0 = std::min(R, tiles * k / parts * kMR);
    const int64_t r1 = std::min(R, tiles * (k + 1) / parts * kMR);
    if (r1 > r0)
      LifBwdRowsF(ct, sg, vt, wt, al, be, th, i0, v0, gh, aa, ab, at, gv0, Tn,
                  R, n, r0, r1);
  });
}

// h (T, ..., n) [rows R = product of the middle dims]; wp packed
// (ceil(n / kBlock), n, kBlock) when has_rec (else ignored); alpha, beta,
// theta (n,); i0, v0, s0 with R * n elements.  Returns s and the pre-reset
// V~, shaped like h.
static ffi::Error LifScanImpl(ffi::ThreadPool pool, ffi::AnyBuffer h,
                              ffi::AnyBuffer wp, ffi::AnyBuffer al,
                              ffi::AnyBuffer be, ffi::AnyBuffer th,
                              ffi::AnyBuffer i0, ffi::AnyBuffer v0,
                              ffi::AnyBuffer s0, ffi::Result<ffi::AnyBuffer> so,
                              ffi::Result<ffi::AnyBuffer> vto, bool has_rec) {
  auto hd = h.dimensions();
  if (hd.size() < 2)
    return ffi::Error::InvalidArgument("brainsim lif_scan: h must be (T, ..., n)");
  const int64_t Tn = hd[0], n = hd[hd.size() - 1];
  const int64_t R = Prod(hd, 1, hd.size() - 1);
  const auto dt = h.element_type();
  const int64_t kb = dt == ffi::DataType::F64 ? kBlock<double> : kBlock<float>;
  for (auto* b : {&al, &be, &th})
    if (b->element_count() != static_cast<size_t>(n) || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan: bad alpha/beta/theta");
  for (auto* b : {&i0, &v0, &s0})
    if (b->element_count() != static_cast<size_t>(R * n) || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan: bad initial state");
  if (has_rec) {
    auto wd = wp.dimensions();
    if (wd.size() != 3 || wd[0] != (n + kb - 1) / kb || wd[1] != n || wd[2] != kb ||
        wp.element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan: bad packed w_rec");
  }
  for (auto* o : {&so, &vto})
    if ((*o)->element_count() != h.element_count() || (*o)->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan: bad outputs");
  for (auto* o : {&so, &vto})
    HugePageHint((*o)->untyped_data(), (*o)->size_bytes());
#define BRAINSIM_CALL(T)                                                      \
  LifScan<T>(pool, static_cast<const T*>(h.untyped_data()),                   \
             has_rec ? static_cast<const T*>(wp.untyped_data()) : nullptr,    \
             static_cast<const T*>(al.untyped_data()),                        \
             static_cast<const T*>(be.untyped_data()),                        \
             static_cast<const T*>(th.untyped_data()),                        \
             static_cast<const T*>(i0.untyped_data()),                        \
             static_cast<const T*>(v0.untyped_data()),                        \
             static_cast<const T*>(s0.untyped_data()),                        \
             static_cast<T*>(so->untyped_data()),                             \
             static_cast<T*>(vto->untyped_data()), Tn, R, n)
  if (dt == ffi::DataType::F32) {
    BRAINSIM_CALL(float);
  } else if (dt == ffi::DataType::F64) {
    BRAINSIM_CALL(double);
  } else {
    return ffi::Error::InvalidArgument("brainsim lif_scan: float32/64 only");
  }
#undef BRAINSIM_CALL
  return ffi::Error::Success();
}


// ct, sg, vt (T, ..., n) [R rows]; wt: W^T packed in panels
// (ceil(n / kPanel), n, kPanel) when has_rec (else ignored); alpha, beta,
// theta (n,); i0, v0 (R * n).  Returns g_h (T, ..., n; may alias sg) and, per
// row, acc_a, acc_b, acc_t and the final gV (R * n elements each).
static ffi::Error LifScanBwdImpl(
    ffi::ThreadPool pool, ffi::AnyBuffer ct, ffi::AnyBuffer sg, ffi::AnyBuffer vt,
    ffi::AnyBuffer wt, ffi::AnyBuffer al, ffi::AnyBuffer be, ffi::AnyBuffer th,
    ffi::AnyBuffer i0, ffi::AnyBuffer v0, ffi::Result<ffi::AnyBuffer> gh,
    ffi::Result<ffi::AnyBuffer> aa, ffi::Result<ffi::AnyBuffer> ab,
    ffi::Result<ffi::AnyBuffer> at, ffi::Result<ffi::AnyBuffer> gv0,
    bool has_rec) {
  auto cd = ct.dimensions();
  if (cd.size() < 2)
    return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: ct must be (T, ..., n)");
  const int64_t Tn = cd[0], n = cd[cd.size() - 1];
  const int64_t R = Prod(cd, 1, cd.size() - 1);
  const auto dt = ct.element_type();
  const int64_t P = dt == ffi::DataType::F64 ? kPanel<double> : kPanel<float>;
  for (auto* b : {&sg, &vt})
    if (b->element_count() != ct.element_count() || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad residuals");
  for (auto* b : {&al, &be, &th})
    if (b->element_count() != static_cast<size_t>(n) || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad alpha/beta/theta");
  for (auto* b : {&i0, &v0})
    if (b->element_count() != static_cast<size_t>(R * n) || b->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad initial state");
  if (has_rec) {
    auto wd = wt.dimensions();
    if (wd.size() != 3 || wd[0] != (n + P - 1) / P || wd[1] != n || wd[2] != P ||
        wt.element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad packed w_rec^T");
  }
  if (gh->element_count() != ct.element_count() || gh->element_type() != dt)
    return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad g_h");
  for (auto* o : {&aa, &ab, &at, &gv0})
    if ((*o)->element_count() != static_cast<size_t>(R * n) || (*o)->element_type() != dt)
      return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: bad outputs");
  if (gh->untyped_data() != sg.untyped_data())
    HugePageHint(gh->untyped_data(), gh->size_bytes());
#define BRAINSIM_CALL(T)                                                      \
  LifScanBwd<T>(pool, static_cast<const T*>(ct.untyped_data()),               \
                static_cast<const T*>(sg.untyped_data()),                     \
                static_cast<const T*>(vt.untyped_data()),                     \
                has_rec ? static_cast<const T*>(wt.untyped_data()) : nullptr, \
                static_cast<const T*>(al.untyped_data()),                     \
                static_cast<const T*>(be.untyped_data()),                     \
                static_cast<const T*>(th.untyped_data()),                     \
                static_cast<const T*>(i0.untyped_data()),                     \
                static_cast<const T*>(v0.untyped_data()),                     \
                static_cast<T*>(gh->untyped_data()),                          \
                static_cast<T*>(aa->untyped_data()),                          \
                static_cast<T*>(ab->untyped_data()),                          \
                static_cast<T*>(at->untyped_data()),                          \
                static_cast<T*>(gv0->untyped_data()), Tn, R, n)
  if (dt == ffi::DataType::F32) {
    BRAINSIM_CALL(float);
  } else if (dt == ffi::DataType::F64) {
    BRAINSIM_CALL(double);
  } else {
    return ffi::Error::InvalidArgument("brainsim lif_scan_bwd: float32/64 only");
  }
#undef BRAINSIM_CALL
  return ffi::Error::Success();
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifScan(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimLifScanBwd(XLA_FFI_CallFrame*);

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifScan, LifScanImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()   // h
                                  .Arg<ffi::AnyBuffer>()   // packed w_rec
                                  .Arg<ffi::AnyBuffer>()   // alpha
                                  .Arg<ffi::AnyBuffer>()   // beta
                                  .Arg<ffi::AnyBuffer>()   // theta
                                  .Arg<ffi::AnyBuffer>()   // i0
                                  .Arg<ffi::AnyBuffer>()   // v0
                                  .Arg<ffi::AnyBuffer>()   // s0
                                  .Ret<ffi::AnyBuffer>()   // s
                                  .Ret<ffi::AnyBuffer>()   // pre-reset V~
                                  .Attr<bool>("has_rec"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimLifScanBwd, LifScanBwdImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()   // ct
                                  .Arg<ffi::AnyBuffer>()   // sg
                                  .Arg<ffi::AnyBuffer>()   // pre-reset V~
                                  .Arg<ffi::AnyBuffer>()   // packed w_rec^T
                                  .Arg<ffi::AnyBuffer>()   // alpha
                                  .Arg<ffi::AnyBuffer>()   // beta
                                  .Arg<ffi::AnyBuffer>()   // theta
                                  .Arg<ffi::AnyBuffer>()   // i0
                                  .Arg<ffi::AnyBuffer>()   // v0
                                  .Ret<ffi::AnyBuffer>()   // g_h
                                  .Ret<ffi::AnyBuffer>()   // acc_a
                                  .Ret<ffi::AnyBuffer>()   // acc_b
                                  .Ret<ffi::AnyBuffer>()   // acc_t
                                  .Ret<ffi::AnyBuffer>()   // gV at t = 0
                                  .Attr<bool>("has_rec"));
