/* depthwise_arm.c: Cortex-M DSP versions of the depthwise int8 kernels: inplace.c's
 * mct_depthwise_s8_inplace and mct_expand_dw_s8, stream.c's mct_expand_dw_s8_rows. Same
 * results bit for bit, same buffers and scratch; entered through -Wl,--wrap like
 * inplace_arm.c (see there).
 *
 *   one channel plane    row by row: interior outputs four at a time with the whole kernel
 *                        row in registers over the raw inputs (the zero point comes off as
 *                        x_zero * the taps' weight sum), border outputs clipped; the raw sums
 *                        of a row requantized together with the channel's constants in
 *                        registers; small planes are first copied into a border of x_zero,
 *                        so that every output is an interior one
 *   expansion (1x1)      per expanded channel, its weight row widened once, pixels streamed
 *   streamed expansion   the 1x1 rows by mct_conv2d_s8 (DSP), the depthwise taps over four
 *                        channels at once (SMLABB / SMLATT on SXTB16 halves), full windows
 *                        without checks and with the zero point folded into the bias
 */
#include "mct_arm.h"

#if MCT_ARM_DSP

#include "mct_internal.h"

int __real_mct_depthwise_s8_inplace(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                    const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                    int8_t *tmp);
int __real_mct_expand_dw_s8(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                            const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                            const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y,
                            int8_t *tmp);
int __real_mct_expand_dw_s8_rows(const mct_conv_geom *g1, const mct_requant *q1,
                                 const int8_t *w1, const int32_t *b1, const mct_conv_geom *g2,
                                 const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                                 const int8_t *x, int8_t *y, int8_t *ring, int8_t *work);

static int mct__pointwise_geom(const mct_conv_geom *g) {
  return g->groups == 1 && g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
         g->pad_h == 0 && g->pad_w == 0;
}

/* ---- one depthwise channel plane ----------------------------------------------------------- */

#define MCT__DW_MAXK 16

/* Raw sums (no zero point) of four outputs sw apart over kernel rows [0, n) starting at x,
 * rows `rs` apart, taps xs apart: the kernel row of KW weights and the 3*SW+KW inputs it
 * meets are loaded once. */
#define MCT__DW_STRIP(KW, SW)                                                                   \
  static void mct__dw_strip_##KW##_##SW(const int8_t *x, size_t xs, size_t rs,                 \
                                        const int8_t *wk, int32_t n, int32_t a[4]) {           \
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                     \
    for (int32_t i = 0; i < n; ++i, x += rs, wk += KW) {                                        \
      int32_t v[3 * SW + KW];                                                                   \
      _Pragma("GCC unroll 16") for (int32_t k = 0; k < 3 * SW + KW; ++k) v[k] = x[(size_t)k * xs]; \
      _Pragma("GCC unroll 16") for (int32_t j = 0; j < KW; ++j) {                               \
        const int32_t wv = wk[j];                                                               \
        a0 += v[j] * wv;                                                                        \
        a1 += v[SW + j] * wv;                                                                   \
        a2 += v[2 * SW + j] * wv;                                                               \
        a3 += v[3 * SW + j] * wv;                                                               \
      }                                                                                         \
    }                                                                                           \
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;                                                 \
  }
MCT__DW_STRIP(3, 1)
MCT__DW_STRIP(3, 2)
MCT__DW_STRIP(5, 1)
MCT__DW_STRIP(5, 2)
MCT__DW_STRIP(7, 1)
MCT__DW_STRIP(7, 2)

static void mct__dw_strip_any(const int8_t *x, size_t xs, size_t rs, const int8_t *wk,
                              int32_t n, int32_t kw, int32_t sw, int32_t a[4]) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  const size_t st = (size_t)sw * xs;
  for (int32_t i = 0; i < n; ++i, x += rs, wk += kw)
    for (int32_t j = 0; j < kw; ++j) {
      const int32_t wv = wk[j];
      const int8_t *p = x + (size_t)j * xs;
      a0 += p[0] * wv;
      a1 += p[st] * wv;
      a2 += p[2 * st] * wv;
      a3 += p[3 * st] * wv;
    }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

