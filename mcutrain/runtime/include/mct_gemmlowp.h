/* mct_gemmlowp.h: TFLite Micro's fixed-point requantization (gemmlowp style), for graphs read
 * from a .tflite file (attrs rounding="tflm"). Mirrors mcutrain/ops/gemmlowp.py, which is the
 * specification; the project's own single rounding is mct_fixedpoint.h.
 *
 * A real multiplier M is (mult, shift) with M ~= mult * 2^(shift - 31), as in mct_fixedpoint.h.
 *     mbqm(x, mult, shift) = rdbpot(srdhm(x * 2^max(shift, 0), mult), max(-shift, 0))
 *     srdhm(a, b)  = (a * b + nudge) / 2^31 truncated toward 0, nudge = 2^30 (ab >= 0) or
 *                    1 - 2^30: round(a b / 2^31) with ties away from zero
 *     rdbpot(x, e) = x / 2^e rounded to nearest, ties away from zero
 * Two roundings, so a result can differ by one from the single rounding of mct_requantize.
 *
 * Value ranges: TFLite Micro computes in int32 and requires x * 2^max(shift, 0) to fit it;
 * these functions widen to 64 bits exactly as the NumPy reference does (its int64 arrays),
 * so the two agree bit for bit on every int32 x and every shift in [-31, 30].
 */
#ifndef MCT_GEMMLOWP_H
#define MCT_GEMMLOWP_H

#include <stdint.h>

/* round(a * b / 2^31), ties away from zero; srdhm(INT32_MIN, INT32_MIN) saturates to INT32_MAX.
 * The product wraps modulo 2^64 like NumPy's int64 (only reachable when |a| >= 2^32, i.e.
 * outside TFLite's int32 domain); the unsigned arithmetic keeps that wrap defined in C. */
static inline int64_t mct_srdhm(int64_t a, int64_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t ab = (int64_t)((uint64_t)a * (uint64_t)b);
  const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
  const int64_t t = (int64_t)((uint64_t)ab + (uint64_t)nudge);
  if (t == INT64_MIN) return (int64_t)1 << 32; /* NumPy: -(|t| // 2^31) with |t| = t */
  return t / ((int64_t)1 << 31);               /* C division truncates toward zero */
}

/* x / 2^e rounded half away from zero, 0 <= e <= 62: the arithmetic shift floors, and the
 * remainder (x mod 2^e, in [0, 2^e)) rounds up when above half (at half too for x < 0). */
static inline int64_t mct_rdbpot(int64_t x, int32_t e) {
  const int64_t mask = ((int64_t)1 << e) - 1;
  const int64_t rem = x & mask;
  const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > threshold ? 1 : 0);
}

/* srdhm of two int32 (TFLite's own domain): one 32 x 32 -> 64 multiply (SMULL on a
 * Cortex-M), |a b + nudge| < 2^63, and the result fits int32. */
static inline int32_t mct__srdhm32(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* rdbpot of an int32, 0 <= e <= 31 (as mct_rdbpot). */
static inline int32_t mct__rdbpot32(int32_t x, int32_t e) {
  const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
  const int32_t rem = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > threshold ? 1 : 0);
}

/* TFLite Micro's MultiplyByQuantizedMultiplier: x * M with two roundings (see above).
 * The left shift is a multiply (shifting a negative value left is undefined in C). When
 * x * 2^left fits int32 (always, in TFLite's domain) everything stays 32-bit but the one
 * product; otherwise the 64-bit forms follow the reference's int64 arithmetic. */
static inline int64_t mct_mbqm_tflm(int32_t x, int32_t mult, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  const int64_t a = (int64_t)x * ((int64_t)1 << left);
  if (a >= INT32_MIN && a <= INT32_MAX && right <= 31)
    return mct__rdbpot32(mct__srdhm32((int32_t)a, mult), right);
  return mct_rdbpot(mct_srdhm(a, mult), right);
}

#endif
