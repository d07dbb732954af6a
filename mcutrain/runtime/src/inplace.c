/* inplace.c: memory-saving forms of the int8 convolution (results identical to mct_conv2d_s8).
 *
 * Specification: mcutrain/ops/conv.py (int8 form), the same as conv.c:
 *     acc = sum (x - x_zero) * w          zero padding applied AFTER subtracting x_zero
 *     y   = clamp(requantize(sat32(acc + bias), mult[o], shift[o]) + y_zero, act_min, act_max)
 * and the in-place orders of mcutrain/passes/inplace.py:
 *   mct_pointwise_s8_inplace  pixel by pixel; pixel p is copied to tmp before its output is
 *                             written. out_c <= in_c: forward (y[p] ends at (p+1)*out_c <=
 *                             (p+1)*in_c, so it only covers pixels <= p); out_c > in_c:
 *                             backward (y[p] starts at p*out_c >= p*in_c, the end of the
 *                             pixels < p still to come).
 *   mct_depthwise_s8_inplace  one channel plane at a time into tmp, then stored to that
 *                             channel's HWC slots, which only ever held the same channel.
 *   mct_conv2d_s8_rows        one output row at a time into tmp_row, then stored; y starts
 *                             `gap` (conv_rows_gap) bytes before x, so row r only covers
 *                             input rows no later output row reads.
 *   mct_expand_dw_s8          per expanded channel e: 1x1 conv channel e as a plane into tmp,
 *                             then the depthwise conv of that plane into channel e of y.
 * Each has a _tflm twin (mct_tflm.h): the same portable loops with TFLite Micro's
 * requantization (mct__rq.tflm), skipping the x86 and DSP paths, which round once.
 * The kernels compute; every size and offset is prepared in Python. Accumulators are int32
 * (|x - x_zero| <= 255, |w| <= 128, as in conv.c), the bias is added in 64 bits (mct_sat32).
 */
#include "mct.h"
#include "mct_arm.h" /* Cortex-M4/M7: DSP versions (*_arm.c), MCT_ARM_DSP */
#include "mct_internal.h"

#include <stddef.h>

/* x86 hosts: AVX2 versions live in inplace_x86.c and are chosen at run time (each returns 1
 * when it handled the call); the build flags stay baseline. -DMCT_PORTABLE: pure C only. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)
#define MCT_IP_X86 1
int mct__inplace_pointwise_avx2(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                int8_t *tmp);
int32_t mct__inplace_depthwise_avx2(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                    const int8_t *w, const mct_wsplit *ws, const int32_t *bias);
int mct__inplace_rows_avx2(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                           const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y,
                           int8_t *tmp_row);
int32_t mct__inplace_expand_dw_avx2(const mct_conv_geom *g1, const mct_requant *q1,
                                    const int8_t *w1, const int32_t *b1, const mct_conv_geom *g2,
                                    const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                                    const int8_t *x, int8_t *y);
#else
#define MCT_IP_X86 0
#endif

/* int32 accumulators of one stretch of an output row of a depthwise plane (stack bytes:
 * 4 * MCT_DW_CHUNK). */
#define MCT_DW_CHUNK 64

/* ---- shared pieces (as in conv.c) ---------------------------------------------------------- */

static int mct__is_pointwise(const mct_conv_geom *g) {
  return g->groups == 1 && g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
         g->pad_h == 0 && g->pad_w == 0;
}

/* Weights of channel o of a depthwise layer: its row of w, or its slice row when trained.
 * *next is a cursor into the ascending ws->sel; channels must be visited in order. */
static inline const int8_t *mct__dw_row(const int8_t *w, const mct_wsplit *ws, int32_t o,
                                        int32_t kk, int32_t *next) {
  if (ws && *next < ws->n_sel && ws->sel[*next] == o) return ws->wt + (size_t)(*next)++ * kk;
  return w + (size_t)o * kk;
}

/* ---- dot products ------------------------------------------------------------------------- */