static void mct__dw_strip(const int8_t *x, size_t xs, size_t rs, const int8_t *wk, int32_t n,
                          int32_t kw, int32_t sw, int32_t a[4]) {
  switch (kw * 4 + sw) {
    case 3 * 4 + 1: mct__dw_strip_3_1(x, xs, rs, wk, n, a); return;
    case 3 * 4 + 2: mct__dw_strip_3_2(x, xs, rs, wk, n, a); return;
    case 5 * 4 + 1: mct__dw_strip_5_1(x, xs, rs, wk, n, a); return;
    case 5 * 4 + 2: mct__dw_strip_5_2(x, xs, rs, wk, n, a); return;
    case 7 * 4 + 1: mct__dw_strip_7_1(x, xs, rs, wk, n, a); return;
    case 7 * 4 + 2: mct__dw_strip_7_2(x, xs, rs, wk, n, a); return;
    default: mct__dw_strip_any(x, xs, rs, wk, n, kw, sw, a);
  }
}

/* One output (oh, ow) with its window clipped to the image (rows [i0, i1)), zero point
 * subtracted per tap. */
static inline int32_t mct__dw_one(const mct_conv_geom *g, const int8_t *x, size_t xs,
                                  const int8_t *wk, int32_t ih0, int32_t i0, int32_t i1,
                                  int32_t ow, int32_t xz) {
  const int32_t iw0 = ow * g->stride_w - g->pad_w, W = g->in_w, kw = g->k_w;
  const int32_t j0 = iw0 < 0 ? -iw0 : 0, j1 = W - iw0 < kw ? W - iw0 : kw;
  if (j1 <= j0 || i1 <= i0) return 0;
  const size_t rs = (size_t)W * xs;
  const int8_t *xr = x + ((size_t)(ih0 + i0) * W + (size_t)(iw0 + j0)) * xs;
  const int8_t *wr = wk + i0 * kw + j0;
  int32_t acc = 0;
  for (int32_t i = i0; i < i1; ++i, xr += rs, wr += kw) {
    const int8_t *p = xr;
    for (int32_t j = 0; j < j1 - j0; ++j, p += xs) acc += ((int32_t)*p - xz) * wr[j];
  }
  return acc;
}

#define MCT__DW_ROW 64 /* outputs of a plane row summed before they are requantized */

/* Requantize n raw sums (minus corr) of channel c into y, ys apart: a tight loop that keeps
 * the channel's constants in registers. */
static void mct__dw_store(const int32_t *acc, int32_t n, int32_t corr, const mct__arq *c,
                          const mct__arm_rq *r, int8_t *y, size_t ys) {
  const int32_t yz = r->y_zero, lo = r->act_min, hi = r->act_max;
  if (c->sh >= 0) {
    const int32_t bias = c->bias, mult = c->mult, sh = c->sh;
    for (int32_t k = 0; k < n; ++k, y += ys)
      *y = mct__arm_out_fast(acc[k] - corr, bias, mult, sh, yz, lo, hi);
  } else {
    for (int32_t k = 0; k < n; ++k, y += ys) *y = mct__arm_out(r, c, acc[k] - corr);
  }
}

/* The plane of one channel: input (h, w) at x[(h * in_w + w) * xs], output (oh, ow) to
 * y[(oh * out_w + ow) * ys], weights wk [kh][kw], requantized as output channel o. Row by
 * row: raw sums of up to 64 outputs (interior ones four at a time by the strips, border ones
 * clipped, with the zero point already off), then requantized together. */
