/* inplace_arm.c: Cortex-M DSP versions of the memory-saving int8 kernels of inplace.c:
 * mct_pointwise_s8_inplace and mct_conv2d_s8_rows (the depthwise ones, and stream.c's, are in
 * depthwise_arm.c). Same results bit for bit, same buffer discipline (what is read before it
 * is overwritten), same scratch.
 *
 * inplace.c calls them first (after checking the arguments); MCT_ARM_PASS sends what they do
 * not cover back to the portable C.
 *
 *   pointwise in place   few input channels: tiles of pixels (conv_arm.c); otherwise two
 *                        pixels at a time, both read (widened to the stack) before either
 *                        output is written, four or two output channels per SMLAD pass
 *   rows (general conv)  3x3 stride-2 (across) on three channels (the first layer): input rows
 *                        widened once per strip, two pixels x four channels per pass (naked
 *                        assembly); the others as 1x1 convs of im2col'd strips
 *                        (conv_im2col_arm.c); what that does not take (a long trained
 *                        slice, over 576 values per window): small kernels with the weights
 *                        widened to int16 once per call, else an im2col column against four
 *                        int8 weight rows
 */
#include "mct_arm.h"

#if MCT_ARM_DSP

#include "mct_internal.h"


static int mct__pointwise_geom(const mct_conv_geom *g) {
  return g->groups == 1 && g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
         g->pad_h == 0 && g->pad_w == 0;
}

/* ---- pointwise in place ------------------------------------------------------------------ */

int mct__pointwise_s8_inplace_dsp(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                    const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                    int8_t *tmp) {
  if (!mct__geom_ok(g) || !mct__pointwise_geom(g) || !mct__requant_ok(q) || !buf || !w ||
      !tmp || !mct__wsplit_ok(ws, g->in_c))
    return MCT_ARM_PASS;
  const mct__arm_rq r = mct__arm_rq_of(q, bias);
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w;
  const int forward = O <= C; /* see inplace.c */
  if (mct__arm_pw_layer(&r, buf, npix, C, O, w, ws, buf, !forward)) return MCT_OK;
  const int widened = C + (ws ? ws->n_sel : 0) <= MCT_ARM_XMAX; /* pw_pixel reads x first */
  int32_t k = 0;
  if (!ws && C <= MCT_ARM_PAIR_C) /* two pixels read before either output is written */
    for (; k + 2 <= npix; k += 2) {
      const int32_t p = forward ? k : npix - 1 - k, q = forward ? p + 1 : p - 1;
      mct__arm_pw_pair(&r, buf + (size_t)p * C, buf + (size_t)q * C, C, O, w,
                       buf + (size_t)p * O, buf + (size_t)q * O);
    }
  for (; k < npix; ++k) {
    const int32_t p = forward ? k : npix - 1 - k;
    const int8_t *xp = buf + (size_t)p * C;
    if (!widened) {
      memcpy(tmp, xp, (size_t)C);
      xp = tmp;
    }
    mct__arm_pw_pixel(&r, xp, C, O, w, ws, buf + (size_t)p * O);
  }
  return MCT_OK;
}

/* ---- general conv, row by row ------------------------------------------------------------ */

#define MCT__COL_MAX 256 /* int16 entries of one im2col column on the stack (512 B) */

/* col: the window of output (oh, ow) as int16 x - x_zero (0 in the padding), in the weights'
 * order (c, i, j), each group of four stored as (k0, k2, k1, k3) to meet SXTB16's pairs. */
static void mct__im2col(const mct_conv_geom *g, const int8_t *x, int32_t oh, int32_t ow,
                        int32_t xz, int16_t *col) {
  const int32_t C = g->in_c, kh = g->k_h, kw = g->k_w, kk = kh * kw, K = C * kk;
  const int32_t ih0 = oh * g->stride_h - g->pad_h, iw0 = ow * g->stride_w - g->pad_w;
  const int32_t full = K / 4 * 4;
  for (int32_t i = 0; i < kh; ++i) {
    const int32_t ih = ih0 + i;
    for (int32_t j = 0; j < kw; ++j) {
      const int32_t iw = iw0 + j;
      const int in = ih >= 0 && ih < g->in_h && iw >= 0 && iw < g->in_w;
      const int8_t *xp = in ? x + ((size_t)ih * g->in_w + iw) * C : x;
      for (int32_t c = 0; c < C; ++c) {
        const int32_t k = c * kk + i * kw + j;
        const int32_t pos = k < full ? (k & ~3) + ((k & 1) << 1) + ((k & 2) >> 1) : k;
        col[pos] = (int16_t)(in ? (int32_t)xp[c] - xz : 0);
      }
    }
  }
}