/* acc[k] = sum_c (a[c] - az) * b[k * bs + c] for k < 4: a pixel against four weight rows
 * (four independent sums: instruction-level parallelism; integer sums in any order). */
static inline void mct__ip_dot4(const int8_t *a, int32_t az, const int8_t *b, size_t bs,
                                int32_t n, int32_t acc[4]) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int32_t c = 0; c < n; ++c) {
    const int32_t av = (int32_t)a[c] - az;
    a0 += av * b[c];
    a1 += av * b[bs + c];
    a2 += av * b[2 * bs + c];
    a3 += av * b[3 * bs + c];
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* sum_c (a[c] - az) * b[c]. */
static inline int32_t mct__ip_dot1(const int8_t *a, int32_t az, const int8_t *b, int32_t n) {
  int32_t s = 0;
  for (int32_t c = 0; c < n; ++c) s += ((int32_t)a[c] - az) * b[c];
  return s;
}

/* All O outputs of one pixel xp (C channels) of a 1x1 conv into yp; yp must not overlap xp. */
static void mct__pw_pixel(const mct__rq *r, const int8_t *xp, int32_t C, int32_t O,
                          const int8_t *w, const mct_wsplit *ws, int8_t *yp) {
  const int32_t xz = r->x_zero;
  int32_t o = 0, acc[4];
  for (; o + 4 <= O; o += 4) {
    mct__ip_dot4(xp, xz, w + (size_t)o * C, (size_t)C, C, acc);
    for (int32_t k = 0; k < 4; ++k) {
      if (ws)
        acc[k] += mct__dot_sel_s8(xp, ws->sel, ws->wt + (size_t)(o + k) * ws->n_sel, ws->n_sel, 1, xz);
      yp[o + k] = mct__out_s8(r, acc[k], o + k);
    }
  }
  for (; o < O; ++o) {
    int32_t a = mct__ip_dot1(xp, xz, w + (size_t)o * C, C);
    if (ws) a += mct__dot_sel_s8(xp, ws->sel, ws->wt + (size_t)o * ws->n_sel, ws->n_sel, 1, xz);
    yp[o] = mct__out_s8(r, a, o);
  }
}

/* ---- pointwise in place -------------------------------------------------------------------- */

static int mct__pointwise_inplace(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                  int8_t *tmp, int32_t tflm) {
  if (!mct__geom_ok(g) || !mct__is_pointwise(g) || !mct__requant_ok(q) || !buf || !w ||
      !tmp || !mct__wsplit_ok(ws, g->in_c))
    return MCT_E_ARG;
#if MCT_ARM_DSP
  if (!tflm) {
    const int r_ = mct__pointwise_s8_inplace_dsp(g, q, buf, w, ws, bias, tmp);
    if (r_ != MCT_ARM_PASS) return r_;
  }
#endif
#if MCT_IP_X86
  if (!tflm && mct__inplace_pointwise_avx2(g, q, buf, w, ws, bias, tmp)) return MCT_OK;
#endif
  mct__rq r = mct__rq_of(q, bias);
  r.tflm = tflm;
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w;
  const int forward = O <= C;
  for (int32_t k = 0; k < npix; ++k) {
    const int32_t p = forward ? k : npix - 1 - k;
    const int8_t *xp = buf + (size_t)p * C;
    for (int32_t c = 0; c < C; ++c) tmp[c] = xp[c];
    mct__pw_pixel(&r, tmp, C, O, w, ws, buf + (size_t)p * O);
  }
  return MCT_OK;
}

int mct_pointwise_s8_inplace(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                             const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                             int8_t *tmp) {
  return mct__pointwise_inplace(g, q, buf, w, ws, bias, tmp, 0);
}

int mct_pointwise_s8_inplace_tflm(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                  int8_t *tmp) {
  return mct__pointwise_inplace(g, q, buf, w, ws, bias, tmp, 1);
}

/* ---- depthwise plane ----------------------------------------------------------------------- */

/* a[k] += (p[k * step] - xz) * wv for k < n. */
static inline void mct__dw_axpy(int32_t *a, const int8_t *p, size_t step, int32_t n, int32_t xz,
                                int32_t wv) {
  for (int32_t k = 0; k < n; ++k) a[k] += ((int32_t)p[(size_t)k * step] - xz) * wv;
}

/* One channel of a depthwise conv (geometry g: in_h x in_w -> out_h x out_w): input element
 * (h, w) at x[(h * in_w + w) * xs], output (oh, ow) to y[(oh * out_w + ow) * ys], weights wk
 * [kh][kw], requantized as output channel o. Tap-major over a stretch of an output row, so
 * the clipping to the image is done once per tap, never per MAC. y must not overlap x. */
static void mct__dw_plane(const mct_conv_geom *g, const mct__rq *r, const int8_t *x, size_t xs,
                          const int8_t *wk, int32_t o, int8_t *y, size_t ys) {
  const int32_t H = g->in_h, W = g->in_w, OW = g->out_w, kh = g->k_h, kw = g->k_w;
  const int32_t sh = g->stride_h, sw = g->stride_w, ph = g->pad_h, pw = g->pad_w;
  const int32_t xz = r->x_zero;
  const size_t step = (size_t)sw * xs;
  int32_t acc[MCT_DW_CHUNK];
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    const int32_t ih0 = oh * sh - ph;
    const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = H - ih0 < kh ? H - ih0 : kh;
    for (int32_t ow0 = 0; ow0 < OW; ow0 += MCT_DW_CHUNK) {
      const int32_t n = OW - ow0 < MCT_DW_CHUNK ? OW - ow0 : MCT_DW_CHUNK;
      for (int32_t k = 0; k < n; ++k) acc[k] = 0;
      for (int32_t j = 0; j < kw; ++j) {
        /* outputs ow whose input column ow*sw - pw + j lies in [0, W) */
        const int32_t t = pw - j, u = W - 1 + pw - j;
        int32_t lo = t > 0 ? (t + sw - 1) / sw : 0, hi = u >= 0 ? u / sw + 1 : 0;
        lo = lo > ow0 ? lo : ow0;
        hi = hi < ow0 + n ? hi : ow0 + n;
        if (lo >= hi) continue;
        for (int32_t i = i0; i < i1; ++i) {
          const int32_t wv = wk[i * kw + j];
          if (wv == 0) continue;
          const int8_t *p = x + ((size_t)(ih0 + i) * W + (size_t)(lo * sw - pw + j)) * xs;
          mct__dw_axpy(acc + (lo - ow0), p, step, hi - lo, xz, wv);
        }
      }
      int8_t *yr = y + ((size_t)oh * OW + ow0) * ys;
      for (int32_t k = 0; k < n; ++k) yr[(size_t)k * ys] = mct__out_s8(r, acc[k], o);
    }
  }
}

