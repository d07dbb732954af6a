/* inplace_grad.c: in-place input gradients of 1x1 and depthwise convolutions,
 *     gx = conv_transpose(G, s_w * w)
 * computed over their own output gradient: buf holds G [out_h][out_w][out_c] on entry and
 * gx [in_h][in_w][in_c] on return (same base address, a buffer of the larger of the two).
 * Specification: mcutrain/ops/conv.py (conv_grad_input_nchw, float64 then rounded to float32).
 * Sums run in float32 on (G * s_w) * w in the order of conv_grad.c (output pixels in order,
 * each scattering over its window), so these loops give its floats. (The AVX2 depthwise path
 * of inplace_grad_x86.c gathers instead, taps in order: within ~1e-6 relative.)
 *
 *   pointwise  pixel by pixel; G[p] is copied to tmp before gx[p] is written. in_c <= out_c:
 *              forward (gx[p] ends at (p+1)*in_c <= (p+1)*out_c: only gradients of pixels
 *              <= p lie under it); in_c > out_c: backward (gx[p] starts at p*in_c >= p*out_c,
 *              the end of the gradients of the pixels < p still to come).
 *   depthwise  (multiplier 1) one channel at a time: G's channel into tmp, gx's channel
 *              computed in tmp + out_h*out_w, then stored to that channel's HWC slots, which
 *              only ever held the same channel of G.
 */
#include "mct.h"
#include "mct_arm.h" /* Cortex-M4/M7: DSP versions (*_arm.c), MCT_ARM_DSP */
#include "mct_internal.h"

#include <stddef.h>

/* x86 hosts: AVX2 versions in inplace_grad_x86.c, chosen at run time (the pointwise one with
 * the same float operations in the same order; the depthwise one returns how many leading
 * channels it computed). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)
#define MCT_IG_X86 1
int mct__inplace_pointwise_grad_avx2(const mct_conv_geom *g, float *buf, const int8_t *w,
                                     const mct_wsplit *ws, const float *w_scale, float *tmp);
int32_t mct__inplace_depthwise_grad_avx2(const mct_conv_geom *g, float *buf, const int8_t *w,
                                         const mct_wsplit *ws, const float *w_scale);
#else
#define MCT_IG_X86 0
#endif

/* gx[c] += gv * w[c] for c < n. */
static inline void mct__ig_axpy(float *gx, float gv, const int8_t *w, int32_t n) {
  for (int32_t c = 0; c < n; ++c) gx[c] += gv * (float)w[c];
}

int mct_pointwise_grad_input_f32_inplace(const mct_conv_geom *g, float *buf, const int8_t *w,
                                         const mct_wsplit *ws, const float *w_scale, float *tmp) {
  if (!mct__geom_ok(g) || g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 ||
      g->stride_w != 1 || g->pad_h != 0 || g->pad_w != 0 || !buf || !w || !tmp ||
      !mct__wsplit_ok(ws, g->in_c))
    return MCT_E_ARG;
#if MCT_ARM_DSP && MCT_ARM_FPU
  {
    const int r_ = mct__pointwise_grad_input_f32_inplace_dsp(g, buf, w, ws, w_scale, tmp);
    if (r_ != MCT_ARM_PASS) return r_;
  }
#endif
#if MCT_IG_X86
  if (mct__inplace_pointwise_grad_avx2(g, buf, w, ws, w_scale, tmp)) return MCT_OK;
#endif
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w;
  const int forward = C <= O;
  for (int32_t k = 0; k < npix; ++k) {
    const int32_t p = forward ? k : npix - 1 - k;
    const float *gp = buf + (size_t)p * O;
    for (int32_t o = 0; o < O; ++o) tmp[o] = gp[o];
    float *gx = buf + (size_t)p * C;
    for (int32_t c = 0; c < C; ++c) gx[c] = 0.0f;
    for (int32_t o = 0; o < O; ++o) {
      float gv = tmp[o];
      if (gv == 0.0f) continue;
      if (w_scale) gv *= w_scale[o];
      mct__ig_axpy(gx, gv, w + (size_t)o * C, C);
      if (ws) {
        const int8_t *wt = ws->wt + (size_t)o * ws->n_sel;
        for (int32_t s = 0; s < ws->n_sel; ++s) gx[ws->sel[s]] += gv * (float)wt[s];
      }
    }
  }
  return MCT_OK;
}

/* gx plane tx [in_h][in_w] of one channel scattered from its output-gradient plane tg
 * [out_h][out_w] (already scaled by s_w) and weights wk [kh][kw], as conv_grad.c does. */
static void mct__ig_dw_plane(const mct_conv_geom *g, const float *tg, const int8_t *wk,
                             float *tx) {
  const int32_t H = g->in_h, W = g->in_w, kh = g->k_h, kw = g->k_w;
  for (int32_t k = 0; k < H * W; ++k) tx[k] = 0.0f;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    const int32_t ih0 = oh * g->stride_h - g->pad_h;
    const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = H - ih0 < kh ? H - ih0 : kh;
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const float gv = tg[oh * g->out_w + ow];
      if (gv == 0.0f) continue;
      const int32_t iw0 = ow * g->stride_w - g->pad_w;
      const int32_t j0 = iw0 < 0 ? -iw0 : 0, j1 = W - iw0 < kw ? W - iw0 : kw;
      for (int32_t i = i0; i < i1; ++i) {
        float *xr = tx + (size_t)(ih0 + i) * W + (iw0 + j0);
        const int8_t *wi = wk + i * kw + j0;
        for (int32_t j = 0; j < j1 - j0; ++j) xr[j] += gv * (float)wi[j];
      }
    }
  }
}

int mct_depthwise_grad_input_f32_inplace(const mct_conv_geom *g, float *buf, const int8_t *w,
                                         const mct_wsplit *ws, const float *w_scale, float *tmp) {
  if (!mct__geom_ok(g) || g->groups != g->in_c || g->out_c != g->in_c || !buf || !w || !tmp ||
      !mct__wsplit_ok(ws, g->in_c))
    return MCT_E_ARG;
#if MCT_ARM_DSP && MCT_ARM_FPU
  {
    const int r_ = mct__depthwise_grad_input_f32_inplace_dsp(g, buf, w, ws, w_scale, tmp);
    if (r_ != MCT_ARM_PASS) return r_;
  }
#endif
  const int32_t C = g->in_c, kk = g->k_h * g->k_w;
  const int32_t nout = g->out_h * g->out_w, nin = g->in_h * g->in_w;
  float *tg = tmp, *tx = tmp + nout;
  int32_t c0 = 0; /* channels [0, c0) done by a vectorized path */
#if MCT_IG_X86
  c0 = mct__inplace_depthwise_grad_avx2(g, buf, w, ws, w_scale);
#endif
  int32_t next = 0; /* cursor into the ascending ws->sel */
  while (ws && next < ws->n_sel && ws->sel[next] < c0) ++next;
  for (int32_t c = c0; c < C; ++c) {
    const int8_t *wk = w + (size_t)c * kk;
    if (ws && next < ws->n_sel && ws->sel[next] == c) wk = ws->wt + (size_t)(next++) * kk;
    float *bc = buf + c;
    const float s = w_scale ? w_scale[c] : 1.0f; /* G * s_w, then times w: as conv_grad.c */
    for (int32_t p = 0; p < nout; ++p) tg[p] = bc[(size_t)p * C] * s;
    mct__ig_dw_plane(g, tg, wk, tx);
    for (int32_t p = 0; p < nin; ++p) bc[(size_t)p * C] = tx[p];
  }
  return MCT_OK;
}
