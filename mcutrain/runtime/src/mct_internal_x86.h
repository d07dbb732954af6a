/* mct_internal_x86.h: AVX2 helpers shared by the *_x86.c kernel files (not part of the public
 * API in mct.h; the scalar helpers are in mct_internal.h). Written once here so that every
 * AVX2 path requantizes, loads and stores exactly alike.
 *
 * Host only: it declares something only on x86 with GCC or clang and without MCT_PORTABLE, the
 * condition under which the *_x86.c files compile their AVX2 code; anywhere else (a Cortex-M
 * build, -DMCT_PORTABLE) it is empty. The build flags stay baseline: every vector function
 * carries MCT__AVX2 (target("avx2")) and runs only after mct__has_avx2().
 */
#ifndef MCT_INTERNAL_X86_H
#define MCT_INTERNAL_X86_H

#include "mct.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define MCT__AVX2 __attribute__((target("avx2")))
#define MCT__DW_MAX_TAPS 49 /* largest depthwise kernel of the vector paths (7x7) */

static inline int mct__has_avx2(void) { return __builtin_cpu_supports("avx2"); }

/* ---- loads and stores ------------------------------------------------------------------------ */

MCT__AVX2 static inline __m256i mct__ext16(const int8_t *p) { /* 16 int8 -> 16 int16 */
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

MCT__AVX2 static inline __m256i mct__ext8(const int8_t *p) { /* 8 int8 -> int16, upper 8 lanes 0 */
  return _mm256_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)p));
}

MCT__AVX2 static inline __m256 mct__f8(const int8_t *p) { /* 8 int8 -> 8 float, exact */
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
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

/* 64-bit lanes clamped to [lo, hi]. */
MCT__AVX2 static inline __m256i mct__clamp64(__m256i v, __m256i lo, __m256i hi) {
  v = _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
  return _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi));
}

/* ---- requantization of 8 lanes --------------------------------------------------------------- */

/* mct__rq8 is the scalar formula (mct__out_s8 in mct_internal.h) lane by lane:
 *     t   = sat32(acc + bias)                       32-bit add, overflow -> saturate
 *     p   = t * mult                                64-bit products (even / odd lanes)
 *     out = (p + 2^(n-1)) >> n,  n = 31 - shift     arithmetic shift done as a logical shift
 *           of p + 2^(n-1) + 2^62 (>= 0, < 2^64), minus 2^(62-n) (exact: 2^n divides 2^62)
 *     y   = clamp(out + y_zero, act_min, act_max)    in 64 bits (out may exceed int32)
 * with these constants of its 8 lanes, in the lane order of the accumulators. */
typedef struct {
  __m256i bias, mult, mult_odd, add_e, add_o, cnt_e, cnt_o, sub_e, sub_o, yz, lo, hi;
} mct__rq8c;