/* ---- depthwise in place -------------------------------------------------------------------- */

static int mct__depthwise_inplace(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                  int8_t *tmp, int32_t tflm) {
  if (!mct__geom_ok(g) || g->groups != g->in_c || g->out_c != g->in_c ||
      !mct__requant_ok(q) || !buf || !w || !tmp || !mct__wsplit_ok(ws, g->in_c))
    return MCT_E_ARG;
  int32_t c0 = 0; /* channels [0, c0) done by a vectorized path */
#if MCT_ARM_DSP
  if (!tflm) {
    const int r_ = mct__depthwise_s8_inplace_dsp(g, q, buf, w, ws, bias, tmp);
    if (r_ != MCT_ARM_PASS) return r_;
  }
#endif
#if MCT_IP_X86
  if (!tflm) c0 = mct__inplace_depthwise_avx2(g, q, buf, w, ws, bias);
#endif
  mct__rq r = mct__rq_of(q, bias);
  r.tflm = tflm;
  const int32_t C = g->in_c, kk = g->k_h * g->k_w, nout = g->out_h * g->out_w;
  int32_t next = 0;
  while (ws && next < ws->n_sel && ws->sel[next] < c0) ++next;
  for (int32_t c = c0; c < C; ++c) {
    const int8_t *wk = mct__dw_row(w, ws, c, kk, &next);
    mct__dw_plane(g, &r, buf + c, (size_t)C, wk, c, tmp, 1);
    int8_t *yc = buf + c;
    for (int32_t p = 0; p < nout; ++p) yc[(size_t)p * C] = tmp[p];
  }
  return MCT_OK;
}

