// Unit tests of the native kernels' shared building blocks, without XLA: the
// event sums (AddRowsOf), the spike list (AppendFloat), the fused LIF step
// (lif_step.h) against the equations written out here in long double, the
// inlined expm1 (fast_math.h) against expm1l.  Built
// by `cmake -DBRAINSIM_TESTS=ON` and run by ctest (and under ASan/UBSan by
// .ci/sanitize).  A plain main: it prints each failed check and exits 1.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "event_common.h"
#include "fast_math.h"
#include "lif_step.h"
#include "spike_append.h"

namespace {

int failures = 0;

void Check(bool ok, const char* what, int line) {
  if (!ok) {
    std::printf("FAIL line %d: %s\n", line, what);
    ++failures;
  }
}
#define CHECK(x) Check((x), #x, __LINE__)

// A 64-bit linear congruential generator: the same draws on every platform.
struct Lcg {
  uint64_t s;
  double Uniform() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return double(s >> 11) / double(1ull << 53);
  }
};

// AddRowsOf: out[j] = sum over active rows i of s_i w_ij, for every target
// range [lo, hi) (the network kernel's split), against a double loop; a
// malformed indptr is reported, not read past.
template <typename T, bool kHomo>
void TestAddRows() {
  Lcg rng{7};
  const int64_t n_pre = 150, n_post = 97;
  std::vector<int32_t> indptr{0}, indices;
  std::vector<T> w;
  for (int64_t i = 0; i < n_pre; ++i) {
    for (int64_t j = 0; j < n_post; ++j)
      if (rng.Uniform() < 0.2) {
        indices.push_back(static_cast<int32_t>(j));
        w.push_back(static_cast<T>(rng.Uniform() - 0.3));
      }
    indptr.push_back(static_cast<int32_t>(indices.size()));
  }
  if (kHomo) w.assign(1, T(0.7));
  std::vector<T> s(n_pre);
  std::vector<int32_t> act;
  for (int64_t i = 0; i < n_pre; ++i) {
    s[i] = rng.Uniform() < 0.1 ? T(1) : T(0);  // Poisson-like spikes
    if (s[i] != T(0)) act.push_back(static_cast<int32_t>(i));
  }
  std::vector<double> want(n_post, 0.0);
  for (int32_t i : act)
    for (int32_t q = indptr[i]; q < indptr[i + 1]; ++q)
      want[indices[q]] += double(s[i]) * double(kHomo ? w[0] : w[q]);
  const int64_t nnz = static_cast<int64_t>(indices.size());
  for (int64_t parts : {1, 3}) {
    std::vector<T> out(n_post, T(0));
    for (int64_t k = 0; k < parts; ++k) {
      const int64_t lo = n_post * k / parts, hi = n_post * (k + 1) / parts;
      CHECK((brainsim_native::AddRows<T, kHomo>(indptr.data(), indices.data(), w.data(),
                                                 s.data(), act.data(),
                                                 static_cast<int64_t>(act.size()), nnz,
                                                 out.data(), lo, hi)));
    }
    // 30 terms at most per target: well inside 64 eps relative to the row sums.
    for (int64_t j = 0; j < n_post; ++j)
      CHECK(std::fabs(double(out[j]) - want[j]) <= 64 * 1.2e-7 * (1 + std::fabs(want[j])));
  }
  std::vector<int32_t> bad = indptr;
  bad[act[0] + 1] = static_cast<int32_t>(nnz + 5);  // past the synapses
  std::vector<T> out(n_post, T(0));
  CHECK(!(brainsim_native::AddRows<T, kHomo>(bad.data(), indices.data(), w.data(), s.data(),
                                              act.data(), static_cast<int64_t>(act.size()),
                                              nnz, out.data(), 0, n_post)));
}