/* a[t] = sum_k col[k] * w[t * K + k] for four weight rows. */
static void mct__col_dot4(const int16_t *col, const int8_t *w, int32_t K, int32_t a[4]) {
  const int8_t *w0 = w, *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, k = 0;
  for (; k + 4 <= K; k += 4) {
    const int32_t ce = (int32_t)mct__ld32(col + k), co = (int32_t)mct__ld32(col + k + 2);
    uint32_t v = mct__ld32(w0 + k);
    a0 = __smlad(ce, __sxtb16(v), a0);
    a0 = __smlad(co, mct__sxtb16_hi(v), a0);
    v = mct__ld32(w1 + k);
    a1 = __smlad(ce, __sxtb16(v), a1);
    a1 = __smlad(co, mct__sxtb16_hi(v), a1);
    v = mct__ld32(w2 + k);
    a2 = __smlad(ce, __sxtb16(v), a2);
    a2 = __smlad(co, mct__sxtb16_hi(v), a2);
    v = mct__ld32(w3 + k);
    a3 = __smlad(ce, __sxtb16(v), a3);
    a3 = __smlad(co, mct__sxtb16_hi(v), a3);
  }
  for (; k < K; ++k) {
    const int32_t cv = col[k];
    a0 += cv * w0[k];
    a1 += cv * w1[k];
    a2 += cv * w2[k];
    a3 += cv * w3[k];
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

static void mct__rows_general_dsp(const mct_conv_geom *g, const mct__arm_rq *r_in, const int8_t *x,
                                  const int8_t *w, int32_t oh, int8_t *yr) {
  const mct__arm_rq rq = *r_in, *r = &rq; /* a local copy: int8_t stores cannot alias it */
  const int32_t O = g->out_c, K = g->in_c * g->k_h * g->k_w;
  int16_t col[MCT__COL_MAX] __attribute__((aligned(4)));
  for (int32_t ow = 0; ow < g->out_w; ++ow) {
    mct__im2col(g, x, oh, ow, r->x_zero, col);
    int8_t *yp = yr + (size_t)ow * O;
    int32_t o = 0, a[4];
    for (; o + 4 <= O; o += 4) {
      mct__col_dot4(col, w + (size_t)o * K, K, a);
      for (int32_t t = 0; t < 4; ++t) {
        const mct__arq c = mct__arm_ch(r, o + t);
        yp[o + t] = mct__arm_out(r, &c, a[t]);
      }
    }
    for (; o < O; ++o) {
      int32_t acc = 0;
      for (int32_t k = 0; k < K; ++k) {
        const int32_t pos = k < K / 4 * 4 ? (k & ~3) + ((k & 1) << 1) + ((k & 2) >> 1) : k;
        acc += col[pos] * w[(size_t)o * K + k];
      }
      const mct__arq c = mct__arm_ch(r, o);
      yp[o] = mct__arm_out(r, &c, acc);
    }
  }
}

#define MCT__WQ_MAX 512 /* int16 weights of a small conv widened on the stack (1 KB) */

/* Small general convs (the first layer): the weights widened once per call into wq
 * [O][Kp] int16 in the window's own order (i, j, c), Kp = K rounded up to even; per output
 * pixel the window as int16 (x - x_zero, 0 in the padding), copied row segment by row
 * segment; then SMLAD over pairs of both. */
static void mct__widen_weights(const mct_conv_geom *g, const int8_t *w, int32_t Kp, int16_t *wq) {
  const int32_t C = g->in_c, kh = g->k_h, kw = g->k_w, K = C * kh * kw;
  for (int32_t o = 0; o < g->out_c; ++o) {
    const int8_t *wo = w + (size_t)o * K;
    int16_t *q = wq + (size_t)o * Kp;
    for (int32_t i = 0; i < kh; ++i)
      for (int32_t j = 0; j < kw; ++j)
        for (int32_t c = 0; c < C; ++c) q[(i * kw + j) * C + c] = wo[(c * kh + i) * kw + j];
    if (Kp > K) q[K] = 0;
  }
}

static void mct__rows_small_dsp(const mct_conv_geom *g, const mct__arm_rq *r_in, const int8_t *x,
                                const int16_t *wq, int32_t Kp, const mct__rqc *tab, int32_t oh,
                                int8_t *yr) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  const int32_t C = g->in_c, O = g->out_c, kh = g->k_h, kw = g->k_w, xz = r->x_zero;
  const int32_t yz = r->y_zero, lo = r->act_min, hi = r->act_max;
  const int32_t ih0 = oh * g->stride_h - g->pad_h;
  int16_t col[MCT__COL_MAX] __attribute__((aligned(4)));
  col[Kp - 1] = 0;
  for (int32_t ow = 0; ow < g->out_w; ++ow) {
    const int32_t iw0 = ow * g->stride_w - g->pad_w;
    int16_t *cp = col;
    for (int32_t i = 0; i < kh; ++i) {
      const int32_t ih = ih0 + i;
      const int row_in = ih >= 0 && ih < g->in_h;
      const int8_t *xr = row_in ? x + ((size_t)ih * g->in_w + iw0) * C : x; /* unused if out */
      for (int32_t j = 0; j < kw; ++j, cp += C, xr += C) {
        const int32_t iw = iw0 + j;
        if (!row_in || iw < 0 || iw >= g->in_w) {
          for (int32_t c = 0; c < C; ++c) cp[c] = 0;
        } else {
          for (int32_t c = 0; c < C; ++c) cp[c] = (int16_t)((int32_t)xr[c] - xz);
        }
      }
    }
    int8_t *yp = yr + (size_t)ow * O;
    int32_t o = 0;
    for (; o + 4 <= O; o += 4) {
      const int16_t *q0 = wq + (size_t)o * Kp;
      int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (int32_t k = 0; k < Kp; k += 2) {
        const int32_t cv = (int32_t)mct__ld32(col + k);
        a0 = __smlad(cv, (int32_t)mct__ld32(q0 + k), a0);
        a1 = __smlad(cv, (int32_t)mct__ld32(q0 + Kp + k), a1);
        a2 = __smlad(cv, (int32_t)mct__ld32(q0 + 2 * Kp + k), a2);
        a3 = __smlad(cv, (int32_t)mct__ld32(q0 + 3 * Kp + k), a3);
      }
      yp[o] = mct__arm_out_t(tab + o, a0, yz, lo, hi);
      yp[o + 1] = mct__arm_out_t(tab + o + 1, a1, yz, lo, hi);
      yp[o + 2] = mct__arm_out_t(tab + o + 2, a2, yz, lo, hi);
      yp[o + 3] = mct__arm_out_t(tab + o + 3, a3, yz, lo, hi);
    }
    for (; o < O; ++o) {
      int32_t acc = 0;
      for (int32_t k = 0; k < Kp; ++k) acc += col[k] * wq[(size_t)o * Kp + k];
      yp[o] = mct__arm_out_t(tab + o, acc, yz, lo, hi);
    }
  }
}

/* A 1x1 conv with any stride / padding: one input pixel per output (or none: padding). */
static void mct__rows_1x1_dsp(const mct_conv_geom *g, const mct__arm_rq *r_in, const int8_t *x,
                              const int8_t *w, const mct_wsplit *ws, int32_t oh, int8_t *yr) {
  const mct__arm_rq rq = *r_in, *r = &rq; /* a local copy: int8_t stores cannot alias it */
  const int32_t C = g->in_c, O = g->out_c, ih = oh * g->stride_h - g->pad_h;
  for (int32_t ow = 0; ow < g->out_w; ++ow) {
    const int32_t iw = ow * g->stride_w - g->pad_w;
    int8_t *yp = yr + (size_t)ow * O;
    if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) {
      for (int32_t o = 0; o < O; ++o) {
        const mct__arq c = mct__arm_ch(r, o);
        yp[o] = mct__arm_out(r, &c, 0);
      }
    } else {
      mct__arm_pw_pixel(r, x + ((size_t)ih * g->in_w + iw) * C, C, O, w, ws, yp);
    }
  }
}

