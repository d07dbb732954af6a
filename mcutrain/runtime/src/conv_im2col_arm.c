/* conv_im2col_arm.c: Cortex-M DSP path of the general int8 convolution (groups 1, any kernel,
 * stride and padding, any number of channels): conv.c's mct__general_s8 and inplace.c's
 * mct__rows_general / mct__rows_1x1, bit for bit.
 *
 * A k x k convolution is a 1x1 convolution of the im2col'd input:
 *     acc[p][o] = sum_{c,i,j} (x[ih0 + i][iw0 + j][c] - x_zero) * w[o][c][i][j]
 *               = sum_k (col[p][k] - x_zero) * w[o][k],   k = (c * kh + i) * kw + j
 * where col[p] is the window of output pixel p laid out in the weights' own order (OIHW:
 * each weight row w[o] is then one contiguous vector of K = C kh kw values) and a tap in the
 * padding holds x_zero (so it adds 0, as the clipped window of the portable C). So a strip of
 * output pixels is gathered into an int8 column buffer on the stack and handed to the 1x1
 * kernels of conv_arm.c (mct__arm_pw_layer: tiles when K <= 32, blocks of pixel pairs with
 * the weights widened once per block, the interleaved two-pixel kernel up to K = 576; the
 * fast SMMLA requantization where exact, else exact recomputation), which see K "input
 * channels". The integer sums are the same sums in another order: equal results.
 *
 * The gather costs about three instructions per value and serves all O output channels
 * (under 0.2 instructions per MAC from 16 output channels on); the 1x1 kernels take 10 to 15
 * instructions per 16 MACs.
 *
 * A trained slice (channel-fraction training, mct_wsplit: input channels sel[], weights
 * wt[o][n_sel][kh][kw]) is the same thing in im2col form: the selected columns are
 * sel[s] * kk + t for t < kk (ascending, as sel is), the slice rows wt[o] are contiguous in
 * the same order; it is passed on as a slice of the column vector when it fits a stack list.
 */
#include "mct_arm.h"

#if MCT_ARM_DSP

#include "mct_internal.h"

#define MCT__COLB 1152 /* bytes of the im2col strip (int8 columns, K each) on the stack: two
                         * pixels of the largest K of the two-pixel kernels (576) */
#define MCT__SELMAX 64 /* columns of a trained slice passed on to the 1x1 kernels */
#define MCT__TAPS 64   /* kernels of up to this many taps: windows inside the image by a table */

/* d[c * kk] = s[c] for c < C: four channels per word loaded, stored a byte at a time (2.5
 * instructions per value where the plain loop takes 5). */
static inline void mct__scatter(const int8_t *s, int32_t C, int32_t kk, int8_t *d) {
  int32_t c = 0;
  if (kk == 1) {
    memcpy(d, s, (size_t)C);
    return;
  }
  for (; c + 4 <= C; c += 4, d += 4 * kk) {
    const uint32_t v = mct__ld32(s + c);
    d[0] = (int8_t)v;
    d[kk] = (int8_t)(v >> 8);
    d[2 * kk] = (int8_t)(v >> 16);
    d[3 * kk] = (int8_t)(v >> 24);
  }
  for (; c < C; ++c, d += kk) *d = s[c];
}

/* The windows of output pixels p0 .. p0 + n - 1 (raster order) as int8 columns of K values
 * in the weights' order (c, i, j), x_zero in the padding. Not inlined: its loops keep their
 * values in registers. */
static __attribute__((noinline)) void mct__im2col_s8(const mct_conv_geom *g, const int8_t *x,
                                                    int32_t p0, int32_t n, int8_t xz,
                                                    int8_t *col) {
  const int32_t C = g->in_c, kh = g->k_h, kw = g->k_w, kk = kh * kw, K = C * kk;
  int32_t oh = p0 / g->out_w, ow = p0 % g->out_w;
  int32_t off[MCT__TAPS]; /* tap t = (i, j): its input's offset from the window's corner */
  const int table = kk <= MCT__TAPS;
  for (int32_t t = 0; table && t < kk; ++t) off[t] = (t / kw * g->in_w + t % kw) * C;
  for (int32_t p = 0; p < n; ++p, col += K) {
    const int32_t ih0 = oh * g->stride_h - g->pad_h, iw0 = ow * g->stride_w - g->pad_w;
    if (++ow == g->out_w) ow = 0, ++oh;
    if (table && ih0 >= 0 && iw0 >= 0 && ih0 + kh <= g->in_h && iw0 + kw <= g->in_w) {
      const int8_t *xb = x + ((size_t)ih0 * g->in_w + iw0) * C; /* a window inside the image */
      for (int32_t t = 0; t < kk; ++t) mct__scatter(xb + off[t], C, kk, col + t);
      continue;
    }
    for (int32_t i = 0; i < kh; ++i) {
      const int32_t ih = ih0 + i;
      for (int32_t j = 0; j < kw; ++j) {
        const int32_t iw = iw0 + j;
        int8_t *d = col + i * kw + j;
        if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) {
          for (int32_t c = 0; c < C; ++c, d += kk) *d = xz;
        } else {
          mct__scatter(x + ((size_t)ih * g->in_w + iw) * C, C, kk, d);
        }
      }
    }
  }
}

