/* conv.c: int8 convolution (mct_conv2d_s8) and int8 linear (mct_linear_s8), forward.
 *
 * Specification: mcutrain/ops/conv.py and linear.py (int8 form):
 *     acc = sum (x - x_zero) * w          zero padding applied AFTER subtracting x_zero
 *     y   = clamp(requantize(sat32(acc + bias), mult[o], shift[o]) + y_zero, act_min, act_max)
 * acc is accumulated in int32: |x - x_zero| <= 255 and |w| <= 128, so one product is at most
 * 32,640 in magnitude and up to 65,793 products per output fit (a 3x3 conv over 7,000 input
 * channels); the bias is then added in 64 bits and saturated (mct_sat32).
 *
 * Three paths, chosen per call from the geometry (the results are identical, only the loop
 * order differs) by the rule of mcutrain/ops/conv.py conv_kind (pointwise / general /
 * depthwise / grouped: the one definition, which the compiler's plan and in-place forms use;
 * here it is re-read from mct_conv_geom, grouped convs taking the general path):
 *   pointwise  1x1, stride 1, no padding, groups 1: per pixel, per output channel, one
 *              contiguous dot product over the input channels.
 *   depthwise  groups == in_c (any multiplier m = out_c / in_c): per pixel, per output
 *              channel, a kh x kw window of one input channel; the window is clipped to the
 *              image once per pixel, so padding costs no test in the inner loop.
 *   general    any kernel, stride, padding and groups: per pixel, per output channel, the
 *              clipped window, channels of the group innermost (x contiguous).
 * mct__conv2d_s8_portable runs them with either requantization (tflm: TFLite Micro's two
 * roundings, for mct_conv2d_s8_tflm and mct_linear_s8_tflm in tflm.c, which skip the x86 and
 * DSP fast paths: those round once).
 * mct_wsplit (channel-fraction training): `w` holds zeros in the trained channels, so the
 * frozen part is computed as usual and the trained slice `wt` adds its channels on top.
 */
#include "mct.h"
#include "mct_arm.h" /* Cortex-M4/M7: DSP (SMLAD) paths in conv_arm.c, MCT_ARM_DSP */
#include "mct_internal.h"

#include <stddef.h>

/* x86 hosts: AVX2 versions of the three paths live in conv_x86.c and are chosen at run time
 * (the build flags stay baseline x86-64). -DMCT_PORTABLE keeps the pure C paths only. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)
#define MCT_X86 1
int mct__conv2d_s8_avx2(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                        const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y);
int mct__pointwise_s8_avx2(int32_t npix, int32_t in_c, int32_t out_c, const mct_requant *q,
                           const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                           const int32_t *bias, int8_t *y);
#else
#define MCT_X86 0
#endif

/* sum_c (x[c] - xz) * w[c], both contiguous. Four accumulators for instruction-level
 * parallelism (integer sums: the order does not matter). */
static inline int32_t mct__dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t xz) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, c = 0;
  for (; c + 4 <= n; c += 4) {
    a0 += ((int32_t)x[c] - xz) * w[c];
    a1 += ((int32_t)x[c + 1] - xz) * w[c + 1];
    a2 += ((int32_t)x[c + 2] - xz) * w[c + 2];
    a3 += ((int32_t)x[c + 3] - xz) * w[c + 3];
  }
  for (; c < n; ++c) a0 += ((int32_t)x[c] - xz) * w[c];
  return (a0 + a1) + (a2 + a3);
}

/* Pointwise conv / linear: npix pixels of in_c channels -> out_c channels. */
static void mct__pointwise_s8(int32_t npix, int32_t in_c, int32_t out_c, const mct_requant *q,
                              const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                              const int32_t *bias, int8_t *y, int32_t tflm) {
  mct__rq r = mct__rq_of(q, bias);
  r.tflm = tflm;
  const int32_t xz = r.x_zero;
  for (int32_t p = 0; p < npix; ++p) {
    const int8_t *xp = x + (size_t)p * in_c;
    int8_t *yp = y + (size_t)p * out_c;
    for (int32_t o = 0; o < out_c; ++o) {
      int32_t acc = mct__dot_s8(xp, w + (size_t)o * in_c, in_c, xz);
      if (ws) acc += mct__dot_sel_s8(xp, ws->sel, ws->wt + (size_t)o * ws->n_sel, ws->n_sel, 1, xz);
      yp[o] = mct__out_s8(&r, acc, o);
    }
  }
}