static void mct__arm_dw_plane(const mct_conv_geom *g, const mct__arm_rq *r_in, const int8_t *x,
                              size_t xs, const int8_t *wk, int32_t o, int8_t *y, size_t ys) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  const int32_t H = g->in_h, W = g->in_w, OW = g->out_w, kh = g->k_h, kw = g->k_w;
  const int32_t sh = g->stride_h, sw = g->stride_w, pw = g->pad_w, xz = r->x_zero;
  const mct__arq c = mct__arm_ch(r, o);
  int32_t rowsum[MCT__DW_MAXK], acc[MCT__DW_ROW];
  for (int32_t i = 0; i < kh; ++i) {
    rowsum[i] = 0;
    for (int32_t j = 0; j < kw; ++j) rowsum[i] += wk[i * kw + j];
  }
  /* interior outputs: every tap column inside the image */
  int32_t oa = (pw + sw - 1) / sw, ob = W - kw + pw >= 0 ? (W - kw + pw) / sw + 1 : 0;
  if (ob > OW) ob = OW;
  if (oa > ob) oa = ob;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    const int32_t ih0 = oh * sh - g->pad_h;
    const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = H - ih0 < kh ? H - ih0 : kh;
    int32_t wsum = 0;
    for (int32_t i = i0; i < i1; ++i) wsum += rowsum[i];
    const int32_t corr = xz * wsum;
    const int8_t *xrow = x + (size_t)(ih0 + i0) * W * xs;
    int8_t *yr = y + (size_t)oh * OW * ys;
    for (int32_t s0 = 0; s0 < OW; s0 += MCT__DW_ROW) {
      const int32_t s1 = OW - s0 < MCT__DW_ROW ? OW : s0 + MCT__DW_ROW;
      int32_t ow = s0;
      /* raw sums: interior strips minus nothing, borders with the zero point taken off
       * per tap and corr added back so that all of them are corrected alike below */
      for (; ow < s1 && ow < oa; ++ow)
        acc[ow - s0] = mct__dw_one(g, x, xs, wk, ih0, i0, i1, ow, xz) + corr;
      if (i1 > i0)
        for (; ow + 4 <= s1 && ow + 4 <= ob; ow += 4)
          mct__dw_strip(xrow + (size_t)(ow * sw - pw) * xs, xs, (size_t)W * xs, wk + i0 * kw,
                        i1 - i0, kw, sw, acc + (ow - s0));
      if (i1 > i0) /* interior outputs left over by the strips: raw sums, one at a time */
        for (; ow < s1 && ow < ob; ++ow) {
          const int8_t *p = xrow + (size_t)(ow * sw - pw) * xs, *q = wk + i0 * kw;
          int32_t a = 0;
          for (int32_t i = i0; i < i1; ++i, p += (size_t)W * xs, q += kw)
            for (int32_t j = 0; j < kw; ++j) a += p[(size_t)j * xs] * q[j];
          acc[ow - s0] = a;
        }
      for (; ow < s1; ++ow)
        acc[ow - s0] = mct__dw_one(g, x, xs, wk, ih0, i0, i1, ow, xz) + corr;
      mct__dw_store(acc, s1 - s0, corr, &c, r, yr + (size_t)s0 * ys, ys);
    }
  }
}

#define MCT__DW_PAD_MAX 1024 /* bytes of a zero-point-padded plane copied to the stack */

/* Small planes, where clipped border outputs would dominate: the plane is copied into a
 * stack buffer with a border of x_zero (whose taps then add (x_zero - x_zero) * w = 0), so
 * every output is an interior one. Falls back to the clipped plane for large planes. */
static void mct__arm_dw_plane_pad(const mct_conv_geom *g, const mct__arm_rq *r, const int8_t *x,
                                  size_t xs, const int8_t *wk, int32_t o, int8_t *y, size_t ys) {
  const int32_t ph = g->pad_h, pw = g->pad_w, H = g->in_h, W = g->in_w;
  const int32_t HP = H + 2 * ph, WP = W + 2 * pw;
  if ((ph == 0 && pw == 0) || HP * WP > MCT__DW_PAD_MAX || HP * WP > 4 * H * W) {
    mct__arm_dw_plane(g, r, x, xs, wk, o, y, ys);
    return;
  }
  int8_t pad[MCT__DW_PAD_MAX];
  memset(pad, r->x_zero, (size_t)HP * WP);
  for (int32_t h = 0; h < H; ++h) {
    int8_t *d = pad + (size_t)(h + ph) * WP + pw;
    const int8_t *src = x + (size_t)h * W * xs;
    for (int32_t w = 0; w < W; ++w) d[w] = src[(size_t)w * xs];
  }
  mct_conv_geom gp = *g;
  gp.in_h = HP, gp.in_w = WP, gp.pad_h = 0, gp.pad_w = 0;
  mct__arm_dw_plane(&gp, r, pad, 1, wk, o, y, ys);
}

