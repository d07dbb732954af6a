/* inplace_grad_x86.c: AVX2 versions of the in-place input gradients of inplace_grad.c, for
 * x86 hosts; chosen at run time when the CPU has AVX2 (the build flags stay baseline, each
 * function carries target("avx2")). -DMCT_PORTABLE (or a non-x86 target) compiles this file
 * to nothing. The memory contract is the one of mct.h; only the arithmetic inside one step is
 * vectorized:
 *   pointwise  per pixel (G copied to tmp first), mct__gemv_t of mct_internal_x86.h (shared
 *              with conv_grad_x86.c): 32 input channels of gx in registers while the output
 *              channels run in order, the same float operations, in the same order, as
 *              inplace_grad.c (a multiply, then an add; no fused multiply-add).
 *   depthwise  8 channels at a time, gx as a correlation (taps in order) from a ring of G rows
 *              on the stack, each gx row stored at once; within ~1e-6 of the reference.
 */
#include "mct.h"
#include "mct_internal_x86.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)

#include <string.h>

#define MCT__IPG_MAX_K 16 /* largest depthwise kernel height */

/* ---- pointwise input gradient ----------------------------------------------------------------- */

MCT__AVX2 static void mct__ipg_pw_grad(const mct_conv_geom *g, float *buf, const int8_t *w,
                                       const mct_wsplit *ws, const float *wsc, float *tmp) {
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w;
  const int forward = C <= O; /* the order of mct.h */
  for (int32_t s = 0; s < npix; ++s) {
    const int32_t p = forward ? s : npix - 1 - s;
    memcpy(tmp, buf + (size_t)p * O, (size_t)O * sizeof(float));
    float *gx = buf + (size_t)p * C;
    mct__gemv_t(C, O, tmp, w, wsc, gx);
    /* w is 0 at the trained channels, so adding the slice last changes nothing */
    if (ws) mct__gemv_t_slice(O, tmp, ws, wsc, gx);
  }
}

/* ---- depthwise input gradient (multiplier 1), 8 channels at a time --------------------------- */

/* gx as a correlation: gx[ih][iw] = sum over the taps (i, j) in order for which
 * (ih + ph - i, iw + pw - j) = (oh * sh, ow * sw) lands in G, of (G[oh][ow] * s_w) * w[i][j].
 * The gradient rows a gx row needs are put into a ring of kh rows on the stack
 * ([out_w + 2 padc][8] floats, 0 in the padding columns), then the gx row is stored at once,
 * in the order (rows ascending or descending) that mct__ipg_gdw_order found safe. */
#define MCT__IPG_GRING 8192 /* floats of the gradient ring (32 KB) */

static int32_t mct__ipg_gdw_padc(const mct_conv_geom *g) {
  return (g->k_w + g->stride_w - 1) / g->stride_w + 1;
}

static int32_t mct__ipg_floordiv(int32_t a, int32_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* +1: gx rows ascending, -1: descending, 0: neither lets each gx row (slots ih*in_w .. of the
 * channel) overwrite only gradient rows that are in the ring already or never read again. */
static int32_t mct__ipg_gdw_order(const mct_conv_geom *g) {
  const int64_t H = g->in_h, W = g->in_w, OH = g->out_h, OW = g->out_w;
  const int64_t sh = g->stride_h, ph = g->pad_h, kh = g->k_h;
  int fwd = 1, bwd = 1;
  for (int64_t ih = 0; ih < H; ++ih) {
    if (ih * W >= OH * OW) break; /* this row and the later ones lie past G */
    int64_t r_max = ((ih + 1) * W - 1) / OW;
    const int64_t r_min = ih * W / OW;
    if (r_max > OH - 1) r_max = OH - 1;
    /* ascending: read so far <= floor((ih + ph) / sh); later rows read >= ceil((ih + 2 + ph - kh) / sh) */
    const int64_t read_max = mct__ipg_floordiv((int32_t)(ih + ph), (int32_t)sh);
    const int64_t later_min = -mct__ipg_floordiv((int32_t)(kh - 2 - ih - ph), (int32_t)sh);
    if (ih + 1 < H && r_max >= later_min && r_max > read_max) fwd = 0;
    /* descending: read so far >= ceil((ih + 1 + ph - kh) / sh);
     * later rows read <= floor((ih - 1 + ph) / sh) */
    const int64_t read_min = -mct__ipg_floordiv((int32_t)(kh - 1 - ih - ph), (int32_t)sh);
    const int64_t later_max = mct__ipg_floordiv((int32_t)(ih - 1 + ph), (int32_t)sh);
    if (ih > 0 && r_min <= later_max && r_min < read_min) bwd = 0;
  }
  return fwd ? 1 : (bwd ? -1 : 0);
}

/* np (<= 4) gx pixels, sw columns apart, one dependency chain each (the same sums). */
MCT__AVX2 static inline void mct__ipg_gdw_pixels(const float *const *rows, const __m256 *wf,
                                                 int32_t kh, int32_t kw, int32_t j0, int32_t sw,
                                                 int32_t u0, int32_t np, float *dst, size_t ps) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int32_t i = 0; i < kh; ++i) {
    if (!rows[i]) continue;
    for (int32_t j = j0; j < kw; j += sw) {
      const float *r = rows[i] + (size_t)((u0 - j) / sw) * 8;
      const __m256 wv = wf[i * kw + j];
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(r), wv));
      if (np == 4) {
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(r + 8), wv));
        a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(r + 16), wv));
        a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(r + 24), wv));
      }
    }
  }
  _mm256_storeu_ps(dst, a0);
  if (np == 4) {
    _mm256_storeu_ps(dst + ps, a1);
    _mm256_storeu_ps(dst + 2 * ps, a2);
    _mm256_storeu_ps(dst + 3 * ps, a3);
  }
}

