/* avgpool.c: windowed average pool (TFLite's AVERAGE_POOL_2D), int8 forward and the float
 * input gradient. Specification: mcutrain/ops/avgpool.py (avgpool2d, avgpool2d_grad).
 *   forward  y = clamp(round_half_away(sum / n), act_min, act_max) over the n in-bounds cells
 *   backward gx[cell] = sum over windows holding it of gy / n
 */
#include "mct.h"

#include <stddef.h>

static int mct__pool_ok(const mct_pool_geom *g) {
  if (!g || g->in_h <= 0 || g->in_w <= 0 || g->c <= 0 || g->k_h <= 0 || g->k_w <= 0 ||
      g->stride_h <= 0 || g->stride_w <= 0 || g->top < 0 || g->bottom < 0 || g->left < 0 ||
      g->right < 0)
    return 0;
  /* a window wholly in the padding would have n = 0 */
  if (g->top >= g->k_h || g->bottom >= g->k_h || g->left >= g->k_w || g->right >= g->k_w)
    return 0;
  return g->out_h > 0 && g->out_w > 0 &&
         g->out_h == (g->in_h + g->top + g->bottom - g->k_h) / g->stride_h + 1 &&
         g->out_w == (g->in_w + g->left + g->right - g->k_w) / g->stride_w + 1;
}

/* The in-bounds cells [h0, h1) x [w0, w1) of the window of output pixel (oh, ow), and their
 * count n (> 0: no window lies wholly in the padding). */
typedef struct {
  int32_t h0, h1, w0, w1, n;
} mct__box;

static inline mct__box mct__window_box(const mct_pool_geom *g, int32_t oh, int32_t ow) {
  mct__box b;
  const int32_t sh = oh * g->stride_h - g->top, sw = ow * g->stride_w - g->left;
  b.h0 = sh < 0 ? 0 : sh;
  b.h1 = sh + g->k_h < g->in_h ? sh + g->k_h : g->in_h;
  b.w0 = sw < 0 ? 0 : sw;
  b.w1 = sw + g->k_w < g->in_w ? sw + g->k_w : g->in_w;
  b.n = (b.h1 - b.h0) * (b.w1 - b.w0);
  return b;
}

/* |sum| <= 128 * k_h * k_w fits int32 for any window under 2^24 cells. C's division
 * truncates toward zero, so adding n/2 with the sum's sign rounds half away from zero. */
int mct_avgpool2d_s8(const mct_pool_geom *g, int32_t act_min, int32_t act_max, const int8_t *x,
                     int8_t *y) {
  if (!mct__pool_ok(g) || !x || !y || act_min < -128 || act_max > 127 || act_min > act_max ||
      g->k_h * g->k_w >= (1 << 24))
    return MCT_E_ARG;
  const int32_t C = g->c;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const mct__box b = mct__window_box(g, oh, ow);
      int8_t *yp = y + ((size_t)oh * g->out_w + ow) * C;
      for (int32_t k = 0; k < C; ++k) {
        int32_t sum = 0;
        for (int32_t ih = b.h0; ih < b.h1; ++ih)
          for (int32_t iw = b.w0; iw < b.w1; ++iw) sum += x[((size_t)ih * g->in_w + iw) * C + k];
        const int32_t v = (sum > 0 ? sum + b.n / 2 : sum - b.n / 2) / b.n;
        yp[k] = (int8_t)mct_clamp(v, act_min, act_max);
      }
    }
  }
  return MCT_OK;
}

/* Scatter: each window adds its share gy / n to its in-bounds cells (windows in row-major
 * order, as the reference's sum order is immaterial within float tolerance). */
int mct_avgpool2d_grad_f32(const mct_pool_geom *g, const float *gy, float *gx) {
  if (!mct__pool_ok(g) || !gy || !gx) return MCT_E_ARG;
  const int32_t C = g->c;
  const size_t total = (size_t)g->in_h * g->in_w * C;
  for (size_t i = 0; i < total; ++i) gx[i] = 0.0f;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const mct__box b = mct__window_box(g, oh, ow);
      const float n = (float)b.n;
      const float *gp = gy + ((size_t)oh * g->out_w + ow) * C;
      for (int32_t ih = b.h0; ih < b.h1; ++ih) {
        for (int32_t iw = b.w0; iw < b.w1; ++iw) {
          float *dst = gx + ((size_t)ih * g->in_w + iw) * C;
          for (int32_t k = 0; k < C; ++k) dst[k] += gp[k] / n;
        }
      }
    }
  }
  return MCT_OK;
}