/* Weights of depthwise channel o: its row of w, or its trained slice row (cursor *next). */
static inline const int8_t *mct__arm_dw_row(const int8_t *w, const mct_wsplit *ws, int32_t o,
                                            int32_t kk, int32_t *next) {
  if (ws && *next < ws->n_sel && ws->sel[*next] == o) return ws->wt + (size_t)(*next)++ * kk;
  return w + (size_t)o * kk;
}

int __wrap_mct_depthwise_s8_inplace(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                    const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                    int8_t *tmp) {
  if (!mct__geom_ok(g) || g->groups != g->in_c || g->out_c != g->in_c || !mct__requant_ok(q) ||
      !buf || !w || !tmp || !mct__wsplit_ok(ws, g->in_c) || g->k_h > MCT__DW_MAXK)
    return __real_mct_depthwise_s8_inplace(g, q, buf, w, ws, bias, tmp);
  const mct__arm_rq r = mct__arm_rq_of(q, bias);
  const int32_t C = g->in_c, kk = g->k_h * g->k_w, nout = g->out_h * g->out_w;
  int32_t next = 0;
  for (int32_t c = 0; c < C; ++c) {
    const int8_t *wk = mct__arm_dw_row(w, ws, c, kk, &next);
    mct__arm_dw_plane_pad(g, &r, buf + c, (size_t)C, wk, c, tmp, 1);
    int8_t *yc = buf + c;
    for (int32_t p = 0; p < nout; ++p) yc[(size_t)p * C] = tmp[p];
  }
  return MCT_OK;
}

/* ---- expansion fused into the depthwise conv ------------------------------------------------- */

/* Channel e of a 1x1 conv for all npix pixels into the plane t (four pixels per weight load;
 * the zero point as x_zero * sum of the weights, as inplace.c). */
/* Channel e of a 1x1 conv with few input channels (C = 4 * G, G <= 8): the weight row's
 * pairs in registers, each pixel's bytes widened on the fly (raw; the zero point comes off
 * through corr), the channel's constants in registers. */
static inline void mct__pw_channel_small(const int8_t *x, int32_t npix, const int32_t G,
                                         const uint32_t *wp, int32_t corr, const mct__arq *c,
                                         int32_t yz, int32_t lo, int32_t hi, int8_t *t) {
  uint32_t w[16];
#pragma GCC unroll 16
  for (int32_t k = 0; k < 2 * G; ++k) w[k] = wp[k];
  const int32_t bias = c->bias, mult = c->mult, sh = c->sh;
  for (int32_t p = 0; p < npix; ++p, x += 4 * G) {
    int32_t a = 0;
#pragma GCC unroll 8
    for (int32_t g = 0; g < G; ++g) {
      const uint32_t v = mct__ld32(x + 4 * g);
      a = __smlad((int32_t)__sxtb16(v), (int32_t)w[2 * g], a);
      a = __smlad((int32_t)mct__sxtb16_hi(v), (int32_t)w[2 * g + 1], a);
    }
    t[p] = mct__arm_out_fast(a - corr, bias, mult, sh, yz, lo, hi);
  }
}

#define MCT__PWC(G)                                                                           \
  static void mct__pw_channel_##G(const int8_t *x, int32_t npix, const uint32_t *wp,         \
                                  int32_t corr, const mct__arq *c, int32_t yz, int32_t lo,   \
                                  int32_t hi, int8_t *t) {                                   \
    mct__pw_channel_small(x, npix, G, wp, corr, c, yz, lo, hi, t);                           \
  }
MCT__PWC(2)
MCT__PWC(4)
MCT__PWC(6)
MCT__PWC(8)