/* Output pixels p0 .. p0 + n - 1 of a groups-1 conv into y (n * O bytes), strip by strip;
 * ws2: the trained slice in column form, or NULL. */
static void mct__im2col_run(const mct_conv_geom *g, const mct__arm_rq *r, const int8_t *x,
                            const int8_t *w, const mct_wsplit *ws2, int32_t p0, int32_t n,
                            int8_t *y) {
  const int32_t K = g->in_c * g->k_h * g->k_w, O = g->out_c, S = MCT__COLB / K;
  int8_t col[MCT__COLB] __attribute__((aligned(8)));
  for (int32_t t = 0; t < n; t += S) {
    const int32_t m = n - t < S ? n - t : S;
    mct__im2col_s8(g, x, p0 + t, m, (int8_t)r->x_zero, col);
    int8_t *yt = y + (size_t)t * O;
    if (mct__arm_pw_layer(r, col, m, K, O, w, ws2, yt, 0)) continue;
    for (int32_t p = 0; p < m; ++p) /* the 1x1 kernels' general path: any K, any slice */
      mct__arm_pw_pixel(r, col + (size_t)p * K, K, O, w, ws2, yt + (size_t)p * O);
  }
}

/* The slice in column form (sel2 holds n_sel * kk entries) or 0 when it does not fit. */
static int mct__col_slice(const mct_conv_geom *g, const mct_wsplit *ws, int32_t *sel2,
                          mct_wsplit *ws2) {
  const int32_t kk = g->k_h * g->k_w;
  if (ws->n_sel * kk > MCT__SELMAX) return 0;
  for (int32_t s = 0; s < ws->n_sel; ++s)
    for (int32_t t = 0; t < kk; ++t) sel2[s * kk + t] = ws->sel[s] * kk + t;
  *ws2 = *ws;
  ws2->sel = sel2;
  ws2->n_sel = ws->n_sel * kk;
  return 1;
}

/* 1 when the im2col path takes this conv: groups 1, a strip of at least two pixels. */
static int mct__im2col_ok(const mct_conv_geom *g) {
  return g->groups == 1 && MCT__COLB / (g->in_c * g->k_h * g->k_w) >= 2;
}

/* mct_conv2d_s8 (arguments checked by conv.c): 1 when done, 0 for the portable C. */
int mct__conv2d_s8_im2col_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                              const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                              int8_t *y) {
  if (!mct__im2col_ok(g)) return 0;
  int32_t sel2[MCT__SELMAX];
  mct_wsplit ws2;
  if (ws && !mct__col_slice(g, ws, sel2, &ws2)) return 0;
  const mct__arm_rq r = mct__arm_rq_of(q, bias);
  mct__im2col_run(g, &r, x, w, ws ? &ws2 : NULL, 0, g->out_h * g->out_w, y);
  return 1;
}

/* mct_conv2d_s8_rows (in place: y may overlap x; arguments checked by the caller): each
 * output row into tmp_row, stored only once it is complete. 1 when done, 0 when not taken. */
int mct__conv2d_s8_rows_im2col_dsp(const mct_conv_geom *g, const mct__arm_rq *r,
                                   const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                                   int8_t *y, int8_t *tmp_row) {
  if (!mct__im2col_ok(g)) return 0;
  int32_t sel2[MCT__SELMAX];
  mct_wsplit ws2;
  if (ws && !mct__col_slice(g, ws, sel2, &ws2)) return 0;
  const size_t row = (size_t)g->out_w * g->out_c;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    mct__im2col_run(g, r, x, w, ws ? &ws2 : NULL, oh * g->out_w, g->out_w, tmp_row);
    memcpy(y + (size_t)oh * row, tmp_row, row); /* only now may row oh overwrite input */
  }
  return 1;
}

#else
typedef int mct__conv_im2col_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
