/* conv_x86.c: AVX2 versions of the int8 convolution paths of conv.c, for x86 hosts (the
 * fast simulation of the deployed code). Chosen at run time when the CPU has AVX2; the
 * build flags stay baseline, each function carries target("avx2"). -DMCT_PORTABLE (or a
 * non-x86 target) compiles this file to nothing and conv.c's pure C paths run instead.
 *
 * Exactness: the same integer sums as the reference, only in another order (int16 lanes and
 * madd, see mct__dot8), and requantization of 8 lanes by mct__rq8, the scalar formula lane by
 * lane (both in mct_internal_x86.h, shared with inplace_x86.c).
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
#include "mct_internal_x86.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)

#define MCT__COL_MAX 576 /* in_c * kh * kw: 64 channels at 3x3 */

/* ---- pointwise ---------------------------------------------------------------------------- */

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
      __m256i acc = mct__dot8(xp, xz, w0, (size_t)C, C);
      if (ws) acc = mct__add_slice8(acc, xp, ws, o, xz);
      mct__store8(y + (size_t)p * O + o, mct__rq8(acc, &k));
    }
  }
}

/* ---- depthwise (multiplier 1) ------------------------------------------------------------- */

MCT__AVX2 static void mct__depthwise_avx2(const mct_conv_geom *g, const mct_requant *q,
                                          const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                                          const int32_t *bias, int8_t *y) {
  const int32_t C = g->in_c, kw = g->k_w;
  const __m256i vz = _mm256_set1_epi16((int16_t)q->x_zero), zero = _mm256_setzero_si256();
  __m256i wp[2 * MCT__DW_MAX_TAPS];
  for (int32_t cbb = 0; cbb < C; cbb += 16) {
    const int32_t cb = cbb + 16 <= C ? cbb : C - 16; /* the last block overlaps */
    mct__rq8c klo, khi;
    mct__dw_pairs(g, w, ws, cb, 16, wp);
    mct__rq8_dw(q, bias, cb, 16, &klo, &khi);
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
        _mm_storeu_si128((__m128i *)(y + ((size_t)oh * g->out_w + ow) * C + cb),
                         mct__rq16_dw(alo, ahi, &klo, &khi));
      }
    }
  }
}

/* ---- im2col (groups 1, any kernel) ------------------------------------------------------- */

#define MCT__COL_BLOCKS 8 /* requantization constants kept for up to 64 output channels */

MCT__AVX2 static int mct__im2col_avx2(const mct_conv_geom *g, const mct_requant *q,
                                      const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                                      const int32_t *bias, int8_t *y) {
  const int32_t O = g->out_c, kk = g->k_h * g->k_w, K = g->in_c * kk, n = (K + 15) & ~15;
  int16_t col[MCT__COL_MAX];
  int8_t wpad[8 * MCT__COL_MAX]; /* rows whose padded chunks would run past the end of w */
  mct__rq8c kb[MCT__COL_BLOCKS];
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
          acc = mct__col_dot8(col, n, wpad + (size_t)o * n, (size_t)n);
        else if (n != K && o == O - 8)
          acc = mct__col_dot8(col, n, wpad, (size_t)n);
        else
          acc = mct__col_dot8(col, n, w + (size_t)o * K, (size_t)K);
        if (ws) acc = mct__col_slice8(acc, col, ws, o, kk);
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
