/* grad_arm.c: Cortex-M (FPv4/FPv5) versions of the float input gradient of 1x1 convolutions:
 * mct_conv2d_grad_input_f32 (dispatched from conv_grad.c) and
 * mct_pointwise_grad_input_f32_inplace (reached through -Wl,--wrap, see inplace_arm.c).
 *
 * The same floats as the portable loops: every gx[p][c] starts at +0 and receives
 * (G[p][o] * s_w[o]) * w[o][c] for o = 0, 1, ... in that order, each product rounded before
 * its addition (VMLA.F32 is not fused). What changes is only which sums are in flight at once
 * (several channels of one or two pixels in place, four pixels x four channels otherwise), so
 * one int8 -> float weight conversion serves several pixels. Skipping a zero G (the portable
 * loops do) or adding its +-0 products gives the same sums: a running sum that starts at +0
 * is never -0, and x + (+-0) = x for any other x. The same holds for the trained slice of a
 * channel-fraction layer: its channels hold zeros in the frozen w, so their sums are taken
 * over the slice's own weights (in o order) and replace the all-zero ones.
 */
#include "mct_arm.h"

#if MCT_ARM_DSP && MCT_ARM_FPU

#include "mct_internal.h"

int __real_mct_pointwise_grad_input_f32_inplace(const mct_conv_geom *g, float *buf,
                                                const int8_t *w, const mct_wsplit *ws,
                                                const float *w_scale, float *tmp);

#define MCT__G2_MAX 256 /* outputs of a second pixel's gradient copied to the stack (1 KB) */

/* Columns [c, c + n) of one or two pixels (n <= 8): out_t[u] = sum_o g_t[o] * w[o * ws + c + u]
 * with g already scaled; g1 NULL for one pixel. */
static void mct__ig_block(const float *g0, const float *g1, const int8_t *w, size_t ws,
                          int32_t O, int32_t n, float *out0, float *out1) {
  if (n == 8 && g1) {
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    float b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, b7 = 0;
    for (int32_t o = 0; o < O; ++o, w += ws) {
      const float x = g0[o], y = g1[o];
      if (x == 0.0f && y == 0.0f) continue;
      float v = (float)w[0];
      a0 = mct__vmla(a0, x, v), b0 = mct__vmla(b0, y, v);
      v = (float)w[1];
      a1 = mct__vmla(a1, x, v), b1 = mct__vmla(b1, y, v);
      v = (float)w[2];
      a2 = mct__vmla(a2, x, v), b2 = mct__vmla(b2, y, v);
      v = (float)w[3];
      a3 = mct__vmla(a3, x, v), b3 = mct__vmla(b3, y, v);
      v = (float)w[4];
      a4 = mct__vmla(a4, x, v), b4 = mct__vmla(b4, y, v);
      v = (float)w[5];
      a5 = mct__vmla(a5, x, v), b5 = mct__vmla(b5, y, v);
      v = (float)w[6];
      a6 = mct__vmla(a6, x, v), b6 = mct__vmla(b6, y, v);
      v = (float)w[7];
      a7 = mct__vmla(a7, x, v), b7 = mct__vmla(b7, y, v);
    }
    out0[0] = a0, out0[1] = a1, out0[2] = a2, out0[3] = a3;
    out0[4] = a4, out0[5] = a5, out0[6] = a6, out0[7] = a7;
    out1[0] = b0, out1[1] = b1, out1[2] = b2, out1[3] = b3;
    out1[4] = b4, out1[5] = b5, out1[6] = b6, out1[7] = b7;
  } else if (n == 8) {
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (int32_t o = 0; o < O; ++o, w += ws) {
      const float x = g0[o];
      if (x == 0.0f) continue;
      a0 = mct__vmla(a0, x, (float)w[0]);
      a1 = mct__vmla(a1, x, (float)w[1]);
      a2 = mct__vmla(a2, x, (float)w[2]);
      a3 = mct__vmla(a3, x, (float)w[3]);
      a4 = mct__vmla(a4, x, (float)w[4]);
      a5 = mct__vmla(a5, x, (float)w[5]);
      a6 = mct__vmla(a6, x, (float)w[6]);
      a7 = mct__vmla(a7, x, (float)w[7]);
    }
    out0[0] = a0, out0[1] = a1, out0[2] = a2, out0[3] = a3;
    out0[4] = a4, out0[5] = a5, out0[6] = a6, out0[7] = a7;
  } else {
    for (int32_t u = 0; u < n; ++u) {
      float a = 0.0f, b = 0.0f;
      const int8_t *wu = w + u;
      for (int32_t o = 0; o < O; ++o, wu += ws) {
        const float v = (float)*wu;
        if (g0[o] != 0.0f) a = mct__vmla(a, g0[o], v);
        if (g1 && g1[o] != 0.0f) b = mct__vmla(b, g1[o], v);
      }
      out0[u] = a;
      if (g1) out1[u] = b;
    }
  }
}

