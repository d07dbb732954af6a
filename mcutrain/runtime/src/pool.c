/* pool.c: global average pool and max pool (int8), and the global average pool gradient.
 * Specification: mcutrain/ops/pool.py.
 *   global_avgpool  y[c] = round_half_even(sum_hw x[hw][c] / hw)  (integer mean, same qparams)
 *   maxpool2d       max over the window; padded cells hold -128, so they never win
 *   grad            gx[hw][c] = float32(gy[c]) / float32(hw)      (exact: one division)
 */
#include "mct.h"

#include <stddef.h>

/* The sum of one channel is at most hw * 128 in magnitude: int32 for any hw < 2^24. */
int mct_avgpool_global_s8(int32_t hw, int32_t c, const int8_t *x, int8_t *y) {
  if (hw <= 0 || hw >= (1 << 24) || c <= 0 || !x || !y) return MCT_E_ARG;
  for (int32_t k = 0; k < c; ++k) {
    const int8_t *xp = x + k;
    int32_t s0 = 0, s1 = 0, p = 0;
    for (; p + 2 <= hw; p += 2) {
      s0 += xp[(size_t)p * c];
      s1 += xp[(size_t)(p + 1) * c];
    }
    if (p < hw) s0 += xp[(size_t)p * c];
    y[k] = (int8_t)mct_div_round_half_even(s0 + s1, hw);
  }
  return MCT_OK;
}

/* y (one output pixel of c channels) doubles as the running maximum: a window clipped to
 * the image is the same max as the padded window, except an all-padding window gives -128. */
int mct_maxpool_s8(const mct_conv_geom *g, const int8_t *x, int8_t *y) {
  if (!g || !x || !y || g->in_h <= 0 || g->in_w <= 0 || g->in_c <= 0 || g->k_h <= 0 ||
      g->k_w <= 0 || g->stride_h <= 0 || g->stride_w <= 0 || g->pad_h < 0 || g->pad_w < 0 ||
      g->out_h != (g->in_h + 2 * g->pad_h - g->k_h) / g->stride_h + 1 ||
      g->out_w != (g->in_w + 2 * g->pad_w - g->k_w) / g->stride_w + 1 || g->out_h <= 0 ||
      g->out_w <= 0 || (g->out_c != g->in_c && g->out_c != 0))
    return MCT_E_ARG;
  const int32_t C = g->in_c;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    const int32_t ih0 = oh * g->stride_h - g->pad_h;
    const int32_t i0 = ih0 < 0 ? 0 : ih0;
    const int32_t i1 = ih0 + g->k_h < g->in_h ? ih0 + g->k_h : g->in_h;
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const int32_t iw0 = ow * g->stride_w - g->pad_w;
      const int32_t j0 = iw0 < 0 ? 0 : iw0;
      const int32_t j1 = iw0 + g->k_w < g->in_w ? iw0 + g->k_w : g->in_w;
      int8_t *yp = y + ((size_t)oh * g->out_w + ow) * C;
      for (int32_t k = 0; k < C; ++k) yp[k] = -128;
      for (int32_t ih = i0; ih < i1; ++ih) {
        for (int32_t iw = j0; iw < j1; ++iw) {
          const int8_t *xp = x + ((size_t)ih * g->in_w + iw) * C;
          for (int32_t k = 0; k < C; ++k) yp[k] = xp[k] > yp[k] ? xp[k] : yp[k];
        }
      }
    }
  }
  return MCT_OK;
}

int mct_avgpool_global_grad_f32(int32_t hw, int32_t c, const float *gy, float *gx) {
  if (hw <= 0 || c <= 0 || !gy || !gx) return MCT_E_ARG;
  const float n = (float)hw;
  for (int32_t k = 0; k < c; ++k) gx[k] = gy[k] / n;
  for (int32_t p = 1; p < hw; ++p) {
    float *gp = gx + (size_t)p * c;
    for (int32_t k = 0; k < c; ++k) gp[k] = gx[k];
  }
  return MCT_OK;
}
