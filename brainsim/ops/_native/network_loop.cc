// brainsim native CPU kernels: the non-template parts of the generic network
// loop (network_loop.h), instantiated for float and double.

#include "network_loop.h"

#include <algorithm>
#include <string>

#include "event_common.h"

namespace brainsim_net {

namespace {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(BRAINSIM_NO_CLONES)
#define BRAINSIM_NET_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BRAINSIM_NET_CLONES
#endif

// The indices of the nonzero entries of s[0..n) in ascending order, written to
// out, and their values to val; returns their number.  Spikes are rare: blocks
// of 64 without one are skipped by a vectorised bit test, then groups of 8
// within a block.
template <typename T>
inline __attribute__((always_inline)) int64_t CompactBlock(const T* __restrict s, int64_t b,
                                                           int64_t e, int32_t* __restrict out,
                                                           T* __restrict val, int64_t na) {
  for (int64_t c = b; c < e; c += 8) {
    if (c + 8 <= e && !brainsim_native::AnyNonZero<T, 8>(s + c)) continue;
    for (int64_t i = c; i < std::min(c + 8, e); ++i) {
      out[na] = static_cast<int32_t>(i);
      val[na] = s[i];
      na += (s[i] != T(0));
    }
  }
  return na;
}

template <typename T>
BRAINSIM_NET_CLONES int64_t ActiveRows(const T* __restrict s, int64_t n, int32_t* __restrict out,
                                       T* __restrict val) {
  constexpr int64_t kBlock = 64;
  int64_t na = 0;
  const int64_t n_full = n - n % kBlock;
  for (int64_t b = 0; b < n_full; b += kBlock)
    if (brainsim_native::AnyNonZero<T, kBlock>(s + b))
      na = CompactBlock(s, b, b + kBlock, out, val, na);
  return CompactBlock(s, n_full, n, out, val, na);
}

}  // namespace

template <typename T>
ffi::Error PrepareProjections(Loop<T>& sc, const Csr<T>& csr, const NetAttrs& at, int64_t B) {
  auto bad = [](const std::string& what) {
    return ffi::Error::InvalidArgument("brainsim network: " + what);
  };
  const auto &post = at.post, &source = at.source, &homogeneous = at.homogeneous;
  const int64_t P = static_cast<int64_t>(sc.n_of.size());
  const int64_t S = static_cast<int64_t>(sc.src.size()) - P;
  const int64_t Q = static_cast<int64_t>(post.size());
  if (static_cast<int64_t>(source.size()) != Q || static_cast<int64_t>(homogeneous.size()) != Q)
    return bad("bad attributes: one post, source and homogeneous per projection");
  sc.e_off.resize(Q + 1);
  sc.e_off[0] = 0;
  for (int64_t q = 0; q < Q; ++q) {
    if (post[q] < 0 || post[q] >= P || source[q] < 0 || source[q] >= P + S)
      return bad("bad post or source index");
    const int64_t n_pre = csr.indptr[q].count - 1, nnz = csr.indices[q].count;
    if (n_pre < 0 || sc.src_n[source[q]] != B * n_pre ||
        csr.weight[q].count != (homogeneous[q] ? 1 : nnz))
      return bad("connectivity does not match the spikes or the weights");
    sc.e_off[q + 1] = sc.e_off[q] + B * sc.n_of[post[q]];
    brainsim_native::HugePages(csr.indices[q].data, sizeof(int32_t) * nnz);
    if (!homogeneous[q]) brainsim_native::HugePages(csr.weight[q].data, sizeof(T) * nnz);
  }
  if (static_cast<int64_t>(sc.e.size()) < sc.e_off[Q]) sc.e.resize(sc.e_off[Q], T(0));
  return ffi::Error::Success();
}

template <typename T>
void CollectActive(Loop<T>& sc, const NetAttrs& at, int64_t B) {
  const auto& source = at.source;
  const int64_t Q = static_cast<int64_t>(at.post.size());
  const int64_t sources = static_cast<int64_t>(sc.src.size());
  sc.act_beg.assign(sources * B, -1);
  sc.act_end.resize(sources * B);
  int64_t n_act = 0;
  for (int64_t q = 0; q < Q; ++q) {
    const int64_t sidx = source[q];
    if (sc.act_beg[sidx * B] >= 0) continue;
    const int64_t count = sc.src_n[sidx], n_pre = count / B;
    if (static_cast<int64_t>(sc.active.size()) < n_act + count) {
      sc.active.resize(n_act + count);
      sc.value.resize(n_act + count);
    }
    for (int64_t b = 0; b < B; ++b) {
      sc.act_beg[sidx * B + b] = n_act;
      n_act += ActiveRows(sc.src[sidx] + b * n_pre, n_pre, sc.active.data() + n_act,
                          sc.value.data() + n_act);
      sc.act_end[sidx * B + b] = n_act;
    }
  }
}

template <typename T>
void MarkDense(Loop<T>& sc, const Csr<T>& csr, const NetAttrs& at, int64_t B) {
  const auto &post = at.post, &source = at.source;
  const int64_t P = static_cast<int64_t>(sc.n_of.size());
  const int64_t Q = static_cast<int64_t>(post.size());
  sc.dense.resize(P);
  for (int64_t p = 0; p < P; ++p) {
    double events = 0;
    int64_t K = 0;
    for (int64_t q = 0; q < Q; ++q) {
      if (post[q] != p) continue;
      ++K;
      const int64_t n_pre = csr.indptr[q].count - 1;
      const double fan_out = n_pre > 0 ? double(csr.indices[q].count) / double(n_pre) : 0;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t sb = source[q] * B + b;
        events += fan_out * double(sc.act_end[sb] - sc.act_beg[sb]);
      }
    }
    sc.dense[p] = 16 * events >= double(K * B * sc.n_of[p]);
  }
}

#define BRAINSIM_INSTANTIATE(T)                                                          \
  template ffi::Error PrepareProjections<T>(Loop<T>&, const Csr<T>&, const NetAttrs&,    \
                                            int64_t);                                    \
  template void CollectActive<T>(Loop<T>&, const NetAttrs&, int64_t);                    \
  template void MarkDense<T>(Loop<T>&, const Csr<T>&, const NetAttrs&, int64_t);
BRAINSIM_INSTANTIATE(float)
BRAINSIM_INSTANTIATE(double)
#undef BRAINSIM_INSTANTIATE

}  // namespace brainsim_net