/* Channel c = sel[s] of a trained slice for one pixel: the portable order exactly, the
 * frozen weight's product then the slice weight's for every o (g scaled by w_scale when it
 * is given, as the portable loop does). */
static float mct__slice_ch(const float *g, const float *w_scale, const int8_t *w, int32_t C,
                           const mct_wsplit *ws, int32_t s, int32_t O) {
  const int32_t c = ws->sel[s], n = ws->n_sel;
  float a = 0.0f;
  for (int32_t o = 0; o < O; ++o) {
    float v = g[o];
    if (v == 0.0f) continue;
    if (w_scale) v *= w_scale[o];
    a = mct__vmla(a, v, (float)w[(size_t)o * C + c]);
    a = mct__vmla(a, v, (float)ws->wt[(size_t)o * n + s]);
  }
  return a;
}

/* Whether the frozen weights hold zeros in the slice's channels, as generated code keeps
 * them (mct.h): then a slice channel's sum is its slice weights' sum alone (the frozen terms
 * add +-0 to a sum that is never -0), computed by the blocked kernels. */
static int mct__slice_zero(const int8_t *w, int32_t C, const mct_wsplit *ws, int32_t O) {
  for (int32_t o = 0; o < O; ++o)
    for (int32_t s = 0; s < ws->n_sel; ++s)
      if (w[(size_t)o * C + ws->sel[s]]) return 0;
  return 1;
}

/* All C channels (and the trained slice) of one or two pixels: gx_t[c] from g_t (scaled). */
static void mct__ig_pixels(const float *g0, const float *g1, const int8_t *w,
                           const mct_wsplit *ws, int zero, int32_t O, int32_t C, float *gx0,
                           float *gx1) {
  float t0[8], t1[8];
  for (int32_t c = 0; c < C; c += 8) {
    const int32_t n = C - c < 8 ? C - c : 8;
    mct__ig_block(g0, g1, w + c, (size_t)C, O, n, gx0 + c, g1 ? gx1 + c : t1);
  }
  if (!ws) return;
  if (zero) {
    for (int32_t s = 0; s < ws->n_sel; s += 8) {
      const int32_t n = ws->n_sel - s < 8 ? ws->n_sel - s : 8;
      mct__ig_block(g0, g1, ws->wt + s, (size_t)ws->n_sel, O, n, t0, t1);
      for (int32_t u = 0; u < n; ++u) {
        gx0[ws->sel[s + u]] = t0[u];
        if (g1) gx1[ws->sel[s + u]] = t1[u];
      }
    }
    return;
  }
  for (int32_t s = 0; s < ws->n_sel; ++s) {
    gx0[ws->sel[s]] = mct__slice_ch(g0, NULL, w, C, ws, s, O);
    if (g1) gx1[ws->sel[s]] = mct__slice_ch(g1, NULL, w, C, ws, s, O);
  }
}

static void mct__scaled(const float *g, const float *w_scale, int32_t O, float *dst) {
  if (w_scale)
    for (int32_t o = 0; o < O; ++o) dst[o] = g[o] * w_scale[o];
  else
    for (int32_t o = 0; o < O; ++o) dst[o] = g[o];
}

