/* conv_x86.c: AVX2 versions of the int8 convolution paths of conv.c, for x86 hosts (the
 * fast simulation of the deployed code). Chosen at run time when the CPU has AVX2; the
 * build flags stay baseline, each function carries target("avx2"). -DMCT_PORTABLE (or a
 * non-x86 target) compiles this file to nothing and conv.c's pure C paths run instead.
 *
 * Exactness: the same integer sums as the reference, only in another order.
 *   x - x_zero and w are int16 (|x - x_zero| <= 255); _mm256_madd_epi16 adds two products
 *   (|.| <= 2 * 255 * 128) into an int32 lane; int32 sums as in conv.c.
 *   Requantization of 8 lanes (mct__rq8) is the scalar formula lane by lane:
 *     t   = sat32(acc + bias)                       32-bit add with overflow -> saturate
 *     p   = t * mult                                64-bit products (even / odd lanes)
 *     out = (p + 2^(n-1)) >> n,  n = 31 - shift     arithmetic shift done as a logical shift
 *           of p + 2^(n-1) + 2^62 (positive, < 2^64), minus 2^(62-n) (exact: 2^n | 2^62)
 *     y   = clamp(out + y_zero, act_min, act_max)    in 64 bits (out may exceed int32)
 *
 * Paths (each returns 0 when the call is not its case, and conv.c runs the pure C one):
 *   pointwise  groups 1, 1x1, stride 1, no padding, out_c >= 8: 8 output channels at a time,
 *              all pixels; the last block overlaps the previous one (same values rewritten).
 *   depthwise  multiplier 1, in_c >= 16, kernel up to 7x7: 16 channels at a time, taps in
 *              pairs (one madd per pair of taps); the last block overlaps.
 *   im2col     groups 1 otherwise (any kernel/stride/padding), in_c*kh*kw <= 576 and
 *              out_c >= 8: per pixel a column of int16 (x - x_zero, 0 in padding) in the
 *              weight order [c][i][j], then contiguous dot products with the weight rows.
 * Scratch: stack buffers of at most ~9 KB (host only; the MCU build never compiles this).
 */
#include "mct.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define MCT__AVX2 __attribute__((target("avx2")))
#define MCT__DW_MAX_TAPS 49
#define MCT__COL_MAX 576 /* in_c * kh * kw: 64 channels at 3x3 */

/* Requantization constants of 8 lanes, in the lane order of the accumulators. */
typedef struct {
  __m256i bias, mult, mult_odd, add_e, add_o, cnt_e, cnt_o, sub_e, sub_o, yz, lo, hi;
} mct__rq8c;

/* From per-lane mult/shift/bias (8 int32 each, lane order). */
MCT__AVX2 static mct__rq8c mct__rq8_consts(const int32_t *mult, const int32_t *shift,
                                           const int32_t *bias, const mct_requant *q) {
  mct__rq8c k;
  const __m256i one = _mm256_set1_epi64x(1), b62 = _mm256_set1_epi64x((int64_t)1 << 62);
  const __m256i cnt = _mm256_sub_epi32(_mm256_set1_epi32(31),
                                       _mm256_loadu_si256((const __m256i *)shift));
  k.bias = _mm256_loadu_si256((const __m256i *)bias);
  k.mult = _mm256_loadu_si256((const __m256i *)mult);
  k.mult_odd = _mm256_srli_epi64(k.mult, 32);
  k.cnt_e = _mm256_and_si256(cnt, _mm256_set1_epi64x(0xFFFFFFFF));
  k.cnt_o = _mm256_srli_epi64(cnt, 32);
  k.add_e = _mm256_add_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(k.cnt_e, one)), b62);
  k.add_o = _mm256_add_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(k.cnt_o, one)), b62);
  k.sub_e = _mm256_sllv_epi64(one, _mm256_sub_epi64(_mm256_set1_epi64x(62), k.cnt_e));
  k.sub_o = _mm256_sllv_epi64(one, _mm256_sub_epi64(_mm256_set1_epi64x(62), k.cnt_o));
  k.yz = _mm256_set1_epi64x(q->y_zero);
  k.lo = _mm256_set1_epi64x(q->act_min);
  k.hi = _mm256_set1_epi64x(q->act_max);
  return k;
}