int mct_depthwise_s8_inplace(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                             const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                             int8_t *tmp) {
  return mct__depthwise_inplace(g, q, buf, w, ws, bias, tmp, 0);
}

int mct_depthwise_s8_inplace_tflm(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                  int8_t *tmp) {
  return mct__depthwise_inplace(g, q, buf, w, ws, bias, tmp, 1);
}

/* ---- row by row ------------------------------------------------------------------------------ */

/* Output row oh of a groups-1 conv into yr [out_w][O]. Per output pixel the window is clipped
 * once; four output channels share every input load. */
static void mct__rows_general(const mct_conv_geom *g, const mct__rq *r, const int8_t *x,
                              const int8_t *w, const mct_wsplit *ws, int32_t oh, int8_t *yr) {
  const int32_t C = g->in_c, O = g->out_c, W = g->in_w, kw = g->k_w, kk = g->k_h * g->k_w;
  const int32_t xz = r->x_zero, ih0 = oh * g->stride_h - g->pad_h;
  const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = g->in_h - ih0 < g->k_h ? g->in_h - ih0 : g->k_h;
  const size_t wrow = (size_t)C * kk; /* bytes of one output channel's weights */
  for (int32_t ow = 0; ow < g->out_w; ++ow) {
    const int32_t iw0 = ow * g->stride_w - g->pad_w;
    const int32_t j0 = iw0 < 0 ? -iw0 : 0, j1 = W - iw0 < kw ? W - iw0 : kw;
    int8_t *yp = yr + (size_t)ow * O;
    for (int32_t o = 0; o < O; o += 4) {
      const int32_t nb = O - o < 4 ? O - o : 4;
      int32_t a[4] = {0, 0, 0, 0};
      for (int32_t i = i0; i < i1; ++i) {
        for (int32_t j = j0; j < j1; ++j) {
          const int8_t *xp = x + ((size_t)(ih0 + i) * W + (size_t)(iw0 + j)) * C;
          const int8_t *wp = w + (size_t)o * wrow + i * kw + j;
          if (nb == 4) {
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (int32_t c = 0; c < C; ++c) {
              const int32_t xv = (int32_t)xp[c] - xz;
              const int8_t *wc = wp + (size_t)c * kk;
              a0 += xv * wc[0];
              a1 += xv * wc[wrow];
              a2 += xv * wc[2 * wrow];
              a3 += xv * wc[3 * wrow];
            }
            a[0] += a0, a[1] += a1, a[2] += a2, a[3] += a3;
          } else {
            for (int32_t k = 0; k < nb; ++k)
              for (int32_t c = 0; c < C; ++c)
                a[k] += ((int32_t)xp[c] - xz) * wp[k * wrow + (size_t)c * kk];
          }
          if (ws) {
            const size_t srow = (size_t)ws->n_sel * kk;
            for (int32_t k = 0; k < nb; ++k)
              a[k] += mct__dot_sel_s8(xp, ws->sel, ws->wt + (o + k) * srow + i * kw + j, ws->n_sel, kk, xz);
          }
        }
      }
      for (int32_t k = 0; k < nb; ++k) yp[o + k] = mct__out_s8(r, a[k], o + k);
    }
  }
}