/* In place, pixel by pixel in the portable kernel's direction; two pixels at a time (the
 * second one's gradient copied to the stack) when out_c <= MCT__G2_MAX: both gradients are
 * copied before either gx is written, and neither gx reaches a pixel still to come. */
int __wrap_mct_pointwise_grad_input_f32_inplace(const mct_conv_geom *g, float *buf,
                                                const int8_t *w, const mct_wsplit *ws,
                                                const float *w_scale, float *tmp) {
  if (!mct__geom_ok(g) || g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 ||
      g->stride_w != 1 || g->pad_h != 0 || g->pad_w != 0 || !buf || !w || !tmp ||
      !mct__wsplit_ok(ws, g->in_c))
    return __real_mct_pointwise_grad_input_f32_inplace(g, buf, w, ws, w_scale, tmp);
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w;
  const int forward = C <= O; /* see inplace_grad.c */
  float g2[MCT__G2_MAX];
  const int zero = ws && mct__slice_zero(w, C, ws, O);
  int32_t k = 0;
  if (O <= MCT__G2_MAX)
    for (; k + 2 <= npix; k += 2) {
      const int32_t p = forward ? k : npix - 1 - k, q = forward ? p + 1 : p - 1;
      mct__scaled(buf + (size_t)p * O, w_scale, O, tmp);
      mct__scaled(buf + (size_t)q * O, w_scale, O, g2);
      mct__ig_pixels(tmp, g2, w, ws, zero, O, C, buf + (size_t)p * C, buf + (size_t)q * C);
    }
  for (; k < npix; ++k) {
    const int32_t p = forward ? k : npix - 1 - k;
    mct__scaled(buf + (size_t)p * O, w_scale, O, tmp);
    mct__ig_pixels(tmp, NULL, w, ws, zero, O, C, buf + (size_t)p * C, NULL);
  }
  return MCT_OK;
}

/* ---- depthwise, in place ------------------------------------------------------------------- */

int __real_mct_depthwise_grad_input_f32_inplace(const mct_conv_geom *g, float *buf,
                                                const int8_t *w, const mct_wsplit *ws,
                                                const float *w_scale, float *tmp);

#define MCT__DWG_TAPS 64 /* kernel taps converted to float on the stack */

/* One channel plane, scattered exactly as the portable loop does (outputs in order, zero
 * gradients skipped, the clipped window of each), with the kernel already in float (wf):
 * a tap costs a load, a VMLA and a store. */
static void mct__dwg_plane(const mct_conv_geom *g, const float *tg, const float *wf, float *tx) {
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
        const float *wi = wf + i * kw + j0;
        for (int32_t j = 0; j < j1 - j0; ++j) xr[j] = mct__vmla(xr[j], gv, wi[j]);
      }
    }
  }
}

int __wrap_mct_depthwise_grad_input_f32_inplace(const mct_conv_geom *g, float *buf,
                                                const int8_t *w, const mct_wsplit *ws,
                                                const float *w_scale, float *tmp) {
  if (!mct__geom_ok(g) || g->groups != g->in_c || g->out_c != g->in_c || !buf || !w || !tmp ||
      !mct__wsplit_ok(ws, g->in_c) || g->k_h * g->k_w > MCT__DWG_TAPS)
    return __real_mct_depthwise_grad_input_f32_inplace(g, buf, w, ws, w_scale, tmp);
  const int32_t C = g->in_c, kk = g->k_h * g->k_w;
  const int32_t nout = g->out_h * g->out_w, nin = g->in_h * g->in_w;
  float *tg = tmp, *tx = tmp + nout, wf[MCT__DWG_TAPS];
  int32_t next = 0; /* cursor into the ascending ws->sel */
  for (int32_t c = 0; c < C; ++c) {
    const int8_t *wk = w + (size_t)c * kk;
    if (ws && next < ws->n_sel && ws->sel[next] == c) wk = ws->wt + (size_t)(next++) * kk;
    for (int32_t t = 0; t < kk; ++t) wf[t] = (float)wk[t];
    float *bc = buf + c;
    const float s = w_scale ? w_scale[c] : 1.0f; /* G * s_w, then times w: as conv_grad.c */
    for (int32_t p = 0; p < nout; ++p) tg[p] = bc[(size_t)p * C] * s;
    mct__dwg_plane(g, tg, wf, tx);
    for (int32_t p = 0; p < nin; ++p) bc[(size_t)p * C] = tx[p];
  }
  return MCT_OK;
}