/* Constants of output channels o..o+7 (natural lane order). */
MCT__AVX2 static mct__rq8c mct__rq8_block(const mct_requant *q, const int32_t *bias, int32_t o) {
  int32_t b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  if (bias) memcpy(b, bias + o, sizeof b);
  return mct__rq8_consts(q->mult + o, q->shift + o, b, q);
}

MCT__AVX2 static inline __m256i mct__clamp64(__m256i v, const mct__rq8c *k) {
  v = _mm256_blendv_epi8(v, k->lo, _mm256_cmpgt_epi64(k->lo, v));
  return _mm256_blendv_epi8(v, k->hi, _mm256_cmpgt_epi64(v, k->hi));
}

/* 8 int32 accumulators -> 8 int32 outputs in [act_min, act_max]. */
MCT__AVX2 static inline __m256i mct__rq8(__m256i acc, const mct__rq8c *k) {
  const __m256i s = _mm256_add_epi32(acc, k->bias);
  const __m256i ovf = _mm256_and_si256(_mm256_xor_si256(s, acc), _mm256_xor_si256(s, k->bias));
  const __m256i satv = _mm256_xor_si256(_mm256_srai_epi32(acc, 31), _mm256_set1_epi32(INT32_MAX));
  const __m256i t = _mm256_blendv_epi8(s, satv, _mm256_srai_epi32(ovf, 31));
  __m256i pe = _mm256_mul_epi32(t, k->mult);
  __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(t, 32), k->mult_odd);
  pe = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_add_epi64(pe, k->add_e), k->cnt_e), k->sub_e);
  po = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_add_epi64(po, k->add_o), k->cnt_o), k->sub_o);
  pe = mct__clamp64(_mm256_add_epi64(pe, k->yz), k);
  po = mct__clamp64(_mm256_add_epi64(po, k->yz), k);
  return _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
}

/* 8 int32 values (already in int8 range) -> 8 bytes at dst. */
MCT__AVX2 static inline void mct__store8(int8_t *dst, __m256i v) {
  const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  _mm_storel_epi64((__m128i *)dst, _mm_packs_epi16(w16, w16));
}

/* [sum(a0), ..., sum(a7)] */
MCT__AVX2 static inline __m256i mct__hsum8(__m256i a0, __m256i a1, __m256i a2, __m256i a3,
                                           __m256i a4, __m256i a5, __m256i a6, __m256i a7) {
  const __m256i t0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
  const __m256i t1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a4, a5), _mm256_hadd_epi32(a6, a7));
  return _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20),
                          _mm256_permute2x128_si256(t0, t1, 0x31));
}

MCT__AVX2 static inline __m256i mct__ext16(const int8_t *p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

MCT__AVX2 static inline __m256i mct__ext8(const int8_t *p) { /* upper 8 lanes 0 */
  return _mm256_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)p));
}

/* The trained slice's part of the 8 sums of rows o..o+7 at pixel xp (scalar; rarely used). */
MCT__AVX2 static __m256i mct__add_slice8(__m256i acc, const int8_t *xp, const mct_wsplit *ws,
                                         int32_t o, int32_t xz) {
  int32_t a[8];
  _mm256_storeu_si256((__m256i *)a, acc);
  for (int32_t k = 0; k < 8; ++k) {
    const int8_t *wt = ws->wt + (size_t)(o + k) * ws->n_sel;
    for (int32_t j = 0; j < ws->n_sel; ++j) a[k] += ((int32_t)xp[ws->sel[j]] - xz) * wt[j];
  }
  return _mm256_loadu_si256((const __m256i *)a);
}

/* ---- pointwise ---------------------------------------------------------------------------- */

