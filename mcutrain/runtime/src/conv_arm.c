/* conv_arm.c: Cortex-M DSP (SMLAD) paths of the int8 convolution and linear layers, chosen by
 * conv.c on ARMv7E-M cores (see mct_arm.h). Same results as conv.c, bit for bit.
 *
 *   pointwise  per pixel, four output channels at a time: each group of four input channels
 *              is loaded and widened once (SXTB16, minus the zero point) and meets the four
 *              weight rows in eight SMLADs (16 MACs).
 *   linear     the pointwise kernel on one pixel.
 * Other geometries (depthwise, general) stay with conv.c's loops (return 0).
 */
#include "mct_arm.h"

#if MCT_ARM_DSP

/* All O outputs of one pixel xp (C channels) of a 1x1 conv into yp. xp is read (widened into
 * the stack, with the trained slice's channels gathered and widened after it) before any
 * output is written, so yp may overlap xp when C + n_sel <= MCT_ARM_XMAX. */
void mct__arm_pw_pixel(const mct__arm_rq *r_in, const int8_t *xp, int32_t C, int32_t O,
                       const int8_t *w, const mct_wsplit *ws, int8_t *yp) {
  const mct__arm_rq rq = *r_in, *r = &rq; /* a local copy: int8_t stores cannot alias it */
  const int32_t xz = r->x_zero, ns = ws ? ws->n_sel : 0;
  if (C + ns > MCT_ARM_XMAX) { /* rare: no widened copy */
    int32_t o = 0, a[4];
    for (; o + 4 <= O; o += 4) {
      mct__arm_dot4(xp, xz, w + (size_t)o * C, (size_t)C, C, a);
      for (int32_t k = 0; k < 4; ++k) {
        if (ws) a[k] += mct__arm_dot_sel(xp, ws->sel, ws->wt + (size_t)(o + k) * ns, ns, 1, xz);
        const mct__arq c = mct__arm_ch(r, o + k);
        yp[o + k] = mct__arm_out(r, &c, a[k]);
      }
    }
    for (; o < O; ++o) {
      int32_t acc = mct__arm_dot1(xp, xz, w + (size_t)o * C, C);
      if (ws) acc += mct__arm_dot_sel(xp, ws->sel, ws->wt + (size_t)o * ns, ns, 1, xz);
      const mct__arq c = mct__arm_ch(r, o);
      yp[o] = mct__arm_out(r, &c, acc);
    }
    return;
  }
  uint32_t xe[MCT_ARM_XMAX / 2 + 4], *xs = xe;
  mct__arm_widen(xp, xz, C, xe);
  if (ns) { /* the slice's input channels, widened after x (word aligned) */
    xs = xe + (C + 1) / 2 + 1;
    mct__arm_widen_sel(xp, ws->sel, xz, ns, xs);
  }
  int32_t o = 0, a[4];
  for (; o + 4 <= O; o += 4) {
    mct__arm_dot4x(xe, C, w + (size_t)o * C, (size_t)C, a);
    if (ns) {
      int32_t b[4];
      mct__arm_dot4x(xs, ns, ws->wt + (size_t)o * ns, (size_t)ns, b);
      a[0] += b[0], a[1] += b[1], a[2] += b[2], a[3] += b[3];
    }
    for (int32_t k = 0; k < 4; ++k) {
      const mct__arq c = mct__arm_ch(r, o + k);
      yp[o + k] = mct__arm_out(r, &c, a[k]);
    }
  }
  for (; o < O; ++o) {
    int32_t acc = mct__arm_dot1x(xe, C, w + (size_t)o * C);
    if (ns) acc += mct__arm_dot1x(xs, ns, ws->wt + (size_t)o * ns);
    const mct__arq c = mct__arm_ch(r, o);
    yp[o] = mct__arm_out(r, &c, acc);
  }
}

#define MCT__PAIR_C MCT_ARM_PAIR_C

/* Two pixels x0p, x1p (C channels, no trained slice) of a 1x1 conv: both widened first (so
 * their outputs may overlap them, as the in-place kernel allows), then two output channels
 * at a time: each weight word is widened once for both pixels (1.1 instructions per MAC). */