/* Output row oh of a 1x1 conv (any stride / padding, groups 1): one input pixel per output. */
static void mct__rows_1x1(const mct_conv_geom *g, const mct__rq *r, const int8_t *x,
                          const int8_t *w, const mct_wsplit *ws, int32_t oh, int8_t *yr) {
  const int32_t C = g->in_c, O = g->out_c, ih = oh * g->stride_h - g->pad_h;
  for (int32_t ow = 0; ow < g->out_w; ++ow) {
    const int32_t iw = ow * g->stride_w - g->pad_w;
    int8_t *yp = yr + (size_t)ow * O;
    if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) { /* all padding: acc = 0 */
      for (int32_t o = 0; o < O; ++o) yp[o] = mct__out_s8(r, 0, o);
    } else {
      mct__pw_pixel(r, x + ((size_t)ih * g->in_w + iw) * C, C, O, w, ws, yp);
    }
  }
}

/* Output row oh of a depthwise conv (multiplier m = O / C) into yr [out_w][O]. */
static void mct__rows_depthwise(const mct_conv_geom *g, const mct__rq *r, const int8_t *x,
                                const int8_t *w, const mct_wsplit *ws, int32_t oh, int8_t *yr) {
  const int32_t C = g->in_c, O = g->out_c, m = O / C, W = g->in_w, kw = g->k_w;
  const int32_t kk = g->k_h * kw, xz = r->x_zero, ih0 = oh * g->stride_h - g->pad_h;
  const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = g->in_h - ih0 < g->k_h ? g->in_h - ih0 : g->k_h;
  for (int32_t ow = 0; ow < g->out_w; ++ow) {
    const int32_t iw0 = ow * g->stride_w - g->pad_w;
    const int32_t j0 = iw0 < 0 ? -iw0 : 0, j1 = W - iw0 < kw ? W - iw0 : kw;
    int8_t *yp = yr + (size_t)ow * O;
    int32_t next = 0;
    for (int32_t o = 0; o < O; ++o) {
      const int8_t *wr = mct__dw_row(w, ws, o, kk, &next);
      const int32_t c = o / m;
      int32_t acc = 0;
      for (int32_t i = i0; i < i1; ++i) {
        const int8_t *xr = x + ((size_t)(ih0 + i) * W + (size_t)(iw0 + j0)) * C + c;
        const int8_t *wi = wr + i * kw + j0;
        for (int32_t j = 0; j < j1 - j0; ++j) acc += ((int32_t)xr[(size_t)j * C] - xz) * wi[j];
      }
      yp[o] = mct__out_s8(r, acc, o);
    }
  }
}

static int mct__conv_rows(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                          const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y,
                          int8_t *tmp_row, int32_t tflm) {
  if (!mct__geom_ok(g) || !mct__requant_ok(q) || !x || !w || !y || !tmp_row) return MCT_E_ARG;
  const int depthwise = g->groups > 1 && g->groups == g->in_c;
  if (g->groups != 1 && !depthwise) return MCT_E_ARG;
  if (!mct__wsplit_ok(ws, depthwise ? g->out_c : g->in_c)) return MCT_E_ARG;
#if MCT_ARM_DSP
  if (!tflm) {
    const int r_ = mct__conv2d_s8_rows_dsp(g, q, x, w, ws, bias, y, tmp_row);
    if (r_ != MCT_ARM_PASS) return r_;
  }
#endif
#if MCT_IP_X86
  if (!tflm && mct__inplace_rows_avx2(g, q, x, w, ws, bias, y, tmp_row)) return MCT_OK;
#endif
  mct__rq r = mct__rq_of(q, bias);
  r.tflm = tflm;
  const size_t row = (size_t)g->out_w * g->out_c;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    if (depthwise)
      mct__rows_depthwise(g, &r, x, w, ws, oh, tmp_row);
    else if (g->k_h == 1 && g->k_w == 1)
      mct__rows_1x1(g, &r, x, w, ws, oh, tmp_row);
    else
      mct__rows_general(g, &r, x, w, ws, oh, tmp_row);
    int8_t *yr = y + (size_t)oh * row; /* only now may row oh overwrite input bytes */
    for (size_t k = 0; k < row; ++k) yr[k] = tmp_row[k];
  }
  return MCT_OK;
}