static void mct__arm_pw_channel(const mct__arm_rq *r_in, const int8_t *x, int32_t npix, int32_t C,
                                const int8_t *we, int32_t e, int8_t *t) {
  const mct__arm_rq rq = *r_in, *r = &rq; /* a local copy: int8_t stores cannot alias it */
  int32_t sw = 0;
  for (int32_t c = 0; c < C; ++c) sw += we[c];
  const int32_t corr = r->x_zero * sw;
  const mct__arq ch = mct__arm_ch(r, e);
  int32_t p = 0, a[4];
  if (C % 4 == 0 && C <= 32 && (C / 4) % 2 == 0 && ch.sh >= 0) {
    uint32_t wp[16];
    mct__arm_pairs(we, C, 0, wp);
    const int32_t yz = r->y_zero, lo = r->act_min, hi = r->act_max;
    switch (C / 4) {
      case 2: mct__pw_channel_2(x, npix, wp, corr, &ch, yz, lo, hi, t); return;
      case 4: mct__pw_channel_4(x, npix, wp, corr, &ch, yz, lo, hi, t); return;
      case 6: mct__pw_channel_6(x, npix, wp, corr, &ch, yz, lo, hi, t); return;
      default: mct__pw_channel_8(x, npix, wp, corr, &ch, yz, lo, hi, t); return;
    }
  }
  if (C <= MCT_ARM_XMAX) { /* the weight row widened once, four pixels per pass */
    uint32_t wx[MCT_ARM_XMAX / 2];
    mct__arm_widen(we, 0, C, wx);
    for (; p + 4 <= npix; p += 4) {
      mct__arm_dot4x(wx, C, x + (size_t)p * C, (size_t)C, a);
      for (int32_t k = 0; k < 4; ++k) t[p + k] = mct__arm_out(r, &ch, a[k] - corr);
    }
    for (; p < npix; ++p)
      t[p] = mct__arm_out(r, &ch, mct__arm_dot1x(wx, C, x + (size_t)p * C) - corr);
    return;
  }
  for (; p + 4 <= npix; p += 4) {
    mct__arm_dot4(we, 0, x + (size_t)p * C, (size_t)C, C, a);
    for (int32_t k = 0; k < 4; ++k) t[p + k] = mct__arm_out(r, &ch, a[k] - corr);
  }
  for (; p < npix; ++p)
    t[p] = mct__arm_out(r, &ch, mct__arm_dot1(we, 0, x + (size_t)p * C, C) - corr);
}

int __wrap_mct_expand_dw_s8(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                            const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                            const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y,
                            int8_t *tmp) {
  if (!mct__geom_ok(g1) || !mct__pointwise_geom(g1) || !mct__geom_ok(g2) ||
      !mct__requant_ok(q1) || !mct__requant_ok(q2) || !w1 || !w2 || !x || !y || !tmp ||
      g2->in_h != g1->out_h || g2->in_w != g1->out_w || g2->in_c != g1->out_c ||
      g2->groups != g2->in_c || g2->k_h > MCT__DW_MAXK)
    return __real_mct_expand_dw_s8(g1, q1, w1, b1, g2, q2, w2, b2, x, y, tmp);
  const mct__arm_rq r1 = mct__arm_rq_of(q1, b1), r2 = mct__arm_rq_of(q2, b2);
  const int32_t C = g1->in_c, E = g1->out_c, O = g2->out_c, m = O / E, kk = g2->k_h * g2->k_w;
  const int32_t npix = g1->in_h * g1->in_w;
  for (int32_t e = 0; e < E; ++e) {
    mct__arm_pw_channel(&r1, x, npix, C, w1 + (size_t)e * C, e, tmp);
    for (int32_t k = 0; k < m; ++k) {
      const int32_t o = e * m + k;
      mct__arm_dw_plane_pad(g2, &r2, tmp, 1, w2 + (size_t)o * kk, o, y + o, (size_t)O);
    }
  }
  return MCT_OK;
}

/* ---- streamed expansion + depthwise (stream.c) ------------------------------------------ */

/* Four channels of one output pixel: sum over the valid taps of (v - x_zero) * w, channels
 * e..e+3 at once (SXTB16 splits even/odd channels; SMLABB / SMLATT keep them apart). */
