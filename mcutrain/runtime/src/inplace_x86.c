/* inplace_x86.c: AVX2 versions of the int8 in-place kernels of inplace.c, for
 * x86 hosts (the fast simulation of the deployed code). Chosen at run time when the CPU has
 * AVX2; the build flags stay baseline, each function carries target("avx2"). -DMCT_PORTABLE
 * (or a non-x86 target) compiles this file to nothing and the portable paths run instead.
 * Each entry point returns 1 (or the number of leading channels it computed) when it handled
 * the call, 0 when the call is not its case; inplace.c then runs its pure C loops.
 *
 * What is read and written where stays within the contract of mct.h (buf, tmp and the order
 * that keeps every input byte alive until it is read); the work inside is reorganized:
 *   pointwise  in the pixel order of mct.h, 8 output channels per block; pixel by pixel
 *              through tmp, or, for a run of pixels whose outputs cover none of their
 *              inputs, straight from buf with the blocks outermost.
 *   depthwise  16 (then 8) channels at a time instead of one: the input rows an output row
 *              needs go into a ring of kh rows on the stack (int16 x - x_zero, 0 in the
 *              padding columns), and the output row is stored straight over its channels'
 *              input where mct__ipx_dw_direct_ok proves that only rows already in the ring
 *              or never read again are covered; otherwise (and for the last in_c % 8
 *              channels) the one-channel-through-tmp loops of inplace.c run.
 *   rows       per output row into tmp_row: per pixel an int16 column in the weight order
 *              [c][i][j] (0 in padding), then contiguous dot products with 8 weight rows.
 *   expand_dw  16 (then 8) expanded channels at a time: the expansion rows the depthwise
 *              conv needs are computed straight into its ring (tmp is not needed); y never
 *              overlaps x.
 *
 * Exactness (int8): the same integer sums in another order; int16 lanes hold x - x_zero
 * (|.| <= 255) and weights; _mm256_madd_epi16 adds two products (|.| <= 2 * 255 * 128) into
 * int32 lanes. Requantization of 8 lanes (mct__ipx_rq8) is the scalar formula lane by lane:
 *     t   = sat32(acc + bias)                       32-bit add, overflow -> saturate
 *     p   = t * mult                                64-bit products (even / odd lanes)
 *     out = (p + 2^(n-1)) >> n,  n = 31 - shift     arithmetic shift done as a logical shift
 *           of p + 2^(n-1) + 2^62 (>= 0, < 2^64), minus 2^(62-n) (exact: 2^n divides 2^62)
 *     y   = clamp(out + y_zero, act_min, act_max)    in 64 bits (out may exceed int32)
 * Scratch: stack buffers of at most ~40 KB (host only; an MCU build never compiles this).
 */
#include "mct.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define MCT__IPX __attribute__((target("avx2")))
#define MCT__IPX_RQ_BLOCKS 32   /* requantization constants kept for up to 256 channels */
#define MCT__IPX_RING 16384     /* int16 entries of the depthwise row ring (32 KB) */
#define MCT__IPX_MAX_K 16       /* largest depthwise kernel height */
#define MCT__IPX_DW_TAPS 49     /* largest depthwise kernel (7x7) */
#define MCT__IPX_COL_MAX 2304   /* in_c * kh * kw of the rows path: 256 channels at 3x3 */

/* ---- requantization of 8 lanes --------------------------------------------------------------- */

typedef struct {
  __m256i bias, mult, mult_odd, add_e, add_o, cnt_e, cnt_o, sub_e, sub_o, yz, lo, hi;
} mct__ipx_rq;