void mct__arm_pw_pair(const mct__arm_rq *r_in, const int8_t *x0p, const int8_t *x1p, int32_t C,
                      int32_t O, const int8_t *w, int8_t *y0, int8_t *y1) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  uint32_t xa[MCT__PAIR_C / 2 + 4], xb[MCT__PAIR_C / 2 + 4];
  mct__arm_widen(x0p, r->x_zero, C, xa);
  mct__arm_widen(x1p, r->x_zero, C, xb);
  const int32_t G = C / 4;
  int32_t o = 0;
  for (; o + 2 <= O; o += 2) {
    const int8_t *w0 = w + (size_t)o * C, *w1 = w0 + C;
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    for (int32_t g = 0; g < G; ++g) {
      const uint32_t u = mct__ld32(w0 + 4 * g), v = mct__ld32(w1 + 4 * g);
      const int32_t ue = (int32_t)__sxtb16(u), uo = (int32_t)mct__sxtb16_hi(u);
      const int32_t ve = (int32_t)__sxtb16(v), vo = (int32_t)mct__sxtb16_hi(v);
      const int32_t pe = (int32_t)xa[2 * g], po = (int32_t)xa[2 * g + 1];
      const int32_t qe = (int32_t)xb[2 * g], qo = (int32_t)xb[2 * g + 1];
      a00 = __smlad(pe, ue, a00);
      a00 = __smlad(po, uo, a00);
      a01 = __smlad(pe, ve, a01);
      a01 = __smlad(po, vo, a01);
      a10 = __smlad(qe, ue, a10);
      a10 = __smlad(qo, uo, a10);
      a11 = __smlad(qe, ve, a11);
      a11 = __smlad(qo, vo, a11);
    }
    const int16_t *ta = (const int16_t *)(xa + 2 * G), *tb = (const int16_t *)(xb + 2 * G);
    for (int32_t c = 4 * G; c < C; ++c) {
      a00 += ta[c - 4 * G] * w0[c], a01 += ta[c - 4 * G] * w1[c];
      a10 += tb[c - 4 * G] * w0[c], a11 += tb[c - 4 * G] * w1[c];
    }
    const mct__arq c0 = mct__arm_ch(r, o), c1 = mct__arm_ch(r, o + 1);
    y0[o] = mct__arm_out(r, &c0, a00);
    y0[o + 1] = mct__arm_out(r, &c1, a01);
    y1[o] = mct__arm_out(r, &c0, a10);
    y1[o + 1] = mct__arm_out(r, &c1, a11);
  }
  for (; o < O; ++o) {
    const mct__arq c = mct__arm_ch(r, o);
    y0[o] = mct__arm_out(r, &c, mct__arm_dot1x(xa, C, w + (size_t)o * C));
    y1[o] = mct__arm_out(r, &c, mct__arm_dot1x(xb, C, w + (size_t)o * C));
  }
}

/* sum_k xw[k] * ww[k] over K pairs (K a multiple of 4 unrolled). */
static inline int32_t mct__pairs_dot(const uint32_t *xw, const uint32_t *ww, int32_t K) {
  int32_t a = 0, k = 0;
  for (; k + 4 <= K; k += 4) {
    a = __smlad((int32_t)xw[k], (int32_t)ww[k], a);
    a = __smlad((int32_t)xw[k + 1], (int32_t)ww[k + 1], a);
    a = __smlad((int32_t)xw[k + 2], (int32_t)ww[k + 2], a);
    a = __smlad((int32_t)xw[k + 3], (int32_t)ww[k + 3], a);
  }
  for (; k < K; ++k) a = __smlad((int32_t)xw[k], (int32_t)ww[k], a);
  return a;
}

#define MCT__TILE 16
#define MCT__XS (MCT_ARM_TILE_C / 2) /* words between a tile's pixels */

/* Output channel o of n tile pixels: the weights' K pairs in registers (K a compile-time
 * constant after inlining), constants of the channel in registers. */
static inline void mct__tile_ch(const uint32_t *xt, int32_t n, const uint32_t *ww, const int32_t K,
                                const mct__arq *c, int32_t yz, int32_t lo, int32_t hi,
                                int8_t *yp, int32_t O) {
  uint32_t w[MCT__XS];
#pragma GCC unroll 16
  for (int32_t k = 0; k < K; ++k) w[k] = ww[k];
  for (int32_t p = 0; p < n; ++p, xt += MCT__XS, yp += O) {
    int32_t a = 0;
#pragma GCC unroll 16
    for (int32_t k = 0; k < K; ++k) a = __smlad((int32_t)xt[k], (int32_t)w[k], a);
    *yp = mct__arm_out_fast(a, c->bias, c->mult, c->sh, yz, lo, hi);
  }
}

