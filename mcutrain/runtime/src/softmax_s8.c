/* softmax_s8.c: TFLite's int8 softmax in gemmlowp's fixed point (inference only).
 * Specification: mcutrain/ops/gemmlowp.py (softmax_int8 and the exp / reciprocal it uses),
 * mirrored function for function. Qm.n: raw = value * 2^(31 - m), values held in int64 as
 * the reference's int64 arrays hold them.
 *
 *   diff  = x - max x (<= 0), scaled to Q5.26 by srdhm(diff * 2^left, input_multiplier)
 *   e     = exp(diff) in Q0.31 (0 for diff < diff_min)
 *   total = sum rdbpot(e, 12)                       Q12.19
 *   y     = rdbpot(srdhm(1 / total, e), over + 23) - 128   clamped to int8
 */
#include "mct.h"

#include <stddef.h>

#define MCT__I32_MAX ((int64_t)INT32_MAX)
#define MCT__I32_MIN ((int64_t)INT32_MIN)
#define MCT__DIFF_BITS 5 /* input differences in Q5.26 */
#define MCT__ACC_BITS 12 /* sum of exps in Q12.19 */

/* round(v * 2^31) of the constants (ops/gemmlowp.py prints the same numbers) */
#define MCT__EXP_MINUS_1_8 1895147668 /* exp(-1/8) */
#define MCT__ONE_THIRD 715827883
#define MCT__NR_48_17 1515870810 /* 48/17 in Q2.29 */
#define MCT__NR_32_17 1010580540 /* 32/17 in Q2.29 */
static const int32_t mct__exp_pot[7] = { /* exp(-2^k), k = -2 .. 4, Q0.31 */
    1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};

/* x * 2^e saturated to int32 (e > 0). */
static int64_t mct__sat_shift(int64_t x, int32_t e) {
  const int64_t threshold = ((int64_t)1 << (31 - e)) - 1;
  return x > threshold ? MCT__I32_MAX : (x < -threshold ? MCT__I32_MIN : x * ((int64_t)1 << e));
}

/* exp(a) for a in [-1/4, 0), Q0.31: Taylor series around -1/8 (x = a + 1/8). */
static int64_t mct__exp_quarter(int64_t a) {
  const int64_t x = a + ((int64_t)1 << 28);
  const int64_t x2 = mct_srdhm(x, x), x3 = mct_srdhm(x2, x), x4 = mct_srdhm(x2, x2);
  const int64_t x4_4 = mct_rdbpot(x4, 2);
  const int64_t poly = mct_rdbpot(mct_srdhm(x4_4 + x3, MCT__ONE_THIRD) + x2, 1);
  return MCT__EXP_MINUS_1_8 + mct_srdhm(MCT__EXP_MINUS_1_8, x + poly);
}

/* exp(a) for a <= 0 in Q(int_bits): exp of a mod 1/4 from the series, times exp(-2^k) for
 * each set bit k of the rest (the barrel shifter); below -32 it is 0. */
static int64_t mct__exp_on_negative(int64_t a, int32_t int_bits) {
  const int32_t frac = 31 - int_bits;
  const int64_t quarter = (int64_t)1 << (frac - 2);
  const int64_t a_mod = (a & (quarter - 1)) - quarter; /* in [-1/4, 0) */
  int64_t result = mct__exp_quarter(mct__sat_shift(a_mod, int_bits));
  const int64_t remainder = a_mod - a;
  for (int32_t k = -2; k <= 4; ++k)
    if (int_bits > k && ((remainder >> (frac + k)) & 1))
      result = mct_srdhm(result, mct__exp_pot[k + 2]);
  if (int_bits > 5 && a < -((int64_t)32 << frac)) result = 0;
  return a == 0 ? MCT__I32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29 from
 * the initial guess 48/17 - 32/17 * (1 + a) / 2. */
static int64_t mct__one_over_one_plus_x(int64_t a) {
  const int64_t s = a + MCT__I32_MAX;
  const int64_t half_den = (s + (s >= 0 ? 1 : -1)) / 2; /* truncates toward zero */
  int64_t x = MCT__NR_48_17 + mct_srdhm(half_den, -MCT__NR_32_17);
  for (int i = 0; i < 3; ++i) {
    const int64_t one_minus = ((int64_t)1 << 29) - mct_srdhm(half_den, x);
    x = x + mct__sat_shift(mct_srdhm(x, one_minus), 2);
  }
  return mct__sat_shift(x, 1);
}

/* Leading zeros of 0 <= x < 2^32 as a uint32. */
static int32_t mct__clz32(int64_t x) {
  int32_t n = 32;
  while (x > 0) {
    x >>= 1;
    --n;
  }
  return n;
}

/* exp of element v of a row with maximum mx, Q0.31, or 0 when below diff_min. */
static int64_t mct__softmax_exp(const mct_softmax_params *p, int32_t v, int32_t mx) {
  const int32_t diff = v - mx;
  if (diff < p->diff_min) return 0;
  const int64_t scaled =
      mct_srdhm((int64_t)diff * ((int64_t)1 << p->input_left_shift), p->input_multiplier);
  return mct__exp_on_negative(scaled, MCT__DIFF_BITS);
}

/* One row: the max, the sum of exps, its reciprocal (GetReciprocal), then the outputs (the
 * exps recomputed: no scratch). y[i] is written after x[i] is last read, so y may equal x. */
static void mct__softmax_row(const mct_softmax_params *p, int32_t k, const int8_t *x,
                             int8_t *y) {
  int32_t mx = x[0];
  for (int32_t i = 1; i < k; ++i) mx = x[i] > mx ? x[i] : mx;
  int64_t total = 0;
  for (int32_t i = 0; i < k; ++i)
    total += mct_rdbpot(mct__softmax_exp(p, x[i], mx), MCT__ACC_BITS);
  const int32_t headroom = mct__clz32(total & 0xFFFFFFFF);
  const int32_t over = MCT__ACC_BITS - headroom;
  const int64_t shifted = (int64_t)(((uint64_t)total << headroom) & 0xFFFFFFFFu);
  const int64_t scale = mct__one_over_one_plus_x(shifted - ((int64_t)1 << 31));
  for (int32_t i = 0; i < k; ++i) {
    const int32_t diff = x[i] - mx;
    const int64_t e = mct__softmax_exp(p, x[i], mx);
    const int64_t out = mct_rdbpot(mct_srdhm(scale, e), over + 31 - 8) - 128;
    y[i] = (int8_t)(diff < p->diff_min ? -128 : (out < -128 ? -128 : (out > 127 ? 127 : out)));
  }
}

int mct_softmax_s8(const mct_softmax_params *p, int32_t rows, int32_t k, const int8_t *x,
                   int8_t *y) {
  /* k < 2^12: the sum of k exps (each < 2^19 in Q12.19) stays below 2^31 */
  if (!p || rows < 0 || k <= 0 || k >= (1 << 12) || !x || !y || p->input_left_shift < 0 ||
      p->input_left_shift > 30 || p->diff_min > 0)
    return MCT_E_ARG;
  for (int32_t r = 0; r < rows; ++r) mct__softmax_row(p, k, x + (size_t)r * k, y + (size_t)r * k);
  return MCT_OK;
}
