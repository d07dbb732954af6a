/* grad_kxk_arm.c: Cortex-M4F/M7 path of the float input gradient of a general convolution
 * (groups 1, any kernel, stride and padding; conv_grad.c's mct__gi_general), bit for bit.
 *
 * The portable loop scatters, for every output pixel (oh, ow) in raster order and every output
 * channel o in order (a zero gradient skipped), G[oh][ow][o] s_w[o] w[o][c][i][j] into
 * gx[oh sh - ph + i][ow sw - pw + j][c] over the window clipped to the image, so each gx
 * element receives its products in (oh, ow, o) order. For one element (ih, iw) the pixels
 * that reach it are oh = (ih + ph - i) / sh, ow = (iw + pw - j) / sw: oh grows as the tap row
 * i falls and ow as the tap column j falls, so the raster order of (oh, ow) is the order of
 * the taps (i, j) taken from the last one backwards. Hence, exactly the same sums:
 *
 *   for (i, j) from (kh - 1, kw - 1) down to (0, 0):
 *     gx[oh sh - ph + i][ow sw - pw + j][c] += sum_o (G[oh][ow][o] s_w[o]) W_ij[o][c]  (o in order)
 *
 * which is the input gradient of a 1x1 conv (weights W_ij[o][c] = w[o][c][i][j]) accumulated
 * onto gx at the input pixels the tap meets (sw apart along a row): grad_arm.c's streamed
 * 1x1 kernel (mct__gi_stream: the scaled gradients of up to six live output channels
 * gathered, weight tiles converted once per tile, one VMLA per product, sums kept in order).
 * W_ij is laid out per block of channels in a stack buffer (each weight copied once per
 * call). Channels past the last multiple of four take the same products in plain C.
 * A trained slice (channel fraction) stays with the portable C.
 */
#include "mct_arm.h"

#if MCT_ARM_DSP && MCT_ARM_FPU

#include "mct_internal.h"

#define MCT__KX_WB 1024 /* bytes of one tap's weights for a block of channels, [O][cb] */
#define MCT__KX_PIX 64  /* output pixels per streamed call (grad_arm.c's MCT__GI_PIX) */

/* Output columns [*ow0, *ow1) whose tap column j falls inside the image. */
static void mct__kx_cols(const mct_conv_geom *g, int32_t j, int32_t *ow0, int32_t *ow1) {
  const int32_t d = g->pad_w - j, e = g->in_w - 1 + g->pad_w - j;
  *ow0 = d <= 0 ? 0 : (d + g->stride_w - 1) / g->stride_w;
  *ow1 = e < 0 ? 0 : e / g->stride_w + 1;
  if (*ow1 > g->out_w) *ow1 = g->out_w;
}

/* Channels [c0, c0 + nb) (nb % 4 == 0) of tap t: W_t laid out as wt[o][nb], then streamed
 * over every output row whose tap row i is inside the image. */
static void mct__kx_block(const mct_conv_geom *g, const float *gy, const int8_t *w,
                          const float *w_scale, int32_t i, int32_t j, int32_t c0, int32_t nb,
                          int8_t *wt, float *sg, float *gx) {
  const int32_t C = g->in_c, O = g->out_c, kk = g->k_h * g->k_w, t = i * g->k_w + j;
  const size_t K = (size_t)C * kk;
  int32_t ow0, ow1;
  mct__kx_cols(g, j, &ow0, &ow1);
  for (int32_t o = 0; o < O; ++o) {
    const int8_t *src = w + (size_t)o * K + (size_t)c0 * kk + t;
    for (int32_t cc = 0; cc < nb; ++cc) wt[o * nb + cc] = src[(size_t)cc * kk];
  }
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    const int32_t ih = oh * g->stride_h - g->pad_h + i;
    if (ih < 0 || ih >= g->in_h) continue;
    for (int32_t ow = ow0; ow < ow1; ow += MCT__KX_PIX) {
      const int32_t np = ow1 - ow < MCT__KX_PIX ? ow1 - ow : MCT__KX_PIX;
      const int32_t iw = ow * g->stride_w - g->pad_w + j;
      mct__gi_stream(gy + ((size_t)oh * g->out_w + ow) * O, O, w_scale, wt, nb, nb,
                     gx + ((size_t)ih * g->in_w + iw) * C + c0, g->stride_w * C, np, sg);
    }
  }
}

/* Channel c (past the multiples of four) of tap (i, j): the portable products in order. */
static void mct__kx_tail(const mct_conv_geom *g, const float *gy, const int8_t *w,
                         const float *w_scale, int32_t i, int32_t j, int32_t c, float *gx) {
  const int32_t C = g->in_c, O = g->out_c, kk = g->k_h * g->k_w;
  const int8_t *wc = w + (size_t)c * kk + i * g->k_w + j;
  const size_t K = (size_t)C * kk;
  int32_t ow0, ow1;
  mct__kx_cols(g, j, &ow0, &ow1);
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    const int32_t ih = oh * g->stride_h - g->pad_h + i;
    if (ih < 0 || ih >= g->in_h) continue;
    for (int32_t ow = ow0; ow < ow1; ++ow) {
      const float *gp = gy + ((size_t)oh * g->out_w + ow) * O;
      float *xp = gx + ((size_t)ih * g->in_w + (ow * g->stride_w - g->pad_w + j)) * C + c;
      float a = *xp;
      for (int32_t o = 0; o < O; ++o) {
        float v = gp[o];
        if (v == 0.0f) continue;
        if (w_scale) v *= w_scale[o];
        a = mct__vmla(a, v, (float)wc[(size_t)o * K]);
      }
      *xp = a;
    }
  }
}

/* mct_conv2d_grad_input_f32 of a groups-1 conv other than the plain 1x1 (arguments checked by
 * conv_grad.c): 1 when done, 0 for the portable C. */
int mct__grad_input_kxk_f32_dsp(const mct_conv_geom *g, const float *gy, const int8_t *w,
                                const mct_wsplit *ws, const float *w_scale, float *gx) {
  const int32_t C = g->in_c, O = g->out_c, n4 = C & ~3;
  int32_t cb = MCT__KX_WB / O & ~3;
  if (g->groups != 1 || ws || (n4 && cb < 4)) return 0;
  if (cb > n4) cb = n4;
  int8_t wt[MCT__KX_WB] __attribute__((aligned(4)));
  float sg[MCT__KX_PIX * 6];
  memset(gx, 0, (size_t)g->in_h * g->in_w * C * sizeof(float)); /* +0.0f */
  for (int32_t i = g->k_h - 1; i >= 0; --i) {
    for (int32_t j = g->k_w - 1; j >= 0; --j) {
      for (int32_t c0 = 0; c0 < n4; c0 += cb)
        mct__kx_block(g, gy, w, w_scale, i, j, c0, n4 - c0 < cb ? n4 - c0 : cb, wt, sg, gx);
      for (int32_t c = n4; c < C; ++c) mct__kx_tail(g, gy, w, w_scale, i, j, c, gx);
    }
  }
  return 1;
}

#else
typedef int mct__grad_kxk_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