MCT__IPX static mct__ipx_rq mct__ipx_rq_make(__m256i mult, __m256i shift, __m256i bias,
                                             const mct_requant *q) {
  mct__ipx_rq k;
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

/* Output channels o..o+7 in lane order. */
MCT__IPX static mct__ipx_rq mct__ipx_rq_block(const mct_requant *q, const int32_t *bias, int32_t o) {
  const __m256i b = bias ? _mm256_loadu_si256((const __m256i *)(bias + o)) : _mm256_setzero_si256();
  return mct__ipx_rq_make(_mm256_loadu_si256((const __m256i *)(q->mult + o)),
                          _mm256_loadu_si256((const __m256i *)(q->shift + o)), b, q);
}

MCT__IPX static inline __m256i mct__ipx_clamp64(__m256i v, const mct__ipx_rq *k) {
  v = _mm256_blendv_epi8(v, k->lo, _mm256_cmpgt_epi64(k->lo, v));
  return _mm256_blendv_epi8(v, k->hi, _mm256_cmpgt_epi64(v, k->hi));
}

/* 8 int32 accumulators -> 8 int32 outputs in [act_min, act_max]. */
MCT__IPX static inline __m256i mct__ipx_rq8(__m256i acc, const mct__ipx_rq *k) {
  const __m256i s = _mm256_add_epi32(acc, k->bias);
  const __m256i ovf = _mm256_and_si256(_mm256_xor_si256(s, acc), _mm256_xor_si256(s, k->bias));
  const __m256i satv = _mm256_xor_si256(_mm256_srai_epi32(acc, 31), _mm256_set1_epi32(INT32_MAX));
  const __m256i t = _mm256_blendv_epi8(s, satv, _mm256_srai_epi32(ovf, 31));
  __m256i pe = _mm256_mul_epi32(t, k->mult);
  __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(t, 32), k->mult_odd);
  pe = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_add_epi64(pe, k->add_e), k->cnt_e), k->sub_e);
  po = _mm256_sub_epi64(_mm256_srlv_epi64(_mm256_add_epi64(po, k->add_o), k->cnt_o), k->sub_o);
  pe = mct__ipx_clamp64(_mm256_add_epi64(pe, k->yz), k);
  po = mct__ipx_clamp64(_mm256_add_epi64(po, k->yz), k);
  return _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
}

/* 8 int32 values (already in int8 range) -> 8 bytes at dst. */
MCT__IPX static inline void mct__ipx_store8(int8_t *dst, __m256i v) {
  const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  _mm_storel_epi64((__m128i *)dst, _mm_packs_epi16(w16, w16));
}

/* [sum(a0), ..., sum(a7)] */
MCT__IPX static inline __m256i mct__ipx_hsum8(__m256i a0, __m256i a1, __m256i a2, __m256i a3,
                                              __m256i a4, __m256i a5, __m256i a6, __m256i a7) {
  const __m256i t0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
  const __m256i t1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a4, a5), _mm256_hadd_epi32(a6, a7));
  return _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20),
                          _mm256_permute2x128_si256(t0, t1, 0x31));
}

MCT__IPX static inline __m256i mct__ipx_ext16(const int8_t *p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

MCT__IPX static inline __m256i mct__ipx_ext8(const int8_t *p) { /* upper 8 lanes 0 */
  return _mm256_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)p));
}

/* ---- pointwise ------------------------------------------------------------------------------ */

/* 8 sums: sum_c (a[c] - az) * b[k * ld + c], k < 8 (a pixel against 8 weight rows, or a
 * weight row against 8 pixels). Reads exactly n bytes of a and of each row. */
MCT__IPX static inline __m256i mct__ipx_dot8(const int8_t *a, int32_t az, const int8_t *b,
                                             size_t ld, int32_t n) {
  const __m256i vz = _mm256_set1_epi16((int16_t)az);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  int32_t c = 0;
#define MCT__IPX_MAC8(XV, LOAD)                                          \
  a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(XV, LOAD(b + c)));          \
  a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(XV, LOAD(b + ld + c)));     \
  a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(XV, LOAD(b + 2 * ld + c))); \
  a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(XV, LOAD(b + 3 * ld + c))); \
  a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(XV, LOAD(b + 4 * ld + c))); \
  a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(XV, LOAD(b + 5 * ld + c))); \
  a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(XV, LOAD(b + 6 * ld + c))); \
  a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(XV, LOAD(b + 7 * ld + c)))
  for (; c + 16 <= n; c += 16) {
    const __m256i xv = _mm256_sub_epi16(mct__ipx_ext16(a + c), vz);
    MCT__IPX_MAC8(xv, mct__ipx_ext16);
  }
  if (c + 8 <= n) { /* upper lanes: 0 - 0 against 0 */
    const __m256i vz8 = _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_set1_epi16((int16_t)az), 0);
    const __m256i xv = _mm256_sub_epi16(mct__ipx_ext8(a + c), vz8);
    MCT__IPX_MAC8(xv, mct__ipx_ext8);
    c += 8;
  }
#undef MCT__IPX_MAC8
  __m256i s = mct__ipx_hsum8(a0, a1, a2, a3, a4, a5, a6, a7);
  if (c < n) {
    int32_t t[8];
    _mm256_storeu_si256((__m256i *)t, s);
    for (int32_t k = 0; k < 8; ++k)
      for (int32_t cc = c; cc < n; ++cc) t[k] += ((int32_t)a[cc] - az) * b[(size_t)k * ld + cc];
    s = _mm256_loadu_si256((const __m256i *)t);
  }
  return s;
}