/* 8 sums: pixel xp (C channels) against rows w0 + k*C, k < 8. */
MCT__AVX2 static inline __m256i mct__dot8(const int8_t *xp, const int8_t *w0, int32_t C,
                                          int32_t xz) {
  const __m256i vz = _mm256_set1_epi16((int16_t)xz);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  __m256i a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  int32_t c = 0;
#define MCT__MAC8(XV, LOAD)                                                  \
  a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(XV, LOAD(w0 + c)));            \
  a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(XV, LOAD(w0 + C + c)));        \
  a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(XV, LOAD(w0 + 2 * C + c)));    \
  a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(XV, LOAD(w0 + 3 * C + c)));    \
  a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(XV, LOAD(w0 + 4 * C + c)));    \
  a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(XV, LOAD(w0 + 5 * C + c)));    \
  a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(XV, LOAD(w0 + 6 * C + c)));    \
  a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(XV, LOAD(w0 + 7 * C + c)))
  for (; c + 16 <= C; c += 16) {
    const __m256i xv = _mm256_sub_epi16(mct__ext16(xp + c), vz);
    MCT__MAC8(xv, mct__ext16);
  }
  if (c + 8 <= C) {
    /* upper lanes: x 0 - 0 (xz only in the low 8 lanes), w 0 */
    const __m256i vz8 =
        _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_set1_epi16((int16_t)xz), 0);
    const __m256i xv = _mm256_sub_epi16(mct__ext8(xp + c), vz8);
    MCT__MAC8(xv, mct__ext8);
    c += 8;
  }
#undef MCT__MAC8
  __m256i s = mct__hsum8(a0, a1, a2, a3, a4, a5, a6, a7);
  if (c < C) {
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)t, s);
    for (int32_t k = 0; k < 8; ++k)
      for (int32_t cc = c; cc < C; ++cc) t[k] += ((int32_t)xp[cc] - xz) * w0[(size_t)k * C + cc];
    s = _mm256_loadu_si256((const __m256i *)t);
  }
  return s;
}

MCT__AVX2 static void mct__pointwise_avx2(int32_t npix, int32_t C, int32_t O, const mct_requant *q,
                                          const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                                          const int32_t *bias, int8_t *y) {
  const int32_t xz = q->x_zero;
  for (int32_t ob = 0; ob < O; ob += 8) {
    const int32_t o = ob + 8 <= O ? ob : O - 8; /* the last block overlaps */
    const mct__rq8c k = mct__rq8_block(q, bias, o);
    const int8_t *w0 = w + (size_t)o * C;
    for (int32_t p = 0; p < npix; ++p) {
      const int8_t *xp = x + (size_t)p * C;
      __m256i acc = mct__dot8(xp, w0, C, xz);
      if (ws) acc = mct__add_slice8(acc, xp, ws, o, xz);
      mct__store8(y + (size_t)p * O + o, mct__rq8(acc, &k));
    }
  }
}

/* ---- depthwise (multiplier 1) ------------------------------------------------------------- */

/* Taps of channels cb..cb+15 as int16 pairs: wp[2t] (channels 0-3, 8-11) and wp[2t+1]
 * (channels 4-7, 12-15) interleave tap t = (i, j) with tap (i, j+1) (0 past the row end),
 * matching _mm256_unpack{lo,hi}_epi16 of the inputs at those taps. */
MCT__AVX2 static void mct__dw_weights(const mct_conv_geom *g, const int8_t *w, const mct_wsplit *ws,
                                      int32_t cb, __m256i *wp) {
  const int32_t kh = g->k_h, kw = g->k_w, kk = kh * kw;
  int16_t taps[MCT__DW_MAX_TAPS][16];
  int32_t next = 0;
  while (ws && next < ws->n_sel && ws->sel[next] < cb) ++next;
  for (int32_t k = 0; k < 16; ++k) {
    const int8_t *row = w + (size_t)(cb + k) * kk;
    if (ws && next < ws->n_sel && ws->sel[next] == cb + k) row = ws->wt + (size_t)(next++) * kk;
    for (int32_t t = 0; t < kk; ++t) taps[t][k] = row[t];
  }
  const __m256i zero = _mm256_setzero_si256();
  for (int32_t i = 0; i < kh; ++i) {
    for (int32_t j = 0; j < kw; ++j) {
      const int32_t t = i * kw + j;
      const __m256i a = _mm256_loadu_si256((const __m256i *)taps[t]);
      const __m256i b = j + 1 < kw ? _mm256_loadu_si256((const __m256i *)taps[t + 1]) : zero;
      wp[2 * t] = _mm256_unpacklo_epi16(a, b);
      wp[2 * t + 1] = _mm256_unpackhi_epi16(a, b);
    }
  }
}