/* ---- weight gradient of a 1x1 conv, one output channel ------------------------------------ */

#define MCT__GW_PIX 256 /* pixels whose non-zero gradients are listed on the stack */

/* gw[c] = (sum over pixels p in order, G[p][o] != 0, of G[p][o] * (xs[p][c] - x_zero)) * s:
 * the portable loop's sums (same order, zero G skipped), eight channels in registers, the
 * non-zero pixels listed once. Arguments are checked by conv_grad.c. */
int mct__grad_weight_row_f32_dsp(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                                 int32_t x_zero, const float *gy, int32_t gy_c, float s,
                                 float *gw) {
  if (g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 || g->stride_w != 1 ||
      g->pad_h != 0 || g->pad_w != 0 || g->out_h * g->out_w > MCT__GW_PIX)
    return 0;
  const int32_t npix = g->out_h * g->out_w, O = g->out_c;
  int16_t idx[MCT__GW_PIX];
  float gv[MCT__GW_PIX];
  int32_t n = 0;
  for (int32_t p = 0; p < npix; ++p) {
    const float v = gy[(size_t)p * O + gy_c];
    if (v != 0.0f) idx[n] = (int16_t)p, gv[n++] = v;
  }
  int32_t c = 0;
  for (; c + 8 <= n_ch; c += 8) {
    float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    for (int32_t k = 0; k < n; ++k) {
      const int8_t *xp = xs + (size_t)idx[k] * n_ch + c;
      const float v = gv[k];
      a0 = mct__vmla(a0, v, (float)((int32_t)xp[0] - x_zero));
      a1 = mct__vmla(a1, v, (float)((int32_t)xp[1] - x_zero));
      a2 = mct__vmla(a2, v, (float)((int32_t)xp[2] - x_zero));
      a3 = mct__vmla(a3, v, (float)((int32_t)xp[3] - x_zero));
      a4 = mct__vmla(a4, v, (float)((int32_t)xp[4] - x_zero));
      a5 = mct__vmla(a5, v, (float)((int32_t)xp[5] - x_zero));
      a6 = mct__vmla(a6, v, (float)((int32_t)xp[6] - x_zero));
      a7 = mct__vmla(a7, v, (float)((int32_t)xp[7] - x_zero));
    }
    gw[c] = a0 * s, gw[c + 1] = a1 * s, gw[c + 2] = a2 * s, gw[c + 3] = a3 * s;
    gw[c + 4] = a4 * s, gw[c + 5] = a5 * s, gw[c + 6] = a6 * s, gw[c + 7] = a7 * s;
  }
  for (; c < n_ch; ++c) {
    float a = 0.0f;
    for (int32_t k = 0; k < n; ++k)
      a = mct__vmla(a, gv[k], (float)((int32_t)xs[(size_t)idx[k] * n_ch + c] - x_zero));
    gw[c] = a * s;
  }
  return 1;
}

/* Four pixels (gy rows O apart) x four weight columns (rows wstride apart): a[t * 4 + u]. */
static void mct__pg_4x4(const float *gy, int32_t O, const float *w_scale, const int8_t *w,
                        size_t wstride, float a[16]) {
  float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
  float a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
  for (int32_t o = 0; o < O; ++o, w += wstride) {
    float g0 = gy[o], g1 = gy[O + o], g2 = gy[2 * O + o], g3 = gy[3 * O + o];
    if (w_scale) {
      const float s = w_scale[o];
      g0 *= s, g1 *= s, g2 *= s, g3 *= s;
    }
    const float w0 = (float)w[0], w1 = (float)w[1], w2 = (float)w[2], w3 = (float)w[3];
    a00 = mct__vmla(a00, g0, w0), a01 = mct__vmla(a01, g0, w1);
    a02 = mct__vmla(a02, g0, w2), a03 = mct__vmla(a03, g0, w3);
    a10 = mct__vmla(a10, g1, w0), a11 = mct__vmla(a11, g1, w1);
    a12 = mct__vmla(a12, g1, w2), a13 = mct__vmla(a13, g1, w3);
    a20 = mct__vmla(a20, g2, w0), a21 = mct__vmla(a21, g2, w1);
    a22 = mct__vmla(a22, g2, w2), a23 = mct__vmla(a23, g2, w3);
    a30 = mct__vmla(a30, g3, w0), a31 = mct__vmla(a31, g3, w1);
    a32 = mct__vmla(a32, g3, w2), a33 = mct__vmla(a33, g3, w3);
  }
  a[0] = a00, a[1] = a01, a[2] = a02, a[3] = a03, a[4] = a10, a[5] = a11, a[6] = a12;
  a[7] = a13, a[8] = a20, a[9] = a21, a[10] = a22, a[11] = a23, a[12] = a30, a[13] = a31;
  a[14] = a32, a[15] = a33;
}