/* The trained slice's part of the sums of rows o..o+7 at pixel xp (scalar; rarely used). */
MCT__IPX static __m256i mct__ipx_slice8(__m256i acc, const int8_t *xp, const mct_wsplit *ws,
                                        int32_t o, int32_t xz) {
  int32_t a[8];
  _mm256_storeu_si256((__m256i *)a, acc);
  for (int32_t k = 0; k < 8; ++k) {
    const int8_t *wt = ws->wt + (size_t)(o + k) * ws->n_sel;
    for (int32_t j = 0; j < ws->n_sel; ++j) a[k] += ((int32_t)xp[ws->sel[j]] - xz) * wt[j];
  }
  return _mm256_loadu_si256((const __m256i *)a);
}

/* dst[0..n) = src[0..n) for one short pixel (a library memcpy call costs more). */
MCT__IPX static inline void mct__ipx_copy(int8_t *dst, const int8_t *src, int32_t n) {
  int32_t c = 0;
  for (; c + 32 <= n; c += 32)
    _mm256_storeu_si256((__m256i *)(dst + c), _mm256_loadu_si256((const __m256i *)(src + c)));
  for (; c + 8 <= n; c += 8)
    _mm_storel_epi64((__m128i *)(dst + c), _mm_loadl_epi64((const __m128i *)(src + c)));
  for (; c < n; ++c) dst[c] = src[c];
}

/* Requantization constants of block b (kept for the first MCT__IPX_RQ_BLOCKS blocks). */
MCT__IPX static inline mct__ipx_rq mct__ipx_kb(const mct__ipx_rq *kb, int32_t b,
                                               const mct_requant *q, const int32_t *bias, int32_t o) {
  return b < MCT__IPX_RQ_BLOCKS ? kb[b] : mct__ipx_rq_block(q, bias, o);
}

/* Pixels p0 .. p1-1 whose outputs overlap none of their inputs (x + p*C, y + p*O): blocks of
 * 8 output channels outer, so the block's constants stay in registers. */
MCT__IPX static void mct__ipx_pw_range(int32_t p0, int32_t p1, int32_t C, int32_t O,
                                       const mct_requant *q, const int8_t *x, const int8_t *w,
                                       const mct_wsplit *ws, const int32_t *bias,
                                       const mct__ipx_rq *kb, int8_t *y) {
  for (int32_t b = 0; b < (O + 7) / 8; ++b) {
    const int32_t o = b * 8 + 8 <= O ? b * 8 : O - 8; /* the last block overlaps */
    const mct__ipx_rq k = mct__ipx_kb(kb, b, q, bias, o);
    for (int32_t p = p0; p < p1; ++p) {
      const int8_t *xp = x + (size_t)p * C;
      __m256i acc = mct__ipx_dot8(xp, q->x_zero, w + (size_t)o * C, (size_t)C, C);
      if (ws) acc = mct__ipx_slice8(acc, xp, ws, o, q->x_zero);
      mct__ipx_store8(y + (size_t)p * O + o, mct__ipx_rq8(acc, &k));
    }
  }
}

/* One pixel through tmp: its input copied first, then all its outputs. */
MCT__IPX static void mct__ipx_pw_pixel(int32_t p, int32_t C, int32_t O, const mct_requant *q,
                                       int8_t *buf, const int8_t *w, const mct_wsplit *ws,
                                       const int32_t *bias, const mct__ipx_rq *kb, int8_t *tmp) {
  mct__ipx_copy(tmp, buf + (size_t)p * C, C);
  int8_t *yp = buf + (size_t)p * O;
  for (int32_t b = 0; b < (O + 7) / 8; ++b) {
    const int32_t o = b * 8 + 8 <= O ? b * 8 : O - 8;
    __m256i acc = mct__ipx_dot8(tmp, q->x_zero, w + (size_t)o * C, (size_t)C, C);
    if (ws) acc = mct__ipx_slice8(acc, tmp, ws, o, q->x_zero);
    if (b < MCT__IPX_RQ_BLOCKS) { /* by pointer: no copy of the constants per pixel */
      mct__ipx_store8(yp + o, mct__ipx_rq8(acc, &kb[b]));
    } else {
      const mct__ipx_rq k = mct__ipx_rq_block(q, bias, o);
      mct__ipx_store8(yp + o, mct__ipx_rq8(acc, &k));
    }
  }
}

/* Pixels in the order of mct.h (forward when O <= C, backward otherwise), grouped: a run of
 * pixels [p0, p1) whose outputs [p0*O, p1*O) miss their inputs [p0*C, p1*C) (p1*O <= p0*C
 * forward, p1*C <= p0*O backward; the runs grow geometrically unless O == C) is computed
 * straight from buf; the pixels no run covers go one by one through tmp. */
