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
 * int32 lanes. Requantization of 8 lanes is mct__rq8, the scalar formula lane by lane (the
 * vector helpers are in mct_internal_x86.h, shared with conv_x86.c).
 * Scratch: stack buffers of at most ~40 KB (host only; an MCU build never compiles this).
 */
#include "mct.h"
#include "mct_internal_x86.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)

#include <string.h>

#define MCT__IPX_RQ_BLOCKS 32   /* requantization constants kept for up to 256 channels */
#define MCT__IPX_RING 16384     /* int16 entries of the depthwise row ring (32 KB) */
#define MCT__IPX_MAX_K 16       /* largest depthwise kernel height */
#define MCT__IPX_COL_MAX 2304   /* in_c * kh * kw of the rows path: 256 channels at 3x3 */

/* ---- pointwise ------------------------------------------------------------------------------ */

/* dst[0..n) = src[0..n) for one short pixel (a library memcpy call costs more). */
MCT__AVX2 static inline void mct__ipx_copy(int8_t *dst, const int8_t *src, int32_t n) {
  int32_t c = 0;
  for (; c + 32 <= n; c += 32)
    _mm256_storeu_si256((__m256i *)(dst + c), _mm256_loadu_si256((const __m256i *)(src + c)));
  for (; c + 8 <= n; c += 8)
    _mm_storel_epi64((__m128i *)(dst + c), _mm_loadl_epi64((const __m128i *)(src + c)));
  for (; c < n; ++c) dst[c] = src[c];
}

/* Requantization constants of block b (kept for the first MCT__IPX_RQ_BLOCKS blocks). */
MCT__AVX2 static inline mct__rq8c mct__ipx_kb(const mct__rq8c *kb, int32_t b, const mct_requant *q,
                                              const int32_t *bias, int32_t o) {
  return b < MCT__IPX_RQ_BLOCKS ? kb[b] : mct__rq8_block(q, bias, o);
}

/* Pixels p0 .. p1-1 whose outputs overlap none of their inputs (x + p*C, y + p*O): blocks of
 * 8 output channels outer, so the block's constants stay in registers. */
MCT__AVX2 static void mct__ipx_pw_range(int32_t p0, int32_t p1, int32_t C, int32_t O,
                                        const mct_requant *q, const int8_t *x, const int8_t *w,
                                        const mct_wsplit *ws, const int32_t *bias,
                                        const mct__rq8c *kb, int8_t *y) {
  for (int32_t b = 0; b < (O + 7) / 8; ++b) {
    const int32_t o = b * 8 + 8 <= O ? b * 8 : O - 8; /* the last block overlaps */
    const mct__rq8c k = mct__ipx_kb(kb, b, q, bias, o);
    for (int32_t p = p0; p < p1; ++p) {
      const int8_t *xp = x + (size_t)p * C;
      __m256i acc = mct__dot8(xp, q->x_zero, w + (size_t)o * C, (size_t)C, C);
      if (ws) acc = mct__add_slice8(acc, xp, ws, o, q->x_zero);
      mct__store8(y + (size_t)p * O + o, mct__rq8(acc, &k));
    }
  }
}

/* One pixel through tmp: its input copied first, then all its outputs. */
MCT__AVX2 static void mct__ipx_pw_pixel(int32_t p, int32_t C, int32_t O, const mct_requant *q,
                                        int8_t *buf, const int8_t *w, const mct_wsplit *ws,
                                        const int32_t *bias, const mct__rq8c *kb, int8_t *tmp) {
  mct__ipx_copy(tmp, buf + (size_t)p * C, C);
  int8_t *yp = buf + (size_t)p * O;
  for (int32_t b = 0; b < (O + 7) / 8; ++b) {
    const int32_t o = b * 8 + 8 <= O ? b * 8 : O - 8;
    __m256i acc = mct__dot8(tmp, q->x_zero, w + (size_t)o * C, (size_t)C, C);
    if (ws) acc = mct__add_slice8(acc, tmp, ws, o, q->x_zero);
    if (b < MCT__IPX_RQ_BLOCKS) { /* by pointer: no copy of the constants per pixel */
      mct__store8(yp + o, mct__rq8(acc, &kb[b]));
    } else {
      const mct__rq8c k = mct__rq8_block(q, bias, o);
      mct__store8(yp + o, mct__rq8(acc, &k));
    }
  }
}

/* Pixels in the order of mct.h (forward when O <= C, backward otherwise), grouped: a run of
 * pixels [p0, p1) whose outputs [p0*O, p1*O) miss their inputs [p0*C, p1*C) (p1*O <= p0*C
 * forward, p1*C <= p0*O backward; the runs grow geometrically unless O == C) is computed
 * straight from buf; the pixels no run covers go one by one through tmp. */