MCT__AVX2 static void mct__ipg_gdw_block(const mct_conv_geom *g, float *buf, int32_t cb,
                                         const __m256 *wf, __m256 scale, int32_t dir, float *ring) {
  const int32_t C = g->in_c, H = g->in_h, W = g->in_w, OW = g->out_w, kh = g->k_h, kw = g->k_w;
  const int32_t sh = g->stride_h, sw = g->stride_w, ph = g->pad_h, pw = g->pad_w;
  const int32_t padc = mct__ipg_gdw_padc(g), len = (OW + 2 * padc) * 8;
  int32_t slot_row[MCT__IPG_MAX_K];
  for (int32_t i = 0; i < kh; ++i) slot_row[i] = -1;
  for (int32_t n = 0; n < H; ++n) {
    const int32_t ih = dir > 0 ? n : H - 1 - n;
    const float *rows[MCT__IPG_MAX_K];
    for (int32_t i = 0; i < kh; ++i) { /* the G rows of this gx row, into the ring */
      const int32_t t = ih + ph - i;
      rows[i] = NULL;
      if (t < 0 || t % sh || t / sh >= g->out_h) continue;
      const int32_t oh = t / sh, s = oh % kh;
      float *r = ring + (size_t)s * len;
      rows[i] = r;
      if (slot_row[s] == oh) continue;
      slot_row[s] = oh;
      const float *src = buf + (size_t)oh * OW * C + cb;
      for (int32_t ow = 0; ow < OW; ++ow)
        _mm256_storeu_ps(r + (size_t)(ow + padc) * 8,
                         _mm256_mul_ps(_mm256_loadu_ps(src + (size_t)ow * C), scale));
    }
    float *dst = buf + (size_t)ih * W * C + cb;
    for (int32_t f = 0; f < sw; ++f) { /* columns f, f + sw, ...: the same taps j */
      int32_t iw = f; /* u0 = iw + pw + sw * padc >= kw - 1: the ring columns stay >= 0 */
      for (; iw + 3 * sw < W; iw += 4 * sw) {
        const int32_t u0 = iw + pw + sw * padc;
        mct__ipg_gdw_pixels(rows, wf, kh, kw, u0 % sw, sw, u0, 4, dst + (size_t)iw * C, (size_t)sw * C);
      }
      for (; iw < W; iw += sw) {
        const int32_t u0 = iw + pw + sw * padc;
        mct__ipg_gdw_pixels(rows, wf, kh, kw, u0 % sw, sw, u0, 1, dst + (size_t)iw * C, 0);
      }
    }
  }
}

/* Channels [0, C - C % 8) of the in-place depthwise input gradient. */
MCT__AVX2 static int32_t mct__ipg_gdw(const mct_conv_geom *g, float *buf, const int8_t *w,
                                      const mct_wsplit *ws, const float *w_scale, int32_t dir) {
  const int32_t C = g->in_c, kk = g->k_h * g->k_w;
  float ring[MCT__IPG_GRING];
  __m256 wf[MCT__DW_MAX_TAPS];
  int32_t next = 0, cb = 0;
  memset(ring, 0, sizeof ring); /* the padding columns stay 0 */
  for (; cb + 8 <= C; cb += 8) {
    float taps[MCT__DW_MAX_TAPS][8], sc[8];
    for (int32_t k = 0; k < 8; ++k) {
      const int32_t c = cb + k;
      const int8_t *row = w + (size_t)c * kk;
      if (ws && next < ws->n_sel && ws->sel[next] == c) row = ws->wt + (size_t)(next++) * kk;
      for (int32_t t = 0; t < kk; ++t) taps[t][k] = (float)row[t];
      sc[k] = w_scale ? w_scale[c] : 1.0f;
    }
    for (int32_t t = 0; t < kk; ++t) wf[t] = _mm256_loadu_ps(taps[t]);
    mct__ipg_gdw_block(g, buf, cb, wf, _mm256_loadu_ps(sc), dir, ring);
  }
  return cb;
}

/* ---- dispatch (arguments already checked by inplace_grad.c) ---------------------------------- */

int mct__inplace_pointwise_grad_avx2(const mct_conv_geom *g, float *buf, const int8_t *w,
                                     const mct_wsplit *ws, const float *w_scale, float *tmp) {
  if (!mct__has_avx2()) return 0;
  mct__ipg_pw_grad(g, buf, w, ws, w_scale, tmp);
  return 1;
}

/* Returns the number of leading channels it computed (a multiple of 8; 0: none). */
int32_t mct__inplace_depthwise_grad_avx2(const mct_conv_geom *g, float *buf, const int8_t *w,
                                         const mct_wsplit *ws, const float *w_scale) {
  if (g->k_h > MCT__IPG_MAX_K || g->k_h * g->k_w > MCT__DW_MAX_TAPS ||
      (int64_t)g->k_h * (g->out_w + 2 * mct__ipg_gdw_padc(g)) * 8 > MCT__IPG_GRING)
    return 0;
  const int32_t dir = mct__ipg_gdw_order(g);
  if (!dir || !mct__has_avx2()) return 0;
  return mct__ipg_gdw(g, buf, w, ws, w_scale, dir);
}

#else
typedef int mct__inplace_grad_x86_unused; /* ISO C: a translation unit must not be empty */
#endif
