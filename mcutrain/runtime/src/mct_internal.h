/* mct_internal.h: helpers shared by the kernel files (not part of the public API in mct.h).
 * Argument checks, the requantization of one accumulator, and the trained-slice dot product:
 * written once here so every kernel requantizes exactly alike (ops/conv.py is the spec). */
#ifndef MCT_INTERNAL_H
#define MCT_INTERNAL_H

#include <stddef.h>

#include "mct.h"
#include "mct_gemmlowp.h"

/* The requantization constants in locals: outputs are written through int8_t pointers, which
 * may alias anything, so fields read through `q` would be reloaded after every store. */
typedef struct {
  const int32_t *mult, *shift, *bias;
  int32_t x_zero, y_zero, act_min, act_max;
  int32_t tflm; /* 1: TFLite Micro's two roundings (mct_gemmlowp.h), 0: the project's one */
} mct__rq;

static inline mct__rq mct__rq_of(const mct_requant *q, const int32_t *bias) {
  mct__rq r;
  r.mult = q->mult;
  r.shift = q->shift;
  r.bias = bias;
  r.x_zero = q->x_zero;
  r.y_zero = q->y_zero;
  r.act_min = q->act_min;
  r.act_max = q->act_max;
  r.tflm = 0;
  return r;
}

/* int8 output of one accumulator for output channel o (64-bit until the clamp: a
 * multiplier >= 1 can take the requantized value beyond int32, as in the reference). A graph
 * read from a .tflite (attrs rounding="tflm") requantizes with TFLite Micro's
 * MultiplyByQuantizedMultiplier instead (ops/common.requant_output). */
static inline int8_t mct__out_s8(const mct__rq *r, int32_t acc, int32_t o) {
  const int64_t b = r->bias ? (int64_t)r->bias[o] : 0;
  const int32_t t = mct_sat32((int64_t)acc + b);
  const int64_t v = (r->tflm ? mct_mbqm_tflm(t, r->mult[o], r->shift[o])
                             : mct_requantize(t, r->mult[o], r->shift[o])) + r->y_zero;
  return (int8_t)(v < r->act_min ? r->act_min : (v > r->act_max ? r->act_max : v));
}

/* sum_j (x[sel[j]] - xz) * w[j * stride]: the trained slice's contribution. */
static inline int32_t mct__dot_sel_s8(const int8_t *x, const int32_t *sel, const int8_t *w,
                                      int32_t n, int32_t stride, int32_t xz) {
  int32_t acc = 0;
  for (int32_t j = 0; j < n; ++j) acc += ((int32_t)x[sel[j]] - xz) * w[(size_t)j * stride];
  return acc;
}

static inline int mct__requant_ok(const mct_requant *q) {
  return q && q->mult && q->shift && q->act_min >= -128 && q->act_max <= 127 &&
         q->act_min <= q->act_max;
}

/* A consistent geometry: positive sizes, groups dividing the channels, output size matching. */
static inline int mct__geom_ok(const mct_conv_geom *g) {
  if (!g || g->in_h <= 0 || g->in_w <= 0 || g->in_c <= 0 || g->out_c <= 0 || g->k_h <= 0 ||
      g->k_w <= 0 || g->stride_h <= 0 || g->stride_w <= 0 || g->pad_h < 0 || g->pad_w < 0 ||
      g->groups <= 0 || g->in_c % g->groups || g->out_c % g->groups)
    return 0;
  return g->out_h == (g->in_h + 2 * g->pad_h - g->k_h) / g->stride_h + 1 &&
         g->out_w == (g->in_w + 2 * g->pad_w - g->k_w) / g->stride_w + 1 && g->out_h > 0 &&
         g->out_w > 0 && g->in_h + 2 * g->pad_h >= g->k_h && g->in_w + 2 * g->pad_w >= g->k_w;
}

/* NULL, or a trained slice with ascending channel indices below n_channels. */
static inline int mct__wsplit_ok(const mct_wsplit *ws, int32_t n_channels) {
  if (!ws) return 1;
  if (!ws->wt || !ws->sel || ws->n_sel < 0) return 0;
  for (int32_t j = 0; j < ws->n_sel; ++j)
    if (ws->sel[j] < 0 || ws->sel[j] >= n_channels || (j > 0 && ws->sel[j] <= ws->sel[j - 1]))
      return 0;
  return 1;
}

/* conv.c: the argument checks of mct_conv2d_s8, and its portable loops (pointwise,
 * depthwise, general) with the requantization chosen by tflm (see mct__rq). */
int mct__conv2d_s8_args_ok(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                           const int8_t *w, const mct_wsplit *ws, const int8_t *y);
void mct__conv2d_s8_portable(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                             const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                             int8_t *y, int32_t tflm);

/* elementwise.c: elements [i0, n) of the int8 add, with either requantization. */
void mct__add_s8_range(const mct_add_params *p, int32_t i0, int32_t n, const int8_t *a,
                       const int8_t *b, int8_t *y, int32_t tflm);
int mct__add_s8_args_ok(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b,
                        const int8_t *y);

#endif