MCT__AVX2 static void mct__ipx_pointwise(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                         const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                         int8_t *tmp) {
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w, nblk = (O + 7) / 8;
  mct__rq8c kb[MCT__IPX_RQ_BLOCKS];
  for (int32_t b = 0; b < nblk && b < MCT__IPX_RQ_BLOCKS; ++b)
    kb[b] = mct__rq8_block(q, bias, b * 8 + 8 <= O ? b * 8 : O - 8);
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
  __m256i wp[2 * MCT__DW_MAX_TAPS]; /* weight pairs in the madd lane orders */
  mct__rq8c klo, khi;               /* requantization of lanes 0-3|8-11 and 4-7|12-15 */
  int16_t *ring;
  int32_t slot_row[MCT__IPX_MAX_K];
} mct__ipx_dwb;

MCT__AVX2 static void mct__ipx_dwb_init(mct__ipx_dwb *b, const mct_conv_geom *g, int32_t cb,
                                        int32_t nc, const mct_requant *q, const int8_t *w,
                                        const mct_wsplit *ws, const int32_t *bias, int16_t *ring) {
  b->g = g;
  b->cb = cb;
  b->nc = nc;
  b->ring = ring;
  for (int32_t i = 0; i < g->k_h; ++i) b->slot_row[i] = -1;
  mct__dw_pairs(g, w, ws, cb, nc, b->wp);
  mct__rq8_dw(q, bias, cb, nc, &b->klo, &b->khi);
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
MCT__AVX2 static void mct__ipx_dwb_gather(const mct__ipx_dwb *b, const int8_t *x, int32_t C,
                                          int32_t xz, int32_t ih, int16_t *dst) {
  const __m256i vz = _mm256_set1_epi16((int16_t)xz);
  const int8_t *xr = x + (size_t)ih * b->g->in_w * C + b->cb;
  for (int32_t iw = 0; iw < b->g->in_w; ++iw, xr += C) {
    const __m256i v = b->nc == 16 ? mct__ext16(xr) : mct__ext8(xr);
    _mm256_storeu_si256((__m256i *)(dst + (size_t)iw * 16), _mm256_sub_epi16(v, vz));
  }
}

/* Output row oh of the block from the ring rows rows[i0..i1) -> dst pixels, ps bytes apart. */
MCT__AVX2 static void mct__ipx_dwb_row(const mct__ipx_dwb *b, const int16_t *const *rows,
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
    const __m128i r8 = mct__rq16_dw(alo, ahi, &b->klo, &b->khi);
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
  return g->k_h <= MCT__IPX_MAX_K && g->k_h * g->k_w <= MCT__DW_MAX_TAPS &&
         (int64_t)g->k_h * (g->in_w + 2 * g->pad_w) * 16 <= MCT__IPX_RING;
}

/* Channels [0, C - C % 8) of an in-place depthwise conv, blocks of 16 then 8. */
MCT__AVX2 static int32_t mct__ipx_depthwise(const mct_conv_geom *g, const mct_requant *q,
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
MCT__AVX2 static void mct__ipx_dwb_expand(const mct__ipx_dwb *b, const mct_conv_geom *g1,
                                          const mct_requant *q1, const int8_t *w1,
                                          const mct__rq8c *k1, const int8_t *x, int32_t xz2,
                                          int32_t ih, int16_t *dst) {
  const int32_t C = g1->in_c, W = g1->in_w;
  const __m256i vz = _mm256_set1_epi32(xz2);
  const int8_t *w0 = w1 + (size_t)b->cb * C;
  for (int32_t iw = 0; iw < W; ++iw) {
    const int8_t *xp = x + ((size_t)ih * W + iw) * C;
    const __m256i sa = mct__dot8(xp, q1->x_zero, w0, (size_t)C, C);
    const __m256i a = _mm256_sub_epi32(mct__rq8(sa, &k1[0]), vz);
    __m256i c = _mm256_setzero_si256();
    if (b->nc == 16) {
      const __m256i sc = mct__dot8(xp, q1->x_zero, w0 + (size_t)8 * C, (size_t)C, C);
      c = _mm256_sub_epi32(mct__rq8(sc, &k1[1]), vz);
    }
    /* packs gives channels 0-3, 8-11 | 4-7, 12-15 as 64-bit quarters; 0xD8 puts them in order */
    _mm256_storeu_si256((__m256i *)(dst + (size_t)iw * 16),
                        _mm256_permute4x64_epi64(_mm256_packs_epi32(a, c), 0xD8));
  }
}

/* Expanded channels [0, E - E % 8) of mct_expand_dw_s8 (multiplier 1): per block, the rows
 * of the expansion are computed as the depthwise conv needs them, straight into its ring. */
MCT__AVX2 static int32_t mct__ipx_expand_dw(const mct_conv_geom *g1, const mct_requant *q1,
                                            const int8_t *w1, const int32_t *b1,
                                            const mct_conv_geom *g2, const mct_requant *q2,
                                            const int8_t *w2, const int32_t *b2, const int8_t *x,
                                            int8_t *y) {
  const int32_t E = g1->out_c;
  int16_t ring[MCT__IPX_RING];
  mct__ipx_dwb b;
  mct__rq8c k1[2];
  memset(ring, 0, sizeof ring);
  int32_t cb = 0;
  for (; cb + 8 <= E; cb += b.nc) {
    mct__ipx_dwb_init(&b, g2, cb, cb + 16 <= E ? 16 : 8, q2, w2, NULL, b2, ring);
    k1[0] = mct__rq8_block(q1, b1, cb);
    if (b.nc == 16) k1[1] = mct__rq8_block(q1, b1, cb + 8);
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

MCT__AVX2 static void mct__ipx_rows(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
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
  mct__rq8c kb[MCT__IPX_RQ_BLOCKS];
  mct__pad_rows(w, K, n, o_pad, O - o_pad, wpad);
  for (int32_t b = 0; b < nblk && b < MCT__IPX_RQ_BLOCKS; ++b)
    kb[b] = mct__rq8_block(q, bias, b * 8 + 8 <= O ? b * 8 : O - 8);
  for (int32_t t = K; t < n; ++t) col[t] = 0;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      mct__im2col_pixel(g, x, q->x_zero, oh, ow, col);
      int8_t *yp = tmp_row + (size_t)ow * O;
      for (int32_t b = 0; b < nblk; ++b) {
        const int32_t o = b * 8 + 8 <= O ? b * 8 : O - 8; /* the last block overlaps */
        __m256i acc = o >= o_pad ? mct__col_dot8(col, n, wpad + (size_t)(o - o_pad) * n, (size_t)n)
                                 : mct__col_dot8(col, n, w + (size_t)o * K, (size_t)K);
        if (ws) acc = mct__col_slice8(acc, col, ws, o, kk);
        if (b < MCT__IPX_RQ_BLOCKS) {
          mct__store8(yp + o, mct__rq8(acc, &kb[b]));
        } else {
          const mct__rq8c k = mct__rq8_block(q, bias, o);
          mct__store8(yp + o, mct__rq8(acc, &k));
        }
      }
    }
    memcpy(y + (size_t)oh * row, tmp_row, row); /* only now may row oh overwrite input bytes */
  }
}

/* ---- dispatch (arguments already checked by inplace.c) ------------------------------------------ */

int mct__inplace_pointwise_avx2(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                int8_t *tmp) {
  if (g->out_c < 8 || !mct__has_avx2()) return 0;
  mct__ipx_pointwise(g, q, buf, w, ws, bias, tmp);
  return 1;
}

/* Returns the number of leading channels it computed (a multiple of 8; 0: none). */
int32_t mct__inplace_depthwise_avx2(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                    const int8_t *w, const mct_wsplit *ws, const int32_t *bias) {
  if (!mct__ipx_dwb_fits(g) || !mct__ipx_dw_direct_ok(g) || !mct__has_avx2()) return 0;
  return mct__ipx_depthwise(g, q, buf, w, ws, bias);
}

int mct__inplace_rows_avx2(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                           const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y,
                           int8_t *tmp_row) {
  const int32_t K = g->in_c * g->k_h * g->k_w;
  if (g->groups != 1 || g->out_c < 8 || K > MCT__IPX_COL_MAX ||
      (K < 16 && (size_t)g->out_c * 16 > 8 * MCT__IPX_COL_MAX) || !mct__has_avx2())
    return 0;
  mct__ipx_rows(g, q, x, w, ws, bias, y, tmp_row);
  return 1;
}

/* Returns the number of leading expanded channels it computed (a multiple of 8; 0: none). */
int32_t mct__inplace_expand_dw_avx2(const mct_conv_geom *g1, const mct_requant *q1,
                                    const int8_t *w1, const int32_t *b1, const mct_conv_geom *g2,
                                    const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                                    const int8_t *x, int8_t *y) {
  if (g2->out_c != g2->in_c || !mct__ipx_dwb_fits(g2) || !mct__has_avx2()) return 0;
  return mct__ipx_expand_dw(g1, q1, w1, b1, g2, q2, w2, b2, x, y);
}

#else
typedef int mct__inplace_x86_unused; /* ISO C: a translation unit must not be empty */
#endif