/* From per-lane mult, shift and bias (8 int32 each, lane order). */
MCT__AVX2 static inline mct__rq8c mct__rq8_make(__m256i mult, __m256i shift, __m256i bias,
                                                const mct_requant *q) {
  mct__rq8c k;
  const __m256i one = _mm256_set1_epi64x(1), b62 = _mm256_set1_epi64x((int64_t)1 << 62);
  const __m256i cnt = _mm256_sub_epi32(_mm256_set1_epi32(31), shift);
  k.bias = bias;
  k.mult = mult;
  k.mult_odd = _mm256_srli_epi64(mult, 32);
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

/* Output channels o..o+7 in natural lane order (bias NULL: 0). */
MCT__AVX2 static inline mct__rq8c mct__rq8_block(const mct_requant *q, const int32_t *bias,
                                                 int32_t o) {
  const __m256i b = bias ? _mm256_loadu_si256((const __m256i *)(bias + o)) : _mm256_setzero_si256();
  return mct__rq8_make(_mm256_loadu_si256((const __m256i *)(q->mult + o)),
                       _mm256_loadu_si256((const __m256i *)(q->shift + o)), b, q);
}

/* Channels cb..cb+nc-1 (nc 16 or 8) of a depthwise block in the lane orders of its madd pairs
 * (mct__dw_pairs): klo holds channels 0-3 | 8-11, khi 4-7 | 12-15; lanes past nc repeat the
 * last channel (their outputs are never stored). */
MCT__AVX2 static inline void mct__rq8_dw(const mct_requant *q, const int32_t *bias, int32_t cb,
                                         int32_t nc, mct__rq8c *klo, mct__rq8c *khi) {
  const int32_t lo_idx[8] = {0, 1, 2, 3, 8, 9, 10, 11}, hi_idx[8] = {4, 5, 6, 7, 12, 13, 14, 15};
  int32_t m[2][8], s[2][8], b[2][8];
  for (int32_t k = 0; k < 8; ++k) {
    for (int32_t h = 0; h < 2; ++h) {
      int32_t c = (h ? hi_idx : lo_idx)[k];
      c = cb + (c < nc ? c : nc - 1);
      m[h][k] = q->mult[c], s[h][k] = q->shift[c], b[h][k] = bias ? bias[c] : 0;
    }
  }
  *klo = mct__rq8_make(_mm256_loadu_si256((const __m256i *)m[0]),
                       _mm256_loadu_si256((const __m256i *)s[0]),
                       _mm256_loadu_si256((const __m256i *)b[0]), q);
  *khi = mct__rq8_make(_mm256_loadu_si256((const __m256i *)m[1]),
                       _mm256_loadu_si256((const __m256i *)s[1]),
                       _mm256_loadu_si256((const __m256i *)b[1]), q);
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
  pe = mct__clamp64(_mm256_add_epi64(pe, k->yz), k->lo, k->hi);
  po = mct__clamp64(_mm256_add_epi64(po, k->yz), k->lo, k->hi);
  return _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
}

/* The 16 int8 outputs of a depthwise block from its accumulators (lanes as in mct__rq8_dw:
 * alo = channels 0-3 | 8-11, ahi = 4-7 | 12-15; packs restores 0..15). */
MCT__AVX2 static inline __m128i mct__rq16_dw(__m256i alo, __m256i ahi, const mct__rq8c *klo,
                                             const mct__rq8c *khi) {
  const __m256i r16 = _mm256_packs_epi32(mct__rq8(alo, klo), mct__rq8(ahi, khi));
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packs_epi16(r16, r16), 0x08));
}

/* ---- int8 dot products of 8 rows ------------------------------------------------------------- */

/* 8 sums: sum_c (a[c] - az) * b[k * ld + c], k < 8 (a pixel against 8 weight rows, or a
 * weight row against 8 pixels). Reads exactly n bytes of a and of each row.
 * Exact: x - x_zero and w are int16 (|x - x_zero| <= 255); _mm256_madd_epi16 adds two
 * products (|.| <= 2 * 255 * 128) into an int32 lane; then int32 sums as in the C loops. */
MCT__AVX2 static inline __m256i mct__dot8(const int8_t *a, int32_t az, const int8_t *b, size_t ld,
                                          int32_t n) {
  const __m256i vz = _mm256_set1_epi16((int16_t)az);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  int32_t c = 0;
#define MCT__MAC8(XV, LOAD)                                              \
  a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(XV, LOAD(b + c)));          \
  a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(XV, LOAD(b + ld + c)));     \
  a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(XV, LOAD(b + 2 * ld + c))); \
  a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(XV, LOAD(b + 3 * ld + c))); \
  a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(XV, LOAD(b + 4 * ld + c))); \
  a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(XV, LOAD(b + 5 * ld + c))); \
  a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(XV, LOAD(b + 6 * ld + c))); \
  a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(XV, LOAD(b + 7 * ld + c)))
  for (; c + 16 <= n; c += 16) {
    const __m256i xv = _mm256_sub_epi16(mct__ext16(a + c), vz);
    MCT__MAC8(xv, mct__ext16);
  }
  if (c + 8 <= n) { /* upper lanes: 0 - 0 (az only in the low 8 lanes) against 0 */
    const __m256i vz8 = _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_set1_epi16((int16_t)az), 0);
    const __m256i xv = _mm256_sub_epi16(mct__ext8(a + c), vz8);
    MCT__MAC8(xv, mct__ext8);
    c += 8;
  }