/* The window of output pixel (oh, ow) clipped to the image: taps [i0, i1) x [j0, j1) whose
 * input pixel is (ih0 + i, iw0 + j); `first` is the element offset of pixel (ih0+i0, iw0+j0). */
typedef struct {
  int32_t ih0, iw0, i0, i1, j0, j1;
  ptrdiff_t first;
} mct__win;

static inline mct__win mct__window(const mct_conv_geom *g, int32_t oh, int32_t ow) {
  mct__win r;
  r.ih0 = oh * g->stride_h - g->pad_h;
  r.iw0 = ow * g->stride_w - g->pad_w;
  r.i0 = r.ih0 < 0 ? -r.ih0 : 0;
  r.j0 = r.iw0 < 0 ? -r.iw0 : 0;
  r.i1 = g->in_h - r.ih0 < g->k_h ? g->in_h - r.ih0 : g->k_h;
  r.j1 = g->in_w - r.iw0 < g->k_w ? g->in_w - r.iw0 : g->k_w;
  if (r.i1 <= r.i0 || r.j1 <= r.j0) { /* the window lies entirely in the padding */
    r.i1 = r.i0;
    r.j1 = r.j0;
    r.first = 0;
  } else {
    r.first = ((ptrdiff_t)(r.ih0 + r.i0) * g->in_w + (r.iw0 + r.j0)) * g->in_c;
  }
  return r;
}

/* Depthwise: output channel o reads input channel o / m with weight row o (or its slice row). */
static void mct__depthwise_s8(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                              const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                              int8_t *y, int32_t tflm) {
  const int32_t C = g->in_c, O = g->out_c, m = O / C, kk = g->k_h * g->k_w;
  mct__rq r = mct__rq_of(q, bias);
  r.tflm = tflm;
  const int32_t xz = r.x_zero, row_stride = g->in_w * C;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const mct__win wn = mct__window(g, oh, ow);
      const int8_t *xw = x + wn.first;
      const int32_t ni = wn.i1 - wn.i0, nj = wn.j1 - wn.j0;
      int8_t *yp = y + ((size_t)oh * g->out_w + ow) * O;
      int32_t next = 0; /* cursor into ws->sel (ascending) */
      for (int32_t c = 0, o = 0; c < C; ++c) {
        for (int32_t k = 0; k < m; ++k, ++o) {
          const int8_t *wr = w + (size_t)o * kk;
          if (ws && next < ws->n_sel && ws->sel[next] == o) wr = ws->wt + (size_t)(next++) * kk;
          int32_t acc = 0;
          for (int32_t i = 0; i < ni; ++i) {
            const int8_t *xr = xw + (ptrdiff_t)i * row_stride + c;
            const int8_t *wi = wr + (wn.i0 + i) * g->k_w + wn.j0;
            for (int32_t j = 0; j < nj; ++j) acc += ((int32_t)xr[(ptrdiff_t)j * C] - xz) * wi[j];
          }
          yp[o] = mct__out_s8(&r, acc, o);
        }
      }
    }
  }
}

