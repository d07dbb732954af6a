/* elementwise_arm.c: the int8 residual add (mct_add_s8) for Cortex-M DSP cores, chosen by
 * elementwise.c. Bit-exact with it: each rescaled input is requantized as
 * ((q >> (total - 1)) + 1) >> 1 with q = a' * mult (round half up of q / 2^total), which needs
 * q >> (total - 1) to fit int32: true when |a'| < 2^(total - 1), checked once per call
 * (|a'| <= 255 * 2^left_shift); the sum of the two then cannot overflow, and the output
 * requantization takes mct__arm_out_fast (shift <= -2) or the 64-bit formula. With the fast
 * output and enough elements, both rescaled values come from tables of their 256 possible
 * int8 inputs (the same function, computed once per call). */
#include "mct_arm.h"

#if MCT_ARM_DSP

#define MCT__ADD_TAB_MIN 256 /* elements from which the two 256-entry tables pay */

/* One element of the table loop below, as asm text: r4 = ta[a[0]] + tb[b[0]] (a, b advance),
 * y[0] = SSAT8(SMMLA(r4, om, k) >> s1) (y advances); r5 clobbered. (The same loop in C with
 * __ssat takes 23 instructions a pair to this 20.) */
#define MCT__ADD_ONE                                                                           \
  "ldrsb r4, [%[a]], #1\n\t"                                                                   \
  "ldrsb r5, [%[b]], #1\n\t"                                                                   \
  "ldr r4, [%[ta], r4, lsl #2]\n\t"                                                            \
  "ldr r5, [%[tb], r5, lsl #2]\n\t"                                                            \
  "add r4, r4, r5\n\t"                                                                         \
  "smmla r4, r4, %[om], %[k]\n\t"                                                              \
  "asr r4, r4, %[s1]\n\t"                                                                      \
  "ssat r4, #8, r4\n\t"                                                                        \
  "strb r4, [%[y]], #1\n\t"

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
  if (fast && n >= MCT__ADD_TAB_MIN) {
    /* each input's rescaled value depends on its int8 alone: 2 x 256 of them on the stack */
    int32_t tab[512];
    for (int32_t u = 0; u < 256; ++u) {
      tab[u] = mct__rq_small((u - 128 - xz) * scale, xm, tx);
      tab[256 + u] = mct__rq_small((u - 128 - yzi) * scale, ym, ty);
    }
    const int32_t *ta = tab + 128, *tb = tab + 384, sh = -2 - os;
    int32_t i = 0;
#ifdef __OPTIMIZE__ /* eleven registers: -O0 keeps too few free */
    if (lo == -128 && hi == 127 && sh <= 21) {
      /* ((x >> sh) + 1) >> 1 = (x + 2^sh) >> (sh + 1), and + yz inside the shift too:
       * y = SSAT8((SMMLA(t, om, 2^sh + yz * 2^(sh + 1))) >> (sh + 1)); |x| <= 2^30, so no
       * overflow for sh <= 21. Element by element (y may alias a or b).
       * Asm contract: operands pa, pb, py, n2 (advanced), ta, tb, om, k, s1; clobbers r4, r5,
       * flags; reads a, b[0 .. 2 n2) and the two tables, writes y[0 .. 2 n2). */
      const int32_t k = ((int32_t)1 << sh) + yz * ((int32_t)1 << (sh + 1)), s1 = sh + 1;
      int32_t n2 = n >> 1;
      const int8_t *pa = a, *pb = b;
      int8_t *py = y;
      if (n2)
        __asm__ volatile(
            "1:\n\t"
            MCT__ADD_ONE MCT__ADD_ONE
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [a] "+r"(pa), [b] "+r"(pb), [y] "+r"(py), [n] "+r"(n2)
            : [ta] "r"(ta), [tb] "r"(tb), [om] "r"(om), [k] "r"(k), [s1] "r"(s1)
            : "r4", "r5", "cc", "memory");
      i = n & ~1;
    }
#endif
    for (; i < n; ++i) {
      const int32_t t = ta[a[i]] + tb[b[i]]; /* QADD(t, 0) = t */
      const int32_t v = ((mct__smmul(t, om) >> sh) + 1) >> 1;
      const int32_t o = v + yz;
      y[i] = (int8_t)(o < lo ? lo : (o > hi ? hi : o));
    }
    return 1;
  }
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