/* Requantization constants of channels cb..cb+15 in the madd lane orders. */
MCT__AVX2 static void mct__dw_consts(const mct_requant *q, const int32_t *bias, int32_t cb,
                                     mct__rq8c *klo, mct__rq8c *khi) {
  const int32_t lo_idx[8] = {0, 1, 2, 3, 8, 9, 10, 11}, hi_idx[8] = {4, 5, 6, 7, 12, 13, 14, 15};
  int32_t m[2][8], s[2][8], b[2][8];
  for (int32_t k = 0; k < 8; ++k) {
    m[0][k] = q->mult[cb + lo_idx[k]], s[0][k] = q->shift[cb + lo_idx[k]];
    m[1][k] = q->mult[cb + hi_idx[k]], s[1][k] = q->shift[cb + hi_idx[k]];
    b[0][k] = bias ? bias[cb + lo_idx[k]] : 0;
    b[1][k] = bias ? bias[cb + hi_idx[k]] : 0;
  }
  *klo = mct__rq8_consts(m[0], s[0], b[0], q);
  *khi = mct__rq8_consts(m[1], s[1], b[1], q);
}

MCT__AVX2 static void mct__depthwise_avx2(const mct_conv_geom *g, const mct_requant *q,
                                          const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                                          const int32_t *bias, int8_t *y) {
  const int32_t C = g->in_c, kw = g->k_w;
  const __m256i vz = _mm256_set1_epi16((int16_t)q->x_zero), zero = _mm256_setzero_si256();
  __m256i wp[2 * MCT__DW_MAX_TAPS];
  for (int32_t cbb = 0; cbb < C; cbb += 16) {
    const int32_t cb = cbb + 16 <= C ? cbb : C - 16; /* the last block overlaps */
    mct__rq8c klo, khi;
    mct__dw_weights(g, w, ws, cb, wp);
    mct__dw_consts(q, bias, cb, &klo, &khi);
    for (int32_t oh = 0; oh < g->out_h; ++oh) {
      const int32_t ih0 = oh * g->stride_h - g->pad_h;
      const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = g->in_h - ih0 < g->k_h ? g->in_h - ih0 : g->k_h;
      for (int32_t ow = 0; ow < g->out_w; ++ow) {
        const int32_t iw0 = ow * g->stride_w - g->pad_w;
        const int32_t j0 = iw0 < 0 ? -iw0 : 0, j1 = g->in_w - iw0 < kw ? g->in_w - iw0 : kw;
        __m256i alo = zero, ahi = zero;
        for (int32_t i = i0; i < i1; ++i) {
          const ptrdiff_t row = ((ptrdiff_t)(ih0 + i) * g->in_w + iw0) * C + cb;
          for (int32_t j = j0; j < j1; j += 2) {
            const int8_t *xa_p = x + row + (ptrdiff_t)j * C;
            const __m256i xa = _mm256_sub_epi16(mct__ext16(xa_p), vz);
            const __m256i xb = j + 1 < j1 ? _mm256_sub_epi16(mct__ext16(xa_p + C), vz) : zero;
            const __m256i *wt = wp + 2 * (i * kw + j);
            alo = _mm256_add_epi32(alo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), wt[0]));
            ahi = _mm256_add_epi32(ahi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), wt[1]));
          }
        }
        /* lanes: alo = channels 0-3 | 8-11, ahi = 4-7 | 12-15; packs restores 0..15 */
        const __m256i r16 = _mm256_packs_epi32(mct__rq8(alo, &klo), mct__rq8(ahi, &khi));
        const __m256i r8 = _mm256_permute4x64_epi64(_mm256_packs_epi16(r16, r16), 0x08);
        _mm_storeu_si128((__m128i *)(y + ((size_t)oh * g->out_w + ow) * C + cb),
                         _mm256_castsi256_si128(r8));
      }
    }
  }
}