/* One pixel, one weight column: sum_o (g[o] * s_w[o]) * w[o * wstride]. */
static float mct__pg_1x1(const float *g, const float *w_scale, const int8_t *w, size_t wstride,
                         int32_t O) {
  float a = 0.0f;
  for (int32_t o = 0; o < O; ++o, w += wstride) {
    float v = g[o];
    if (v == 0.0f) continue;
    if (w_scale) v *= w_scale[o];
    a = mct__vmla(a, v, (float)*w);
  }
  return a;
}

/* Columns [0, n) of weights w (rows wstride apart) for pixels [p0, p1): gx[p][col(u)], col(u)
 * = sel[u] when sel is given, else u. */
static void mct__pg_columns(const float *gy, int32_t O, const float *w_scale, const int8_t *w,
                            size_t wstride, int32_t n, const int32_t *sel, int32_t p0,
                            int32_t p1, int32_t C, float *gx) {
  float a[16];
  int32_t p = p0;
  for (; p + 4 <= p1; p += 4) {
    const float *gp = gy + (size_t)p * O;
    int32_t u = 0;
    for (; u + 4 <= n; u += 4) {
      mct__pg_4x4(gp, O, w_scale, w + u, wstride, a);
      for (int32_t t = 0; t < 4; ++t)
        for (int32_t v = 0; v < 4; ++v)
          gx[(size_t)(p + t) * C + (sel ? sel[u + v] : u + v)] = a[t * 4 + v];
    }
    for (; u < n; ++u)
      for (int32_t t = 0; t < 4; ++t)
        gx[(size_t)(p + t) * C + (sel ? sel[u] : u)] =
            mct__pg_1x1(gp + (size_t)t * O, w_scale, w + u, wstride, O);
  }
  for (; p < p1; ++p)
    for (int32_t u = 0; u < n; ++u)
      gx[(size_t)p * C + (sel ? sel[u] : u)] =
          mct__pg_1x1(gy + (size_t)p * O, w_scale, w + u, wstride, O);
}

/* mct_conv2d_grad_input_f32 of a 1x1 conv (stride 1, no padding, groups 1); arguments are
 * checked by conv_grad.c. */
int mct__grad_input_f32_dsp(const mct_conv_geom *g, const float *gy, const int8_t *w,
                            const mct_wsplit *ws, const float *w_scale, float *gx) {
  if (g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 || g->stride_w != 1 ||
      g->pad_h != 0 || g->pad_w != 0)
    return 0;
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w;
  mct__pg_columns(gy, O, w_scale, w, (size_t)C, C, NULL, 0, npix, C, gx);
  if (ws && mct__slice_zero(w, C, ws, O))
    mct__pg_columns(gy, O, w_scale, ws->wt, (size_t)ws->n_sel, ws->n_sel, ws->sel, 0, npix, C, gx);
  else if (ws)
    for (int32_t p = 0; p < npix; ++p)
      for (int32_t s = 0; s < ws->n_sel; ++s)
        gx[(size_t)p * C + ws->sel[s]] = mct__slice_ch(gy + (size_t)p * O, w_scale, w, C, ws, s, O);
  return 1;
}

#else
typedef int mct__grad_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
