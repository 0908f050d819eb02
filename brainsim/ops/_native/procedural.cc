// brainsim native CPU kernels: procedural ("just-in-time") connectivity.
//
// No synapse is stored.  The k targets t_ic and weight factors r_ic of
// presynaptic neuron i are regenerated from a counter-based hash (uint32
// arithmetic only; the same definition as brainsim/ops/procedural.py, which
// is the reference and must stay bit-identical):
//
//   mix(x)   = lowbias32 (x ^= x>>16; x *= 0x7feb352d; x ^= x>>15;
//                         x *= 0x846ca68b; x ^= x>>16)
//   rho_i    = mix(mix(i ^ s0) + s1)
//   h_icq    = mix(rho_i ^ mix(2c + q + 0x9e3779b9))   q = 0 target, 1 weight
//   t_ic     = mulhi(h_ic0, m)         m = n_post (or n_post - 1, then
//                                      t += (t >= i): no self-synapse)
//   r_ic     = table[h_ic1 >> 16]      (float32 quantiles; 1 if unweighted)
//
// BrainsimProceduralEvent:  out[b, j] = sum_i s[b, i] sum_c r_ic [t_ic = j]
//   (rows with s == 0 skipped; accumulation order: rows ascending, then c)
// BrainsimProceduralGather: out[b, i] = sum_c r_ic ct[b, t_ic]
//
// Operands: spikes/ct T[..., n], table f32[..., 2^16] (leading dims: copies),
// seed u32[..., 2] (the words s0, s1), out T[..., n_out]; the leading dims of
// spikes/ct and out hold the same number of elements (a batch, however
// jax.ffi's vmap presents it), a multiple of the number of seeds: seed g
// serves the g-th equal, consecutive part of the batch (one seed for all, or
// one per network of a batch vmapped over network seeds).
// T = float32 or float64.  Stateless, safe to call concurrently.

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "event_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

inline uint32_t Mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

struct Rule {
  uint32_t s0, s1, m;
  bool skip_self;
  const float* table;  // nullptr: r = 1
  // mix(2c + q + golden) for c < k, q = 0, 1: on the stack for k <= kSmall (no
  // allocation per call), on the heap beyond.
  static constexpr int64_t kSmall = 256;
  uint32_t small[2 * kSmall];
  std::vector<uint32_t> big;
  uint32_t* ctr_t;
  uint32_t* ctr_w;

  Rule(int64_t k, int64_t seed0, int64_t seed1, int64_t n_post, bool skip,
       const float* tab)
      : s0(static_cast<uint32_t>(seed0)),
        s1(static_cast<uint32_t>(seed1)),
        m(static_cast<uint32_t>(skip ? n_post - 1 : n_post)),
        skip_self(skip),
        table(tab) {
    uint32_t* base = small;
    if (k > kSmall) {
      big.resize(2 * k);
      base = big.data();
    }
    ctr_t = base;
    ctr_w = base + (k > kSmall ? k : kSmall);
    for (int64_t c = 0; c < k; ++c) {
      const uint32_t c2 = static_cast<uint32_t>(c) * 2U;
      ctr_t[c] = Mix(c2 + 0x9e3779b9U);
      ctr_w[c] = Mix(c2 + 1U + 0x9e3779b9U);
    }
  }

  Rule(const Rule&) = delete;  // ctr_t/ctr_w may point into `small`
  Rule& operator=(const Rule&) = delete;

  inline uint32_t Row(uint32_t i) const { return Mix(Mix(i ^ s0) + s1); }

  inline uint32_t Target(uint32_t rho, int64_t c, uint32_t i) const {
    const uint32_t h = Mix(rho ^ ctr_t[c]);
    uint32_t t = static_cast<uint32_t>((static_cast<uint64_t>(h) * m) >> 32);
    if (skip_self) t += (t >= i);
    return t;
  }

  inline float Factor(uint32_t rho, int64_t c) const {
    return table[Mix(rho ^ ctr_w[c]) >> 16];
  }
};

// Targets are generated a block at a time (a loop without memory dependences,
// which the compiler can vectorise), then scattered.
template <typename T>
inline void EventRow(const Rule& rule, int64_t k, uint32_t i, T si, T* out) {
  constexpr int64_t kB = 64;
  uint32_t t[kB];
  const uint32_t rho = rule.Row(i);
  for (int64_t c0 = 0; c0 < k; c0 += kB) {
    const int64_t nb = k - c0 < kB ? k - c0 : kB;
    for (int64_t c = 0; c < nb; ++c) t[c] = rule.Target(rho, c0 + c, i);
    if (rule.table == nullptr) {
      for (int64_t c = 0; c < nb; ++c) out[t[c]] += si;
    } else {
      for (int64_t c = 0; c < nb; ++c)
        out[t[c]] += si * static_cast<T>(rule.Factor(rho, c0 + c));
    }
  }
}

template <typename T>
void Event(const Rule& rule, int64_t k, const T* s, int64_t n_pre, T* out,
           int64_t n_post) {
  std::memset(out, 0, sizeof(T) * n_post);
  // Nothing to prefetch: the synapses of a row are generated, not loaded.
  brainsim_native::ForEachActiveRow(s, n_pre, [](int64_t) {}, [&](int64_t i) {
    EventRow<T>(rule, k, static_cast<uint32_t>(i), s[i], out);
    return true;
  });
}