/* ---- im2col (groups 1, any kernel) ------------------------------------------------------- */

/* 8 sums of the column col (n int16, zero-padded to a multiple of 16) against the rows
 * w0 + k*ld, k < 8; reads 7*ld + n bytes from w0 (chunks run past a row into zeros of the
 * column; the caller makes sure they stay inside the weights). */
MCT__AVX2 static inline __m256i mct__col_dot8(const int16_t *col, int32_t n, const int8_t *w0,
                                              int32_t ld) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  __m256i a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (int32_t c = 0; c < n; c += 16) {
    const __m256i cv = _mm256_loadu_si256((const __m256i *)(col + c));
    const int8_t *wc = w0 + c;
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(cv, mct__ext16(wc)));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(cv, mct__ext16(wc + ld)));
    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(cv, mct__ext16(wc + 2 * ld)));
    a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(cv, mct__ext16(wc + 3 * ld)));
    a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(cv, mct__ext16(wc + 4 * ld)));
    a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(cv, mct__ext16(wc + 5 * ld)));
    a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(cv, mct__ext16(wc + 6 * ld)));
    a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(cv, mct__ext16(wc + 7 * ld)));
  }
  return mct__hsum8(a0, a1, a2, a3, a4, a5, a6, a7);
}

/* Rows [o0, o0 + rows) of w (K bytes each) into dst with stride n, zero-padded. */
static void mct__pad_rows(const int8_t *w, int32_t K, int32_t n, int32_t o0, int32_t rows,
                          int8_t *dst) {
  for (int32_t r = 0; r < rows; ++r) {
    memcpy(dst + (size_t)r * n, w + (size_t)(o0 + r) * K, (size_t)K);
    memset(dst + (size_t)r * n + K, 0, (size_t)(n - K));
  }
}

/* The column of output pixel (oh, ow): col[c*kk + i*kw + j] = x - x_zero, 0 in padding. */
static void mct__im2col_pixel(const mct_conv_geom *g, const int8_t *x, int32_t xz, int32_t oh,
                              int32_t ow, int16_t *col) {
  const int32_t C = g->in_c, kw = g->k_w, kk = g->k_h * g->k_w;
  const int32_t ih0 = oh * g->stride_h - g->pad_h, iw0 = ow * g->stride_w - g->pad_w;
  for (int32_t i = 0; i < g->k_h; ++i) {
    for (int32_t j = 0; j < kw; ++j) {
      const int32_t ih = ih0 + i, iw = iw0 + j, t = i * kw + j;
      if (ih < 0 || ih >= g->in_h || iw < 0 || iw >= g->in_w) {
        for (int32_t c = 0; c < C; ++c) col[c * kk + t] = 0;
      } else {
        const int8_t *xp = x + ((size_t)ih * g->in_w + iw) * C;
        for (int32_t c = 0; c < C; ++c) col[c * kk + t] = (int16_t)(xp[c] - xz);
      }
    }
  }
}

#define MCT__COL_BLOCKS 8 /* requantization constants kept for up to 64 output channels */

