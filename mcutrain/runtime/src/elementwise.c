/* elementwise.c: int8 residual add, clamp, dequantize, channel gather; the clamp gradient
 * and gradient accumulation. Specification: mcutrain/ops/elementwise.py (add: the integer
 * add of ops/fixedpoint.add_int8), act.py (clamp, clamp_grad), reshape.py
 * (gather_channels).
 */
#include "mct.h"
#include "mct_arm.h" /* Cortex-M4/M7: elementwise_arm.c, MCT_ARM_DSP */
#include "mct_internal.h"

#include <stddef.h>

/* x86 hosts: an AVX2 version of the add (bit-exact, see elementwise_x86.c). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)
#define MCT_X86 1
int32_t mct__add_s8_avx2(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b,
                         int8_t *y);
#else
#define MCT_X86 0
#endif

/* out = clamp(requantize(sat32(requantize(a', x_mult, x_shift) + requantize(b', y_mult,
 * y_shift)), out_mult, out_shift) + y_zero) with a' = (a - x_zero) * 2^left_shift (and b'
 * likewise with y_zero_in). |a - x_zero| <= 255 and left_shift <= 22 keep a' in int32; the
 * two rescaled terms are summed in 64 bits before saturation, as the reference does. */
void mct__add_s8_range(const mct_add_params *p, int32_t i0, int32_t n, const int8_t *a,
                       const int8_t *b, int8_t *y, int32_t tflm) {
  const int32_t scale = (int32_t)1 << p->left_shift; /* a multiply: no shift of negatives */
  for (int32_t i = i0; i < n; ++i) {
    const int32_t xa = ((int32_t)a[i] - p->x_zero) * scale;
    const int32_t xb = ((int32_t)b[i] - p->y_zero_in) * scale;
    int64_t out;
    if (tflm) { /* TFLite Micro's ADD: MultiplyByQuantizedMultiplier three times */
      const int64_t total = mct_mbqm_tflm(xa, p->x_mult, p->x_shift) +
                            mct_mbqm_tflm(xb, p->y_mult, p->y_shift);
      out = mct_mbqm_tflm(mct_sat32(total), p->out_mult, p->out_shift) + p->y_zero;
    } else {
      const int64_t total = mct_requantize(xa, p->x_mult, p->x_shift) +
                            mct_requantize(xb, p->y_mult, p->y_shift);
      out = mct_requantize(mct_sat32(total), p->out_mult, p->out_shift) + p->y_zero;
    }
    y[i] = (int8_t)(out < p->act_min ? p->act_min : (out > p->act_max ? p->act_max : out));
  }
}

int mct__add_s8_args_ok(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b,
                        const int8_t *y) {
  return p && n >= 0 && a && b && y && p->left_shift >= 0 && p->left_shift <= 22 &&
         p->act_min >= -128 && p->act_max <= 127 && p->act_min <= p->act_max;
}

int mct_add_s8(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *y) {
  if (!mct__add_s8_args_ok(p, n, a, b, y)) return MCT_E_ARG;
#if MCT_ARM_DSP
  if (mct__add_s8_dsp(p, n, a, b, y)) return MCT_OK;
#endif
#if MCT_X86
  const int32_t done = mct__add_s8_avx2(p, n, a, b, y);
#else
  const int32_t done = 0;
#endif
  mct__add_s8_range(p, done, n, a, b, y, 0);
  return MCT_OK;
}

int mct_clamp_s8(int32_t n, int32_t lo, int32_t hi, const int8_t *x, int8_t *y) {
  if (n < 0 || !x || !y || lo > hi) return MCT_E_ARG;
  /* Bounds outside [-128, 127] clamp nothing on that side. */
  const int32_t l = lo < -128 ? -128 : lo, h = hi > 127 ? 127 : hi;
  for (int32_t i = 0; i < n; ++i) y[i] = (int8_t)mct_clamp(x[i], l, h);
  return MCT_OK;
}

/* float32(scale * (x - zero)): one rounding of an exact integer times the float scale. */
int mct_dequantize_s8(int32_t n, float scale, int32_t zero, const int8_t *x, float *y) {
  if (n < 0 || !x || !y) return MCT_E_ARG;
  for (int32_t i = 0; i < n; ++i) y[i] = scale * (float)((int32_t)x[i] - zero);
  return MCT_OK;
}

int mct_gather_channels_s8(int32_t hw, int32_t c, const int32_t *sel, int32_t n_sel,
                           const int8_t *x, int8_t *y) {
  if (hw < 0 || c <= 0 || n_sel < 0 || (n_sel > 0 && !sel) || !x || !y) return MCT_E_ARG;
  for (int32_t j = 0; j < n_sel; ++j)
    if (sel[j] < 0 || sel[j] >= c) return MCT_E_ARG;
  for (int32_t p = 0; p < hw; ++p) {
    const int8_t *xp = x + (size_t)p * c;
    int8_t *yp = y + (size_t)p * n_sel;
    for (int32_t j = 0; j < n_sel; ++j) yp[j] = xp[sel[j]];
  }
  return MCT_OK;
}

/* The gradient passes where the saved int8 output was strictly inside (lo, hi). */
int mct_clamp_grad_f32(int32_t n, int32_t lo, int32_t hi, const int8_t *y, float *g) {
  if (n < 0 || !y || !g) return MCT_E_ARG;
  for (int32_t i = 0; i < n; ++i)
    if (!(y[i] > lo && y[i] < hi)) g[i] = 0.0f;
  return MCT_OK;
}

int mct_accumulate_f32(int32_t n, const float *x, float *y) {
  if (n < 0 || !x || !y) return MCT_E_ARG;
  for (int32_t i = 0; i < n; ++i) y[i] += x[i];
  return MCT_OK;
}