template <typename T>
void Gather(const Rule& rule, int64_t k, const T* ct, int64_t n_post,
            int64_t batch, T* out, int64_t n_pre) {
  std::vector<uint32_t> t(k);
  std::vector<T> r(k, T(1));
  for (int64_t i = 0; i < n_pre; ++i) {
    const uint32_t rho = rule.Row(static_cast<uint32_t>(i));
    for (int64_t c = 0; c < k; ++c) {
      t[c] = rule.Target(rho, c, static_cast<uint32_t>(i));
      if (rule.table != nullptr) r[c] = static_cast<T>(rule.Factor(rho, c));
    }
    for (int64_t b = 0; b < batch; ++b) {
      const T* cb = ct + b * n_post;
      T acc = T(0);
      for (int64_t c = 0; c < k; ++c) acc += r[c] * cb[t[c]];
      out[b * n_pre + i] = acc;
    }
  }
}

int64_t Leading(ffi::Span<const int64_t> dims) {
  int64_t n = 1;
  for (size_t d = 0; d + 1 < dims.size(); ++d) n *= dims[d];
  return n;
}

template <bool kGather>
ffi::Error Impl(ffi::AnyBuffer x, ffi::AnyBuffer table, ffi::AnyBuffer seed,
                ffi::Result<ffi::AnyBuffer> out, int64_t k, bool skip_self,
                bool weighted) {
  const auto xd = x.dimensions();
  const auto od = out->dimensions();
  if (xd.size() == 0 || od.size() == 0 || Leading(xd) != Leading(od))
    return ffi::Error::InvalidArgument("brainsim procedural: batch shapes differ");
  const int64_t batch = Leading(xd);
  const int64_t n_x = xd[xd.size() - 1], n_o = od[od.size() - 1];
  const int64_t n_pre = kGather ? n_o : n_x, n_post = kGather ? n_x : n_o;
  if (k < 0 || n_post < (skip_self ? 2 : 1) || n_post >= (int64_t(1) << 31) ||
      n_pre >= (int64_t(1) << 31))
    return ffi::Error::InvalidArgument("brainsim procedural: bad sizes");
  if (table.element_type() != ffi::DataType::F32 ||
      (weighted && table.dimensions()[table.dimensions().size() - 1] != (1 << 16)))
    return ffi::Error::InvalidArgument("brainsim procedural: bad weight table");
  const int64_t n_seeds = static_cast<int64_t>(seed.element_count()) / 2;
  if (seed.element_type() != ffi::DataType::U32 || n_seeds < 1 ||
      static_cast<int64_t>(seed.element_count()) != 2 * n_seeds ||
      batch % n_seeds)
    return ffi::Error::InvalidArgument(
        "brainsim procedural: seed must be uint32[..., 2], the number of seeds "
        "dividing the batch");
  const ffi::DataType dt = x.element_type();
  if (out->element_type() != dt)
    return ffi::Error::InvalidArgument("brainsim procedural: dtypes differ");
  const uint32_t* words = static_cast<const uint32_t*>(seed.untyped_data());
  const float* tab =
      weighted ? static_cast<const float*>(table.untyped_data()) : nullptr;
  const int64_t per = batch / n_seeds;  // batch rows per seed
  auto run = [&](auto zero) {
    using T = decltype(zero);
    const T* xp = static_cast<const T*>(x.untyped_data());
    T* op = static_cast<T*>(out->untyped_data());
    for (int64_t g = 0; g < n_seeds; ++g) {
      const Rule rule(k, words[2 * g], words[2 * g + 1], n_post, skip_self,
                      tab);
      if constexpr (kGather) {
        Gather<T>(rule, k, xp + g * per * n_post, n_post, per,
                  op + g * per * n_pre, n_pre);
      } else {
        for (int64_t b = g * per; b < (g + 1) * per; ++b)
          Event<T>(rule, k, xp + b * n_pre, n_pre, op + b * n_post, n_post);
      }
    }
  };
  switch (dt) {
    case ffi::DataType::F32:
      run(float(0));
      break;
    case ffi::DataType::F64:
      run(double(0));
      break;
    default:
      return ffi::Error::InvalidArgument(
          "brainsim procedural: only float32/float64 are supported");
  }
  return ffi::Error::Success();
}

ffi::Error EventImpl(ffi::AnyBuffer x, ffi::AnyBuffer table,
                     ffi::AnyBuffer seed, ffi::Result<ffi::AnyBuffer> out,
                     int64_t k, bool skip_self, bool weighted) {
  return Impl<false>(x, table, seed, out, k, skip_self, weighted);
}

ffi::Error GatherImpl(ffi::AnyBuffer x, ffi::AnyBuffer table,
                      ffi::AnyBuffer seed, ffi::Result<ffi::AnyBuffer> out,
                      int64_t k, bool skip_self, bool weighted) {
  return Impl<true>(x, table, seed, out, k, skip_self, weighted);
}

}  // namespace

#define BRAINSIM_EXPORT extern "C" __attribute__((visibility("default")))
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimProceduralEvent(XLA_FFI_CallFrame*);
BRAINSIM_EXPORT XLA_FFI_Error* BrainsimProceduralGather(XLA_FFI_CallFrame*);

#define BRAINSIM_PROCEDURAL_BINDING           \
  ffi::Ffi::Bind()                            \
      .Arg<ffi::AnyBuffer>()   /* x */        \
      .Arg<ffi::AnyBuffer>()   /* table */    \
      .Arg<ffi::AnyBuffer>()   /* seed */     \
      .Ret<ffi::AnyBuffer>()   /* out */      \
      .Attr<int64_t>("k")                     \
      .Attr<bool>("skip_self")                \
      .Attr<bool>("weighted")

XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimProceduralEvent, EventImpl,
                              BRAINSIM_PROCEDURAL_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(BrainsimProceduralGather, GatherImpl,
                              BRAINSIM_PROCEDURAL_BINDING);