MCT__AVX2 static int mct__im2col_avx2(const mct_conv_geom *g, const mct_requant *q,
                                      const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                                      const int32_t *bias, int8_t *y) {
  const int32_t O = g->out_c, kk = g->k_h * g->k_w, K = g->in_c * kk, n = (K + 15) & ~15;
  int16_t col[MCT__COL_MAX];
  int8_t wpad[8 * MCT__COL_MAX]; /* rows whose padded chunks would run past the end of w */
  mct__rq8c kb[MCT__COL_BLOCKS];
  int32_t sums[8];
  /* K >= 16: only the block holding the last row can read past w; K < 16: pad every row. */
  const int pad_all = K < 16;
  if (pad_all && (size_t)O * n > sizeof wpad) return 0;
  if (pad_all)
    mct__pad_rows(w, K, n, 0, O, wpad);
  else if (n != K)
    mct__pad_rows(w, K, n, O - 8, 8, wpad);
  const int32_t nblk = (O + 7) / 8;
  for (int32_t b = 0; b < nblk && nblk <= MCT__COL_BLOCKS; ++b)
    kb[b] = mct__rq8_block(q, bias, b * 8 + 8 <= O ? b * 8 : O - 8);
  for (int32_t t = K; t < n; ++t) col[t] = 0;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      mct__im2col_pixel(g, x, q->x_zero, oh, ow, col);
      int8_t *yp = y + ((size_t)oh * g->out_w + ow) * O;
      for (int32_t b = 0; b < nblk; ++b) {
        const int32_t o = b * 8 + 8 <= O ? b * 8 : O - 8; /* the last block overlaps */
        __m256i acc;
        if (pad_all)
          acc = mct__col_dot8(col, n, wpad + (size_t)o * n, n);
        else if (n != K && o == O - 8)
          acc = mct__col_dot8(col, n, wpad, n);
        else
          acc = mct__col_dot8(col, n, w + (size_t)o * K, K);
        if (ws) { /* trained slice: taps of the channels sel[s], read back from the column */
          _mm256_storeu_si256((__m256i *)sums, acc);
          for (int32_t r = 0; r < 8; ++r) {
            const int8_t *wt = ws->wt + (size_t)(o + r) * ws->n_sel * kk;
            for (int32_t s = 0; s < ws->n_sel; ++s)
              for (int32_t t = 0; t < kk; ++t) sums[r] += col[ws->sel[s] * kk + t] * wt[s * kk + t];
          }
          acc = _mm256_loadu_si256((const __m256i *)sums);
        }
        if (nblk <= MCT__COL_BLOCKS) {
          mct__store8(yp + o, mct__rq8(acc, &kb[b]));
        } else {
          const mct__rq8c k = mct__rq8_block(q, bias, o);
          mct__store8(yp + o, mct__rq8(acc, &k));
        }
      }
    }
  }
  return 1;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static int mct__has_avx2(void) { return __builtin_cpu_supports("avx2"); }

/* The arguments are checked by the caller (conv.c). Returns 1 when this file handled them. */
int mct__pointwise_s8_avx2(int32_t npix, int32_t in_c, int32_t out_c, const mct_requant *q,
                           const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                           const int32_t *bias, int8_t *y) {
  if (out_c < 8 || !mct__has_avx2()) return 0;
  mct__pointwise_avx2(npix, in_c, out_c, q, x, w, ws, bias, y);
  return 1;
}

int mct__conv2d_s8_avx2(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                        const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y) {
  if (!mct__has_avx2()) return 0;
  const int pointwise = g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                        g->pad_h == 0 && g->pad_w == 0;
  if (g->groups == 1) {
    if (pointwise && g->out_c >= 8) {
      mct__pointwise_avx2(g->in_h * g->in_w, g->in_c, g->out_c, q, x, w, ws, bias, y);
      return 1;
    }
    if (g->out_c >= 8 && g->in_c * g->k_h * g->k_w <= MCT__COL_MAX)
      return mct__im2col_avx2(g, q, x, w, ws, bias, y);
    return 0;
  }
  if (g->groups == g->in_c && g->out_c == g->in_c && g->in_c >= 16 &&
      g->k_h * g->k_w <= MCT__DW_MAX_TAPS) {
    mct__depthwise_avx2(g, q, x, w, ws, bias, y);
    return 1;
  }
  return 0;
}

#else
typedef int mct__conv_x86_unused; /* ISO C: a translation unit must not be empty */
#endif
