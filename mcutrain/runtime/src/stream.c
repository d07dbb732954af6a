/* stream.c: an inverted-residual expansion fused into its depthwise conv, streamed by rows
 * (mct_expand_dw_s8_rows in mct.h). Results equal conv2d(conv2d(x, w1, b1), w2, b2) exactly:
 * the same integer accumulation and requantization as conv.c (ops/conv.py is the spec).
 *
 * Expanded row j (all E channels, HWC) is computed once, from input row j alone, into ring
 * slot j % k_h with the ordinary 1x1 kernel; output row r then reads ring rows
 * s*r - p .. s*r - p + k_h - 1 (rows outside the image are padding: they contribute 0 after
 * the zero point is subtracted). After output row r is stored, input rows below
 * min(in_h, s*r - p + k_h) are dead, which is what lets y overlap x (see the gap in mct.h).
 * The depthwise taps run over channels innermost (contiguous in HWC), with the weights
 * regrouped by tap in `work`, so the compiler can vectorize them.
 */
#include "mct.h"
#include "mct_arm.h" /* Cortex-M4/M7: DSP versions (*_arm.c), MCT_ARM_DSP */
#include "mct_internal.h"

#include <string.h>

static int mct__expand_dw_rows(const mct_conv_geom *g1, const mct_requant *q1,
                               const int8_t *w1, const int32_t *b1, const mct_conv_geom *g2,
                               const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                               const int8_t *x, int8_t *y, int8_t *ring, int8_t *work,
                               int32_t tflm) {
  if (!g1 || !g2 || !q1 || !q2 || !x || !y || !ring || !work || !b1 || !b2) return MCT_E_ARG;
  const int32_t H = g1->in_h, W = g1->in_w, C = g1->in_c, E = g1->out_c;
  const int32_t kh = g2->k_h, kw = g2->k_w, sh = g2->stride_h, sw = g2->stride_w;
  const int32_t ph = g2->pad_h, pw = g2->pad_w, Ho = g2->out_h, Wo = g2->out_w;
  if (g2->in_c != E || g2->out_c != E || g2->groups != E || g2->in_h != H || g2->in_w != W ||
      g1->k_h != 1 || g1->k_w != 1 || g1->stride_h != 1 || g1->stride_w != 1 || g1->groups != 1)
    return MCT_E_ARG;
#if MCT_ARM_DSP
  if (!tflm) {
    const int r_ = mct__expand_dw_s8_rows_dsp(g1, q1, w1, b1, g2, q2, w2, b2, x, y, ring, work);
    if (r_ != MCT_ARM_PASS) return r_;
  }
#endif
  const size_t RI = (size_t)W * C, RE = (size_t)W * E, RO = (size_t)Wo * E;
  int8_t *row_out = work;
  int8_t *wt = work + RO; /* wt[(i*kw + j)*E + e] = w2[e][0][i][j] */
  int32_t *acc = (int32_t *)(work + (RO + (size_t)kh * kw * E + 15) / 16 * 16);
  for (int32_t e = 0; e < E; ++e)
    for (int32_t t = 0; t < kh * kw; ++t) wt[(size_t)t * E + e] = w2[(size_t)e * kh * kw + t];
  const int32_t xz = q2->x_zero;
  mct__rq r2 = mct__rq_of(q2, b2);
  r2.tflm = tflm;
  /* one input row as a 1 x W image for the ordinary pointwise kernel */
  mct_conv_geom row1 = *g1;
  row1.in_h = row1.out_h = 1;
  int32_t done = 0; /* expanded rows [0, done) have been computed */
  int st = MCT_OK;
  for (int32_t r = 0; r < Ho; ++r) {
    const int32_t top = r * sh - ph;
    int32_t need = top + kh; /* expanded rows < need must exist */
    if (need > H) need = H;
    for (; done < need; ++done) { /* direct calls: the device's stack bound needs them */
      int8_t *slot = ring + (size_t)(done % kh) * RE;
      st |= tflm ? mct_conv2d_s8_tflm(&row1, q1, x + (size_t)done * RI, w1, NULL, b1, slot)
                 : mct_conv2d_s8(&row1, q1, x + (size_t)done * RI, w1, NULL, b1, slot);
    }
    for (int32_t ow = 0; ow < Wo; ++ow) {
      const int32_t left = ow * sw - pw;
      for (int32_t e = 0; e < E; ++e) acc[e] = 0;
      for (int32_t i = 0; i < kh; ++i) {
        const int32_t row = top + i;
        if (row < 0 || row >= H) continue;
        const int8_t *rp = ring + (size_t)(row % kh) * RE;
        for (int32_t j = 0; j < kw; ++j) {
          const int32_t col = left + j;
          if (col < 0 || col >= W) continue;
          const int8_t *v = rp + (size_t)col * E;
          const int8_t *wv = wt + (size_t)(i * kw + j) * E;
          for (int32_t e = 0; e < E; ++e) acc[e] += ((int32_t)v[e] - xz) * (int32_t)wv[e];
        }
      }
      int8_t *out = row_out + (size_t)ow * E;
      for (int32_t e = 0; e < E; ++e) out[e] = mct__out_s8(&r2, acc[e], e);
    }
    memcpy(y + (size_t)r * RO, row_out, RO);
  }
  return st;
}

int mct_expand_dw_s8_rows(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                          const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                          const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y,
                          int8_t *ring, int8_t *work) {
  return mct__expand_dw_rows(g1, q1, w1, b1, g2, q2, w2, b2, x, y, ring, work, 0);
}

/* TFLite Micro's requantization for both convolutions (mct_tflm.h); no DSP path. */
int mct_expand_dw_s8_rows_tflm(const mct_conv_geom *g1, const mct_requant *q1,
                               const int8_t *w1, const int32_t *b1, const mct_conv_geom *g2,
                               const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                               const int8_t *x, int8_t *y, int8_t *ring, int8_t *work) {
  return mct__expand_dw_rows(g1, q1, w1, b1, g2, q2, w2, b2, x, y, ring, work, 1);
}