MCT__IPX static void mct__ipx_pointwise(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                        const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                        int8_t *tmp) {
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w, nblk = (O + 7) / 8;
  mct__ipx_rq kb[MCT__IPX_RQ_BLOCKS];
  for (int32_t b = 0; b < nblk && b < MCT__IPX_RQ_BLOCKS; ++b)
    kb[b] = mct__ipx_rq_block(q, bias, b * 8 + 8 <= O ? b * 8 : O - 8);
  if (O <= C) {
    for (int32_t p = 0; p < npix;) {
      int64_t p1 = (int64_t)p * C / O;
      if (p1 > npix) p1 = npix;
      if (p1 - p >= 2) {
        mct__ipx_pw_range(p, (int32_t)p1, C, O, q, buf, w, ws, bias, kb, buf);
        p = (int32_t)p1;
      } else {
        mct__ipx_pw_pixel(p++, C, O, q, buf, w, ws, bias, kb, tmp);
      }
    }
  } else {
    for (int32_t p1 = npix; p1 > 0;) {
      const int32_t p0 = (int32_t)(((int64_t)p1 * C + O - 1) / O);
      if (p1 - p0 >= 2) {
        mct__ipx_pw_range(p0, p1, C, O, q, buf, w, ws, bias, kb, buf);
        p1 = p0;
      } else {
        mct__ipx_pw_pixel(--p1, C, O, q, buf, w, ws, bias, kb, tmp);
      }
    }
  }
}

/* ---- depthwise, a block of channels at a time ------------------------------------------------ */

/* A block of nc = 16 (or 8) channels cb.. of a depthwise conv (multiplier 1), row by row.
 * The input rows an output row needs are first put into a ring of kh rows on the stack
 * ([in_w + 2 pad_w][16] int16: x - x_zero, 0 in the padding columns), then every output pixel
 * of the row is computed from the ring (16 channels per vector, taps in pairs: one madd per
 * pair) and stored at once. Put in place, an output row may only overwrite input rows that
 * are in the ring already or that no later output row reads (mct__ipx_dw_direct_ok). */
typedef struct {
  const mct_conv_geom *g;
  int32_t cb, nc;
  __m256i wp[2 * MCT__IPX_DW_TAPS]; /* weight pairs in the madd lane orders */
  mct__ipx_rq klo, khi;             /* requantization of lanes 0-3|8-11 and 4-7|12-15 */
  int16_t *ring;
  int32_t slot_row[MCT__IPX_MAX_K];
} mct__ipx_dwb;

/* Taps of the block as int16 pairs: wp[2t] (channels 0-3, 8-11) and wp[2t+1] (4-7, 12-15)
 * interleave tap t = (i, j) with tap (i, j+1) (0 past the row end), matching
 * _mm256_unpack{lo,hi}_epi16 of the inputs at those taps; lanes past nc get weight 0. */
MCT__IPX static void mct__ipx_dwb_weights(mct__ipx_dwb *b, const int8_t *w, const mct_wsplit *ws) {
  const int32_t kh = b->g->k_h, kw = b->g->k_w, kk = kh * kw;
  int16_t taps[MCT__IPX_DW_TAPS][16];
  int32_t next = 0;
  while (ws && next < ws->n_sel && ws->sel[next] < b->cb) ++next;
  memset(taps, 0, sizeof taps);
  for (int32_t k = 0; k < b->nc; ++k) {
    const int8_t *row = w + (size_t)(b->cb + k) * kk;
    if (ws && next < ws->n_sel && ws->sel[next] == b->cb + k) row = ws->wt + (size_t)(next++) * kk;
    for (int32_t t = 0; t < kk; ++t) taps[t][k] = row[t];
  }
  for (int32_t i = 0; i < kh; ++i) {
    for (int32_t j = 0; j < kw; ++j) {
      const int32_t t = i * kw + j;
      const __m256i a = _mm256_loadu_si256((const __m256i *)taps[t]);
      const __m256i c =
          j + 1 < kw ? _mm256_loadu_si256((const __m256i *)taps[t + 1]) : _mm256_setzero_si256();
      b->wp[2 * t] = _mm256_unpacklo_epi16(a, c);
      b->wp[2 * t + 1] = _mm256_unpackhi_epi16(a, c);
    }
  }
}