/* ---- the first layer: 3x3, stride 2 across, three input channels ---------------------------
 * The output row in strips of MCT__F_S pixels: the strip's three input rows widened to int16
 * (x - x_zero, 0 in the padding) in natural order, so that each window row is a run of nine
 * values starting at 6 * pixel: five int16 pairs (the tenth value meets a zero weight). The
 * weights widened once per call alike (wv[group][row * 5 + pair][channel], four output
 * channels per group, missing channels zero), the requantization constants in a table; then
 * two pixels x four channels per pass (eight accumulators: each input word meets four weight
 * words, each weight word two pixels), the fast requantization of conv_arm.c (same formula,
 * same validity check), four outputs of a pixel clamped and stored as one word. */
#define MCT__F_S 32   /* output pixels of a strip */
#define MCT__F_ROW 200 /* int16 of a widened strip row: (2 S + 1) * 3 values and one more */
#define MCT__F_O 16   /* output channels at most */


/* The fast formula's validity for channels o0..o0+cnt-1 (see conv_arm.c, mct__fast_ok): n
 * products per accumulator. A channel without it gets harmless constants in the kernels and
 * its outputs are computed again exactly (mct__first_fix). */
static int mct__first_fast(const mct__arm_rq *r, int32_t o0, int32_t cnt, int32_t n) {
  const int64_t amax = (int64_t)n * 255 * 128, c1 = 1 + 2 * (int64_t)r->y_zero;
  for (int32_t o = o0; o < o0 + cnt; ++o) {
    const int32_t shift = r->shift[o];
    if (shift > -2 || shift < -31) return 0;
    const int64_t add = c1 * ((int64_t)1 << (-2 - shift));
    if (add >= ((int64_t)1 << 30) || add <= -((int64_t)1 << 30)) return 0;
    const int64_t b = r->bias ? r->bias[o] : 0;
    if (b + amax > INT32_MAX || b - amax < INT32_MIN) return 0;
  }
  return 1;
}

