// brainsim native CPU kernels: an inlineable, branch-free expm1 for float and
// double, so that loops calling it vectorise (std::expm1 is a libm call).
//
// Method.  x is clamped to [lo, hi] (lo: expm1 rounds to -1 below it; hi: just
// past the overflow threshold, so x >= ln(max) gives +inf), then reduced:
//   x = k ln2 + r + c,  k = round(x / ln2),  |r| <= ln2 / 2 (+ rounding),
// with k rounded by the 1.5 * 2^p shift trick (its low bits are k), r =
// (x - k ln2_hi) - k ln2_lo (ln2_hi has enough trailing zero bits that k ln2_hi
// is exact, and so is the first difference) and c that sum's rounding error.
// On |r| <= 0.347,
//   p = expm1(r + c) = r + r^2 / 2 + r^3 (1/3! + r/4! + ... + r^(n-3)/n!) + c (1 + r)
// (Taylor to degree n = 13 for double, 8 for float: the next term is below
// 0.1 ulp of p).  Then, with s = 2^(k-1) built from its bits,
//   expm1(x) = 2^k (p + 1) - 1 = 2 (s p + (s - 1/2)),
// where the products by s and the doubling are exact, s - 1/2 is exact for
// |k| <= 53 (24 for float) and negligible beyond, and the sum is ordered to
// round least (see Expm1); k = 0 gives p itself (r = x, c = 0), which keeps the
// relative accuracy of small |x|, subnormal x included.  NaN propagates; -inf
// gives -1.  Branch-free (selects only), so GCC vectorises loops calling it.
//
// Measured maximum error against expm1l (tests/native/kernel_units.cc,
// TestExpm1: 4M-point sweeps of [lo - 5, hi] and of |x| in [1e-30, 1], both
// signs): 1.26 ulp for float, 1.18 ulp for double (the C library: 0.78, 0.85),
// the same in the AVX2 + FMA build, where GCC may contract products into FMAs;
// the test asserts <= 2 ulp.

#ifndef BRAINSIM_FAST_MATH_H_
#define BRAINSIM_FAST_MATH_H_

#include <cstdint>

namespace brainsim_math {

template <typename T>
struct Expm1Consts;

template <>
struct Expm1Consts<double> {
  using Bits = uint64_t;
  static constexpr int kMant = 52, kBias = 1023, kDegree = 13;
  static constexpr double kLo = -45.0;   // e^-45 < 2^-54: expm1 rounds to -1
  static constexpr double kHi = 710.0;   // past ln(DBL_MAX) = 709.78
  static constexpr double kShift = 0x1.8p52;
  static constexpr double kLog2e = 0x1.71547652b82fep0;
  static constexpr double kLn2Hi = 0x1.62e42fefa38p-1;  // 42 significant bits
  static constexpr double kLn2Lo = 0x1.ef35793c7673p-45;
};

template <>
struct Expm1Consts<float> {
  using Bits = uint32_t;
  static constexpr int kMant = 23, kBias = 127, kDegree = 8;
  static constexpr float kLo = -20.0f;  // e^-20 < 2^-25: expm1 rounds to -1
  static constexpr float kHi = 89.0f;   // past ln(FLT_MAX) = 88.72
  static constexpr float kShift = 0x1.8p23f;
  static constexpr float kLog2e = 0x1.715476p0f;
  static constexpr float kLn2Hi = 0x1.62e4p-1f;  // 16 significant bits
  static constexpr float kLn2Lo = 0x1.7f7d1cp-20f;
};

// 1/n! rounded to T, n = 3..kDegree (the Taylor coefficients of (p - r - r^2/2) / r^3).
template <typename T, int n>
constexpr T InvFactorial() {
  long double f = 1;
  for (int j = 2; j <= n; ++j) f *= j;
  return static_cast<T>(1.0L / f);
}

// (expm1(r) - r - r^2/2) / r^3 by Horner, coefficients 1/3! .. 1/kDegree!.
template <typename T, int n, int kDegree>
inline __attribute__((always_inline)) T TaylorTail(T r) {
  if constexpr (n == kDegree)
    return InvFactorial<T, n>();
  else
    return InvFactorial<T, n>() + r * TaylorTail<T, n + 1, kDegree>(r);
}

// expm1(x) for T = float or double, branch-free; see the top of the file.
template <typename T>
inline __attribute__((always_inline)) T Expm1(T x) {
  using C = Expm1Consts<T>;
  using Bits = typename C::Bits;
  x = x < C::kLo ? C::kLo : x;  // comparisons false for NaN: it passes through
  x = x > C::kHi ? C::kHi : x;
  const T t = x * C::kLog2e + C::kShift;  // round to nearest: k in the low bits
  const T kf = t - C::kShift;
  const T rh = x - kf * C::kLn2Hi;  // exact
  const T klo = kf * C::kLn2Lo;
  const T r = rh - klo;
  const T c = (rh - r) - klo;  // r + c = rh - klo to ~2^-100 (2^-46 for float)
  const T r2 = r * r;
  // expm1(r + c) - r, to second order in c (|c| <= ulp(r) / 2).
  const T tail = (T(0.5) * r2 + r2 * r * TaylorTail<T, 3, C::kDegree>(r)) + (c + c * r);
  const Bits kb = __builtin_bit_cast(Bits, t) - __builtin_bit_cast(Bits, T(C::kShift));  // k
  const T s = __builtin_bit_cast(T, (kb + Bits(C::kBias - 1)) << C::kMant);  // 2^(k-1)
  // 2^k (p + 1) - 1 = 2 (s p + (s - 1/2)), p = r + tail, summed in the order
  // that rounds least: for |k| = 1, (s - 1/2) + s r first (exact for k = 1,
  // r < -1/4: Sterbenz), else p first (its rounding, scaled by s, is small next
  // to s - 1/2); k = 0 is p itself (s r would flush a subnormal r).
  const T p = r + tail;
  const T near = ((s - T(0.5)) + s * r) + s * tail;
  const T far = s * p + (s - T(0.5));
  // (kf * kf == 1, not kf == 1 || kf == -1: a short circuit is a branch.)
  const T y = T(2) * (kf * kf == T(1) ? near : far);
  return kf == T(0) ? p : y;
}

}  // namespace brainsim_math

#endif  // BRAINSIM_FAST_MATH_H_