MCT__IPX static void mct__ipx_dwb_init(mct__ipx_dwb *b, const mct_conv_geom *g, int32_t cb,
                                       int32_t nc, const mct_requant *q, const int8_t *w,
                                       const mct_wsplit *ws, const int32_t *bias, int16_t *ring) {
  const int32_t lo_idx[8] = {0, 1, 2, 3, 8, 9, 10, 11}, hi_idx[8] = {4, 5, 6, 7, 12, 13, 14, 15};
  int32_t m[2][8], s[2][8], bb[2][8];
  b->g = g;
  b->cb = cb;
  b->nc = nc;
  b->ring = ring;
  for (int32_t i = 0; i < g->k_h; ++i) b->slot_row[i] = -1;
  mct__ipx_dwb_weights(b, w, ws);
  for (int32_t k = 0; k < 8; ++k) { /* lanes past nc repeat the last channel (never stored) */
    for (int32_t h = 0; h < 2; ++h) {
      int32_t c = (h ? hi_idx : lo_idx)[k];
      c = cb + (c < nc ? c : nc - 1);
      m[h][k] = q->mult[c], s[h][k] = q->shift[c], bb[h][k] = bias ? bias[c] : 0;
    }
  }
  b->klo = mct__ipx_rq_make(_mm256_loadu_si256((const __m256i *)m[0]),
                            _mm256_loadu_si256((const __m256i *)s[0]),
                            _mm256_loadu_si256((const __m256i *)bb[0]), q);
  b->khi = mct__ipx_rq_make(_mm256_loadu_si256((const __m256i *)m[1]),
                            _mm256_loadu_si256((const __m256i *)s[1]),
                            _mm256_loadu_si256((const __m256i *)bb[1]), q);
}

/* The ring row of input row ih: NULL when it is already there (slot_row), else the row's
 * first image column (after the pw padding columns) for the caller to fill. */
static int16_t *mct__ipx_dwb_slot(mct__ipx_dwb *b, int32_t ih, const int16_t **row) {
  const int32_t s = ih % b->g->k_h, len = (b->g->in_w + 2 * b->g->pad_w) * 16;
  int16_t *r = b->ring + (size_t)s * len;
  *row = r;
  if (b->slot_row[s] == ih) return NULL;
  b->slot_row[s] = ih;
  return r + (size_t)b->g->pad_w * 16;
}

/* Input row ih of the block, gathered from an HWC int8 tensor of C channels. */
MCT__IPX static void mct__ipx_dwb_gather(const mct__ipx_dwb *b, const int8_t *x, int32_t C,
                                         int32_t xz, int32_t ih, int16_t *dst) {
  const __m256i vz = _mm256_set1_epi16((int16_t)xz);
  const int8_t *xr = x + (size_t)ih * b->g->in_w * C + b->cb;
  for (int32_t iw = 0; iw < b->g->in_w; ++iw, xr += C) {
    const __m256i v = b->nc == 16 ? mct__ipx_ext16(xr) : mct__ipx_ext8(xr);
    _mm256_storeu_si256((__m256i *)(dst + (size_t)iw * 16), _mm256_sub_epi16(v, vz));
  }
}

/* Output row oh of the block from the ring rows rows[i0..i1) -> dst pixels, ps bytes apart. */
MCT__IPX static void mct__ipx_dwb_row(const mct__ipx_dwb *b, const int16_t *const *rows,
                                      int32_t i0, int32_t i1, int8_t *dst, size_t ps) {
  const mct_conv_geom *g = b->g;
  const int32_t kw = g->k_w, sw = g->stride_w;
  const __m256i zero = _mm256_setzero_si256();
  for (int32_t ow = 0; ow < g->out_w; ++ow) {
    __m256i alo = zero, ahi = zero;
    for (int32_t i = i0; i < i1; ++i) {
      const int16_t *r = rows[i] + (size_t)ow * sw * 16;
      const __m256i *wt = b->wp + 2 * i * kw;
      for (int32_t j = 0; j < kw; j += 2) {
        const __m256i xa = _mm256_loadu_si256((const __m256i *)(r + (size_t)j * 16));
        const __m256i xb =
            j + 1 < kw ? _mm256_loadu_si256((const __m256i *)(r + (size_t)(j + 1) * 16)) : zero;
        alo = _mm256_add_epi32(alo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), wt[2 * j]));
        ahi = _mm256_add_epi32(ahi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), wt[2 * j + 1]));
      }
    }
    /* alo: channels 0-3 | 8-11, ahi: 4-7 | 12-15; packs restores 0..15 */
    const __m256i r16 = _mm256_packs_epi32(mct__ipx_rq8(alo, &b->klo), mct__ipx_rq8(ahi, &b->khi));
    const __m128i r8 = _mm256_castsi256_si128(
        _mm256_permute4x64_epi64(_mm256_packs_epi16(r16, r16), 0x08));
    if (b->nc == 16)
      _mm_storeu_si128((__m128i *)(dst + (size_t)ow * ps), r8);
    else
      _mm_storel_epi64((__m128i *)(dst + (size_t)ow * ps), r8);
  }
}