#define MCT__TILE_K(K)                                                                        \
  static void mct__tile_ch_##K(const uint32_t *xt, int32_t n, const uint32_t *ww,            \
                               const mct__arq *c, int32_t yz, int32_t lo, int32_t hi,        \
                               int8_t *yp, int32_t O) {                                     \
    mct__tile_ch(xt, n, ww, K, c, yz, lo, hi, yp, O);                                        \
  }
MCT__TILE_K(4)
MCT__TILE_K(8)
MCT__TILE_K(12)
MCT__TILE_K(16)

/* A 1x1 conv of few input channels (C <= MCT_ARM_TILE_C), no trained slice, over tiles of
 * up to 16 pixels: the tile's inputs widened first (so y may overlap x as the in-place
 * kernel allows: a tile's outputs only cover inputs of its own and earlier-processed pixels;
 * `backward` takes the tiles from the end), then output channel by output channel with its
 * widened weights and requantization constants held while the tile's pixels go by. */
void mct__arm_pw_tiles(const mct__arm_rq *r_in, const int8_t *x, int32_t npix, int32_t C,
                       int32_t O, const int8_t *w, int8_t *y, int backward) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  const int32_t yz = r->y_zero, lo = r->act_min, hi = r->act_max;
  uint32_t xt[MCT__TILE * MCT__XS], ww[MCT__XS];
  for (int32_t t0 = 0; t0 < npix; t0 += MCT__TILE) {
    const int32_t n = npix - t0 < MCT__TILE ? npix - t0 : MCT__TILE;
    const int32_t first = backward ? npix - t0 - n : t0;
    int32_t K = 0;
    for (int32_t p = 0; p < n; ++p)
      K = mct__arm_pairs(x + (size_t)(first + p) * C, C, r->x_zero, xt + (size_t)p * MCT__XS);
    int8_t *yt = y + (size_t)first * O;
    for (int32_t o = 0; o < O; ++o) {
      mct__arm_pairs(w + (size_t)o * C, C, 0, ww);
      const mct__arq c = mct__arm_ch(r, o);
      int8_t *yp = yt + o;
      if (c.sh < 0) { /* a multiplier >= 1/4: the 64-bit formula */
        const uint32_t *xp = xt;
        for (int32_t p = 0; p < n; ++p, xp += MCT__XS, yp += O) {
          int32_t a = 0;
          for (int32_t k = 0; k < K; ++k) a = __smlad((int32_t)xp[k], (int32_t)ww[k], a);
          *yp = mct__arm_out(r, &c, a);
        }
        continue;
      }
      switch (K) {
        case 4: mct__tile_ch_4(xt, n, ww, &c, yz, lo, hi, yp, O); break;
        case 8: mct__tile_ch_8(xt, n, ww, &c, yz, lo, hi, yp, O); break;
        case 12: mct__tile_ch_12(xt, n, ww, &c, yz, lo, hi, yp, O); break;
        case 16: mct__tile_ch_16(xt, n, ww, &c, yz, lo, hi, yp, O); break;
        default: mct__tile_ch(xt, n, ww, K, &c, yz, lo, hi, yp, O);
      }
    }
  }
}

/* Arguments are checked by the caller (conv.c). */
int mct__conv2d_s8_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y) {
  if (g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 || g->stride_w != 1 ||
      g->pad_h != 0 || g->pad_w != 0)
    return 0;
  const mct__arm_rq r = mct__arm_rq_of(q, bias);
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w;
  if (!ws && C <= MCT_ARM_TILE_C) {
    mct__arm_pw_tiles(&r, x, npix, C, O, w, y, 0);
    return 1;
  }
  int32_t p = 0;
  if (!ws && C <= MCT__PAIR_C)
    for (; p + 2 <= npix; p += 2)
      mct__arm_pw_pair(&r, x + (size_t)p * C, x + (size_t)(p + 1) * C, C, O, w,
                       y + (size_t)p * O, y + (size_t)(p + 1) * O);
  for (; p < npix; ++p)
    mct__arm_pw_pixel(&r, x + (size_t)p * C, C, O, w, ws, y + (size_t)p * O);
  return 1;
}

int mct__linear_s8_dsp(int32_t in_c, int32_t out_c, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y) {
  const mct__arm_rq r = mct__arm_rq_of(q, bias);
  mct__arm_pw_pixel(&r, x, in_c, out_c, w, ws, y);
  return 1;
}

#else
typedef int mct__conv_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