int mct_conv2d_s8_rows(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y,
                       int8_t *tmp_row) {
  return mct__conv_rows(g, q, x, w, ws, bias, y, tmp_row, 0);
}

int mct_conv2d_s8_rows_tflm(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                            const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                            int8_t *y, int8_t *tmp_row) {
  return mct__conv_rows(g, q, x, w, ws, bias, y, tmp_row, 1);
}

/* ---- expansion fused into the depthwise conv ------------------------------------------------- */

/* Channel e of a 1x1 conv for all npix pixels into the plane t. sum (x - xz) * w is computed
 * as sum x * w - xz * sum w (exact in int32), so four pixels share each weight load with no
 * zero point on the pixel side. */
static void mct__pw_channel(const mct__rq *r, const int8_t *x, int32_t npix, int32_t C,
                            const int8_t *we, int32_t e, int8_t *t) {
  int32_t sw = 0;
  for (int32_t c = 0; c < C; ++c) sw += we[c];
  const int32_t corr = r->x_zero * sw;
  int32_t p = 0, acc[4];
  for (; p + 4 <= npix; p += 4) {
    mct__ip_dot4(we, 0, x + (size_t)p * C, (size_t)C, C, acc);
    for (int32_t k = 0; k < 4; ++k) t[p + k] = mct__out_s8(r, acc[k] - corr, e);
  }
  for (; p < npix; ++p) t[p] = mct__out_s8(r, mct__ip_dot1(we, 0, x + (size_t)p * C, C) - corr, e);
}

static int mct__expand_dw(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                          const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                          const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y,
                          int8_t *tmp, int32_t tflm) {
  if (!mct__geom_ok(g1) || !mct__is_pointwise(g1) || !mct__geom_ok(g2) ||
      !mct__requant_ok(q1) || !mct__requant_ok(q2) || !w1 || !w2 || !x || !y || !tmp)
    return MCT_E_ARG;
  if (g2->in_h != g1->out_h || g2->in_w != g1->out_w || g2->in_c != g1->out_c ||
      g2->groups != g2->in_c)
    return MCT_E_ARG;
#if MCT_ARM_DSP
  if (!tflm) {
    const int r_ = mct__expand_dw_s8_dsp(g1, q1, w1, b1, g2, q2, w2, b2, x, y, tmp);
    if (r_ != MCT_ARM_PASS) return r_;
  }
#endif
  int32_t e0 = 0; /* expanded channels [0, e0) done by a vectorized path */
#if MCT_IP_X86
  if (!tflm) e0 = mct__inplace_expand_dw_avx2(g1, q1, w1, b1, g2, q2, w2, b2, x, y);
#endif
  mct__rq r1 = mct__rq_of(q1, b1), r2 = mct__rq_of(q2, b2);
  r1.tflm = r2.tflm = tflm;
  const int32_t C = g1->in_c, E = g1->out_c, O = g2->out_c, m = O / E, kk = g2->k_h * g2->k_w;
  const int32_t npix = g1->in_h * g1->in_w;
  for (int32_t e = e0; e < E; ++e) {
    mct__pw_channel(&r1, x, npix, C, w1 + (size_t)e * C, e, tmp);
    for (int32_t k = 0; k < m; ++k) {
      const int32_t o = e * m + k;
      mct__dw_plane(g2, &r2, tmp, 1, w2 + (size_t)o * kk, o, y + o, (size_t)O);
    }
  }
  return MCT_OK;
}

int mct_expand_dw_s8(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                     const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                     const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y, int8_t *tmp) {
  return mct__expand_dw(g1, q1, w1, b1, g2, q2, w2, b2, x, y, tmp, 0);
}

int mct_expand_dw_s8_tflm(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                          const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                          const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y,
                          int8_t *tmp) {
  return mct__expand_dw(g1, q1, w1, b1, g2, q2, w2, b2, x, y, tmp, 1);
}