/* General: any kernel/stride/padding, groups of cg input and og output channels. */
static void mct__general_s8(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                            const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                            int8_t *y, int32_t tflm) {
  const int32_t C = g->in_c, O = g->out_c, G = g->groups;
  const int32_t cg = C / G, og = O / G, kw = g->k_w, kk = g->k_h * g->k_w;
  mct__rq r = mct__rq_of(q, bias);
  r.tflm = tflm;
  const int32_t xz = r.x_zero, row_stride = g->in_w * C;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const mct__win wn = mct__window(g, oh, ow);
      const int8_t *xw = x + wn.first;
      int8_t *yp = y + ((size_t)oh * g->out_w + ow) * O;
      for (int32_t o = 0; o < O; ++o) {
        const int32_t c0 = (o / og) * cg;
        const int8_t *wo = w + (size_t)o * cg * kk;
        int32_t acc = 0;
        for (int32_t i = wn.i0; i < wn.i1; ++i) {
          for (int32_t j = wn.j0; j < wn.j1; ++j) {
            const int8_t *xp =
                xw + (ptrdiff_t)(i - wn.i0) * row_stride + (ptrdiff_t)(j - wn.j0) * C + c0;
            const int8_t *wp = wo + i * kw + j;
            int32_t a0 = 0, a1 = 0, c = 0;
            for (; c + 2 <= cg; c += 2) {
              a0 += ((int32_t)xp[c] - xz) * wp[(size_t)c * kk];
              a1 += ((int32_t)xp[c + 1] - xz) * wp[(size_t)(c + 1) * kk];
            }
            if (c < cg) a0 += ((int32_t)xp[c] - xz) * wp[(size_t)c * kk];
            acc += a0 + a1;
            if (ws) {
              const int8_t *wt = ws->wt + (size_t)o * ws->n_sel * kk + i * kw + j;
              acc += mct__dot_sel_s8(xp, ws->sel, wt, ws->n_sel, kk, xz);
            }
          }
        }
        yp[o] = mct__out_s8(&r, acc, o);
      }
    }
  }
}

int mct__conv2d_s8_args_ok(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                           const int8_t *w, const mct_wsplit *ws, const int8_t *y) {
  if (!mct__geom_ok(g) || !mct__requant_ok(q) || !x || !w || !y) return 0;
  const int depthwise = g->groups > 1 && g->groups == g->in_c;
  if (ws) {
    if (g->groups != 1 && !depthwise) return 0;
    if (!mct__wsplit_ok(ws, depthwise ? g->out_c : g->in_c)) return 0;
  }
  return 1;
}

void mct__conv2d_s8_portable(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                             const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                             int8_t *y, int32_t tflm) {
  if (g->groups == 1 && g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
      g->pad_h == 0 && g->pad_w == 0) {
    mct__pointwise_s8(g->in_h * g->in_w, g->in_c, g->out_c, q, x, w, ws, bias, y, tflm);
  } else if (g->groups > 1 && g->groups == g->in_c) {
    mct__depthwise_s8(g, q, x, w, ws, bias, y, tflm);
  } else {
    mct__general_s8(g, q, x, w, ws, bias, y, tflm);
  }
}

int mct_conv2d_s8(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y) {
  if (!mct__conv2d_s8_args_ok(g, q, x, w, ws, y)) return MCT_E_ARG;
#if MCT_X86
  if (mct__conv2d_s8_avx2(g, q, x, w, ws, bias, y)) return MCT_OK;
#endif
#if MCT_ARM_DSP
  if (mct__conv2d_s8_dsp(g, q, x, w, ws, bias, y)) return MCT_OK;
#endif
  mct__conv2d_s8_portable(g, q, x, w, ws, bias, y, 0);
  return MCT_OK;
}

int mct_linear_s8(int32_t in_c, int32_t out_c, const mct_requant *q, const int8_t *x,
                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y) {
  if (in_c <= 0 || out_c <= 0 || !mct__requant_ok(q) || !x || !w || !y) return MCT_E_ARG;
  if (!mct__wsplit_ok(ws, in_c)) return MCT_E_ARG;
#if MCT_X86
  if (mct__pointwise_s8_avx2(1, in_c, out_c, q, x, w, ws, bias, y)) return MCT_OK;
#endif
#if MCT_ARM_DSP
  if (mct__linear_s8_dsp(in_c, out_c, q, x, w, ws, bias, y)) return MCT_OK;
#endif
  mct__pointwise_s8(1, in_c, out_c, q, x, w, ws, bias, y, 0);
  return MCT_OK;
}