#undef MCT__MAC8
  __m256i s = mct__hsum8(a0, a1, a2, a3, a4, a5, a6, a7);
  if (c < n) {
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)t, s);
    for (int32_t k = 0; k < 8; ++k)
      for (int32_t cc = c; cc < n; ++cc) t[k] += ((int32_t)a[cc] - az) * b[(size_t)k * ld + cc];
    s = _mm256_loadu_si256((const __m256i *)t);
  }
  return s;
}

/* The trained slice's part of the 8 sums of rows o..o+7 at pixel xp (scalar; rarely used). */
MCT__AVX2 static inline __m256i mct__add_slice8(__m256i acc, const int8_t *xp,
                                                const mct_wsplit *ws, int32_t o, int32_t xz) {
  int32_t a[8];
  _mm256_storeu_si256((__m256i *)a, acc);
  for (int32_t k = 0; k < 8; ++k) {
    const int8_t *wt = ws->wt + (size_t)(o + k) * ws->n_sel;
    for (int32_t j = 0; j < ws->n_sel; ++j) a[k] += ((int32_t)xp[ws->sel[j]] - xz) * wt[j];
  }
  return _mm256_loadu_si256((const __m256i *)a);
}

/* ---- im2col (groups 1, any kernel) ----------------------------------------------------------- */