/* Whether an in-place depthwise conv may store each output row straight over its input:
 * every input row that output row oh overwrites (slots oh*out_w .. (oh+1)*out_w - 1 of the
 * channel) is in the ring already (<= the last row read so far) or read by no later row. */
static int mct__ipx_dw_direct_ok(const mct_conv_geom *g) {
  for (int32_t oh = 0; oh + 1 < g->out_h; ++oh) {
    const int64_t last_slot = (int64_t)(oh + 1) * g->out_w - 1;
    int64_t r_max = last_slot / g->in_w, read_max = (int64_t)oh * g->stride_h - g->pad_h + g->k_h - 1;
    int64_t next_min = (int64_t)(oh + 1) * g->stride_h - g->pad_h;
    if (r_max > g->in_h - 1) r_max = g->in_h - 1;
    if (next_min < 0) next_min = 0;
    if (r_max >= next_min && r_max > read_max) return 0;
  }
  return 1;
}

static int mct__ipx_dwb_fits(const mct_conv_geom *g) {
  return g->k_h <= MCT__IPX_MAX_K && g->k_h * g->k_w <= MCT__IPX_DW_TAPS &&
         (int64_t)g->k_h * (g->in_w + 2 * g->pad_w) * 16 <= MCT__IPX_RING;
}

/* Channels [0, C - C % 8) of an in-place depthwise conv, blocks of 16 then 8. */
MCT__IPX static int32_t mct__ipx_depthwise(const mct_conv_geom *g, const mct_requant *q,
                                           int8_t *buf, const int8_t *w, const mct_wsplit *ws,
                                           const int32_t *bias) {
  const int32_t C = g->in_c;
  int16_t ring[MCT__IPX_RING];
  mct__ipx_dwb b;
  memset(ring, 0, sizeof ring); /* the padding columns stay 0 */
  int32_t cb = 0;
  for (; cb + 8 <= C; cb += b.nc) {
    mct__ipx_dwb_init(&b, g, cb, cb + 16 <= C ? 16 : 8, q, w, ws, bias, ring);
    for (int32_t oh = 0; oh < g->out_h; ++oh) {
      const int32_t ih0 = oh * g->stride_h - g->pad_h;
      const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = g->in_h - ih0 < g->k_h ? g->in_h - ih0 : g->k_h;
      const int16_t *rows[MCT__IPX_MAX_K];
      for (int32_t i = i0; i < i1; ++i) {
        int16_t *dst = mct__ipx_dwb_slot(&b, ih0 + i, &rows[i]);
        if (dst) mct__ipx_dwb_gather(&b, buf, C, q->x_zero, ih0 + i, dst);
      }
      mct__ipx_dwb_row(&b, rows, i0, i1, buf + (size_t)oh * g->out_w * C + cb, (size_t)C);
    }
  }
  return cb;
}

/* ---- expansion fused into the depthwise conv ------------------------------------------------- */

/* Row ih of expanded channels cb..cb+nc-1 (nc 16 or 8) into the ring: the 1x1 conv of each
 * pixel against 8 weight rows at a time, requantized, minus the depthwise x_zero. */
MCT__IPX static void mct__ipx_dwb_expand(const mct__ipx_dwb *b, const mct_conv_geom *g1,
                                         const mct_requant *q1, const int8_t *w1,
                                         const mct__ipx_rq *k1, const int8_t *x, int32_t xz2,
                                         int32_t ih, int16_t *dst) {
  const int32_t C = g1->in_c, W = g1->in_w;
  const __m256i vz = _mm256_set1_epi32(xz2);
  const int8_t *w0 = w1 + (size_t)b->cb * C;
  for (int32_t iw = 0; iw < W; ++iw) {
    const int8_t *xp = x + ((size_t)ih * W + iw) * C;
    const __m256i sa = mct__ipx_dot8(xp, q1->x_zero, w0, (size_t)C, C);
    const __m256i a = _mm256_sub_epi32(mct__ipx_rq8(sa, &k1[0]), vz);
    __m256i c = _mm256_setzero_si256();
    if (b->nc == 16) {
      const __m256i sc = mct__ipx_dot8(xp, q1->x_zero, w0 + (size_t)8 * C, (size_t)C, C);
      c = _mm256_sub_epi32(mct__ipx_rq8(sc, &k1[1]), vz);
    }
    /* packs gives channels 0-3, 8-11 | 4-7, 12-15 as 64-bit quarters; 0xD8 puts them in order */
    _mm256_storeu_si256((__m256i *)(dst + (size_t)iw * 16),
                        _mm256_permute4x64_epi64(_mm256_packs_epi32(a, c), 0xD8));
  }
}