// AppendFloat: the positions of the nonzero entries (-0.0 is silent), in
// order, across full 64-blocks and the tail; past the capacity only counted.
template <typename T>
void TestAppend() {
  const int64_t n = 200;
  std::vector<T> x(n, T(0));
  std::vector<int32_t> want;
  for (int64_t i : {0, 5, 63, 64, 130, 191, 199}) {
    x[i] = T(1);
    want.push_back(static_cast<int32_t>(i));
  }
  x[70] = T(-0.0);
  std::vector<int32_t> buf(5, -1);
  const int64_t end = brainsim_native::AppendFloat(x.data(), n, buf.data(), 5, 1);
  CHECK(end == 1 + static_cast<int64_t>(want.size()));
  CHECK(buf[0] == -1);
  for (int k = 0; k < 4; ++k) CHECK(buf[1 + k] == want[k]);
  CHECK(brainsim_native::SaturatedEnd(int64_t{1} << 40) == 2147483647);
}

// The spacing of T at |y| (y a long double reference, rounded to T's binade).
template <typename T>
long double UlpOf(long double y) {
  int e;
  std::frexp(std::fabs(y), &e);  // |y| in [2^(e-1), 2^e)
  const int emin = std::numeric_limits<T>::min_exponent;  // subnormals: fixed spacing
  return std::ldexp(1.0L, std::max(e, emin) - std::numeric_limits<T>::digits);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
// The same function as built into the kernels' AVX2 + FMA clone (contracted).
template <typename T>
__attribute__((target("arch=x86-64-v3"), noinline)) T Expm1V3(T x) {
  return brainsim_math::Expm1(x);
}
#endif

// The largest error in ulp of f against expm1l over x: a dense uniform sweep of
// [lo - 5, hi] (the clamped range and below it; the kernel's a dt <= 0 lies
// mostly in [-50, 0]) and a logarithmic one of |x| in [1e-30, 1] of both signs (the
// relative accuracy of small arguments).
template <typename T, typename F>
double MaxUlp(F f) {
  using C = brainsim_math::Expm1Consts<T>;
  const long double big = std::numeric_limits<T>::max();
  double worst = 0;
  auto at = [&](T x) {
    const long double want = std::expm1l(static_cast<long double>(x));
    if (want > big) {  // past the overflow threshold: +inf
      if (!(f(x) == std::numeric_limits<T>::infinity())) worst = 1e30;
      return;
    }
    const double err = double(std::fabs(static_cast<long double>(f(x)) - want) / UlpOf<T>(want));
    worst = std::max(worst, err == err ? err : 1e30);
  };
  const int64_t m = 4000000;
  for (int64_t j = 0; j <= m; ++j)
    at(static_cast<T>(C::kLo - 5 + (C::kHi - C::kLo + 5) * double(j) / double(m)));
  for (int64_t j = 0; j <= m; ++j) {
    const T x = static_cast<T>(std::pow(10.0, -30.0 + 30.0 * double(j) / double(m)));
    at(x);
    at(-x);
  }
  return worst;
}

// expm1: at most 2 ulp (about three roundings by half an ulp: p, then the two
// sums of the reconstruction, r's own rounding carried in c, plus the Taylor
// truncation below 0.1 ulp; measured: 1.26 for float, 1.18 for double), exact
// specials; the C library's error is printed beside it for comparison.
template <typename T>
void TestExpm1(const char* name) {
  const double base = MaxUlp<T>([](T x) { return brainsim_math::Expm1(x); });
  const double libm = MaxUlp<T>([](T x) { return std::expm1(x); });
  std::printf("expm1<%s>: max %.3f ulp (libm %.3f ulp)", name, base, libm);
  CHECK(base <= 2.0);
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    const double v3 = MaxUlp<T>([](T x) { return Expm1V3(x); });
    std::printf(", x86-64-v3 %.3f ulp", v3);
    CHECK(v3 <= 2.0);
  }
#endif
  std::printf("\n");
  const T inf = std::numeric_limits<T>::infinity();
  CHECK(brainsim_math::Expm1(T(0)) == T(0));
  CHECK(brainsim_math::Expm1(-inf) == T(-1));
  CHECK(brainsim_math::Expm1(inf) == inf);
  CHECK(brainsim_math::Expm1(T(-1e4)) == T(-1));
  CHECK(std::isnan(brainsim_math::Expm1(std::numeric_limits<T>::quiet_NaN())));
  const T tiny = std::numeric_limits<T>::denorm_min();
  CHECK(brainsim_math::Expm1(tiny) == tiny && brainsim_math::Expm1(-tiny) == -tiny);
}

