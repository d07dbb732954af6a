/* elementwise_arm.c: the int8 residual add (mct_add_s8) for Cortex-M DSP cores, chosen by
 * elementwise.c. Bit-exact with it: each rescaled input is requantized as
 * ((q >> (total - 1)) + 1) >> 1 with q = a' * mult (round half up of q / 2^total), which needs
 * q >> (total - 1) to fit int32: true when |a'| < 2^(total - 1), checked once per call
 * (|a'| <= 255 * 2^left_shift); the sum of the two then cannot overflow, and the output
 * requantization takes mct__arm_out_fast (shift <= -2) or the 64-bit formula. */
#include "mct_arm.h"

#if MCT_ARM_DSP

static inline int32_t mct__rq_small(int32_t t, int32_t mult, int32_t total) {
  const int32_t v = (int32_t)(((int64_t)t * mult) >> (total - 1));
  return (v + 1) >> 1;
}

int mct__add_s8_dsp(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b,
                    int8_t *y) {
  const int32_t tx = 31 - p->x_shift, ty = 31 - p->y_shift;
  const int64_t amax = (int64_t)255 << p->left_shift; /* largest |a - x_zero| * 2^left_shift */
  if (tx < 1 || ty < 1 || tx > 62 || ty > 62 || amax >= ((int64_t)1 << (tx - 1)) ||
      amax >= ((int64_t)1 << (ty - 1)))
    return 0;
  const int32_t scale = (int32_t)1 << p->left_shift, xz = p->x_zero, yzi = p->y_zero_in;
  const int32_t xm = p->x_mult, ym = p->y_mult, om = p->out_mult, os = p->out_shift;
  const int32_t yz = p->y_zero, lo = p->act_min, hi = p->act_max;
  const int fast = os <= -2;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t xa = ((int32_t)a[i] - xz) * scale, xb = ((int32_t)b[i] - yzi) * scale;
    const int32_t t = mct__rq_small(xa, xm, tx) + mct__rq_small(xb, ym, ty); /* |t| < 2^31 */
    if (fast) {
      y[i] = mct__arm_out_fast(t, 0, om, -2 - os, yz, lo, hi);
    } else {
      const int64_t v = mct_requantize(t, om, os) + yz;
      y[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
  }
  return 1;
}

#else
typedef int mct__elementwise_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