/* Expanded channels [0, E - E % 8) of mct_expand_dw_s8 (multiplier 1): per block, the rows
 * of the expansion are computed as the depthwise conv needs them, straight into its ring. */
MCT__IPX static int32_t mct__ipx_expand_dw(const mct_conv_geom *g1, const mct_requant *q1,
                                           const int8_t *w1, const int32_t *b1,
                                           const mct_conv_geom *g2, const mct_requant *q2,
                                           const int8_t *w2, const int32_t *b2, const int8_t *x,
                                           int8_t *y) {
  const int32_t E = g1->out_c;
  int16_t ring[MCT__IPX_RING];
  mct__ipx_dwb b;
  mct__ipx_rq k1[2];
  memset(ring, 0, sizeof ring);
  int32_t cb = 0;
  for (; cb + 8 <= E; cb += b.nc) {
    mct__ipx_dwb_init(&b, g2, cb, cb + 16 <= E ? 16 : 8, q2, w2, NULL, b2, ring);
    k1[0] = mct__ipx_rq_block(q1, b1, cb);
    if (b.nc == 16) k1[1] = mct__ipx_rq_block(q1, b1, cb + 8);
    for (int32_t oh = 0; oh < g2->out_h; ++oh) {
      const int32_t ih0 = oh * g2->stride_h - g2->pad_h;
      const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = g2->in_h - ih0 < g2->k_h ? g2->in_h - ih0 : g2->k_h;
      const int16_t *rows[MCT__IPX_MAX_K];
      for (int32_t i = i0; i < i1; ++i) {
        int16_t *dst = mct__ipx_dwb_slot(&b, ih0 + i, &rows[i]);
        if (dst) mct__ipx_dwb_expand(&b, g1, q1, w1, k1, x, q2->x_zero, ih0 + i, dst);
      }
      mct__ipx_dwb_row(&b, rows, i0, i1, y + (size_t)oh * g2->out_w * E + cb, (size_t)E);
    }
  }
  return cb;
}

/* ---- row by row (groups 1) ------------------------------------------------------------------ */

/* The column of output pixel (oh, ow): col[c*kk + i*kw + j] = x - x_zero, 0 in padding. */
static void mct__ipx_im2col(const mct_conv_geom *g, const int8_t *x, int32_t xz, int32_t oh,
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

/* 8 sums of the column col (n int16, n a multiple of 16, zero past K) against the rows
 * w0 + r*ld, r < 8; reads 7*ld + n bytes from w0 (the caller keeps that inside w). */
MCT__IPX static inline __m256i mct__ipx_col_dot8(const int16_t *col, int32_t n, const int8_t *w0,
                                                 size_t ld) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (int32_t c = 0; c < n; c += 16) {
    const __m256i cv = _mm256_loadu_si256((const __m256i *)(col + c));
    const int8_t *wc = w0 + c;
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(cv, mct__ipx_ext16(wc)));
    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(cv, mct__ipx_ext16(wc + ld)));
    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(cv, mct__ipx_ext16(wc + 2 * ld)));
    a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(cv, mct__ipx_ext16(wc + 3 * ld)));
    a4 = _mm256_add_epi32(a4, _mm256_madd_epi16(cv, mct__ipx_ext16(wc + 4 * ld)));
    a5 = _mm256_add_epi32(a5, _mm256_madd_epi16(cv, mct__ipx_ext16(wc + 5 * ld)));
    a6 = _mm256_add_epi32(a6, _mm256_madd_epi16(cv, mct__ipx_ext16(wc + 6 * ld)));
    a7 = _mm256_add_epi32(a7, _mm256_madd_epi16(cv, mct__ipx_ext16(wc + 7 * ld)));
  }
  return mct__ipx_hsum8(a0, a1, a2, a3, a4, a5, a6, a7);
}