// One fused LIF step of n neurons with one conductance trace, per-neuron
// parameters, exponential Euler with conductances (mode 2), against the
// equations of lif_step.h evaluated in long double; refractory neurons are
// clamped, spikes reset, the countdown restarts.
template <typename T>
void TestLifStep() {
  const int64_t n = 37;
  Lcg rng{11};
  std::vector<T> v(n), g(n), e(n), in(1, T(150)), vo(n), so(n), go(n);
  std::vector<int32_t> ref(n), refo(n), nref(n, 20);
  std::vector<T> gl(n), cm(n, T(200)), vrest(n, T(-60)), vth(n, T(-50)), vreset(n, T(-60)),
      iext(n, T(0)), step(n, T(0.1)), a(n, T(std::exp(-0.1 / 5))), erev(n, T(0)),
      mean(n, T(0.99));
  for (int64_t i = 0; i < n; ++i) {
    v[i] = static_cast<T>(-62 + 14 * rng.Uniform());
    g[i] = static_cast<T>(5 * rng.Uniform());
    e[i] = rng.Uniform() < 0.2 ? T(0.6) : T(0);
    ref[i] = rng.Uniform() < 0.2 ? 3 : 0;
    gl[i] = static_cast<T>(8 + 4 * rng.Uniform());
  }
  brainsim_lif::Args<T> A;
  A.K = 1;
  A.v = v.data(), A.ref = ref.data(), A.in = in.data();
  A.g[0] = g.data(), A.e[0] = e.data(), A.a[0] = a.data(), A.erev[0] = erev.data();
  A.mean[0] = mean.data(), A.mask_cond[0] = T(1), A.mask_cur[0] = T(0);
  A.gl = gl.data(), A.cm = cm.data(), A.vrest = vrest.data(), A.vth = vth.data();
  A.vreset = vreset.data(), A.iext = iext.data(), A.step = step.data(), A.nref = nref.data();
  A.v_out = vo.data(), A.s_out = so.data(), A.ref_out = refo.data(), A.g_out[0] = go.data();
  brainsim_lif::RunPopulation(A, 2, 1, n, 0, n, n, 1);
  int spikes = 0;
  for (int64_t i = 0; i < n; ++i) {
    using L = long double;
    const L gk = L(g[i]) * L(a[i]) + L(e[i]);
    const L G = gk * L(mean[i]), R = G * L(erev[i]);
    const L dv = (L(gl[i]) * (L(vrest[i]) - L(v[i])) + L(iext[i]) + (L(in[0]) + R - G * L(v[i]))) /
                 L(cm[i]);
    const L rate = -(L(gl[i]) + G) / L(cm[i]);
    L x = L(v[i]) + std::expm1(rate * L(step[i])) / rate * dv;
    if (ref[i] != 0) x = L(vreset[i]);
    const bool fire = ref[i] == 0 && x > L(vth[i]);
    spikes += fire;
    if (fire) x = L(vreset[i]);
    const T tol = T(8) * std::numeric_limits<T>::epsilon() * T(64);  // mV near 60 mV
    CHECK(std::fabs(double(go[i]) - double(gk)) <= double(tol));
    CHECK(std::fabs(double(vo[i]) - double(x)) <= double(tol));
    CHECK(so[i] == (fire ? T(1) : T(0)));
    CHECK(refo[i] == (fire ? 20 : std::max(ref[i] - 1, 0)));
  }
  CHECK(spikes > 0 && spikes < n);  // both branches exercised
}

}  // namespace

int main() {
  TestAddRows<float, false>();
  TestAddRows<float, true>();
  TestAddRows<double, false>();
  TestAppend<float>();
  TestAppend<double>();
  TestExpm1<float>("float");
  TestExpm1<double>("double");
  TestLifStep<float>();
  TestLifStep<double>();
  if (failures) {
    std::printf("%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("all kernel unit checks passed\n");
  return 0;
}