static int mct__first_ok(const mct_conv_geom *g, const mct__arm_rq *r) {
  return g->in_c == 3 && g->k_h == 3 && g->k_w == 3 && g->stride_w == 2 &&
         g->out_c <= MCT__F_O;
}

/* Columns [iw0, iw0 + ncol) of input row ih as int16 x - xz into d (0 outside the image),
 * and one zero after them. */
static void mct__first_widen(const mct_conv_geom *g, const int8_t *x, int32_t ih, int32_t iw0,
                             int32_t ncol, int32_t xz, int16_t *d) {
  int32_t a = 0, b = 0; /* the strip's columns [a, b) inside the image */
  if (ih >= 0 && ih < g->in_h) {
    a = iw0 < 0 ? -iw0 : 0;
    b = iw0 + ncol > g->in_w ? g->in_w - iw0 : ncol;
    if (b < a) b = a;
  }
  for (int32_t t = 0; t < 3 * a; ++t) d[t] = 0;
  for (int32_t t = 3 * b; t <= 3 * ncol; ++t) d[t] = 0;
  if (b == a) return;
  const int8_t *s = x + ((size_t)ih * g->in_w + iw0 + a) * 3;
  int16_t *o = d + 3 * a;
  const int32_t n = 3 * (b - a);
  const uint32_t zz = mct__zz(xz);
  int32_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const uint32_t v = mct__ld32(s + t);
    const uint32_t e = __ssub16(__sxtb16(v), zz), h = __ssub16(mct__sxtb16_hi(v), zz);
    uint32_t lo, hi;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(lo) : "r"(e), "r"(h));
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(hi) : "r"(h), "r"(e));
    mct__st32(o + t, lo);
    mct__st32(o + t + 2, hi);
  }
  for (; t < n; ++t) o[t] = (int16_t)((int32_t)s[t] - xz);
}

/* acc_0j (the pixel at xp) and acc_1j (the one at xp + XO1 - XO0 bytes) += one int16 pair of
 * the pixel (at XO0, XO1) times weight word j at wp + WO + 4 j (j < 4): 12 instructions for
 * 16 MACs, in assembly (two statements of 10 and 9 registers, so that the compiler can
 * always allocate them). Offsets: integer constant expressions.
 * Asm contract: compiler-allocated named operands only (accumulators in and out,
 * temporaries early-clobbered); reads the two pixels' words and wp[WO / 4 .. WO / 4 + 4). */