MCT__IPX static void mct__ipx_rows(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                                   const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                   int8_t *y, int8_t *tmp_row) {
  const int32_t O = g->out_c, kk = g->k_h * g->k_w, K = g->in_c * kk, n = (K + 15) & ~15;
  const int32_t nblk = (O + 7) / 8;
  const size_t row = (size_t)g->out_w * O;
  int16_t col[MCT__IPX_COL_MAX];
  /* Rows zero-padded to n bytes, so that the 16-byte chunks never read past w: all rows when
   * they fit (always when K < 16), else the last 8 (for K >= 16 only the last block's chunks
   * can run past the end of w; the others run into the next rows, against zeros of col). */
  int8_t wpad[8 * MCT__IPX_COL_MAX];
  const int pad_all = (size_t)O * n <= sizeof wpad;
  const int32_t o_pad = pad_all ? 0 : O - 8;
  int32_t sums[8];
  mct__ipx_rq kb[MCT__IPX_RQ_BLOCKS];
  for (int32_t r = o_pad; r < O; ++r) {
    memcpy(wpad + (size_t)(r - o_pad) * n, w + (size_t)r * K, (size_t)K);
    memset(wpad + (size_t)(r - o_pad) * n + K, 0, (size_t)(n - K));
  }
  for (int32_t b = 0; b < nblk && b < MCT__IPX_RQ_BLOCKS; ++b)
    kb[b] = mct__ipx_rq_block(q, bias, b * 8 + 8 <= O ? b * 8 : O - 8);
  for (int32_t t = K; t < n; ++t) col[t] = 0;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      mct__ipx_im2col(g, x, q->x_zero, oh, ow, col);
      int8_t *yp = tmp_row + (size_t)ow * O;
      for (int32_t b = 0; b < nblk; ++b) {
        const int32_t o = b * 8 + 8 <= O ? b * 8 : O - 8; /* the last block overlaps */
        __m256i acc = o >= o_pad ? mct__ipx_col_dot8(col, n, wpad + (size_t)(o - o_pad) * n, (size_t)n)
                                 : mct__ipx_col_dot8(col, n, w + (size_t)o * K, (size_t)K);
        if (ws) { /* trained slice: taps of the channels sel[s], read back from the column */
          _mm256_storeu_si256((__m256i *)sums, acc);
          for (int32_t r = 0; r < 8; ++r) {
            const int8_t *wt = ws->wt + (size_t)(o + r) * ws->n_sel * kk;
            for (int32_t s = 0; s < ws->n_sel; ++s)
              for (int32_t t = 0; t < kk; ++t) sums[r] += col[ws->sel[s] * kk + t] * wt[s * kk + t];
          }
          acc = _mm256_loadu_si256((const __m256i *)sums);
        }
        if (b < MCT__IPX_RQ_BLOCKS) {
          mct__ipx_store8(yp + o, mct__ipx_rq8(acc, &kb[b]));
        } else {
          const mct__ipx_rq k = mct__ipx_rq_block(q, bias, o);
          mct__ipx_store8(yp + o, mct__ipx_rq8(acc, &k));
        }
      }
    }
    memcpy(y + (size_t)oh * row, tmp_row, row); /* only now may row oh overwrite input bytes */
  }
}

/* ---- dispatch (arguments already checked by inplace.c) ------------------------------------------ */

static int mct__ipx_has_avx2(void) { return __builtin_cpu_supports("avx2"); }

int mct__inplace_pointwise_avx2(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                int8_t *tmp) {
  if (g->out_c < 8 || !mct__ipx_has_avx2()) return 0;
  mct__ipx_pointwise(g, q, buf, w, ws, bias, tmp);
  return 1;
}

/* Returns the number of leading channels it computed (a multiple of 8; 0: none). */
int32_t mct__inplace_depthwise_avx2(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                    const int8_t *w, const mct_wsplit *ws, const int32_t *bias) {
  if (!mct__ipx_dwb_fits(g) || !mct__ipx_dw_direct_ok(g) || !mct__ipx_has_avx2()) return 0;
  return mct__ipx_depthwise(g, q, buf, w, ws, bias);
}

int mct__inplace_rows_avx2(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                           const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y,
                           int8_t *tmp_row) {
  const int32_t K = g->in_c * g->k_h * g->k_w;
  if (g->groups != 1 || g->out_c < 8 || K > MCT__IPX_COL_MAX ||
      (K < 16 && (size_t)g->out_c * 16 > 8 * MCT__IPX_COL_MAX) || !mct__ipx_has_avx2())
    return 0;
  mct__ipx_rows(g, q, x, w, ws, bias, y, tmp_row);
  return 1;
}

/* Returns the number of leading expanded channels it computed (a multiple of 8; 0: none). */
int32_t mct__inplace_expand_dw_avx2(const mct_conv_geom *g1, const mct_requant *q1,
                                    const int8_t *w1, const int32_t *b1, const mct_conv_geom *g2,
                                    const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                                    const int8_t *x, int8_t *y) {
  if (g2->out_c != g2->in_c || !mct__ipx_dwb_fits(g2) || !mct__ipx_has_avx2()) return 0;
  return mct__ipx_expand_dw(g1, q1, w1, b1, g2, q2, w2, b2, x, y);
}

#else
typedef int mct__inplace_x86_unused; /* ISO C: a translation unit must not be empty */
#endif
