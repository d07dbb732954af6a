/* head.c: the float classifier head and the loss: linear (float), its input gradient (float
 * or int8 weights), softmax cross-entropy with its gradient. (The head's weight gradient,
 * an outer product, is mct_outer_f32 in outer.c.)
 * Specification: mcutrain/ops/linear.py and loss.py (float64 there, one rounding to float32).
 *
 * Precision: float32 throughout (the head is small: out_c x in_c products). The loss avoids
 * the two cancellations of a naive float form (see mct_softmax_ce_f32), so both the loss and
 * every dz entry keep float32 relative accuracy, also for a confident, correct prediction.
 */
#include "mct.h"

#include <math.h>
#include <stddef.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)
#define MCT_X86 1
int mct__linear_grad_input_avx2(int32_t in_c, int32_t out_c, const float *gy, const int8_t *w,
                                const float *w_scale, float *gx); /* conv_grad_x86.c */
#else
#define MCT_X86 0
#endif

int mct_linear_f32(int32_t in_c, int32_t out_c, const float *x, const float *w, const float *b,
                   float *y) {
  if (in_c <= 0 || out_c <= 0 || !x || !w || !y) return MCT_E_ARG;
  for (int32_t o = 0; o < out_c; ++o) {
    const float *wo = w + (size_t)o * in_c;
    float acc = 0.0f;
    for (int32_t c = 0; c < in_c; ++c) acc += wo[c] * x[c];
    y[o] = b ? acc + b[o] : acc;
  }
  return MCT_OK;
}

/* With m = max z (at index k), e_i = exp(z_i - m) and S' = sum_{i != k} e_i:
 *     loss = (m - z[label]) + log1p(S')          both terms >= 0: no cancellation
 *     dz_i = e_i / (1 + S')  for i != label
 *     dz_label = -(sum_{i != label} e_i) / (1 + S')   (= p_label - 1 without cancelling)
 * Returns -1 (never a loss value) for invalid arguments. */
float mct_softmax_ce_f32(int32_t n, const float *z, int32_t label, float *dz) {
  if (n <= 0 || !z || label < 0 || label >= n) return -1.0f;
  int32_t k = 0;
  for (int32_t i = 1; i < n; ++i)
    if (z[i] > z[k]) k = i;
  const float m = z[k];
  float s_rest = 0.0f;   /* sum over i != k */
  float s_nolab = 0.0f;  /* sum over i != label */
  for (int32_t i = 0; i < n; ++i) {
    const float e = (i == k) ? 1.0f : expf(z[i] - m);
    if (i != k) s_rest += e;
    if (i != label) s_nolab += e;
    if (dz) dz[i] = e;
  }
  const float denom = 1.0f + s_rest;
  if (dz) {
    for (int32_t i = 0; i < n; ++i) dz[i] = dz[i] / denom;
    dz[label] = -s_nolab / denom;
  }
  return (m - z[label]) + log1pf(s_rest);
}

/* gx[c] = sum_o G[o] s_w[o] w[o][c]: accumulated row by row (contiguous), zero G skipped.
 * Weights: w_f32 when w_scale is NULL and w_f32 is given (float layer), else int8 w times
 * w_scale[o] (w_scale NULL: 1). */
int mct_linear_grad_input_f32(int32_t in_c, int32_t out_c, const float *gy, const int8_t *w,
                              const float *w_f32, const float *w_scale, float *gx) {
  const int use_f32 = !w_scale && w_f32;
  if (in_c <= 0 || out_c <= 0 || !gy || !gx || (!use_f32 && !w)) return MCT_E_ARG;
#if MCT_X86
  if (!use_f32 && mct__linear_grad_input_avx2(in_c, out_c, gy, w, w_scale, gx)) return MCT_OK;
#endif
  for (int32_t c = 0; c < in_c; ++c) gx[c] = 0.0f;
  for (int32_t o = 0; o < out_c; ++o) {
    float gv = gy[o];
    if (gv == 0.0f) continue;
    if (use_f32) {
      const float *wo = w_f32 + (size_t)o * in_c;
      for (int32_t c = 0; c < in_c; ++c) gx[c] += gv * wo[c];
    } else {
      const int8_t *wo = w + (size_t)o * in_c;
      if (w_scale) gv *= w_scale[o];
      for (int32_t c = 0; c < in_c; ++c) gx[c] += gv * (float)wo[c];
    }
  }
  return MCT_OK;
}