#define MCT__MAC24(XO0, XO1, WO)                                                              \
  do {                                                                                        \
    __asm__("ldr %[u], [%[xp], %[xo0]]\n\t"                                                   \
            "ldr %[v], [%[xp], %[xo1]]\n\t"                                                   \
            "ldrd %[t0], %[t1], [%[wp], %[wo0]]\n\t"                                          \
            "smlad %[a00], %[u], %[t0], %[a00]\n\t"                                           \
            "smlad %[a10], %[v], %[t0], %[a10]\n\t"                                           \
            "smlad %[a01], %[u], %[t1], %[a01]\n\t"                                           \
            "smlad %[a11], %[v], %[t1], %[a11]"                                               \
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),             \
              [u] "=&r"(u), [v] "=&r"(v), [t0] "=&r"(t0), [t1] "=&r"(t1)                       \
            : [xp] "r"(xp), [wp] "r"(wp), [xo0] "n"(XO0), [xo1] "n"(XO1), [wo0] "n"(WO)        \
            : "memory");                                                                      \
    __asm__("ldrd %[t0], %[t1], [%[wp], %[wo2]]\n\t"                                          \
            "smlad %[a02], %[u], %[t0], %[a02]\n\t"                                           \
            "smlad %[a12], %[v], %[t0], %[a12]\n\t"                                           \
            "smlad %[a03], %[u], %[t1], %[a03]\n\t"                                           \
            "smlad %[a13], %[v], %[t1], %[a13]"                                               \
            : [a02] "+r"(a02), [a03] "+r"(a03), [a12] "+r"(a12), [a13] "+r"(a13),             \
              [t0] "=&r"(t0), [t1] "=&r"(t1)                                                  \
            : [u] "r"(u), [v] "r"(v), [wp] "r"(wp), [wo2] "n"((WO) + 8)                         \
            : "memory");                                                                      \
  } while (0)

/* Step k of a window: pair k % 5 of row k / 5, the second pixel 12 bytes on. */
#define MCT__FXO(k) (2 * (((k) / 5) * MCT__F_ROW + 2 * ((k) % 5)))
#define MCT__F1(k) MCT__MAC24(MCT__FXO(k), MCT__FXO(k) + 12, 16 * (k));
#define MCT__F5(k) MCT__F1(k) MCT__F1(k + 1) MCT__F1(k + 2) MCT__F1(k + 3) MCT__F1(k + 4)

/* n pixels of a strip (rb: its three widened rows, MCT__F_ROW apart), all channels. */
static void mct__first_strip(const int16_t *rb, int32_t n, const uint32_t *wv, const mct__fq *tab,
                             int32_t O, int8_t *yp, uint32_t lo4, uint32_t hi4) {
  for (int32_t o = 0; o < O; o += 4, wv += 60, tab += 4) {
    const mct__fq *f = tab;
    const int16_t *xp = rb;
    int8_t *y0 = yp + o;
    int32_t p = 0;
    for (; p + 2 <= n; p += 2, xp += 12, y0 += 2 * O) {
      int32_t a00 = f[0].bias, a01 = f[1].bias, a02 = f[2].bias, a03 = f[3].bias;
      int32_t a10 = a00, a11 = a01, a12 = a02, a13 = a03;
      const uint32_t *wp = wv;
      uint32_t u, v, t0, t1;
      MCT__F5(0) MCT__F5(5) MCT__F5(10)
      uint32_t v0, v1;
      mct__req24(a00, a01, a02, a03, a10, a11, a12, a13, f, &v0, &v1);
      v0 = mct__clamp4(v0, lo4, hi4), v1 = mct__clamp4(v1, lo4, hi4);
      if (o + 4 <= O) {
        mct__st32(y0, v0);
        mct__st32(y0 + O, v1);
      } else {
        for (int32_t j = 0; j < O - o; ++j)
          y0[j] = (int8_t)(v0 >> 8 * j), y0[O + j] = (int8_t)(v1 >> 8 * j);
      }
    }
    if (p < n) {
      int32_t a0 = f[0].bias, a1 = f[1].bias, a2 = f[2].bias, a3 = f[3].bias;
#pragma GCC unroll 15
      for (int32_t k = 0; k < 15; ++k) {
        const int32_t u = (int32_t)mct__ld32(xp + (k / 5) * MCT__F_ROW + 2 * (k % 5));
        const uint32_t *wk = wv + 4 * k;
        a0 = __smlad(u, (int32_t)wk[0], a0), a1 = __smlad(u, (int32_t)wk[1], a1);
        a2 = __smlad(u, (int32_t)wk[2], a2), a3 = __smlad(u, (int32_t)wk[3], a3);
      }
      a0 = mct__fout(a0, f[0].mult, f[0].add, f[0].shr);
      a1 = mct__fout(a1, f[1].mult, f[1].add, f[1].shr);
      a2 = mct__fout(a2, f[2].mult, f[2].add, f[2].shr);
      a3 = mct__fout(a3, f[3].mult, f[3].add, f[3].shr);
      const uint32_t v0 = mct__clamp4(mct__pack4(a0, a1, a2, a3), lo4, hi4);
      if (o + 4 <= O)
        mct__st32(y0, v0);
      else
        for (int32_t j = 0; j < O - o; ++j) y0[j] = (int8_t)(v0 >> 8 * j);
    }
  }
}

