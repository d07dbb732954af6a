/* tflm.c: conv2d, linear and add with TFLite Micro's requantization; pad and its gradient;
 * mean over H and W. Specification: mcutrain/ops/common.requant_output and
 * elementwise._add_ref (rounding="tflm"), ops/pad.py, ops/avgpool.py (mean_hw).
 *
 * The conv, linear and add loops are those of conv.c and elementwise.c, run with
 * tflm = 1: every requantization becomes mct_mbqm_tflm (mct_gemmlowp.h). The x86 and DSP fast
 * paths round once, so these entry points always take the portable loops.
 */
#include "mct.h"
#include "mct_internal.h"

#include <stddef.h>

int mct_conv2d_s8_tflm(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y) {
  if (!mct__conv2d_s8_args_ok(g, q, x, w, ws, y)) return MCT_E_ARG;
  mct__conv2d_s8_portable(g, q, x, w, ws, bias, y, 1);
  return MCT_OK;
}

/* A linear layer is the pointwise conv of a 1 x 1 map. */
int mct_linear_s8_tflm(int32_t in_c, int32_t out_c, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y) {
  const mct_conv_geom g = {1, 1, in_c, 1, 1, out_c, 1, 1, 1, 1, 0, 0, 1};
  return mct_conv2d_s8_tflm(&g, q, x, w, ws, bias, y);
}

/* out = clamp(mbqm(sat32(mbqm(a', x_mult, x_shift) + mbqm(b', y_mult, y_shift)), out_mult,
 * out_shift) + y_zero) with a' = (a - x_zero) * 2^left_shift: TFLite Micro's ADD. */
int mct_add_s8_tflm(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b,
                    int8_t *y) {
  if (!mct__add_s8_args_ok(p, n, a, b, y)) return MCT_E_ARG;
  mct__add_s8_range(p, 0, n, a, b, y, 1);
  return MCT_OK;
}

/* ---- pad ---------------------------------------------------------------------------------- */

static int mct__pad_ok(const mct_pad_geom *g) {
  return g && g->in_h > 0 && g->in_w > 0 && g->c > 0 && g->top >= 0 && g->bottom >= 0 &&
         g->left >= 0 && g->right >= 0;
}

/* Backward over the padded output in memory order: output element d reads input element
 * s <= d (a padded row is at least as long as an input row and starts no earlier), so when
 * y == x every input element is read before its address is written. */
int mct_pad_s8(const mct_pad_geom *g, int32_t value, const int8_t *x, int8_t *y) {
  if (!mct__pad_ok(g) || !x || !y || value < -128 || value > 127) return MCT_E_ARG;
  const int32_t C = g->c, ho = g->top + g->in_h + g->bottom, wo = g->left + g->in_w + g->right;
  const int8_t v = (int8_t)value;
  for (int32_t oh = ho - 1; oh >= 0; --oh) {
    const int32_t ih = oh - g->top;
    const int inside_h = ih >= 0 && ih < g->in_h;
    for (int32_t ow = wo - 1; ow >= 0; --ow) {
      const int32_t iw = ow - g->left;
      int8_t *yp = y + ((size_t)oh * wo + ow) * C;
      if (inside_h && iw >= 0 && iw < g->in_w) {
        const int8_t *xp = x + ((size_t)ih * g->in_w + iw) * C;
        for (int32_t k = C - 1; k >= 0; --k) yp[k] = xp[k];
      } else {
        for (int32_t k = C - 1; k >= 0; --k) yp[k] = v;
      }
    }
  }
  return MCT_OK;
}

/* Forward in memory order: gx element d reads gy element s >= d, so gx == gy is safe. */
int mct_pad_grad_f32(const mct_pad_geom *g, const float *gy, float *gx) {
  if (!mct__pad_ok(g) || !gy || !gx) return MCT_E_ARG;
  const int32_t C = g->c, wo = g->left + g->in_w + g->right;
  const size_t row = (size_t)g->in_w * C;
  for (int32_t ih = 0; ih < g->in_h; ++ih) {
    const float *src = gy + ((size_t)(ih + g->top) * wo + g->left) * C;
    float *dst = gx + (size_t)ih * row;
    for (size_t k = 0; k < row; ++k) dst[k] = src[k];
  }
  return MCT_OK;
}

/* ---- mean over H and W -------------------------------------------------------------------- */

/* The sum of (x - x_zero) over hw cells is at most 255 hw in magnitude: int32 for the hw the
 * header allows; x_zero is subtracted once as x_zero * hw, as the reference does. */
int mct_mean_hw_s8(int32_t hw, int32_t c, int32_t x_zero, int32_t y_zero, int32_t mult,
                   int32_t shift, const int8_t *x, int8_t *y) {
  if (hw <= 0 || hw > INT32_MAX / 255 || c <= 0 || !x || !y || shift < -31 || shift > 30 ||
      x_zero < -128 || x_zero > 127)
    return MCT_E_ARG;
  for (int32_t k = 0; k < c; ++k) {
    const int8_t *xp = x + k;
    int32_t sum = 0;
    for (int32_t p = 0; p < hw; ++p) sum += xp[(size_t)p * c];
    const int64_t v = mct_mbqm_tflm(sum - x_zero * hw, mult, shift) + y_zero;
    y[k] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
  }
  return MCT_OK;
}