static inline void mct__stream_px4(const int8_t *const *rows, const int8_t *wt, int32_t kh,
                                   int32_t kw, int32_t left, int32_t W, int32_t E, int32_t e,
                                   uint32_t zz, int32_t a[4]) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int32_t i = 0; i < kh; ++i) {
    if (!rows[i]) continue;
    for (int32_t j = 0; j < kw; ++j) {
      const int32_t col = left + j;
      if (col < 0 || col >= W) continue;
      const uint32_t v = mct__ld32(rows[i] + (size_t)col * E + e);
      const uint32_t wv = mct__ld32(wt + (size_t)(i * kw + j) * E + e);
      const int32_t ve = (int32_t)__ssub16(__sxtb16(v), zz);
      const int32_t vo = (int32_t)__ssub16(mct__sxtb16_hi(v), zz);
      const int32_t we = (int32_t)__sxtb16(wv), wo = (int32_t)mct__sxtb16_hi(wv);
      a0 = __smlabb(ve, we, a0);
      a2 = __smlatt(ve, we, a2);
      a1 = __smlabb(vo, wo, a1);
      a3 = __smlatt(vo, wo, a3);
    }
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* Four channels of one output pixel whose window lies inside the image: the raw sums
 * sum v * w over all taps (the zero point comes off as x_zero * wsum[e] afterwards). rows[i]
 * points at the window's first column in ring row i, channel e; wt at tap 0, channel e. */
static inline void mct__stream_full4(const int8_t *const *rows, const int8_t *wt, int32_t kh,
                                     int32_t kw, int32_t E, int32_t a[4]) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int32_t i = 0; i < kh; ++i) {
    const int8_t *p = rows[i], *q = wt + (size_t)i * kw * E;
    for (int32_t j = 0; j < kw; ++j, p += E, q += E) {
      const uint32_t v = mct__ld32(p), wv = mct__ld32(q);
      const int32_t ve = (int32_t)__sxtb16(v), vo = (int32_t)mct__sxtb16_hi(v);
      const int32_t we = (int32_t)__sxtb16(wv), wo = (int32_t)mct__sxtb16_hi(wv);
      a0 = __smlabb(ve, we, a0);
      a2 = __smlatt(ve, we, a2);
      a1 = __smlabb(vo, wo, a1);
      a3 = __smlatt(vo, wo, a3);
    }
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* One output pixel, any window: channels e.. in fours (full windows without checks). tab:
 * the channels' constants with x_zero * wsum[e] folded into the bias (exact), or NULL. */
static void mct__stream_pixel(const int8_t *const *rows, const int8_t *wt, const int32_t *wsum,
                              const mct__arm_rq *r_in, const mct__rqc *tab, int32_t kh,
                              int32_t kw, int32_t left, int32_t W, int32_t E, int full,
                              int8_t *out) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  const int32_t yz = r->y_zero, lo = r->act_min, hi = r->act_max;
  const uint32_t zz = mct__zz(r->x_zero);
  const int8_t *fr[MCT__DW_MAXK];
  if (full)
    for (int32_t i = 0; i < kh; ++i) fr[i] = rows[i] + (size_t)left * E;
  int32_t e = 0, a[4];
  for (; e + 4 <= E; e += 4) {
    if (full) {
      const int8_t *fe[MCT__DW_MAXK];
      for (int32_t i = 0; i < kh; ++i) fe[i] = fr[i] + e;
      mct__stream_full4(fe, wt + e, kh, kw, E, a);
      if (tab) { /* the zero point is folded into the table's bias */
        for (int32_t t = 0; t < 4; ++t) out[e + t] = mct__arm_out_t(tab + e + t, a[t], yz, lo, hi);
        continue;
      }
      for (int32_t t = 0; t < 4; ++t) a[t] -= r->x_zero * wsum[e + t];
    } else {
      mct__stream_px4(rows, wt, kh, kw, left, W, E, e, zz, a);
    }
    for (int32_t t = 0; t < 4; ++t) {
      const mct__arq c = mct__arm_ch(r, e + t);
      out[e + t] = mct__arm_out(r, &c, a[t]);
    }
  }
  for (; e < E; ++e) {
    int32_t acc = 0;
    for (int32_t i = 0; i < kh; ++i) {
      if (!rows[i]) continue;
      for (int32_t j = 0; j < kw; ++j) {
        const int32_t col = left + j;
        if (col < 0 || col >= W) continue;
        acc += ((int32_t)rows[i][(size_t)col * E + e] - r->x_zero) *
               wt[(size_t)(i * kw + j) * E + e];
      }
    }
    const mct__arq c = mct__arm_ch(r, e);
    out[e] = mct__arm_out(r, &c, acc);
  }
}