/* The strip's pixel pairs for four output channels in assembly (a naked function: its
 * registers are its own at every optimization level). Registers: accumulators r0-r3 (first
 * pixel), r4-r7 (second), input words r8, r9, weight words r10, r11, the pair's window r12
 * (the second pixel 12 bytes on), weights lr (k-major, read in order); the context + 16 at
 * [sp] (the layout of conv_arm.c's tile kernel): constants by one LDM per channel, a variant
 * with the clamp and one without, the pairs end when the windows reach xend. */
typedef struct {
  int32_t bias[4];    /* 0 */
  int32_t k[12];      /* 16: mult, add, shr of channel j at 16 + 12 j */
  uint32_t lo4, hi4;  /* 64, 68 */
  int8_t *yp;         /* 72 */
  int32_t O;          /* 76 */
  const int16_t *xend; /* 80: the end of the pairs' windows (24 bytes a pair) */
  const uint32_t *wv; /* 84 */
} mct__fctx;
typedef char mct__fctx_layout[(offsetof(mct__fctx, k) == 16 && offsetof(mct__fctx, lo4) == 64 &&
                               offsetof(mct__fctx, yp) == 72 &&
                               offsetof(mct__fctx, xend) == 80 &&
                               offsetof(mct__fctx, wv) == 84 && MCT__F_ROW == 200)
                                  ? 1
                                  : -1];

/* step k: pair k % 5 of window row k / 5 (rows 400 bytes apart), both pixels */
#define MCT__NF(A, B)                                                                         \
  "ldr r8, [r12, #" #A "]\n\t"                                                                \
  "ldr r9, [r12, #" #B "]\n\t"                                                                \
  MCT__ASM_MAC8
/* channel j's constants into r8-r10 (lr walks them), then both pixels' outputs j */

/* The first conv's pixel pairs (MCT__ASM_PAIRS: the context + 16 at [sp], inputs r12, weights
 * lr); a variant with the clamp, one without. */
#define MCT__NFIRST(NAME, CLAMP)                                                              \
  static __attribute__((naked, noinline)) void NAME(const int16_t *xp, mct__fctx *c) {        \
    __asm__ volatile(MCT__ASM_PAIRS(                                                          \
        MCT__NF(0, 12) MCT__NF(4, 16) MCT__NF(8, 20) MCT__NF(12, 24) MCT__NF(16, 28)          \
        MCT__NF(400, 412) MCT__NF(404, 416) MCT__NF(408, 420) MCT__NF(412, 424)               \
        MCT__NF(416, 428) MCT__NF(800, 812) MCT__NF(804, 816) MCT__NF(808, 820)               \
        MCT__NF(812, 824) MCT__NF(816, 828),                                                  \
        "add r12, r12, #24\n\t", CLAMP));                                                     \
  }
MCT__NFIRST(mct__nfirst, "")
MCT__NFIRST(mct__nfirst_c, MCT__ASM_CLAMP2)

/* n pixels of a strip, all channels (O a multiple of 4), by mct__nfirst. */
static void mct__first_strip_n(const int16_t *rb, int32_t n, const uint32_t *wv,
                               const mct__fq *tab, int32_t O, int8_t *yp, uint32_t lo4,
                               uint32_t hi4, int clamp) {
  mct__fctx c;
  void (*kern)(const int16_t *, mct__fctx *) = clamp ? mct__nfirst_c : mct__nfirst;
  c.lo4 = lo4, c.hi4 = hi4;
  for (int32_t o = 0; o < O; o += 4, wv += 60, tab += 4) {
    for (int32_t j = 0; j < 4; ++j) {
      c.bias[j] = tab[j].bias, c.k[3 * j] = tab[j].mult, c.k[3 * j + 1] = tab[j].add;
      c.k[3 * j + 2] = tab[j].shr;
    }
    c.wv = wv, c.yp = yp + o, c.O = O, c.xend = rb + 12 * (n / 2);
    if (n >= 2) kern(rb, &c);
    if (n & 1) { /* the last pixel (its partner's outputs thrown away) */
      int8_t last[8];
      c.yp = last, c.O = 4, c.xend = rb + 6 * (n - 1) + 12;
      kern(rb + 6 * (n - 1), &c);
      memcpy(yp + (size_t)(n - 1) * O + o, last, 4);
    }
  }
}