/* The column of output pixel (oh, ow): col[c*kk + i*kw + j] = x - x_zero, 0 in padding. */
static inline void mct__im2col_pixel(const mct_conv_geom *g, const int8_t *x, int32_t xz,
                                     int32_t oh, int32_t ow, int16_t *col) {
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

/* Rows [o0, o0 + rows) of w (K bytes each) into dst with stride n, zero-padded to n bytes. */
static inline void mct__pad_rows(const int8_t *w, int32_t K, int32_t n, int32_t o0, int32_t rows,
                                 int8_t *dst) {
  for (int32_t r = 0; r < rows; ++r) {
    memcpy(dst + (size_t)r * n, w + (size_t)(o0 + r) * K, (size_t)K);
    memset(dst + (size_t)r * n + K, 0, (size_t)(n - K));
  }
}

/* 8 sums of the column col (n int16, n a multiple of 16, zero past K) against the rows
 * w0 + r*ld, r < 8; reads 7*ld + n bytes from w0 (chunks run past a row into zeros of the
 * column; the caller keeps them inside the weights). */
MCT__AVX2 static inline __m256i mct__col_dot8(const int16_t *col, int32_t n, const int8_t *w0,
                                              size_t ld) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
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

/* The trained slice's part of the 8 sums of rows o..o+7: the taps of the channels sel[s],
 * read back from the column col (kk taps per channel). */
MCT__AVX2 static inline __m256i mct__col_slice8(__m256i acc, const int16_t *col,
                                                const mct_wsplit *ws, int32_t o, int32_t kk) {
  int32_t sums[8];
  _mm256_storeu_si256((__m256i *)sums, acc);
  for (int32_t r = 0; r < 8; ++r) {
    const int8_t *wt = ws->wt + (size_t)(o + r) * ws->n_sel * kk;
    for (int32_t s = 0; s < ws->n_sel; ++s)
      for (int32_t t = 0; t < kk; ++t) sums[r] += col[ws->sel[s] * kk + t] * wt[s * kk + t];
  }
  return _mm256_loadu_si256((const __m256i *)sums);
}

/* ---- depthwise weights (multiplier 1) -------------------------------------------------------- */

/* Taps of channels cb..cb+nc-1 (nc 16 or 8; trained channels from ws) as int16 pairs: wp[2t]
 * (channels 0-3, 8-11) and wp[2t+1] (channels 4-7, 12-15) interleave tap t = (i, j) with tap
 * (i, j+1) (0 past the row end), matching _mm256_unpack{lo,hi}_epi16 of the inputs at those
 * taps; lanes past nc get weight 0. At most MCT__DW_MAX_TAPS taps. */
MCT__AVX2 static inline void mct__dw_pairs(const mct_conv_geom *g, const int8_t *w,
                                           const mct_wsplit *ws, int32_t cb, int32_t nc,
                                           __m256i *wp) {
  const int32_t kh = g->k_h, kw = g->k_w, kk = kh * kw;
  int16_t taps[MCT__DW_MAX_TAPS][16];
  int32_t next = 0;
  while (ws && next < ws->n_sel && ws->sel[next] < cb) ++next;
  if (nc < 16) memset(taps, 0, sizeof taps);
  for (int32_t k = 0; k < nc; ++k) {
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

/* ---- float gradients ------------------------------------------------------------------------- */

/* gx[c] = sum_o G[o] * w[o][c] (o ascending, zero G skipped), G[o] = gy[o] * w_scale[o]
 * (w_scale NULL: gy[o]): one pixel of a pointwise input gradient, or a linear layer. Every
 * gx[c] receives the float32 operations of the C loop in the same order (a multiply, then an
 * add; no fused multiply-add), 32 or 8 channels per step. */
MCT__AVX2 static inline void mct__gemv_t(int32_t C, int32_t O, const float *gy, const int8_t *w,
                                         const float *w_scale, float *gx) {
  int32_t cb = 0;
  for (; cb + 32 <= C; cb += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int32_t o = 0; o < O; ++o) {
      float gv = gy[o];
      if (gv == 0.0f) continue;
      if (w_scale) gv *= w_scale[o];
      const __m256 g = _mm256_set1_ps(gv);
      const int8_t *wr = w + (size_t)o * C + cb;
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(g, mct__f8(wr)));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(g, mct__f8(wr + 8)));
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(g, mct__f8(wr + 16)));
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(g, mct__f8(wr + 24)));
    }
    _mm256_storeu_ps(gx + cb, a0);
    _mm256_storeu_ps(gx + cb + 8, a1);
    _mm256_storeu_ps(gx + cb + 16, a2);
    _mm256_storeu_ps(gx + cb + 24, a3);
  }
  for (; cb + 8 <= C; cb += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int32_t o = 0; o < O; ++o) {
      float gv = gy[o];
      if (gv == 0.0f) continue;
      if (w_scale) gv *= w_scale[o];
      a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(gv), mct__f8(w + (size_t)o * C + cb)));
    }
    _mm256_storeu_ps(gx + cb, a);
  }
  for (; cb < C; ++cb) {
    float a = 0.0f;
    for (int32_t o = 0; o < O; ++o) {
      float gv = gy[o];
      if (gv == 0.0f) continue;
      if (w_scale) gv *= w_scale[o];
      a += gv * (float)w[(size_t)o * C + cb];
    }
    gx[cb] = a;
  }
}

/* The trained slice's part (groups 1): gx[sel[s]] += G[o] * wt[o][s]. */
static inline void mct__gemv_t_slice(int32_t O, const float *gy, const mct_wsplit *ws,
                                     const float *w_scale, float *gx) {
  for (int32_t o = 0; o < O; ++o) {
    float gv = gy[o];
    if (gv == 0.0f) continue;
    if (w_scale) gv *= w_scale[o];
    const int8_t *wt = ws->wt + (size_t)o * ws->n_sel;
    for (int32_t s = 0; s < ws->n_sel; ++s) gx[ws->sel[s]] += gv * (float)wt[s];
  }
}

#endif /* x86, GCC/clang, not MCT_PORTABLE */
#endif