int __wrap_mct_expand_dw_s8_rows(const mct_conv_geom *g1, const mct_requant *q1,
                                 const int8_t *w1, const int32_t *b1, const mct_conv_geom *g2,
                                 const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                                 const int8_t *x, int8_t *y, int8_t *ring, int8_t *work) {
  if (!g1 || !g2 || !q1 || !q2 || !x || !y || !ring || !work || !b1 || !b2 ||
      g2->k_h > MCT__DW_MAXK || g2->in_c != g1->out_c || g2->out_c != g1->out_c ||
      g2->groups != g1->out_c || g2->in_h != g1->in_h || g2->in_w != g1->in_w ||
      !mct__pointwise_geom(g1) || !mct__requant_ok(q2))
    return __real_mct_expand_dw_s8_rows(g1, q1, w1, b1, g2, q2, w2, b2, x, y, ring, work);
  const int32_t H = g1->in_h, W = g1->in_w, C = g1->in_c, E = g1->out_c;
  const int32_t kh = g2->k_h, kw = g2->k_w, sh = g2->stride_h, sw = g2->stride_w;
  const int32_t ph = g2->pad_h, pw = g2->pad_w, Ho = g2->out_h, Wo = g2->out_w;
  const size_t RI = (size_t)W * C, RE = (size_t)W * E, RO = (size_t)Wo * E;
  /* work as stream.c lays it out: output row, weights by tap, then 4 * E bytes (here the
   * per-channel weight sums, for the zero point of full windows) */
  int8_t *row_out = work, *wt = work + RO;
  int32_t *wsum = (int32_t *)(work + (RO + (size_t)kh * kw * E + 15) / 16 * 16);
  for (int32_t e = 0; e < E; ++e) {
    wsum[e] = 0;
    for (int32_t t = 0; t < kh * kw; ++t) {
      wt[(size_t)t * E + e] = w2[(size_t)e * kh * kw + t];
      wsum[e] += w2[(size_t)e * kh * kw + t];
    }
  }
  const mct__arm_rq r = mct__arm_rq_of(q2, b2);
  mct__rqc tab[MCT_ARM_TABLE];
  const mct__rqc *tp = NULL;
  if (E <= MCT_ARM_TABLE && mct__arm_table(&r, E, wsum, r.x_zero, tab)) tp = tab;
  mct_conv_geom row1 = *g1;
  row1.in_h = row1.out_h = 1;
  int32_t done = 0;
  int st = MCT_OK;
  for (int32_t ro = 0; ro < Ho; ++ro) {
    const int32_t top = ro * sh - ph;
    int32_t need = top + kh;
    if (need > H) need = H;
    for (; done < need; ++done)
      st |= mct_conv2d_s8(&row1, q1, x + (size_t)done * RI, w1, NULL, b1,
                          ring + (size_t)(done % kh) * RE);
    const int8_t *rows[MCT__DW_MAXK];
    int rows_full = 1;
    for (int32_t i = 0; i < kh; ++i) {
      const int32_t hr = top + i;
      rows[i] = hr < 0 || hr >= H ? NULL : ring + (size_t)(hr % kh) * RE;
      rows_full &= rows[i] != NULL;
    }
    for (int32_t ow = 0; ow < Wo; ++ow) {
      const int32_t left = ow * sw - pw;
      const int full = rows_full && left >= 0 && left + kw <= W;
      mct__stream_pixel(rows, wt, wsum, &r, tp, kh, kw, left, W, E, full, row_out + (size_t)ow * E);
    }
    memcpy(y + (size_t)ro * RO, row_out, RO);
  }
  return st;
}

#else
typedef int mct__depthwise_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