/* Channel o of n strip pixels again, exactly (mct__arm_out: any constants). */
static __attribute__((noinline)) void mct__first_fix(const mct__arm_rq *r, const int16_t *rb,
                                                     int32_t n, const uint32_t *wv, int32_t o,
                                                     int32_t O, int8_t *yp) {
  const mct__arq c = mct__arm_ch(r, o);
  const uint32_t *wo = wv + (o / 4) * 60 + (o % 4);
  int32_t p = 0;
  for (; p + 2 <= n; p += 2) { /* two pixels: each weight word loaded once, all unrolled */
    const int16_t *x = rb + 6 * p;
    int32_t a0 = 0, a1 = 0;
#pragma GCC unroll 15
    for (int32_t k = 0; k < 15; ++k) {
      const int32_t wk = (int32_t)wo[4 * k], off = (k / 5) * MCT__F_ROW + 2 * (k % 5);
      a0 = __smlad((int32_t)mct__ld32(x + off), wk, a0);
      a1 = __smlad((int32_t)mct__ld32(x + 6 + off), wk, a1);
    }
    yp[(size_t)p * O + o] = mct__arm_out(r, &c, a0);
    yp[(size_t)(p + 1) * O + o] = mct__arm_out(r, &c, a1);
  }
  for (; p < n; ++p) {
    int32_t a = 0;
    for (int32_t k = 0; k < 15; ++k)
      a = __smlad((int32_t)mct__ld32(rb + 6 * p + (k / 5) * MCT__F_ROW + 2 * (k % 5)),
                  (int32_t)wo[4 * k], a);
    yp[(size_t)p * O + o] = mct__arm_out(r, &c, a);
  }
}

/* The whole layer (mct__first_ok checked), each output row into tmp_row, then stored. */
static __attribute__((noinline)) void mct__first_conv(const mct_conv_geom *g,
                                                      const mct__arm_rq *r, const int8_t *x,
                                                      const int8_t *w, int8_t *y,
                                                      int8_t *tmp_row) {
  const int32_t O = g->out_c, Wo = g->out_w;
  int16_t rb[3 * MCT__F_ROW] __attribute__((aligned(4)));
  uint32_t wv[MCT__F_O / 4 * 60];
  mct__fq tab[MCT__F_O];
  memset(rb, 0, sizeof rb); /* what a strip's widening leaves alone is read, never used */
  uint32_t slow = 0; /* channels outside the fast formula (MCT__F_O <= 32) */
  for (int32_t o = 0; o < (O + 3) / 4 * 4; ++o) {
    uint32_t *wo = wv + (o / 4) * 60 + (o % 4);
    for (int32_t i = 0; i < 3; ++i)
      for (int32_t m = 0; m < 5; ++m) {
        int32_t e[2] = {0, 0};
        for (int32_t h = 0; h < 2; ++h) {
          const int32_t t = 2 * m + h, jj = t / 3, c = t % 3;
          if (o < O && t < 9) e[h] = w[(((size_t)o * 3 + c) * 3 + i) * 3 + jj];
        }
        wo[4 * (i * 5 + m)] = ((uint32_t)e[0] & 0xFFFFu) | ((uint32_t)e[1] << 16);
      }
    if (o < O && !mct__first_fast(r, o, 1, 27)) slow |= 1u << o;
    if (o < O && !(slow >> o & 1u)) {
      const int32_t sh = -2 - r->shift[o];
      tab[o].bias = r->bias ? r->bias[o] : 0;
      tab[o].mult = r->mult[o];
      tab[o].add = (int32_t)((uint32_t)(1 + 2 * r->y_zero) << sh);
      tab[o].shr = sh + 1;
    } else {
      tab[o].bias = tab[o].mult = tab[o].add = 0, tab[o].shr = 1;
    }
  }
  const uint32_t lo4 = mct__b4(r->act_min), hi4 = mct__b4(r->act_max);
  const int clamp = r->act_min > -128 || r->act_max < 127;
  const size_t row = (size_t)Wo * O;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    const int32_t ih0 = oh * g->stride_h - g->pad_h;
    for (int32_t s0 = 0; s0 < Wo; s0 += MCT__F_S) {
      const int32_t n = Wo - s0 < MCT__F_S ? Wo - s0 : MCT__F_S;
      for (int32_t i = 0; i < 3; ++i)
        mct__first_widen(g, x, ih0 + i, 2 * s0 - g->pad_w, 2 * n + 1, r->x_zero,
                         rb + i * MCT__F_ROW);
      if (O % 4 == 0)
        mct__first_strip_n(rb, n, wv, tab, O, tmp_row + (size_t)s0 * O, lo4, hi4, clamp);
      else
        mct__first_strip(rb, n, wv, tab, O, tmp_row + (size_t)s0 * O, lo4, hi4);
      for (int32_t o = 0; slow >> o; ++o) /* channels outside the fast formula: again, exactly */
        if (slow >> o & 1u) mct__first_fix(r, rb, n, wv, o, O, tmp_row + (size_t)s0 * O);
    }
    memcpy(y + (size_t)oh * row, tmp_row, row); /* only now may row oh overwrite input */
  }
}

/* Every conv by rows but the first-conv kernel's (as this wrapper was before it). */
static __attribute__((noinline)) int mct__rows_other(const mct_conv_geom *g,
                                                     const mct_requant *q, const int8_t *x,
                                                     const int8_t *w, const mct_wsplit *ws,
                                                     const int32_t *bias, int8_t *y,
                                                     int8_t *tmp_row) {
  if (!mct__geom_ok(g) || !mct__requant_ok(q) || !x || !w || !y || !tmp_row ||
      g->groups != 1 || !mct__wsplit_ok(ws, g->in_c))
    return MCT_ARM_PASS;
  const int is1x1 = g->k_h == 1 && g->k_w == 1;
  if (!is1x1 && (ws || g->in_c * g->k_h * g->k_w > MCT__COL_MAX))
    return MCT_ARM_PASS;
  const mct__arm_rq r = mct__arm_rq_of(q, bias);
  const size_t row = (size_t)g->out_w * g->out_c;
  const int32_t K = g->in_c * g->k_h * g->k_w, Kp = (K + 1) & ~1;
  int16_t wq[MCT__WQ_MAX] __attribute__((aligned(4)));
  mct__rqc tab[MCT__WQ_MAX / 8];
  const int small = !is1x1 && g->out_c * Kp <= MCT__WQ_MAX && g->out_c <= MCT__WQ_MAX / 8;
  if (small) {
    mct__widen_weights(g, w, Kp, wq);
    mct__arm_table(&r, g->out_c, NULL, 0, tab);
  }
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    if (is1x1)
      mct__rows_1x1_dsp(g, &r, x, w, ws, oh, tmp_row);
    else if (small)
      mct__rows_small_dsp(g, &r, x, wq, Kp, tab, oh, tmp_row);
    else
      mct__rows_general_dsp(g, &r, x, w, oh, tmp_row);
    memcpy(y + (size_t)oh * row, tmp_row, row); /* only now may row oh overwrite input */
  }
  return MCT_OK;
}

int mct__conv2d_s8_rows_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                              const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                              int8_t *y, int8_t *tmp_row) {
  if (mct__geom_ok(g) && mct__requant_ok(q) && x && w && y && tmp_row && g->groups == 1 &&
      mct__wsplit_ok(ws, g->in_c)) {
    const mct__arm_rq r = mct__arm_rq_of(q, bias);
    if (!ws && mct__first_ok(g, &r)) {
      mct__first_conv(g, &r, x, w, y, tmp_row);
      return MCT_OK;
    }
    /* any other kernel: im2col'd strips through the 1x1 kernels (conv_im2col_arm.c) */
    if (mct__conv2d_s8_rows_im2col_dsp(g, &r, x, w, ws, y, tmp_row)) return MCT_OK;
  }
  return mct__rows_other(g, q, x, w, ws, bias, y, tmp_row);
}

#else
typedef int mct__inplace_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
