/* depthwise_arm.c: Cortex-M DSP versions of the depthwise int8 kernels: inplace.c's
 * mct_depthwise_s8_inplace and mct_expand_dw_s8, stream.c's mct_expand_dw_s8_rows. Same
 * results bit for bit, same buffers and scratch; the portable kernels call these first
 * (MCT_ARM_PASS: not covered, the portable C runs).
 *
 *   four channels at once  (mct__dw4_*) HWC keeps channels e..e+3 of a pixel in one word:
 *                        each input row of the group is copied (in place) or computed by the
 *                        fused 1x1 (expansion) once into a ring of widened rows with a border
 *                        of x_zero, so every window is a full one; the zero point is folded
 *                        into the accumulators' start (bias - x_zero * wsum), each tap is two
 *                        LDRDs and four SMLABB / SMLATT, requantization SMMUL, ASR, ADD, SSAT.
 *                        In place, output row r is written only once every input row it
 *                        covers is in the ring (mct__dw4_inplace_ok).
 *   pair ring            (mct__dw4p_*) 3x3, 5x5, 7x7 stride 1 with the SSAT form: the ring
 *                        holds pairs of neighbouring pixels of a channel as int16 pairs, so
 *                        two outputs a pass take SMLAD (two MACs) for most taps; naked
 *                        assembly, SMMLA / ASR / SSAT requantization where exact, or the
 *                        scaled form (mct__rqs_ks: weights and starts times 2^(9 - shr), then
 *                        SMMLA / SSAT asr #9). The fused 1x1 (mct__pw4a_*) and the streamed
 *                        3x3 stride 2 (mct__dw4b_3x3) in assembly too.
 *   streamed expansion   the 1x1 rows by conv_arm.c's 1x1 kernels, the depthwise interior outputs by the
 *                        same group kernels straight from the ring (rows outside the image:
 *                        fewer kernel rows, their own weight sums folded), borders clipped
 *   one channel plane    (mct__arm_dw_plane) the rest: channel remainders, multipliers, rows
 *                        wider than the group ring
 */
#include "mct_arm.h"

#if MCT_ARM_DSP

#include "mct_internal.h"


static int mct__pointwise_geom(const mct_conv_geom *g) {
  return g->groups == 1 && g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
         g->pad_h == 0 && g->pad_w == 0;
}

/* ---- one depthwise channel plane ----------------------------------------------------------- */

#define MCT__DW_MAXK 16

/* Raw sums (no zero point) of four outputs sw apart over kernel rows [0, n) starting at x,
 * rows `rs` apart, taps xs apart: the kernel row of KW weights and the 3*SW+KW inputs it
 * meets are loaded once. */
#define MCT__DW_STRIP(KW, SW)                                                                   \
  static void mct__dw_strip_##KW##_##SW(const int8_t *x, size_t xs, size_t rs,                 \
                                        const int8_t *wk, int32_t n, int32_t a[4]) {           \
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;                                                     \
    for (int32_t i = 0; i < n; ++i, x += rs, wk += KW) {                                        \
      int32_t v[3 * SW + KW];                                                                   \
      _Pragma("GCC unroll 16") for (int32_t k = 0; k < 3 * SW + KW; ++k) v[k] = x[(size_t)k * xs]; \
      _Pragma("GCC unroll 16") for (int32_t j = 0; j < KW; ++j) {                               \
        const int32_t wv = wk[j];                                                               \
        a0 += v[j] * wv;                                                                        \
        a1 += v[SW + j] * wv;                                                                   \
        a2 += v[2 * SW + j] * wv;                                                               \
        a3 += v[3 * SW + j] * wv;                                                               \
      }                                                                                         \
    }                                                                                           \
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;                                                 \
  }
MCT__DW_STRIP(3, 1)
MCT__DW_STRIP(3, 2)
MCT__DW_STRIP(5, 1)
MCT__DW_STRIP(5, 2)
MCT__DW_STRIP(7, 1)
MCT__DW_STRIP(7, 2)

static void mct__dw_strip_any(const int8_t *x, size_t xs, size_t rs, const int8_t *wk,
                              int32_t n, int32_t kw, int32_t sw, int32_t a[4]) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  const size_t st = (size_t)sw * xs;
  for (int32_t i = 0; i < n; ++i, x += rs, wk += kw)
    for (int32_t j = 0; j < kw; ++j) {
      const int32_t wv = wk[j];
      const int8_t *p = x + (size_t)j * xs;
      a0 += p[0] * wv;
      a1 += p[st] * wv;
      a2 += p[2 * st] * wv;
      a3 += p[3 * st] * wv;
    }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

static void mct__dw_strip(const int8_t *x, size_t xs, size_t rs, const int8_t *wk, int32_t n,
                          int32_t kw, int32_t sw, int32_t a[4]) {
  switch (kw * 4 + sw) {
    case 3 * 4 + 1: mct__dw_strip_3_1(x, xs, rs, wk, n, a); return;
    case 3 * 4 + 2: mct__dw_strip_3_2(x, xs, rs, wk, n, a); return;
    case 5 * 4 + 1: mct__dw_strip_5_1(x, xs, rs, wk, n, a); return;
    case 5 * 4 + 2: mct__dw_strip_5_2(x, xs, rs, wk, n, a); return;
    case 7 * 4 + 1: mct__dw_strip_7_1(x, xs, rs, wk, n, a); return;
    case 7 * 4 + 2: mct__dw_strip_7_2(x, xs, rs, wk, n, a); return;
    default: mct__dw_strip_any(x, xs, rs, wk, n, kw, sw, a);
  }
}

/* One output (oh, ow) with its window clipped to the image (rows [i0, i1)), zero point
 * subtracted per tap. */
static inline int32_t mct__dw_one(const mct_conv_geom *g, const int8_t *x, size_t xs,
                                  const int8_t *wk, int32_t ih0, int32_t i0, int32_t i1,
                                  int32_t ow, int32_t xz) {
  const int32_t iw0 = ow * g->stride_w - g->pad_w, W = g->in_w, kw = g->k_w;
  const int32_t j0 = iw0 < 0 ? -iw0 : 0, j1 = W - iw0 < kw ? W - iw0 : kw;
  if (j1 <= j0 || i1 <= i0) return 0;
  const size_t rs = (size_t)W * xs;
  const int8_t *xr = x + ((size_t)(ih0 + i0) * W + (size_t)(iw0 + j0)) * xs;
  const int8_t *wr = wk + i0 * kw + j0;
  int32_t acc = 0;
  for (int32_t i = i0; i < i1; ++i, xr += rs, wr += kw) {
    const int8_t *p = xr;
    for (int32_t j = 0; j < j1 - j0; ++j, p += xs) acc += ((int32_t)*p - xz) * wr[j];
  }
  return acc;
}

#define MCT__DW_ROW 64 /* outputs of a plane row summed before they are requantized */

/* Requantize n raw sums (minus corr) of channel c into y, ys apart: a tight loop that keeps
 * the channel's constants in registers. */
static void mct__dw_store(const int32_t *acc, int32_t n, int32_t corr, const mct__arq *c,
                          const mct__arm_rq *r, int8_t *y, size_t ys) {
  const int32_t yz = r->y_zero, lo = r->act_min, hi = r->act_max;
  if (c->sh >= 0) {
    const int32_t bias = c->bias, mult = c->mult, sh = c->sh;
    for (int32_t k = 0; k < n; ++k, y += ys)
      *y = mct__arm_out_fast(acc[k] - corr, bias, mult, sh, yz, lo, hi);
  } else {
    for (int32_t k = 0; k < n; ++k, y += ys) *y = mct__arm_out(r, c, acc[k] - corr);
  }
}

/* The plane of one channel: input (h, w) at x[(h * in_w + w) * xs], output (oh, ow) to
 * y[(oh * out_w + ow) * ys], weights wk [kh][kw], requantized as output channel o. Row by
 * row: raw sums of up to 64 outputs (interior ones four at a time by the strips, border ones
 * clipped, with the zero point already off), then requantized together. */
static void mct__arm_dw_plane(const mct_conv_geom *g, const mct__arm_rq *r_in, const int8_t *x,
                              size_t xs, const int8_t *wk, int32_t o, int8_t *y, size_t ys) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  const int32_t H = g->in_h, W = g->in_w, OW = g->out_w, kh = g->k_h, kw = g->k_w;
  const int32_t sh = g->stride_h, sw = g->stride_w, pw = g->pad_w, xz = r->x_zero;
  const mct__arq c = mct__arm_ch(r, o);
  int32_t rowsum[MCT__DW_MAXK], acc[MCT__DW_ROW];
  for (int32_t i = 0; i < kh; ++i) {
    rowsum[i] = 0;
    for (int32_t j = 0; j < kw; ++j) rowsum[i] += wk[i * kw + j];
  }
  /* interior outputs: every tap column inside the image */
  int32_t oa = (pw + sw - 1) / sw, ob = W - kw + pw >= 0 ? (W - kw + pw) / sw + 1 : 0;
  if (ob > OW) ob = OW;
  if (oa > ob) oa = ob;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    const int32_t ih0 = oh * sh - g->pad_h;
    const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = H - ih0 < kh ? H - ih0 : kh;
    int32_t wsum = 0;
    for (int32_t i = i0; i < i1; ++i) wsum += rowsum[i];
    const int32_t corr = xz * wsum;
    const int8_t *xrow = x + (size_t)(ih0 + i0) * W * xs;
    int8_t *yr = y + (size_t)oh * OW * ys;
    for (int32_t s0 = 0; s0 < OW; s0 += MCT__DW_ROW) {
      const int32_t s1 = OW - s0 < MCT__DW_ROW ? OW : s0 + MCT__DW_ROW;
      int32_t ow = s0;
      /* raw sums: interior strips minus nothing, borders with the zero point taken off
       * per tap and corr added back so that all of them are corrected alike below */
      for (; ow < s1 && ow < oa; ++ow)
        acc[ow - s0] = mct__dw_one(g, x, xs, wk, ih0, i0, i1, ow, xz) + corr;
      if (i1 > i0)
        for (; ow + 4 <= s1 && ow + 4 <= ob; ow += 4)
          mct__dw_strip(xrow + (size_t)(ow * sw - pw) * xs, xs, (size_t)W * xs, wk + i0 * kw,
                        i1 - i0, kw, sw, acc + (ow - s0));
      if (i1 > i0) /* interior outputs left over by the strips: raw sums, one at a time */
        for (; ow < s1 && ow < ob; ++ow) {
          const int8_t *p = xrow + (size_t)(ow * sw - pw) * xs, *q = wk + i0 * kw;
          int32_t a = 0;
          for (int32_t i = i0; i < i1; ++i, p += (size_t)W * xs, q += kw)
            for (int32_t j = 0; j < kw; ++j) a += p[(size_t)j * xs] * q[j];
          acc[ow - s0] = a;
        }
      for (; ow < s1; ++ow)
        acc[ow - s0] = mct__dw_one(g, x, xs, wk, ih0, i0, i1, ow, xz) + corr;
      mct__dw_store(acc, s1 - s0, corr, &c, r, yr + (size_t)s0 * ys, ys);
    }
  }
}

#define MCT__DW_PAD_MAX 1024 /* bytes of a zero-point-padded plane copied to the stack */

/* Small planes, where clipped border outputs would dominate: the plane is copied into a
 * stack buffer with a border of x_zero (whose taps then add (x_zero - x_zero) * w = 0), so
 * every output is an interior one. Falls back to the clipped plane for large planes. */
static void mct__arm_dw_plane_pad(const mct_conv_geom *g, const mct__arm_rq *r, const int8_t *x,
                                  size_t xs, const int8_t *wk, int32_t o, int8_t *y, size_t ys) {
  const int32_t ph = g->pad_h, pw = g->pad_w, H = g->in_h, W = g->in_w;
  const int32_t HP = H + 2 * ph, WP = W + 2 * pw;
  if ((ph == 0 && pw == 0) || HP * WP > MCT__DW_PAD_MAX || HP * WP > 4 * H * W) {
    mct__arm_dw_plane(g, r, x, xs, wk, o, y, ys);
    return;
  }
  int8_t pad[MCT__DW_PAD_MAX];
  memset(pad, r->x_zero, (size_t)HP * WP);
  for (int32_t h = 0; h < H; ++h) {
    int8_t *d = pad + (size_t)(h + ph) * WP + pw;
    const int8_t *src = x + (size_t)h * W * xs;
    for (int32_t w = 0; w < W; ++w) d[w] = src[(size_t)w * xs];
  }
  mct_conv_geom gp = *g;
  gp.in_h = HP, gp.in_w = WP, gp.pad_h = 0, gp.pad_w = 0;
  mct__arm_dw_plane(&gp, r, pad, 1, wk, o, y, ys);
}

/* ---- four channels at once over a zero-point-padded ring of rows (HWC) ------------------- */

/* A group of four channels (e..e+3): every input row it needs is copied (or, for the fused
 * expansion, computed) once into a ring of kh rows of (W + 2 pw) words, one word per pixel
 * holding the four channels, with a border of x_zero words; out-of-image rows point at a row
 * of x_zero. Every window is then a full one, and as (x_zero - x_zero) * w = 0,
 *   sum over valid taps (x - x_zero) * w = sum over all taps x * w - x_zero * wsum:
 * the accumulators start at bias - x_zero * wsum (when |that| + kk * 128 * 128 < 2^31 the
 * int32 sum never saturates, so QADD would be a plain add: dropped). Requantization:
 * ((q >> 32) >> sh + 1) >> 1 + y_zero = ((q >> 32) >> sh + 1 + 2 y_zero) >> 1 (nested floors),
 * then SSAT #8 when the range is [-128, 127]. Taps: SXTB16 splits the word into channels
 * (0, 2) and (1, 3), SMLABB / SMLATT against the weights widened once in the same order. */

#define MCT__DW4_K 7        /* kernel rows and columns of the group kernel */
#define MCT__DW4_KK 49      /* its taps */
#define MCT__DW4_RING 544   /* words of the group ring on the stack (kh + 1 rows, 2 a pixel) */
#define MCT__PW4_C 64       /* input channels of the fused 1x1 in groups */

typedef struct {
  int32_t ms[8]; /* mult, sh of each channel */
  int32_t k;     /* 1 + 2 * y_zero */
  int32_t lo, hi;
  int32_t corr[4]; /* x_zero * wsum (mode 2) */
  mct__arq c[4];   /* mode 2: the channels' full constants */
  int32_t cmask;   /* modes 0, 1: channels whose every output is cval (computed as 0, then set) */
  int8_t cval[4];
  int32_t b[4]; /* accumulator start: bias - x_zero * wsum (modes 0, 1); last (mct__pw4) */
} mct__dw4q;

/* Constants of channels o..o+3 whose weight sums are wsum; returns the mode: 0 SSAT, 1 clamp
 * (both: folded bias, SMMUL path), 2 the general requantization of raw sums. */
static int mct__dw4_consts(const mct__arm_rq *r, int32_t o, const int32_t wsum[4], int32_t kk,
                           mct__dw4q *q) {
  int fast = 1;
  const int64_t lim = (int64_t)INT32_MAX - (int64_t)kk * 16384;
  /* everything read once into locals (the stores to q could alias it otherwise) */
  const int32_t xz = r->x_zero, *const bp = r->bias ? r->bias + o : NULL;
  const int32_t *const mp = r->mult + o, *const sp = r->shift + o;
  q->cmask = 0;
  for (int32_t t = 0; t < 4; ++t) {
    const int32_t bias = bp ? bp[t] : 0, mult = mp[t], shift = sp[t];
    const int32_t sh = shift <= -2 ? -2 - shift : -1, corr = xz * wsum[t];
    q->c[t].bias = bias, q->c[t].mult = mult, q->c[t].shift = shift, q->c[t].sh = sh;
    const int64_t b = (int64_t)bias - corr;
    q->b[t] = (int32_t)b;
    q->ms[2 * t] = mult, q->ms[2 * t + 1] = sh;
    q->corr[t] = corr;
    if (sh < 0 || b > lim || b < -lim) {
      /* an extreme bias (or a large multiplier): the output is monotone in the exact sum,
       * |sum| <= 255 * 128 * kk; when both ends give the same byte, so does every sum */
      const int32_t A = 32640 * kk;
      const int8_t vlo = mct__arm_out(r, &q->c[t], -A), vhi = mct__arm_out(r, &q->c[t], A);
      if (q->c[t].mult >= 0 && vlo == vhi) {
        q->cmask |= 1 << t, q->cval[t] = vlo;
        q->b[t] = 0, q->ms[2 * t] = 0, q->ms[2 * t + 1] = 0;
      } else {
        fast = 0;
      }
    }
  }
  q->k = 1 + 2 * r->y_zero, q->lo = r->act_min, q->hi = r->act_max;
  if (!fast) return 2;
  return r->act_min == -128 && r->act_max == 127 ? 0 : 1;
}

/* One tap of four channels: v's bytes (0, 2) and (1, 3) against the widened weights w0, w1
 * (one asm block, so that the four sums stay in registers and the tap is done at once).
 * Asm contract: compiler-allocated named operands only (the sums in and out, x_ consumed, a
 * temporary); no memory. */
#define MCT__DW4_TAP(v, w0, w1, a0, a1, a2, a3)                                                 \
  do {                                                                                        \
    uint32_t te_;                                                                             \
    uint32_t x_ = (v);                                                                        \
    __asm__("sxtb16 %[e], %[x]\n\t"                                                           \
            "sxtb16 %[x], %[x], ror #8\n\t"                                                   \
            "smlabb %[b0], %[e], %[p], %[b0]\n\t"                                             \
            "smlatt %[b2], %[e], %[p], %[b2]\n\t"                                             \
            "smlabb %[b1], %[x], %[q], %[b1]\n\t"                                             \
            "smlatt %[b3], %[x], %[q], %[b3]"                                                 \
            : [b0] "+r"(a0), [b1] "+r"(a1), [b2] "+r"(a2), [b3] "+r"(a3), [e] "=&r"(te_),       \
              [x] "+r"(x_)                                                                    \
            : [p] "r"(w0), [q] "r"(w1));                                                      \
  } while (0)

/* The constant channels of q into n outputs at y (channel t at y[t], outputs ys apart). */
static void mct__dw4_fixc(const mct__dw4q *q, int8_t *y, size_t ys, int32_t n) {
  for (int32_t t = 0; t < 4; ++t)
    if (q->cmask >> t & 1)
      for (int32_t p = 0; p < n; ++p) y[(size_t)p * ys + t] = q->cval[t];
}

/* The requantized output of sum a for the channel whose (mult, sh) are at q + off (one
 * LDRD off q, so no other base register), in [-128, 127] as an int32; mct__dw4_rq(a, q, t,
 * ...): channel t of q. */
#define mct__dw4_rq(a, q, t, k, mode, lo, hi)                                                  \
  mct__dw4_rq_(a, q, (int32_t)offsetof(mct__dw4q, ms) + 8 * (t), k, mode, lo, hi)
static inline __attribute__((always_inline)) int32_t mct__dw4_rq_(int32_t a, const mct__dw4q *q,
                                                                 const int32_t off, int32_t k,
                                                                 int mode, int32_t lo,
                                                                 int32_t hi) {
  int32_t mult, sh;
  __asm__("ldrd %[m], %[s], [%[p], %[o]]" : [m] "=r"(mult), [s] "=r"(sh)
          : [p] "r"(q), [o] "I"(off), "m"(q->ms));
  const int32_t v = ((mct__smmul(a, mult) >> sh) + k) >> 1;
  if (mode == 0) return __ssat(v, 8);
  return v < lo ? lo : (v > hi ? hi : v);
}


/* (lo's low half, hi's low half) in one word. */
static inline __attribute__((always_inline)) uint32_t mct__pk16(int32_t lo, int32_t hi) {
  uint32_t r;
  __asm__("pkhbt %[r], %[a], %[b], lsl #16" : [r] "=r"(r) : [a] "r"(lo), [b] "r"(hi));
  return r;
}

/* (lo's high half, hi's high half) in one word. */
static inline __attribute__((always_inline)) uint32_t mct__pk16hi(uint32_t lo, uint32_t hi) {
  uint32_t r;
  __asm__("pkhtb %[r], %[b], %[a], asr #16" : [r] "=r"(r) : [a] "r"(lo), [b] "r"(hi));
  return r;
}

/* One tap from a widened ring (the pixel's (x0, x2), (x1, x3) as int16 pairs): both words of
 * the input and of the weights by LDRD, both pointers moved on.
 * Asm contract: compiler-allocated named operands only (the sums, px and pw advanced,
 * temporaries); reads px[0..2) and pw[0..2). */
#define MCT__DW4_TAPW(px, pw, a0, a1, a2, a3)                                                    \
  do {                                                                                        \
    uint32_t xe_, xo_, wa_, wb_;                                                              \
    __asm__("ldrd %[xe], %[xo], [%[xp]], #8\n\t"                                               \
            "ldrd %[wa], %[wb], [%[wp]], #8\n\t"                                               \
            "smlabb %[b0], %[xe], %[wa], %[b0]\n\t"                                           \
            "smlatt %[b2], %[xe], %[wa], %[b2]\n\t"                                           \
            "smlabb %[b1], %[xo], %[wb], %[b1]\n\t"                                           \
            "smlatt %[b3], %[xo], %[wb], %[b3]"                                               \
            : [b0] "+r"(a0), [b1] "+r"(a1), [b2] "+r"(a2), [b3] "+r"(a3), [xe] "=&r"(xe_),      \
              [xo] "=&r"(xo_), [wa] "=&r"(wa_), [wb] "=&r"(wb_), [xp] "+r"(px), [wp] "+r"(pw)   \
            : "m"(*(const uint32_t(*)[2])px), "m"(*(const uint32_t(*)[2])pw));                 \
  } while (0)

/* n outputs of channels e..e+3 (y, ys apart) from nr rows (rows[i]: the first window's first
 * tap), taps ps bytes apart (0: a widened ring, 8 bytes a pixel), windows step bytes apart;
 * wq: the widened weights of those rows. */
static inline __attribute__((always_inline)) void mct__dw4_run(
    const int8_t *const *rows, const int32_t nr, const int32_t kw, const size_t ps,
    const size_t step, int32_t n, const uint32_t *wq, const mct__dw4q *q, const int mode,
    int8_t *y, const size_t ys) {
  const int8_t *p[MCT__DW4_K] = {0};
#pragma GCC unroll 8
  for (int32_t i = 0; i < nr; ++i) p[i] = rows[i];
  const int32_t lo = q->lo, hi = q->hi;
  int8_t *const yend = y + (size_t)n * ys;
  for (; y != yend; y += ys) {
    /* the sums in fixed registers: their asm taps then need no moves between them */
    register int32_t a0 __asm__("r8") = q->b[0], a1 __asm__("r9") = q->b[1];
    register int32_t a2 __asm__("r10") = q->b[2], a3 __asm__("r11") = q->b[3];
    const uint32_t *w = wq;
#pragma GCC unroll 8
    for (int32_t i = 0; i < nr; ++i) {
      const int8_t *pi = p[i];
      if (ps == 0) { /* a widened ring: two words a pixel, no SXTB16 */
#pragma GCC unroll 16
        for (int32_t j = 0; j < kw; ++j) MCT__DW4_TAPW(pi, w, a0, a1, a2, a3);
        p[i] = pi + step - (size_t)8 * kw;
        continue;
      }
#pragma GCC unroll 16
      for (int32_t j = 0; j < kw; ++j) {
        uint32_t wa_, wb_; /* both weight words at once, the pointer moved on (LDRD) */
        __asm__("ldrd %[a], %[b], [%[p]], #8" : [a] "=r"(wa_), [b] "=r"(wb_), [p] "+r"(w)
                : "m"(*(const uint32_t(*)[2])w));
        MCT__DW4_TAP(mct__ld32(pi + (size_t)j * ps), wa_, wb_, a0, a1, a2, a3);
      }
      p[i] = pi + step;
    }
    const int32_t k = q->k;
    y[0] = mct__dw4_rq(a0, q, 0, k, mode, lo, hi);
    y[1] = mct__dw4_rq(a1, q, 1, k, mode, lo, hi);
    y[2] = mct__dw4_rq(a2, q, 2, k, mode, lo, hi);
    y[3] = mct__dw4_rq(a3, q, 3, k, mode, lo, hi);
  }
}

#define MCT__NOSCHED __attribute__((optimize("no-schedule-insns")))
MCT__NOSCHED static void mct__dw4_3x3_clamp(const int8_t *const *rows, size_t ps, size_t step, int32_t n,
                               const uint32_t *wq, const mct__dw4q *q, int8_t *y, size_t ys) {
  mct__dw4_run(rows, 3, 3, ps, step, n, wq, q, 1, y, ys);
}
MCT__NOSCHED static void mct__dw4_any_ssat(const int8_t *const *rows, int32_t nr, int32_t kw, size_t ps,
                              size_t step, int32_t n, const uint32_t *wq, const mct__dw4q *q,
                              int8_t *y, size_t ys) {
  mct__dw4_run(rows, nr, kw, ps, step, n, wq, q, 0, y, ys);
}
MCT__NOSCHED static void mct__dw4_any_clamp(const int8_t *const *rows, int32_t nr, int32_t kw, size_t ps,
                               size_t step, int32_t n, const uint32_t *wq, const mct__dw4q *q,
                               int8_t *y, size_t ys) {
  mct__dw4_run(rows, nr, kw, ps, step, n, wq, q, 1, y, ys);
}

/* Mode 2: raw sums, then the general requantization of (raw - x_zero * wsum). */
static void mct__dw4_general(const int8_t *const *rows, int32_t nr, int32_t kw, size_t ps,
                             size_t step, int32_t n, const uint32_t *wq, const mct__dw4q *q,
                             const mct__arm_rq *r, int8_t *y, size_t ys) {
  const int8_t *p[MCT__DW_MAXK];
  for (int32_t i = 0; i < nr; ++i) p[i] = rows[i];
  for (; n > 0; --n, y += ys) {
    int32_t a[4] = {0, 0, 0, 0};
    const uint32_t *w = wq;
    for (int32_t i = 0; i < nr; ++i) {
      for (int32_t j = 0; j < kw; ++j, w += 2) {
        int32_t ve, vo;
        if (ps == 0) {
          ve = (int32_t)mct__ld32(p[i] + (size_t)8 * j);
          vo = (int32_t)mct__ld32(p[i] + (size_t)8 * j + 4);
        } else {
          const uint32_t v = mct__ld32(p[i] + (size_t)j * ps);
          ve = (int32_t)__sxtb16(v), vo = (int32_t)mct__sxtb16_hi(v);
        }
        a[0] = __smlabb(ve, (int32_t)w[0], a[0]);
        a[2] = __smlatt(ve, (int32_t)w[0], a[2]);
        a[1] = __smlabb(vo, (int32_t)w[1], a[1]);
        a[3] = __smlatt(vo, (int32_t)w[1], a[3]);
      }
      p[i] += step;
    }
    for (int32_t t = 0; t < 4; ++t) y[t] = mct__arm_out(r, &q->c[t], a[t] - q->corr[t]);
  }
}

MCT__NOSCHED static void mct__dw4w_any_ssat(const int8_t *const *rows, int32_t nr, int32_t kw,
                                            size_t step, int32_t n, const uint32_t *wq,
                                            const mct__dw4q *q, int8_t *y, size_t ys) {
  mct__dw4_run(rows, nr, kw, 0, step, n, wq, q, 0, y, ys);
}
MCT__NOSCHED static void mct__dw4w_any_clamp(const int8_t *const *rows, int32_t nr, int32_t kw,
                                             size_t step, int32_t n, const uint32_t *wq,
                                             const mct__dw4q *q, int8_t *y, size_t ys) {
  mct__dw4_run(rows, nr, kw, 0, step, n, wq, q, 1, y, ys);
}

/* Large kernels (5x5, 7x7): rows too many to keep a moving pointer each in registers, so
 * each window row is its row start (on the stack) plus the window's offset. */
static inline __attribute__((always_inline)) void mct__dw4_big(
    const int8_t *const *rows, const int32_t nr, const int32_t kw, const size_t ps,
    const size_t step, int32_t n, const uint32_t *wq, const mct__dw4q *q, int8_t *y,
    const size_t ys) {
  const int8_t *rs[MCT__DW4_K] = {0};
  for (int32_t i = 0; i < nr; ++i) rs[i] = rows[i];
  for (size_t off = 0; n > 0; --n, y += ys, off += step) {
    /* the sums in fixed registers: their asm taps then need no moves between them */
    register int32_t a0 __asm__("r8") = q->b[0], a1 __asm__("r9") = q->b[1];
    register int32_t a2 __asm__("r10") = q->b[2], a3 __asm__("r11") = q->b[3];
    const uint32_t *w = wq;
#pragma GCC unroll 8
    for (int32_t i = 0; i < nr; ++i) {
      const int8_t *pi = rs[i] + off;
      __asm__("" : "+r"(pi)); /* the row start stays on the stack */
      if (ps == 0) {
#pragma GCC unroll 8
        for (int32_t j = 0; j < kw; ++j) MCT__DW4_TAPW(pi, w, a0, a1, a2, a3);
      } else {
#pragma GCC unroll 8
        for (int32_t j = 0; j < kw; ++j, pi += ps) {
          uint32_t wa_, wb_;
          __asm__("ldrd %[a], %[b], [%[p]], #8" : [a] "=r"(wa_), [b] "=r"(wb_), [p] "+r"(w)
                  : "m"(*(const uint32_t(*)[2])w));
          MCT__DW4_TAP(mct__ld32(pi), wa_, wb_, a0, a1, a2, a3);
        }
      }
    }
    const int32_t k = q->k;
    y[0] = mct__dw4_rq(a0, q, 0, k, 0, 0, 0);
    y[1] = mct__dw4_rq(a1, q, 1, k, 0, 0, 0);
    y[2] = mct__dw4_rq(a2, q, 2, k, 0, 0, 0);
    y[3] = mct__dw4_rq(a3, q, 3, k, 0, 0, 0);
  }
}

#define MCT__DW4_BIG(NAME, K, PS)                                                               \
  MCT__NOSCHED static void NAME(const int8_t *const *rows, size_t ps, size_t step, int32_t n,   \
                                const uint32_t *wq, const mct__dw4q *q, int8_t *y, size_t ys) { \
    (void)ps;                                                                                 \
    mct__dw4_big(rows, K, K, PS, step, n, wq, q, y, ys);                                       \
  }
MCT__DW4_BIG(mct__dw4w_5x5_ssat, 5, 0)
MCT__DW4_BIG(mct__dw4w_7x7_ssat, 7, 0)
MCT__DW4_BIG(mct__dw4_5x5_ssat, 5, ps)
MCT__DW4_BIG(mct__dw4_7x7_ssat, 7, ps)
MCT__DW4_BIG(mct__dw4_3x3b_ssat, 3, ps)

static void mct__dw4_dispatch(const int8_t *const *rows, int32_t nr, int32_t kw, size_t ps,
                              size_t step, int32_t n, const uint32_t *wq, const mct__dw4q *q,
                              int mode, const mct__arm_rq *r, int8_t *y, size_t ys) {
  if (mode == 0 && nr == kw && (kw == 5 || kw == 7)) {
    if (ps == 0)
      (kw == 5 ? mct__dw4w_5x5_ssat : mct__dw4w_7x7_ssat)(rows, 0, step, n, wq, q, y, ys);
    else
      (kw == 5 ? mct__dw4_5x5_ssat : mct__dw4_7x7_ssat)(rows, ps, step, n, wq, q, y, ys);
  } else if (mode != 2 && ps == 0)
    (mode ? mct__dw4w_any_clamp : mct__dw4w_any_ssat)(rows, nr, kw, step, n, wq, q, y, ys);
  else if (mode == 2)
    mct__dw4_general(rows, nr, kw, ps, step, n, wq, q, r, y, ys);
  else if (nr == 3 && kw == 3)
    (mode ? mct__dw4_3x3_clamp : mct__dw4_3x3b_ssat)(rows, ps, step, n, wq, q, y, ys);
  else
    (mode ? mct__dw4_any_clamp : mct__dw4_any_ssat)(rows, nr, kw, ps, step, n, wq, q, y, ys);
}

/* The weights of channels wk[0..3] (kk taps each) widened for mct__dw4_run; rowsum[i * 4 + t]:
 * the sum of kernel row i of channel t (kw taps). */
static void mct__dw4_widen(const int8_t *const wk[4], int32_t kh, int32_t kw, uint32_t *wq,
                           int32_t *rowsum) {
  for (int32_t i = 0; i < kh; ++i) {
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int32_t j = 0; j < kw; ++j) {
      const int32_t t = i * kw + j;
      const int32_t w0 = wk[0][t], w1 = wk[1][t], w2 = wk[2][t], w3 = wk[3][t];
      wq[2 * t] = ((uint32_t)w0 & 0xFFFFu) | (uint32_t)w2 << 16;
      wq[2 * t + 1] = ((uint32_t)w1 & 0xFFFFu) | (uint32_t)w3 << 16;
      s0 += w0, s1 += w1, s2 += w2, s3 += w3;
    }
    if (rowsum) rowsum[4 * i] = s0, rowsum[4 * i + 1] = s1, rowsum[4 * i + 2] = s2, rowsum[4 * i + 3] = s3;
  }
}

/* mct__dw4_widen from weights regrouped by tap (wt[t * E + e]: four channels a word). */
static void mct__dw4_widen_t(const int8_t *wt, int32_t E, int32_t kh, int32_t kw, uint32_t *wq,
                             int32_t *rowsum) {
  for (int32_t i = 0; i < kh; ++i) {
    uint32_t se = 0, so = 0; /* int16 pair sums: |sum| <= 128 * kw */
    for (int32_t j = 0; j < kw; ++j, wt += E, wq += 2) {
      const uint32_t v = mct__ld32(wt);
      wq[0] = __sxtb16(v), wq[1] = mct__sxtb16_hi(v);
      se = __sadd16(se, wq[0]), so = __sadd16(so, wq[1]);
    }
    rowsum[4 * i] = (int16_t)se, rowsum[4 * i + 2] = (int32_t)se >> 16;
    rowsum[4 * i + 1] = (int16_t)so, rowsum[4 * i + 3] = (int32_t)so >> 16;
  }
}

/* ---- 3x3 stride 1 over a ring of pixel pairs (mct__dw4p_3x3) ------------------------------
 * The ring in pair layout: a row is blocks of 16 bytes, block m holding padded columns 2m and
 * 2m + 1 of channel c as the int16 pair (x_c[2m], x_c[2m + 1]) in its word c. Two outputs
 * (columns 2m and 2m + 1) of a channel and kernel row then meet the pairs P0 = (x0, x1),
 * P2 = (x2, x3) of blocks m, m + 1 and the weight pairs W01 = (w0, w1), W12 = (w1, w2):
 *   out0 += x0 w0 + x1 w1 + x2 w2 = SMLAD(P0, W01) + SMLABT(P2, W12)
 *   out1 += x1 w0 + x2 w1 + x3 w2 = SMLATB(P0, W01) + SMLAD(P2, W12)
 * (the same int32 sums as the tap kernels, in another order). Requantization as the
 * pointwise kernels: v = ssat8((SMMLA(acc, mult, add)) >> shr), add = (1 + 2 y_zero) << sh,
 * shr = sh + 1, equal to ssat8(((acc * mult >> 32 >> sh) + 1 + 2 y_zero) >> 1) when |add| <
 * 2^30 (SMMLA's sum then cannot wrap, |acc * mult >> 32| <= 2^30; floor((s + add) / 2^shr) =
 * floor((floor(s / 2^sh) + 1 + 2 y_zero) / 2), nested floors): mct__dw4p_prep checks it. */
typedef struct {
  int32_t b[4];     /* 0: accumulator starts (mct__dw4q.b) */
  int32_t f[4][4];  /* 16: channel c's mult, add, shr at 16 + 16 c */
  int32_t ys;       /* 80: bytes between output pixels */
  int8_t *yend;     /* 84: end of the outputs */
  int32_t pad_[2];
  /* 96: kernel row i, channels 2h, 2h + 1 (word pairs, c = 2h first): E0, O1, E1, O2, ...,
   * O_(K-1)/2 at 96 + 8 (K - 1) (2 i + h) + 8 s, E_k = (w_2k, w_2k+1), O_k = (w_2k-1, w_2k) */
  uint32_t w[2 * 7 * 2 * 6];
} mct__dw4p;
typedef char mct__dw4p_layout[(offsetof(mct__dw4p, f) == 16 && offsetof(mct__dw4p, ys) == 80 &&
                               offsetof(mct__dw4p, yend) == 84 &&
                               offsetof(mct__dw4p, w) == 96) ? 1 : -1];

static inline uint32_t mct__wpair(int32_t lo, int32_t hi) {
  return ((uint32_t)lo & 0xFFFFu) | (uint32_t)hi << 16;
}

/* One channel's kn x kn weights as pairs E0, O1, E1, ... (pair s: (w_s, w_s+1)) of every row,
 * d: row 0's first word of the channel. */
static inline __attribute__((always_inline)) void mct__dw4p_wrows(const int8_t *w, const int32_t kn,
                                                                  uint32_t *d, int32_t ks) {
#pragma GCC unroll 8
  for (int32_t i = 0; i < kn; ++i, w += kn, d += 4 * (kn - 1)) {
    int32_t a = w[0] * (1 << ks);
#pragma GCC unroll 8
    for (int32_t s = 0; s < kn - 1; ++s) {
      const int32_t b = w[s + 1] * (1 << ks);
      d[2 * s] = mct__pk16(a, b);
      a = b;
    }
  }
}

/* The scaled form (S = MCT__RQS): a channel whose shr = sh + 1 is at most S has its weights,
 * accumulator start and add multiplied by 2^ks, ks = S - shr, so that the shift is SSAT's
 * immediate asr #S: with y = acc * mult / 2^32 (a rational) and add an integer,
 *   floor((floor(2^ks y) + 2^ks add) / 2^(shr + ks)) = floor((y + add) / 2^shr)
 *     = floor((floor(y) + add) / 2^shr)                      (nested floors),
 * the unscaled SMMLA form's value, provided every sum stays an exact int32: the weights 2^ks w
 * fit int16 (ks <= 8, |w| <= 128), and (|start| + taps * 128 * 128) * 2^ks < 2^31 bounds every
 * partial sum (ring values are int8, so |x w| <= 128 * 128); |2^ks add| < 2^30 as before.
 * mct__rqs_ks: ks of a channel (start b, n taps), or -1 when it does not fit. */
#define MCT__RQS 9
#define MCT__RQS_S "9" /* MCT__RQS in the assembly */
static inline int32_t mct__rqs_ks(int32_t b, int32_t sh, int32_t n) {
  /* sh + ks = S - 1 = 8, so |2^ks add| = |1 + 2 y_zero| 2^8 < 2^16 */
  const int32_t ks = MCT__RQS - 1 - sh;
  if ((uint32_t)ks > 8u) return -1;
  const uint32_t ab = b < 0 ? 0u - (uint32_t)b : (uint32_t)b; /* |b| < 2^31 - n 2^14 */
  return ab + (uint32_t)n * 16384u < (1u << (31 - ks)) ? ks : -1;
}

/* K from the group's constants q (mode 0) and the four channels' KxK weights (K odd, <= 7);
 * 0 when some channel's add is out of range (the tap kernels then); 2: the scaled form
 * (mct__rqs_ks) for all four channels, 1: the plain SMMLA / ASR / SSAT form. */
static int mct__dw4p_prep(const mct__dw4q *q, const int8_t *const wk[4], int32_t kn, int32_t ys,
                          mct__dw4p *K) {
  int32_t ks[4];
  int scaled = 1;
  for (int32_t t = 0; t < 4; ++t) {
    ks[t] = mct__rqs_ks(q->b[t], q->ms[2 * t + 1], kn * kn);
    if (ks[t] < 0) scaled = 0;
  }
  for (int32_t t = 0; t < 4; ++t) {
    const int32_t sh = q->ms[2 * t + 1], e = scaled ? ks[t] : 0;
    if ((uint32_t)sh > 29u) return 0;
    const int32_t alim = 1 << (30 - sh); /* |add| = |k| 2^sh < 2^30 */
    if (q->k >= alim || q->k <= -alim) return 0;
    K->b[t] = (int32_t)((uint32_t)q->b[t] << e);
    K->f[t][0] = q->ms[2 * t];
    K->f[t][1] = scaled ? q->k * (1 << (MCT__RQS - 1)) : (int32_t)((uint32_t)q->k << sh);
    K->f[t][2] = sh + 1, K->f[t][3] = 0;
    if (kn == 3)
      mct__dw4p_wrows(wk[t], 3, K->w + 4 * (t >> 1) + (t & 1), e);
    else if (kn == 5)
      mct__dw4p_wrows(wk[t], 5, K->w + 8 * (t >> 1) + (t & 1), e);
    else
      mct__dw4p_wrows(wk[t], 7, K->w + 12 * (t >> 1) + (t & 1), e);
  }
  K->ys = ys, K->yend = 0, K->pad_[0] = K->pad_[1] = 0;
  return scaled ? 2 : 1;
}

/* one kernel row (pointer P, weights at WO) of channels 2h, 2h + 1 (PO: their byte offset in a
 * block); accumulators r4, r5 (out0), r6, r7 (out1) */
#define MCT__P3ROW(A0, A2, WO, WO2)                                                           \
  "ldrd r8, r9, " A0 "\n\t"                                                                   \
  "ldrd r10, r11, [r3, #" #WO "]\n\t"                                                         \
  "smlatb r6, r8, r10, r6\n\t"                                                                \
  "smlad r4, r8, r10, r4\n\t"                                                                 \
  "smlatb r7, r9, r11, r7\n\t"                                                                \
  "smlad r5, r9, r11, r5\n\t"                                                                 \
  "ldrd r8, r9, " A2 "\n\t"                                                                   \
  "ldrd r10, r11, [r3, #" #WO2 "]\n\t"                                                        \
  "smlabt r4, r8, r10, r4\n\t"                                                                \
  "smlad r6, r8, r10, r6\n\t"                                                                 \
  "smlabt r5, r9, r11, r5\n\t"                                                                \
  "smlad r7, r9, r11, r7\n\t"
/* channel c's two outputs A (out0), B (out1) requantized (constants at OFF, shr at SOFF) */
#define MCT__P3REQ(A, B, OFF, SOFF)                                                           \
  "ldrd r8, r9, [r3, #" #OFF "]\n\t"                                                          \
  ".if mct_sc == 0\n\t"                                                                         \
  "ldr r10, [r3, #" #SOFF "]\n\t"                                                             \
  ".endif\n\t"                                                                                \
  "smmla " A ", " A ", r8, r9\n\t"                                                            \
  "smmla " B ", " B ", r8, r9\n\t"                                                            \
  ".if mct_sc == 0\n\t"                                                                         \
  "asr " A ", " A ", r10\n\t"                                                                 \
  "asr " B ", " B ", r10\n\t"                                                                 \
  "ssat " A ", #8, " A "\n\t"                                                                 \
  "ssat " B ", #8, " B "\n\t"                                                                 \
  ".else\n\t"                                                                                 \
  "ssat " A ", #8, " A ", asr #" MCT__RQS_S "\n\t"                                             \
  "ssat " B ", #8, " B ", asr #" MCT__RQS_S "\n\t"                                             \
  ".endif\n\t"
/* channels 2h, 2h + 1 of both outputs: accumulators from the biases (out1's by its first
 * SMLATB, which reads the bias before SMLAD overwrites it), three rows, requantization, the
 * four bytes to y (r12) and y + ys (lr) */
#define MCT__P3HALF(BO, R0A, R0B, R1A, R1B, R2A, R2B, W0, W02, W1, W12, W2, W22, C0, S0, C1,  \
                    S1, Y0, Y1)                                                               \
  "ldrd r4, r5, [r3, #" #BO "]\n\t"                                                           \
  "ldrd r8, r9, " R0A "\n\t"                                                                  \
  "ldrd r10, r11, [r3, #" #W0 "]\n\t"                                                         \
  "smlatb r6, r8, r10, r4\n\t"                                                                \
  "smlad r4, r8, r10, r4\n\t"                                                                 \
  "smlatb r7, r9, r11, r5\n\t"                                                                \
  "smlad r5, r9, r11, r5\n\t"                                                                 \
  "ldrd r8, r9, " R0B "\n\t"                                                                  \
  "ldrd r10, r11, [r3, #" #W02 "]\n\t"                                                        \
  "smlabt r4, r8, r10, r4\n\t"                                                                \
  "smlad r6, r8, r10, r6\n\t"                                                                 \
  "smlabt r5, r9, r11, r5\n\t"                                                                \
  "smlad r7, r9, r11, r7\n\t"                                                                 \
  MCT__P3ROW(R1A, R1B, W1, W12) MCT__P3ROW(R2A, R2B, W2, W22)                                 \
  MCT__P3REQ("r4", "r6", C0, S0) MCT__P3REQ("r5", "r7", C1, S1)                               \
  "strb r4, [r12, #" #Y0 "]\n\t"                                                              \
  "strb r5, [r12, #" #Y1 "]\n\t"                                                              \
  "strb r6, [lr, #" #Y0 "]\n\t"                                                               \
  "strb r7, [lr, #" #Y1 "]\n\t"

/* Output pairs of one row: ring rows p0, p1, p2 (block of the pair's first column), y up to
 * K->yend (exclusive, 2 ys a pair, at least one pair; the argument yend is not read).
 * Registers: rows r0-r2, K r3, sums r4-r7, inputs r8, r9, weights r10, r11, y r12, y + ys lr;
 * ys and yend by one LDRD off K. */
#define MCT__DW4P3(NAME, SC)                                                                  \
__attribute__((naked, noinline, noipa)) static void NAME(const int8_t *p0, const int8_t *p1,  \
                                                           const int8_t *p2,                 \
                                                           const mct__dw4p *K, int8_t *y,    \
                                                           int8_t *yend) {                   \
  (void)p0, (void)p1, (void)p2, (void)K, (void)y, (void)yend;                                 \
  __asm__ volatile(                                                                           \
      ".set mct_sc, " #SC "\n\t"                                                              \
      "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                       \
      "ldr r12, [sp, #36]\n\t"                                                                \
      "ldr lr, [r3, #80]\n\t"                                                                 \
      "add lr, r12\n"                                                                          \
      "1:\n\t"                                                                                \
      /* half 0 moves the row pointers on to the next block (post-indexed P0 loads): its      \
       * P2 and half 1's pairs then at -8, 0, +8 */                                            \
      MCT__P3HALF(0, "[r0], #16", "[r0]", "[r1], #16", "[r1]", "[r2], #16", "[r2]",           \
                  96, 104, 128, 136, 160, 168, 16, 24, 32, 40, 0, 1)                          \
      MCT__P3HALF(8, "[r0, #-8]", "[r0, #8]", "[r1, #-8]", "[r1, #8]", "[r2, #-8]", "[r2, #8]", \
                  112, 120, 144, 152, 176, 184, 48, 56, 64, 72, 2, 3)                         \
      "ldrd r8, r9, [r3, #80]\n\t" /* ys, yend */                                            \
      "add r12, r12, r8, lsl #1\n\t"                                                          \
      "add lr, lr, r8, lsl #1\n\t"                                                            \
      "cmp r12, r9\n\t"                                                                       \
      "bne 1b\n\t"                                                                            \
      "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");                                      \
}
MCT__DW4P3(mct__dw4p_3x3, 0)
MCT__DW4P3(mct__dw4p_3x3s, 1) /* the scaled form (mct__rqs_ks) */

/* KxK stride 1 (K = 5, 7) over the pair ring: as mct__dw4p_3x3, with the K row pointers in an
 * array (r0) plus the pass's byte offset (r1): each row's pointer is loaded and offset once per
 * half. Kernel row i of half h: pairs P0, P2, ..., P_(K-1) of blocks m .. m + (K-1)/2,
 *   out0 += SMLAD(P_2k, E_k) (k < (K-1)/2) + SMLABT(P_(K-1), O_(K-1)/2)
 *   out1 += SMLATB(P0, E0) + SMLAD(P_2k, O_k) (k >= 1).
 * Registers: the row array r0, the pass's offset r1, K r2, y r3, sums r4-r7, pairs r8, r9,
 * weights r10, r11, lr the row pointer (then y + ys); yend in K. */
#define MCT__DW4P_BIG(NAME, KN, SC)                                                           \
  __attribute__((naked, noinline, noipa)) static void NAME(const int8_t *const *rows,         \
                                                          size_t off,                       \
                                                    const mct__dw4p *K, int8_t *y) {          \
    (void)rows, (void)off, (void)K, (void)y;                                                  \
    __asm__ volatile(                                                                         \
        ".set mct_sc, " #SC "\n\t"                                                            \
        ".macro mct_pr_" #KN " i, h, first\n\t"                                               \
        "ldr lr, [r0, #4*\\i]\n\t"                                                            \
        "add lr, r1\n\t"                                                                      \
        "ldrd r8, r9, [lr, #8*\\h]\n\t"                                                       \
        "ldrd r10, r11, [r2, #96 + 8*(" #KN "-1)*(2*\\i+\\h)]\n\t"                            \
        ".if \\first\n\t"                                                                     \
        "smlatb r6, r8, r10, r4\n\t"                                                          \
        "smlatb r7, r9, r11, r5\n\t"                                                          \
        ".else\n\t"                                                                           \
        "smlatb r6, r8, r10, r6\n\t"                                                          \
        "smlatb r7, r9, r11, r7\n\t"                                                          \
        ".endif\n\t"                                                                          \
        "smlad r4, r8, r10, r4\n\t"                                                           \
        "smlad r5, r9, r11, r5\n\t"                                                           \
        ".irp k, 1, 2, 3\n\t"                                                                 \
        ".if \\k <= (" #KN "-1)/2\n\t"                                                        \
        "ldrd r8, r9, [lr, #8*\\h + 16*\\k]\n\t"                                              \
        "ldrd r10, r11, [r2, #96 + 8*(" #KN "-1)*(2*\\i+\\h) + 8*(2*\\k-1)]\n\t"              \
        "smlad r6, r8, r10, r6\n\t"                                                           \
        "smlad r7, r9, r11, r7\n\t"                                                           \
        ".if \\k < (" #KN "-1)/2\n\t"                                                         \
        "ldrd r10, r11, [r2, #96 + 8*(" #KN "-1)*(2*\\i+\\h) + 8*(2*\\k)]\n\t"                \
        "smlad r4, r8, r10, r4\n\t"                                                           \
        "smlad r5, r9, r11, r5\n\t"                                                           \
        ".else\n\t"                                                                           \
        "smlabt r4, r8, r10, r4\n\t"                                                          \
        "smlabt r5, r9, r11, r5\n\t"                                                          \
        ".endif\n\t"                                                                          \
        ".endif\n\t"                                                                          \
        ".endr\n\t"                                                                           \
        ".endm\n\t"                                                                           \
        ".macro mct_ph_" #KN " h\n\t"                                                         \
        "ldrd r4, r5, [r2, #8*\\h]\n\t"                                                       \
        "mct_pr_" #KN " 0, \\h, 1\n\t"                                                        \
        ".irp i, 1, 2, 3, 4, 5, 6\n\t"                                                        \
        ".if \\i < " #KN "\n\t"                                                               \
        "mct_pr_" #KN " \\i, \\h, 0\n\t"                                                      \
        ".endif\n\t"                                                                          \
        ".endr\n\t"                                                                           \
        "ldrd r8, r9, [r2, #16 + 32*\\h]\n\t"                                                 \
        ".if mct_sc == 0\n\t"                                                                 \
        "ldr r10, [r2, #24 + 32*\\h]\n\t"                                                     \
        "smmla r4, r4, r8, r9\n\t"                                                            \
        "smmla r6, r6, r8, r9\n\t"                                                            \
        "asr r4, r4, r10\n\t"                                                                 \
        "asr r6, r6, r10\n\t"                                                                 \
        "ssat r4, #8, r4\n\t"                                                                 \
        "ssat r6, #8, r6\n\t"                                                                 \
        "ldrd r8, r9, [r2, #32 + 32*\\h]\n\t"                                                 \
        "ldr r10, [r2, #40 + 32*\\h]\n\t"                                                     \
        "smmla r5, r5, r8, r9\n\t"                                                            \
        "smmla r7, r7, r8, r9\n\t"                                                            \
        "asr r5, r5, r10\n\t"                                                                 \
        "asr r7, r7, r10\n\t"                                                                 \
        "ssat r5, #8, r5\n\t"                                                                 \
        "ssat r7, #8, r7\n\t"                                                                 \
        ".else\n\t"                                                                           \
        "smmla r4, r4, r8, r9\n\t"                                                            \
        "smmla r6, r6, r8, r9\n\t"                                                            \
        "ssat r4, #8, r4, asr #" MCT__RQS_S "\n\t"                                            \
        "ssat r6, #8, r6, asr #" MCT__RQS_S "\n\t"                                            \
        "ldrd r8, r9, [r2, #32 + 32*\\h]\n\t"                                                 \
        "smmla r5, r5, r8, r9\n\t"                                                            \
        "smmla r7, r7, r8, r9\n\t"                                                            \
        "ssat r5, #8, r5, asr #" MCT__RQS_S "\n\t"                                            \
        "ssat r7, #8, r7, asr #" MCT__RQS_S "\n\t"                                            \
        ".endif\n\t"                                                                          \
        "ldr lr, [r2, #80]\n\t"                                                               \
        "strb r4, [r3, #2*\\h]\n\t"                                                           \
        "strb r5, [r3, #2*\\h+1]\n\t"                                                         \
        "add lr, r3\n\t"                                                                      \
        "strb r6, [lr, #2*\\h]\n\t"                                                           \
        "strb r7, [lr, #2*\\h+1]\n\t"                                                         \
        ".endm\n\t"                                                                           \
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"                                       \
        "1:\n\t"                                                                              \
        "mct_ph_" #KN " 0\n\t"                                                                \
        "mct_ph_" #KN " 1\n\t"                                                                \
        "ldrd r8, r9, [r2, #80]\n\t"                                                          \
        "adds r1, #16\n\t"                                                                    \
        "add r3, r3, r8, lsl #1\n\t"                                                          \
        "cmp r3, r9\n\t"                                                                      \
        "bne 1b\n\t"                                                                          \
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"                                      \
        ".purgem mct_ph_" #KN "\n\t"                                                          \
        ".purgem mct_pr_" #KN "\n\t");                                                        \
  }
MCT__DW4P_BIG(mct__dw4p_5x5, 5, 0)
MCT__DW4P_BIG(mct__dw4p_7x7, 7, 0)
MCT__DW4P_BIG(mct__dw4p_5x5s, 5, 1) /* the scaled form (mct__rqs_ks) */
MCT__DW4P_BIG(mct__dw4p_7x7s, 7, 1)

/* The fused 1x1 for four expanded channels: weights as SMLAD pairs (per group of four input
 * channels: channel 0's (c0, c2), (c1, c3), then channels 1, 2, 3), constants as mct__dw4q. */
typedef struct {
  mct__dw4q q; /* mct__pw4a_*: its last field, b, the accumulator starts, then the weights wq,
                * then at wq[8 G] each channel's mult, add (the scaled form, mct__rqs_ks; G <=
                * 10, so they fit in wq) */
  uint32_t wq[2 * MCT__PW4_C];
  int mode;
  int fast; /* mode 0, the scaled form for every channel: mct__pw4a_* for every pixel */
} mct__pw4;
typedef char mct__pw4_layout[offsetof(mct__pw4, wq) == offsetof(mct__pw4, q.b) + 16 &&
                                     8 * 10 + 8 <= 2 * MCT__PW4_C
                                 ? 1
                                 : -1];

__attribute__((noinline)) static void mct__pw4_prep(const mct__arm_rq *r1, const int8_t *w1,
                                                    int32_t C, int32_t e, int aligned,
                                                    mct__pw4 *pw) {
  int32_t ws[4];
  for (int32_t t = 0; t < 4; ++t) {
    const int8_t *wr = w1 + (size_t)(e + t) * C;
    uint32_t se = 0, so = 0; /* int16 pair sums (C <= 64: |half| <= 16 * 128 * 2) */
    for (int32_t g = 0; g < C / 4; ++g) {
      const uint32_t v = mct__ld32(wr + 4 * g), ve = __sxtb16(v), vo = mct__sxtb16_hi(v);
      pw->wq[8 * g + 2 * t] = ve;
      pw->wq[8 * g + 2 * t + 1] = vo;
      se = __sadd16(se, ve), so = __sadd16(so, vo);
    }
    ws[t] = (int16_t)se + ((int32_t)se >> 16) + (int16_t)so + ((int32_t)so >> 16);
  }
  pw->mode = mct__dw4_consts(r1, e, ws, C, &pw->q);
  /* the assembly for every pixel of this group (so the weights may be rescaled): mode 0, an
   * even G up to 10, x word-aligned (pixels C = 4 G bytes apart), the scaled form */
  const int32_t G = C / 4;
  int32_t ks[4];
  pw->fast = pw->mode == 0 && G % 2 == 0 && G <= 10 && aligned;
  for (int32_t t = 0; t < 4 && pw->fast; ++t) {
    ks[t] = mct__rqs_ks(pw->q.b[t], pw->q.ms[2 * t + 1], C);
    if (ks[t] < 0) pw->fast = 0;
  }
  if (!pw->fast) return;
  for (int32_t t = 0; t < 4; ++t) {
    pw->q.b[t] = (int32_t)((uint32_t)pw->q.b[t] << ks[t]); /* only mct__pw4a_* reads it now */
    uint32_t *f = pw->wq + 2 * C + 2 * t; /* wq[8 G + 2 t] */
    f[0] = (uint32_t)pw->q.ms[2 * t], f[1] = (uint32_t)(pw->q.k * (1 << (MCT__RQS - 1)));
    const int32_t m = (int32_t)(0x10001u << ks[t]); /* 2^ks in both halves */
    for (int32_t g = 0; g < G; ++g) {
      uint32_t *w = pw->wq + 8 * g + 2 * t;
      const int32_t v = (int32_t)w[0], u = (int32_t)w[1];
      int32_t a, b, c, d;
      __asm__("smulbb %0, %1, %2" : "=r"(a) : "r"(v), "r"(m));
      __asm__("smultt %0, %1, %2" : "=r"(b) : "r"(v), "r"(m));
      __asm__("smulbb %0, %1, %2" : "=r"(c) : "r"(u), "r"(m));
      __asm__("smultt %0, %1, %2" : "=r"(d) : "r"(u), "r"(m));
      w[0] = mct__pk16(a, b), w[1] = mct__pk16(c, d);
    }
  }
}

/* The fused 1x1 in assembly (mode 0): one pixel a pass, its four channels' sums in r2-r5
 * from k (mct__pw4's q.b) by one LDM; per two groups of four input channels one LDRD of the
 * pixel's bytes (x word-aligned), four SXTB16, then per two output channels one LDM of their
 * four weight words and four SMLADs (the weights in the order they are used, the pointer r1
 * moved on by the LDMs, so the channels' constants follow them and r1 goes back once a
 * pixel); requantization in the scaled form (mct__rqs_ks: weights and starts rescaled by
 * mct__pw4_prep; the four channels' mult, add by one LDM, SMMLA, SSAT asr #9), else the C
 * kernels. PL: into a pair-layout ring row (int16 at o, o + 4, o + 8, o + 12; o moves by
 * st = 2 or 14 bytes, alternately), else two words a pixel (PKHBT) at o. o, st and the end
 * of x on the stack (one LDM).
 * Asm contract: the AAPCS arguments (x, k, o, xend; st on the stack); saves what it uses
 * (r4-r11, lr); reads x up to xend and k's weights and constants, writes the outputs at o. */
#define MCT__PW4A_PAIR                                                                        \
  "ldrd r6, r8, [r0], #8\n\t"                                                                 \
  "sxtb16 r7, r6, ror #8\n\t"                                                                \
  "sxtb16 r6, r6\n\t"                                                                        \
  "sxtb16 r9, r8, ror #8\n\t"                                                                \
  "sxtb16 r8, r8\n\t"                                                                        \
  "ldm r1!, {r10, r11, r12, lr}\n\t"                                                         \
  "smlad r2, r6, r10, r2\n\t"                                                                \
  "smlad r2, r7, r11, r2\n\t"                                                                \
  "smlad r3, r6, r12, r3\n\t"                                                                \
  "smlad r3, r7, lr, r3\n\t"                                                                 \
  "ldm r1!, {r10, r11, r12, lr}\n\t"                                                         \
  "smlad r4, r6, r10, r4\n\t"                                                                \
  "smlad r4, r7, r11, r4\n\t"                                                                \
  "smlad r5, r6, r12, r5\n\t"                                                                \
  "smlad r5, r7, lr, r5\n\t"                                                                 \
  "ldm r1!, {r10, r11, r12, lr}\n\t"                                                         \
  "smlad r2, r8, r10, r2\n\t"                                                                \
  "smlad r2, r9, r11, r2\n\t"                                                                \
  "smlad r3, r8, r12, r3\n\t"                                                                \
  "smlad r3, r9, lr, r3\n\t"                                                                 \
  "ldm r1!, {r10, r11, r12, lr}\n\t"                                                         \
  "smlad r4, r8, r10, r4\n\t"                                                                \
  "smlad r4, r9, r11, r4\n\t"                                                                \
  "smlad r5, r8, r12, r5\n\t"                                                                \
  "smlad r5, r9, lr, r5\n\t"
#define MCT__PW4A_RQ                                                                          \
  "ldm r1!, {r6, r7, r8, r9, r10, r11, r12, lr}\n\t"                                          \
  "smmla r2, r2, r6, r7\n\t"                                                                  \
  "smmla r3, r3, r8, r9\n\t"                                                                  \
  "smmla r4, r4, r10, r11\n\t"                                                                \
  "smmla r5, r5, r12, lr\n\t"                                                                 \
  "ssat r2, #8, r2, asr #" MCT__RQS_S "\n\t"                                                  \
  "ssat r3, #8, r3, asr #" MCT__RQS_S "\n\t"                                                  \
  "ssat r4, #8, r4, asr #" MCT__RQS_S "\n\t"                                                  \
  "ssat r5, #8, r5, asr #" MCT__RQS_S "\n\t"
/* G input channels a pixel (G / 2 MCT__PW4A_PAIRs), PL as above; the asm contract above. */
#define MCT__PW4A(NAME, G, PL)                                                                \
  __attribute__((naked, noinline, noipa)) static void NAME(                                   \
      const int8_t *x, const int32_t *k, void *o, const int8_t *xend, int32_t st) {           \
    (void)x, (void)k, (void)o, (void)xend, (void)st;                                          \
    __asm__ volatile(                                                                         \
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                     \
        "ldr r4, [sp, #36]\n\t"                                                               \
        "sub sp, #12\n\t"                                                                     \
        "strd r2, r4, [sp]\n\t"                                                               \
        "str r3, [sp, #8]\n"                                                                   \
        "1:\n\t"                                                                              \
        "ldm r1!, {r2, r3, r4, r5}\n\t"                                                       \
        ".rept " #G " / 2\n\t" MCT__PW4A_PAIR ".endr\n\t"                                    \
        MCT__PW4A_RQ                                                                          \
        "sub r1, r1, #(16 + 32 * " #G " + 32)\n\t"                                             \
        "ldm sp, {r6, r7, r8}\n\t"                                                            \
        ".if " #PL "\n\t"                                                                     \
        "strh r2, [r6]\n\t"                                                                   \
        "strh r3, [r6, #4]\n\t"                                                               \
        "strh r4, [r6, #8]\n\t"                                                               \
        "strh r5, [r6, #12]\n\t"                                                              \
        "add r6, r7\n\t"                                                                      \
        "eor r7, r7, #12\n\t"                                                                 \
        "stm sp, {r6, r7}\n\t"                                                                \
        ".else\n\t"                                                                           \
        "pkhbt r2, r2, r4, lsl #16\n\t"                                                       \
        "pkhbt r3, r3, r5, lsl #16\n\t"                                                       \
        "strd r2, r3, [r6], #8\n\t"                                                           \
        "str r6, [sp]\n\t"                                                                    \
        ".endif\n\t"                                                                          \
        "cmp r0, r8\n\t"                                                                      \
        "bne 1b\n\t"                                                                          \
        "add sp, #12\n\t"                                                                     \
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");                                    \
  }
MCT__PW4A(mct__pw4a_2w, 2, 0)
MCT__PW4A(mct__pw4a_4w, 4, 0)
MCT__PW4A(mct__pw4a_6w, 6, 0)
MCT__PW4A(mct__pw4a_8w, 8, 0)
MCT__PW4A(mct__pw4a_10w, 10, 0)
MCT__PW4A(mct__pw4a_2p, 2, 1)
MCT__PW4A(mct__pw4a_4p, 4, 1)
MCT__PW4A(mct__pw4a_6p, 6, 1)
MCT__PW4A(mct__pw4a_8p, 8, 1)
MCT__PW4A(mct__pw4a_10p, 10, 1)
typedef void (*mct__pw4a_fn)(const int8_t *, const int32_t *, void *, const int8_t *, int32_t);
static mct__pw4a_fn const mct__pw4a_tab[2][5] = {
    {mct__pw4a_2w, mct__pw4a_4w, mct__pw4a_6w, mct__pw4a_8w, mct__pw4a_10w},
    {mct__pw4a_2p, mct__pw4a_4p, mct__pw4a_6p, mct__pw4a_8p, mct__pw4a_10p}};

/* a += the four products of (ve, vo) and the next two weight words (LDRD, pointer moved on).
 * Asm contract: compiler-allocated named operands only; reads pw[0..2). */
#define MCT__PW4_MAC(ve, vo, pw, a)                                                              \
  do {                                                                                        \
    uint32_t wa_, wb_;                                                                        \
    __asm__("ldrd %[wa], %[wb], [%[wp]], #8\n\t"                                               \
            "smlad %[b], %[xe], %[wa], %[b]\n\t"                                              \
            "smlad %[b], %[xo], %[wb], %[b]"                                                  \
            : [b] "+r"(a), [wa] "=&r"(wa_), [wb] "=&r"(wb_), [wp] "+r"(pw)                      \
            : [xe] "r"(ve), [xo] "r"(vo), "m"(*(const uint32_t(*)[2])pw));                    \
  } while (0)

/* Pixel j's int16 of channel t in a pair-layout ring row (see mct__dw4p_3x3). */
static inline int16_t *mct__pl_at(uint32_t *row, int32_t j, int32_t t) {
  return (int16_t *)row + (size_t)(j >> 1) * 8 + (j & 1) + 2 * t;
}

/* The four expanded channels of npix pixels; pl = 0: two words a pixel at out (widened ring),
 * pl = 1: into the pair-layout row out from padded column j0 on. */
static inline __attribute__((always_inline)) void mct__pw4_run(const int8_t *x, int32_t npix,
                                                               const int32_t G,
                                                               const mct__pw4 *pw,
                                                               const int mode, const int pl,
                                                               uint32_t *out, int32_t j0) {
  const mct__dw4q *q = &pw->q;
  const int32_t lo = q->lo, hi = q->hi;
  int16_t *o16 = pl ? mct__pl_at(out, j0, 0) : (int16_t *)0;
  int32_t st = j0 & 1 ? 7 : 1; /* int16 steps to the next pixel: 1, then 7, ... */
  if (!pl) out += 2 * (size_t)j0;
  const uint32_t *const oend = out + 2 * (size_t)(npix > 0 ? npix : 0);
  for (int32_t p = 0; pl ? p < npix : out != oend; x += 4 * G, ++p) {
    int32_t a0 = q->b[0], a1 = q->b[1], a2 = q->b[2], a3 = q->b[3];
    const uint32_t *w = pw->wq;
#pragma GCC unroll 16
    for (int32_t g = 0; g < G; ++g) {
      const uint32_t v = mct__ld32(x + 4 * g);
      const uint32_t ve = __sxtb16(v), vo = mct__sxtb16_hi(v);
      MCT__PW4_MAC(ve, vo, w, a0);
      MCT__PW4_MAC(ve, vo, w, a1);
      MCT__PW4_MAC(ve, vo, w, a2);
      MCT__PW4_MAC(ve, vo, w, a3);
    }
    const int32_t k = q->k;
    const int32_t v0 = mct__dw4_rq(a0, q, 0, k, mode, lo, hi);
    const int32_t v1 = mct__dw4_rq(a1, q, 1, k, mode, lo, hi);
    const int32_t v2 = mct__dw4_rq(a2, q, 2, k, mode, lo, hi);
    const int32_t v3 = mct__dw4_rq(a3, q, 3, k, mode, lo, hi);
    if (pl) {
      o16[0] = (int16_t)v0, o16[2] = (int16_t)v1, o16[4] = (int16_t)v2, o16[6] = (int16_t)v3;
      o16 += st, st ^= 6;
    } else {
      out[0] = mct__pk16(v0, v2); /* widened, as the ring holds it */
      out[1] = mct__pk16(v1, v3);
      out += 2;
    }
  }
}

#define MCT__PW4(G)                                                                           \
  static void mct__pw4_##G(const int8_t *x, int32_t npix, const mct__pw4 *pw, uint32_t *out,  \
                           int32_t j0, int pl) {                                              \
    if (pl)                                                                                   \
      mct__pw4_run(x, npix, G, pw, 0, 1, out, j0);                                            \
    else                                                                                      \
      mct__pw4_run(x, npix, G, pw, 0, 0, out, j0);                                            \
  }
MCT__NOSCHED MCT__PW4(2)
MCT__NOSCHED MCT__PW4(4)
MCT__NOSCHED MCT__PW4(6)
MCT__NOSCHED static void mct__pw4_any(const int8_t *x, int32_t npix, int32_t G, const mct__pw4 *pw,
                         uint32_t *out, int32_t j0, int pl) {
  if (pl)
    mct__pw4_run(x, npix, G, pw, 0, 1, out, j0);
  else
    mct__pw4_run(x, npix, G, pw, 0, 0, out, j0);
}
MCT__NOSCHED static void mct__pw4_clamp(const int8_t *x, int32_t npix, int32_t G, const mct__pw4 *pw,
                           uint32_t *out, int32_t j0, int pl) {
  if (pl)
    mct__pw4_run(x, npix, G, pw, 1, 1, out, j0);
  else
    mct__pw4_run(x, npix, G, pw, 1, 0, out, j0);
}

/* Four expanded channels of npix pixels (x: C channels each) into the ring row out from
 * padded column j0 on (pl: pair layout, else two words a pixel). */
__attribute__((noinline)) static void mct__pw4_pixels(const mct__arm_rq *r1, const int8_t *x, int32_t npix, int32_t C,
                            const mct__pw4 *pw, uint32_t *out, int32_t j0, int pl) {
  const int32_t G = C / 4;
  if (pw->mode != 2) {
    if (pw->fast) { /* every call of this group (mct__pw4_prep) */
      const mct__pw4a_fn f = mct__pw4a_tab[pl ? 1 : 0][G / 2 - 1];
      if (npix <= 0)
        ;
      else if (pl)
        f(x, pw->q.b, mct__pl_at(out, j0, 0), x + (size_t)npix * C, j0 & 1 ? 14 : 2);
      else
        f(x, pw->q.b, out + 2 * (size_t)j0, x + (size_t)npix * C, 8);
    } else if (pw->mode == 1)
      mct__pw4_clamp(x, npix, G, pw, out, j0, pl);
    else if (G == 2)
      mct__pw4_2(x, npix, pw, out, j0, pl);
    else if (G == 4)
      mct__pw4_4(x, npix, pw, out, j0, pl);
    else if (G == 6)
      mct__pw4_6(x, npix, pw, out, j0, pl);
    else
      mct__pw4_any(x, npix, G, pw, out, j0, pl);
    if (pw->q.cmask)
     for (int32_t t = 0; t < 4; ++t) /* constant channels: their int16 half of the word */
      if (pw->q.cmask >> t & 1)
        for (int32_t p = 0; p < npix; ++p) {
          if (pl) {
            *mct__pl_at(out, j0 + p, t) = (int16_t)pw->q.cval[t];
            continue;
          }
          uint32_t *o = out + 2 * (j0 + p) + (t & 1);
          *o = t >> 1 ? (*o & 0xFFFFu) | (uint32_t)pw->q.cval[t] << 16
                      : (*o & 0xFFFF0000u) | ((uint32_t)pw->q.cval[t] & 0xFFFFu);
        }
    return;
  }
  for (int32_t p = 0; p < npix; ++p, x += C) {
    int32_t a[4] = {0, 0, 0, 0};
    const uint32_t *w = pw->wq;
    for (int32_t g = 0; g < G; ++g, w += 8) {
      const uint32_t v = mct__ld32(x + 4 * g);
      const int32_t ve = (int32_t)__sxtb16(v), vo = (int32_t)mct__sxtb16_hi(v);
      for (int32_t t = 0; t < 4; ++t)
        a[t] = __smlad(vo, (int32_t)w[2 * t + 1], __smlad(ve, (int32_t)w[2 * t], a[t]));
    }
    int32_t v[4];
    for (int32_t t = 0; t < 4; ++t) v[t] = mct__arm_out(r1, &pw->q.c[t], a[t] - pw->q.corr[t]);
    if (pl) {
      for (int32_t t = 0; t < 4; ++t) *mct__pl_at(out, j0 + p, t) = (int16_t)v[t];
      continue;
    }
    uint32_t *o = out + 2 * (j0 + p);
    o[0] = ((uint32_t)v[0] & 0xFFFFu) | (uint32_t)v[2] << 16;
    o[1] = ((uint32_t)v[1] & 0xFFFFu) | (uint32_t)v[3] << 16;
  }
}

/* n >= 1 pixel pairs (four channels at s, s + xs; the next pair 2 xs on) into consecutive
 * pair-layout blocks at b: per pair two LDRs, four SXTB16, four PKHBT / PKHTB, one STM.
 * Asm contract: r0 = s, r1 = xs, r2 = b, r3 = n (the AAPCS arguments, consumed); saves r4-r9
 * and lr, r12 clobbered; reads the n pairs' words, writes b[0 .. 4 n). */
__attribute__((naked, noinline, noipa)) static void mct__pl_pairs(const int8_t *s, size_t xs,
                                                                 uint32_t *b, int32_t n) {
  (void)s, (void)xs, (void)b, (void)n;
  __asm__ volatile(
      "push {r4, r5, r6, r7, r8, r9, lr}\n"
      "1:\n\t"
      "ldr r8, [r0]\n\t"
      "ldr r9, [r0, r1]\n\t"
      "add r0, r0, r1, lsl #1\n\t"
      "sxtb16 r12, r8, ror #8\n\t"
      "sxtb16 r8, r8\n\t"
      "sxtb16 lr, r9, ror #8\n\t"
      "sxtb16 r9, r9\n\t"
      "pkhbt r4, r8, r9, lsl #16\n\t"
      "pkhbt r5, r12, lr, lsl #16\n\t"
      "pkhtb r6, r9, r8, asr #16\n\t"
      "pkhtb r7, lr, r12, asr #16\n\t"
      "stmia r2!, {r4, r5, r6, r7}\n\t"
      "subs r3, #1\n\t"
      "bne 1b\n\t"
      "pop {r4, r5, r6, r7, r8, r9, pc}\n\t");
}

/* W pixels (four channels each, xs bytes apart, from s) into the pair-layout ring row d from
 * padded column j on. */
__attribute__((noinline)) static void mct__pl_row(const int8_t *s, size_t xs, uint32_t *d,
                                                   int32_t j, int32_t W) {
  int32_t w = 0;
  if (j & 1) { /* a first pixel in the upper halves */
    const uint32_t v = mct__ld32(s), e = __sxtb16(v), od = mct__sxtb16_hi(v);
    int16_t *h = mct__pl_at(d, j, 0);
    h[0] = (int16_t)e, h[2] = (int16_t)od, h[4] = (int16_t)(e >> 16), h[6] = (int16_t)(od >> 16);
    ++w, ++j, s += xs;
  }
  uint32_t *b = d + (size_t)(j >> 1) * 4;
  const int32_t np = (W - w) >> 1;
  if (np > 0) { /* two pixels, one block */
    mct__pl_pairs(s, xs, b, np);
    w += 2 * np, s += (size_t)2 * np * xs, b += 4 * np;
  }
  if (w < W) { /* a last pixel in the lower halves */
    const uint32_t v = mct__ld32(s), e = __sxtb16(v), od = mct__sxtb16_hi(v);
    int16_t *h = (int16_t *)b;
    h[0] = (int16_t)e, h[2] = (int16_t)od, h[4] = (int16_t)(e >> 16), h[6] = (int16_t)(od >> 16);
  }
}

/* The sum of n int8 (n <= 2^8: the int16 pair sums cannot wrap). */
static inline int32_t mct__bsum(const int8_t *w, int32_t n) {
  uint32_t e = 0, o = 0;
  int32_t k = 0, s = 0;
  for (; k + 4 <= n; k += 4) {
    const uint32_t v = mct__ld32(w + k);
    e = __sxtab16(e, v);
    __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(o) : "r"(v));
  }
  for (; k < n; ++k) s += w[k];
  return s + (int16_t)e + ((int32_t)e >> 16) + (int16_t)o + ((int32_t)o >> 16);
}

/* Channels e..e+3 of a depthwise conv g (multiplier 1) through the group ring: the source
 * rows either from HWC x (xs bytes a pixel: copied) or, with pw, the 1x1 of x's pixels (C1
 * channels). y: output (oh, ow) channel e at y[(oh * out_w + ow) * ys]. In place (y == x's
 * channel e), inplace_ok must have said yes. wk: the four channels' weight rows. */
MCT__NOSCHED static void mct__dw4_group(const mct_conv_geom *g, const mct__arm_rq *r, const int8_t *const wk[4],
                           int32_t o, const int8_t *x, size_t xs, const mct__arm_rq *r1,
                           const mct__pw4 *pw, int32_t C1, int8_t *y, size_t ys) {
  const int32_t H = g->in_h, W = g->in_w, kh = g->k_h, kw = g->k_w, sh = g->stride_h;
  const int32_t ph = g->pad_h, pw_ = g->pad_w, Ho = g->out_h, Wo = g->out_w;
  const int32_t Wp = W + 2 * pw_, kk = kh * kw;
  uint32_t ring[MCT__DW4_RING];
  union { /* the tap kernels' widened weights or the pair kernels' constants: one of them */
    uint32_t wq[2 * MCT__DW4_KK];
    mct__dw4p K;
  } u;
  uint32_t *const wq = u.wq;
  int32_t rowsum[4 * MCT__DW4_K], wsum[4] = {0, 0, 0, 0};
  for (int32_t t = 0; t < 4; ++t) wsum[t] = mct__bsum(wk[t], kk);
  mct__dw4q q;
  const int mode = mct__dw4_consts(r, o, wsum, kk, &q);
  const size_t RYS = (size_t)Wo * ys;
  const int fast33 = mode == 0 && kh == 3 && kw == 3 && g->stride_w <= 2 ? g->stride_w : 0;
  /* 3x3, 5x5, 7x7 stride 1: the ring in pair layout (mct__dw4p_*) when it fits (one column
   * more than the padded row: an odd row's last pair reads it) and the constants allow */
  const int32_t NB = (Wp + 1) / 2;
  mct__dw4p *const K = &u.K;
  const int plk = mode == 0 && kh == kw && (kh == 3 || kh == 5 || kh == 7) && g->stride_w == 1 &&
                  Wo == Wp - (kw - 1) && Wo >= 1 && 4 * (kh + 1) * NB <= MCT__DW4_RING
                      ? mct__dw4p_prep(&q, wk, kh, (int32_t)ys, K)
                      : 0;
  const int pl = plk != 0;
  /* the ring widened: per pixel (x0, x2) and (x1, x3) as int16 pairs (or pairs of pixels);
   * border x_zero */
  if (!pl) mct__dw4_widen(wk, kh, kw, wq, rowsum);
  const uint32_t zz = mct__zz(r->x_zero);
  const size_t RW = pl ? (size_t)4 * NB : (size_t)2 * Wp; /* words of a ring row */
  { /* x_zero in the border columns of every row (the rows' pixels come later) and in padrow */
    const size_t la = pl ? (size_t)4 * ((pw_ + 1) / 2) : (size_t)2 * pw_;
    const size_t rb = pl ? (size_t)4 * ((pw_ + W) / 2) : (size_t)2 * (pw_ + W);
    for (int32_t i = 0; i < kh; ++i) {
      uint32_t *d = ring + (size_t)i * RW;
      for (size_t k = 0; k < la; ++k) d[k] = zz;
      for (size_t k = rb; k < RW; ++k) d[k] = zz;
    }
    uint32_t *d = ring + (size_t)kh * RW;
    for (size_t k = 0; k + 4 <= RW; k += 4) d[k] = d[k + 1] = d[k + 2] = d[k + 3] = zz;
    for (size_t k = RW & ~(size_t)3; k < RW; ++k) d[k] = zz;
  }
  const int8_t *padrow = (const int8_t *)(ring + (size_t)kh * RW);
  const size_t step = (size_t)8 * g->stride_w;
  int32_t done = 0;
  uint32_t *const ring_end = ring + (size_t)kh * RW;
  uint32_t *dnext = ring; /* ring row of input row done (done % kh) */
  if (pl && kh == 3 && sh == 1) { /* the common case lean: three row pointers shifted a row */
    void (*const f)(const int8_t *, const int8_t *, const int8_t *, const mct__dw4p *,
                    int8_t *, int8_t *) = plk == 2 ? mct__dw4p_3x3s : mct__dw4p_3x3;
    const int32_t np = Wo / 2;
    const size_t oddoff = (size_t)16 * np, pstep = (size_t)np * 2 * ys;
    const int8_t *p0 = padrow, *p1 = padrow, *p2 = padrow; /* rows top .. top + 2 */
    int8_t *yr = y;
    for (int32_t ro = 0, top = -ph; ro < Ho; ++ro, ++top, yr += RYS) {
      p0 = p1, p1 = p2, p2 = padrow;
      const int32_t need = top + 3 > H ? H : top + 3;
      for (; done < need; ++done) { /* row done (then top + 2, or the rows of the first pass) */
        uint32_t *d = dnext;
        dnext = dnext + RW == ring_end ? ring : dnext + RW;
        if (pw)
          mct__pw4_pixels(r1, x + (size_t)done * W * C1, W, C1, pw, d, pw_, 1);
        else
          mct__pl_row(x + (size_t)done * W * xs, xs, d, pw_, W);
        const int32_t i = done - top; /* its kernel row (0 .. 2) */
        if (i == 0) p0 = (const int8_t *)d;
        else if (i == 1) p1 = (const int8_t *)d;
        else p2 = (const int8_t *)d;
      }
      if (np) {
        K->yend = yr + pstep;
        f(p0, p1, p2, K, yr, K->yend);
      }
      if (Wo & 1) { /* the last output alone: its pair into a scratch word */
        int8_t t8[8];
        K->ys = 4, K->yend = t8 + 8;
        f(p0 + oddoff, p1 + oddoff, p2 + oddoff, K, t8, t8 + 8);
        K->ys = (int32_t)ys;
        memcpy(yr + (size_t)(Wo - 1) * ys, t8, 4);
      }
      if (q.cmask) mct__dw4_fixc(&q, yr, ys, Wo);
    }
    return;
  }
  for (int32_t ro = 0; ro < Ho; ++ro) {
    const int32_t top = ro * sh - ph;
    int32_t need = top + kh;
    if (need > H) need = H;
    for (; done < need; ++done) {
      uint32_t *d = dnext;
      dnext = dnext + RW == ring_end ? ring : dnext + RW;
      if (pw) {
        mct__pw4_pixels(r1, x + (size_t)done * W * C1, W, C1, pw, d, pw_, pl);
      } else if (pl) {
        mct__pl_row(x + (size_t)done * W * xs, xs, d, pw_, W);
      } else {
        const int8_t *s = x + (size_t)done * W * xs;
        d += 2 * pw_;
        for (int32_t w = 0; w < W; ++w, s += xs, d += 2) {
          const uint32_t v = mct__ld32(s);
          d[0] = __sxtb16(v), d[1] = mct__sxtb16_hi(v);
        }
      }
    }
    const int8_t *rows[MCT__DW_MAXK];
    { /* ring row of input row top + i: top's row, then on (rows outside the image: padrow) */
      const uint32_t *rp = top >= 0 ? ring + (size_t)(top % kh) * RW : ring;
      for (int32_t i = 0, hr = top; i < kh; ++i, ++hr) {
        if ((uint32_t)hr >= (uint32_t)H) {
          rows[i] = padrow;
          continue;
        }
        rows[i] = (const int8_t *)rp;
        rp = rp + RW == ring_end ? ring : rp + RW;
      }
    }
    int8_t *yr = y + (size_t)ro * RYS;
    if (pl) {
      const int32_t np = Wo / 2;
      int8_t t8[8];
      if (kh == 3) {
        void (*const f)(const int8_t *, const int8_t *, const int8_t *, const mct__dw4p *,
                        int8_t *, int8_t *) = plk == 2 ? mct__dw4p_3x3s : mct__dw4p_3x3;
        K->yend = yr + (size_t)np * 2 * ys;
        if (np) f(rows[0], rows[1], rows[2], K, yr, K->yend);
        if (Wo & 1) { /* the last output alone: its pair into a scratch word */
          K->ys = 4, K->yend = t8 + 8;
          const size_t off = (size_t)16 * np;
          f(rows[0] + off, rows[1] + off, rows[2] + off, K, t8, t8 + 8);
          K->ys = (int32_t)ys;
        }
      } else {
        void (*const f)(const int8_t *const *, size_t, const mct__dw4p *, int8_t *) =
            kh == 5 ? (plk == 2 ? mct__dw4p_5x5s : mct__dw4p_5x5)
                    : (plk == 2 ? mct__dw4p_7x7s : mct__dw4p_7x7);
        K->yend = yr + (size_t)np * 2 * ys;
        if (np) f(rows, 0, K, yr);
        if (Wo & 1) {
          K->ys = 4, K->yend = t8 + 8;
          f(rows, (size_t)16 * np, K, t8);
          K->ys = (int32_t)ys;
        }
      }
      if (Wo & 1) memcpy(yr + (size_t)(Wo - 1) * ys, t8, 4);
    } else if (fast33 == 1) /* the common cases inline: weights and constants at fixed stack offsets */
      mct__dw4_run(rows, 3, 3, 0, 8, Wo, wq, &q, 0, yr, ys);
    else if (fast33 == 2)
      mct__dw4_run(rows, 3, 3, 0, 16, Wo, wq, &q, 0, yr, ys);
    else
      mct__dw4_dispatch(rows, kh, kw, 0, step, Wo, wq, &q, mode, r, yr, ys);
    if (q.cmask && mode != 2) mct__dw4_fixc(&q, yr, ys, Wo);
  }
}

/* Whether the group ring fits and the geometry suits it. */
static int mct__dw4_fits(const mct_conv_geom *g) {
  return g->k_h <= MCT__DW4_K && g->k_w <= MCT__DW4_K && 2 * (g->k_h + 1) * (g->in_w + 2 * g->pad_w) <= MCT__DW4_RING &&
         g->pad_h < g->k_h && g->pad_w < g->k_w && g->out_c == g->in_c;
}

/* In place, output row r overwrites pixels [r * out_w, (r + 1) * out_w): every input row
 * must be in the ring before an output row covers it. */
static int mct__dw4_inplace_ok(const mct_conv_geom *g) {
  int32_t done = 0;
  for (int32_t ro = 0; ro < g->out_h; ++ro) {
    int32_t need = ro * g->stride_h - g->pad_h + g->k_h;
    if (need > g->in_h) need = g->in_h;
    if (need > done) {
      if ((int64_t)ro * g->out_w > (int64_t)done * g->in_w) return 0;
      done = need;
    }
  }
  return 1;
}

/* Weights of depthwise channel o: its row of w, or its trained slice row (cursor *next). */
static inline const int8_t *mct__arm_dw_row(const int8_t *w, const mct_wsplit *ws, int32_t o,
                                            int32_t kk, int32_t *next) {
  if (ws && *next < ws->n_sel && ws->sel[*next] == o) return ws->wt + (size_t)(*next)++ * kk;
  return w + (size_t)o * kk;
}

int mct__depthwise_s8_inplace_dsp(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                    const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                    int8_t *tmp) {
  if (!mct__geom_ok(g) || g->groups != g->in_c || g->out_c != g->in_c || !mct__requant_ok(q) ||
      !buf || !w || !tmp || !mct__wsplit_ok(ws, g->in_c) || g->k_h > MCT__DW_MAXK)
    return MCT_ARM_PASS;
  const mct__arm_rq r = mct__arm_rq_of(q, bias);
  const int32_t C = g->in_c, kk = g->k_h * g->k_w, nout = g->out_h * g->out_w;
  int32_t next = 0, c = 0;
  if (mct__dw4_fits(g) && mct__dw4_inplace_ok(g))
    for (; c + 4 <= C; c += 4) {
      const int8_t *wk[4];
      for (int32_t t = 0; t < 4; ++t) wk[t] = mct__arm_dw_row(w, ws, c + t, kk, &next);
      mct__dw4_group(g, &r, wk, c, buf + c, (size_t)C, NULL, NULL, 0, buf + c, (size_t)C);
    }
  for (; c < C; ++c) {
    const int8_t *wk = mct__arm_dw_row(w, ws, c, kk, &next);
    mct__arm_dw_plane_pad(g, &r, buf + c, (size_t)C, wk, c, tmp, 1);
    int8_t *yc = buf + c;
    for (int32_t p = 0; p < nout; ++p) yc[(size_t)p * C] = tmp[p];
  }
  return MCT_OK;
}

/* ---- expansion fused into the depthwise conv ------------------------------------------------- */

/* Channel e of a 1x1 conv for all npix pixels into the plane t (four pixels per weight load;
 * the zero point as x_zero * sum of the weights, as inplace.c). */
/* Channel e of a 1x1 conv with few input channels (C = 4 * G, G <= 8): the weight row's
 * pairs in registers, each pixel's bytes widened on the fly (raw; the zero point comes off
 * through corr), the channel's constants in registers. */
static inline void mct__pw_channel_small(const int8_t *x, int32_t npix, const int32_t G,
                                         const uint32_t *wp, int32_t corr, const mct__arq *c,
                                         int32_t yz, int32_t lo, int32_t hi, int8_t *t) {
  uint32_t w[16];
#pragma GCC unroll 16
  for (int32_t k = 0; k < 2 * G; ++k) w[k] = wp[k];
  const int32_t bias = c->bias, mult = c->mult, sh = c->sh;
  for (int32_t p = 0; p < npix; ++p, x += 4 * G) {
    int32_t a = 0;
#pragma GCC unroll 8
    for (int32_t g = 0; g < G; ++g) {
      const uint32_t v = mct__ld32(x + 4 * g);
      a = __smlad((int32_t)__sxtb16(v), (int32_t)w[2 * g], a);
      a = __smlad((int32_t)mct__sxtb16_hi(v), (int32_t)w[2 * g + 1], a);
    }
    t[p] = mct__arm_out_fast(a - corr, bias, mult, sh, yz, lo, hi);
  }
}

#define MCT__PWC(G)                                                                           \
  static void mct__pw_channel_##G(const int8_t *x, int32_t npix, const uint32_t *wp,         \
                                  int32_t corr, const mct__arq *c, int32_t yz, int32_t lo,   \
                                  int32_t hi, int8_t *t) {                                   \
    mct__pw_channel_small(x, npix, G, wp, corr, c, yz, lo, hi, t);                           \
  }
MCT__PWC(2)
MCT__PWC(4)
MCT__PWC(6)
MCT__PWC(8)

__attribute__((noinline)) static void mct__arm_pw_channel(const mct__arm_rq *r_in, const int8_t *x, int32_t npix, int32_t C,
                                const int8_t *we, int32_t e, int8_t *t) {
  const mct__arm_rq rq = *r_in, *r = &rq; /* a local copy: int8_t stores cannot alias it */
  int32_t sw = 0;
  for (int32_t c = 0; c < C; ++c) sw += we[c];
  const int32_t corr = r->x_zero * sw;
  const mct__arq ch = mct__arm_ch(r, e);
  int32_t p = 0, a[4];
  if (C % 4 == 0 && C <= 32 && (C / 4) % 2 == 0 && ch.sh >= 0) {
    uint32_t wp[16];
    mct__arm_pairs(we, C, 0, wp);
    const int32_t yz = r->y_zero, lo = r->act_min, hi = r->act_max;
    switch (C / 4) {
      case 2: mct__pw_channel_2(x, npix, wp, corr, &ch, yz, lo, hi, t); return;
      case 4: mct__pw_channel_4(x, npix, wp, corr, &ch, yz, lo, hi, t); return;
      case 6: mct__pw_channel_6(x, npix, wp, corr, &ch, yz, lo, hi, t); return;
      default: mct__pw_channel_8(x, npix, wp, corr, &ch, yz, lo, hi, t); return;
    }
  }
  if (C <= MCT_ARM_XMAX) { /* the weight row widened once, four pixels per pass */
    uint32_t wx[MCT_ARM_XMAX / 2];
    mct__arm_widen(we, 0, C, wx);
    for (; p + 4 <= npix; p += 4) {
      mct__arm_dot4x(wx, C, x + (size_t)p * C, (size_t)C, a);
      for (int32_t k = 0; k < 4; ++k) t[p + k] = mct__arm_out(r, &ch, a[k] - corr);
    }
    for (; p < npix; ++p)
      t[p] = mct__arm_out(r, &ch, mct__arm_dot1x(wx, C, x + (size_t)p * C) - corr);
    return;
  }
  for (; p + 4 <= npix; p += 4) {
    mct__arm_dot4(we, 0, x + (size_t)p * C, (size_t)C, C, a);
    for (int32_t k = 0; k < 4; ++k) t[p + k] = mct__arm_out(r, &ch, a[k] - corr);
  }
  for (; p < npix; ++p)
    t[p] = mct__arm_out(r, &ch, mct__arm_dot1(we, 0, x + (size_t)p * C, C) - corr);
}

int mct__expand_dw_s8_dsp(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                            const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                            const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y,
                            int8_t *tmp) {
  if (!mct__geom_ok(g1) || !mct__pointwise_geom(g1) || !mct__geom_ok(g2) ||
      !mct__requant_ok(q1) || !mct__requant_ok(q2) || !w1 || !w2 || !x || !y || !tmp ||
      g2->in_h != g1->out_h || g2->in_w != g1->out_w || g2->in_c != g1->out_c ||
      g2->groups != g2->in_c || g2->k_h > MCT__DW_MAXK)
    return MCT_ARM_PASS;
  const mct__arm_rq r1 = mct__arm_rq_of(q1, b1), r2 = mct__arm_rq_of(q2, b2);
  const int32_t C = g1->in_c, E = g1->out_c, O = g2->out_c, m = O / E, kk = g2->k_h * g2->k_w;
  const int32_t npix = g1->in_h * g1->in_w;
  int32_t e = 0;
  if (m == 1 && C % 4 == 0 && C <= MCT__PW4_C && mct__dw4_fits(g2))
    for (; e + 4 <= E; e += 4) { /* four expanded channels at a time, rows into the ring */
      mct__pw4 pw;
      mct__pw4_prep(&r1, w1, C, e, !((uintptr_t)x & 3), &pw);
      const int8_t *wk[4];
      for (int32_t t = 0; t < 4; ++t) wk[t] = w2 + (size_t)(e + t) * kk;
      mct__dw4_group(g2, &r2, wk, e, x, 0, &r1, &pw, C, y + e, (size_t)O);
    }
  for (; e < E; ++e) {
    mct__arm_pw_channel(&r1, x, npix, C, w1 + (size_t)e * C, e, tmp);
    for (int32_t k = 0; k < m; ++k) {
      const int32_t o = e * m + k;
      mct__arm_dw_plane_pad(g2, &r2, tmp, 1, w2 + (size_t)o * kk, o, y + o, (size_t)O);
    }
  }
  return MCT_OK;
}

/* ---- streamed expansion + depthwise (stream.c) ------------------------------------------ */

/* Four channels of one output pixel: sum over the valid taps of (v - x_zero) * w, channels
 * e..e+3 at once (SXTB16 splits even/odd channels; SMLABB / SMLATT keep them apart); the
 * window's columns inside the image [j0, j1) found once. */
static inline void mct__stream_px4(const int8_t *const *rows, const int8_t *wt, int32_t kh,
                                   int32_t kw, int32_t left, int32_t W, int32_t E, int32_t e,
                                   uint32_t zz, int32_t a[4]) {
  const int32_t j0 = left < 0 ? -left : 0, j1 = W - left < kw ? W - left : kw;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int32_t i = 0; i < kh; ++i) {
    if (!rows[i] || j1 <= j0) continue;
    const int8_t *p = rows[i] + (size_t)(left + j0) * E + e;
    const int8_t *q = wt + (size_t)(i * kw + j0) * E + e;
    for (int32_t j = j0; j < j1; ++j, p += E, q += E) {
      const uint32_t v = mct__ld32(p), wv = mct__ld32(q);
      const int32_t ve = (int32_t)__ssub16(__sxtb16(v), zz);
      const int32_t vo = (int32_t)__ssub16(mct__sxtb16_hi(v), zz);
      const int32_t we = (int32_t)__sxtb16(wv), wo = (int32_t)mct__sxtb16_hi(wv);
      a0 = __smlabb(ve, we, a0);
      a2 = __smlatt(ve, we, a2);
      a1 = __smlabb(vo, wo, a1);
      a3 = __smlatt(vo, wo, a3);
    }
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* Four channels of one output pixel whose window lies inside the image: the raw sums
 * sum v * w over all taps (the zero point comes off as x_zero * wsum[e] afterwards). rows[i]
 * points at the window's first column in ring row i, channel e; wt at tap 0, channel e. */
static inline void mct__stream_full4(const int8_t *const *rows, const int8_t *wt, int32_t kh,
                                     int32_t kw, int32_t E, int32_t a[4]) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int32_t i = 0; i < kh; ++i) {
    const int8_t *p = rows[i], *q = wt + (size_t)i * kw * E;
    for (int32_t j = 0; j < kw; ++j, p += E, q += E) {
      const uint32_t v = mct__ld32(p), wv = mct__ld32(q);
      const int32_t ve = (int32_t)__sxtb16(v), vo = (int32_t)mct__sxtb16_hi(v);
      const int32_t we = (int32_t)__sxtb16(wv), wo = (int32_t)mct__sxtb16_hi(wv);
      a0 = __smlabb(ve, we, a0);
      a2 = __smlatt(ve, we, a2);
      a1 = __smlabb(vo, wo, a1);
      a3 = __smlatt(vo, wo, a3);
    }
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* One output pixel, any window: channels e.. in fours (full windows without checks). tab:
 * the channels' constants with x_zero * wsum[e] folded into the bias (exact), or NULL. */
static void mct__stream_pixel(const int8_t *const *rows, const int8_t *wt, const int32_t *wsum,
                              const mct__arm_rq *r_in, const mct__rqc *tab, int32_t kh,
                              int32_t kw, int32_t left, int32_t W, int32_t E, int full,
                              int32_t e0, int8_t *out) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  const int32_t yz = r->y_zero, lo = r->act_min, hi = r->act_max;
  const uint32_t zz = mct__zz(r->x_zero);
  const int8_t *fr[MCT__DW_MAXK];
  if (full)
    for (int32_t i = 0; i < kh; ++i) fr[i] = rows[i] + (size_t)left * E;
  int32_t e = e0, a[4];
  for (; e + 4 <= E; e += 4) {
    if (full) {
      const int8_t *fe[MCT__DW_MAXK];
      for (int32_t i = 0; i < kh; ++i) fe[i] = fr[i] + e;
      mct__stream_full4(fe, wt + e, kh, kw, E, a);
      if (tab) { /* the zero point is folded into the table's bias */
        for (int32_t t = 0; t < 4; ++t) out[e + t] = mct__arm_out_t(tab + e + t, a[t], yz, lo, hi);
        continue;
      }
      for (int32_t t = 0; t < 4; ++t) a[t] -= r->x_zero * wsum[e + t];
    } else {
      mct__stream_px4(rows, wt, kh, kw, left, W, E, e, zz, a);
      if (tab) { /* the table's bias has x_zero * wsum in it: the same exact sum (QADD) */
        for (int32_t t = 0; t < 4; ++t)
          out[e + t] = mct__arm_out_t(tab + e + t, a[t] + r->x_zero * wsum[e + t], yz, lo, hi);
        continue;
      }
    }
    for (int32_t t = 0; t < 4; ++t) {
      const mct__arq c = mct__arm_ch(r, e + t);
      out[e + t] = mct__arm_out(r, &c, a[t]);
    }
  }
  for (; e < E; ++e) {
    int32_t acc = 0;
    for (int32_t i = 0; i < kh; ++i) {
      if (!rows[i]) continue;
      for (int32_t j = 0; j < kw; ++j) {
        const int32_t col = left + j;
        if (col < 0 || col >= W) continue;
        acc += ((int32_t)rows[i][(size_t)col * E + e] - r->x_zero) *
               wt[(size_t)(i * kw + j) * E + e];
      }
    }
    const mct__arq c = mct__arm_ch(r, e);
    out[e] = mct__arm_out(r, &c, acc);
  }
}

/* ---- 3x3 stride 2 straight from an int8 HWC ring (mct__dw4b_3x3) -------------------------
 * Four channels of one output a pass, as mct__dw4_3x3b_ssat (SXTB16 and SMLABB / SMLATT per
 * tap), in assembly: rows in r0-r2, each tap's word by one LDR at [row], [row, ps],
 * [row, ps, lsl #1]; the constants K (K[0..3]: accumulator starts, by one LDM; K[4..21]: the
 * widened weights, tap t at 16 + 8 t; channel c's mult, add, shr at 88 + 16 c) in r12; y in lr,
 * yend and ys on the stack. Requantization SMMLA / ASR / SSAT (sc 0) or the scaled form
 * (sc 1, mct__rqs_ks: SMMLA, SSAT asr #9).
 * Asm contract: the AAPCS arguments (rows, ps, K, y; yend, ys on the stack); saves r4-r11
 * and lr; sums r8-r11, taps r4, r5, weights r6, r7; reads the rows and K, writes y. */
#define MCT__B3TAP(R, A, WO)                                                                  \
  "ldr r4, " A "\n\t"                                                                         \
  "ldrd r6, r7, [r12, #" #WO "]\n\t"                                                          \
  "sxtb16 r5, r4, ror #8\n\t"                                                                \
  "sxtb16 r4, r4\n\t"                                                                        \
  "smlabb r8, r4, r6, r8\n\t"                                                                \
  "smlatt r10, r4, r6, r10\n\t"                                                              \
  "smlabb r9, r5, r7, r9\n\t"                                                                \
  "smlatt r11, r5, r7, r11\n\t"
#define MCT__B3ROW(R, WO0, WO1, WO2)                                                          \
  MCT__B3TAP(R, "[" R "]", WO0) MCT__B3TAP(R, "[" R ", r3]", WO1)                             \
  MCT__B3TAP(R, "[" R ", r3, lsl #1]", WO2)
#define MCT__B3RQ(A, C, OFF, SOFF)                                                            \
  "ldrd r6, r7, [r12, #" #OFF "]\n\t"                                                         \
  ".if mct_sc == 0\n\t"                                                                       \
  "ldr r4, [r12, #" #SOFF "]\n\t"                                                             \
  "smmla " A ", " A ", r6, r7\n\t"                                                            \
  "asr " A ", " A ", r4\n\t"                                                                  \
  "ssat " A ", #8, " A "\n\t"                                                                 \
  ".else\n\t"                                                                                 \
  "smmla " A ", " A ", r6, r7\n\t"                                                            \
  "ssat " A ", #8, " A ", asr #" MCT__RQS_S "\n\t"                                             \
  ".endif\n\t"                                                                                \
  "strb " A ", [lr, #" #C "]\n\t"
#define MCT__DW4B3(NAME, SC)                                                                  \
  __attribute__((naked, noinline, noipa)) static void NAME(                                   \
      const int8_t *const *rows, size_t ps, const uint32_t *K, int8_t *y, int8_t *yend,       \
      size_t ys) {                                                                            \
    (void)rows, (void)ps, (void)K, (void)y, (void)yend, (void)ys;                             \
    __asm__ volatile(                                                                         \
        ".set mct_sc, " #SC "\n\t"                                                            \
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                     \
        "mov r12, r2\n\t"                                                                     \
        "mov lr, r3\n\t"                                                                      \
        "mov r3, r1\n\t"                                                                      \
        "ldr r2, [r0, #8]\n\t"                                                                \
        "ldr r1, [r0, #4]\n\t"                                                                \
        "ldr r0, [r0]\n"                                                                       \
        "1:\n\t"                                                                              \
        "ldm r12, {r8, r9, r10, r11}\n\t"                                                     \
        MCT__B3ROW("r0", 16, 24, 32) MCT__B3ROW("r1", 40, 48, 56)                             \
        MCT__B3ROW("r2", 64, 72, 80)                                                          \
        "add r0, r0, r3, lsl #1\n\t"                                                          \
        "add r1, r1, r3, lsl #1\n\t"                                                          \
        "add r2, r2, r3, lsl #1\n\t"                                                          \
        MCT__B3RQ("r8", 0, 88, 96) MCT__B3RQ("r9", 1, 104, 112)                               \
        MCT__B3RQ("r10", 2, 120, 128) MCT__B3RQ("r11", 3, 136, 144)                           \
        "ldrd r6, r7, [sp, #36]\n\t"                                                          \
        "add lr, r7\n\t"                                                                      \
        "cmp lr, r6\n\t"                                                                      \
        "bne 1b\n\t"                                                                          \
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");                                    \
  }
MCT__DW4B3(mct__dw4b_3x3, 0)
MCT__DW4B3(mct__dw4b_3x3s, 1)

/* K for mct__dw4b_3x3 in place around the widened weights (K + 4, as mct__dw4_widen_t made
 * them; K[22..37] are past the 3x3 weights) from the group's constants q (mode 0): 2 the
 * scaled form (the weights rescaled in place; tried when `scaled`), 1 the plain one, 0
 * neither (add too large). */
static int mct__dw4b_prep(const mct__dw4q *q, uint32_t *K, int scaled) {
  int32_t ks[4];
  for (int32_t t = 0; t < 4; ++t) {
    const int32_t sh = q->ms[2 * t + 1];
    if ((uint32_t)sh > 21u) return 0; /* |add| = |1 + 2 y_zero| 2^sh < 2^8 2^21 */
    ks[t] = mct__rqs_ks(q->b[t], sh, 9);
    if (ks[t] < 0) scaled = 0;
  }
  for (int32_t t = 0; t < 4; ++t) {
    const int32_t sh = q->ms[2 * t + 1], e = scaled ? ks[t] : 0;
    K[t] = (uint32_t)q->b[t] << e;
    uint32_t *f = K + 22 + 4 * t;
    f[0] = (uint32_t)q->ms[2 * t];
    f[1] = (uint32_t)(scaled ? q->k * (1 << (MCT__RQS - 1)) : q->k * (1 << sh));
    f[2] = (uint32_t)(sh + 1), f[3] = 0;
  }
  if (scaled) { /* tap word 2 j: channels (0, 2), 2 j + 1: (1, 3); both halves times 2^ks */
    const int32_t m02 = (int32_t)mct__wpair(1 << ks[0], 1 << ks[2]);
    const int32_t m13 = (int32_t)mct__wpair(1 << ks[1], 1 << ks[3]);
#pragma GCC unroll 9
    for (int32_t j = 0; j < 9; ++j) {
      const int32_t v = (int32_t)K[4 + 2 * j], u = (int32_t)K[5 + 2 * j];
      int32_t a, b, c, d;
      __asm__("smulbb %0, %1, %2" : "=r"(a) : "r"(v), "r"(m02));
      __asm__("smultt %0, %1, %2" : "=r"(b) : "r"(v), "r"(m02));
      __asm__("smulbb %0, %1, %2" : "=r"(c) : "r"(u), "r"(m13));
      __asm__("smultt %0, %1, %2" : "=r"(d) : "r"(u), "r"(m13));
      K[4 + 2 * j] = mct__pk16(a, b);
      K[5 + 2 * j] = mct__pk16(c, d);
    }
  }
  return scaled ? 2 : 1;
}

/* Interior outputs [oa, ob) of one output row of the streamed kernel, four channels at a
 * time straight from the ring (rows: ring rows of kernel rows i0..i1 - 1, column 0). */
__attribute__((noinline)) static void mct__rows_groups(const mct_conv_geom *g2,
                                                        const mct__arm_rq *r, const int8_t *wt,
                                                        const int8_t *const *rows, int32_t i0,
                                                        int32_t i1, int32_t oa, int32_t ob,
                                                        int32_t E, const mct__rqc *tab,
                                                        const uint32_t *slow, int8_t *row_out) {
  const int32_t kh = g2->k_h, kw = g2->k_w, sw = g2->stride_w, pw = g2->pad_w;
  const int8_t *gr[MCT__DW4_K];
  for (int32_t e = 0; e + 4 <= E; e += 4) {
    uint32_t wk4[4 + 2 * MCT__DW4_KK]; /* mct__dw4b_prep's K around the weights wq */
    uint32_t *const wq = wk4 + 4;
    int32_t rowsum[4 * MCT__DW4_K], ws4[4] = {0, 0, 0, 0};
    mct__dw4_widen_t(wt + e, E, kh, kw, wq, rowsum);
    for (int32_t i = i0; i < i1; ++i)
      for (int32_t t = 0; t < 4; ++t) ws4[t] += rowsum[4 * i + t];
    mct__dw4q q4;
    int mode;
    if (tab && i1 - i0 == kh && !(slow[e / 32] >> (e % 32) & 0xFu)) {
      /* all kernel rows, four plain channels: the call's table already has the folded biases */
      for (int32_t t = 0; t < 4; ++t) {
        q4.b[t] = tab[e + t].bias;
        q4.ms[2 * t] = tab[e + t].mult, q4.ms[2 * t + 1] = -2 - tab[e + t].shift;
      }
      q4.k = 1 + 2 * r->y_zero, q4.lo = r->act_min, q4.hi = r->act_max, q4.cmask = 0;
      mode = r->act_min == -128 && r->act_max == 127 ? 0 : 1;
    } else {
      mode = mct__dw4_consts(r, e, ws4, (i1 - i0) * kw, &q4);
    }
    for (int32_t i = 0; i < i1 - i0; ++i) gr[i] = rows[i] + (size_t)(oa * sw - pw) * E + e;
    int b3 = 0;
    if (mode == 0 && kh == 3 && kw == 3 && i0 == 0 && i1 == 3 && sw == 2 && ob > oa)
      b3 = mct__dw4b_prep(&q4, wk4, ob - oa >= 20); /* rescaling pays from ~20 outputs */
    if (b3) {
      int8_t *yo = row_out + (size_t)oa * E + e;
      (b3 == 2 ? mct__dw4b_3x3s : mct__dw4b_3x3)(gr, (size_t)E, wk4, yo,
                                                  yo + (size_t)(ob - oa) * E, (size_t)E);
    } else
      mct__dw4_dispatch(gr, i1 - i0, kw, (size_t)E, (size_t)sw * E, ob - oa, wq + 2 * i0 * kw,
                        &q4, mode, r, row_out + (size_t)oa * E + e, (size_t)E);
    if (q4.cmask && mode != 2) mct__dw4_fixc(&q4, row_out + (size_t)oa * E + e, (size_t)E, ob - oa);
  }
}

int mct__expand_dw_s8_rows_dsp(const mct_conv_geom *g1, const mct_requant *q1,
                                 const int8_t *w1, const int32_t *b1, const mct_conv_geom *g2,
                                 const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                                 const int8_t *x, int8_t *y, int8_t *ring, int8_t *work) {
  if (!g1 || !g2 || !q1 || !q2 || !x || !y || !ring || !work || !b1 || !b2 ||
      g2->k_h > MCT__DW_MAXK || g2->in_c != g1->out_c || g2->out_c != g1->out_c ||
      g2->groups != g1->out_c || g2->in_h != g1->in_h || g2->in_w != g1->in_w ||
      !mct__pointwise_geom(g1) || !mct__requant_ok(q2))
    return MCT_ARM_PASS;
  const int32_t H = g1->in_h, W = g1->in_w, C = g1->in_c, E = g1->out_c;
  const int32_t kh = g2->k_h, kw = g2->k_w, sh = g2->stride_h, sw = g2->stride_w;
  const int32_t ph = g2->pad_h, pw = g2->pad_w, Ho = g2->out_h, Wo = g2->out_w;
  const size_t RI = (size_t)W * C, RE = (size_t)W * E, RO = (size_t)Wo * E;
  /* work as stream.c lays it out: output row, weights by tap, then 4 * E bytes (here the
   * per-channel weight sums, for the zero point of full windows) */
  int8_t *row_out = work, *wt = work + RO;
  int32_t *wsum = (int32_t *)(work + (RO + (size_t)kh * kw * E + 15) / 16 * 16);
  for (int32_t e = 0; e < E; ++e) {
    wsum[e] = 0;
    for (int32_t t = 0; t < kh * kw; ++t) {
      wt[(size_t)t * E + e] = w2[(size_t)e * kh * kw + t];
      wsum[e] += w2[(size_t)e * kh * kw + t];
    }
  }
  const mct__arm_rq r = mct__arm_rq_of(q2, b2);
  mct__rqc tab[MCT_ARM_TABLE];
  const mct__rqc *tp = NULL;
  if (E <= MCT_ARM_TABLE && mct__arm_table(&r, E, wsum, r.x_zero, tab)) tp = tab;
  /* channels the table cannot serve to the group kernels directly (bit c of slow[c / 32]):
   * no SMMUL path, or a folded bias too close to the int32 limits for raw sums */
  uint32_t slow[MCT_ARM_TABLE / 32] = {0};
  if (tp) {
    const int64_t lim = (int64_t)INT32_MAX - (int64_t)kh * kw * 16384;
    for (int32_t e = 0; e < E; ++e)
      if (tab[e].shift > -2 || tab[e].bias > lim || tab[e].bias < -lim) slow[e / 32] |= 1u << (e % 32);
  }
  mct_conv_geom row1 = *g1;
  row1.in_h = row1.out_h = 1;
  int32_t done = 0;
  int st = MCT_OK;
  for (int32_t ro = 0; ro < Ho; ++ro) {
    const int32_t top = ro * sh - ph;
    int32_t need = top + kh;
    if (need > H) need = H;
    for (; done < need; ++done)
      st |= mct__pointwise_s8_checked_dsp(&row1, q1, x + (size_t)done * RI, w1, b1,
                                          ring + (size_t)(done % kh) * RE);
    const int8_t *rows[MCT__DW_MAXK];
    int rows_full = 1;
    for (int32_t i = 0; i < kh; ++i) {
      const int32_t hr = top + i;
      rows[i] = hr < 0 || hr >= H ? NULL : ring + (size_t)(hr % kh) * RE;
      rows_full &= rows[i] != NULL;
    }
    /* the rows inside the image, and the outputs whose windows' columns all are */
    const int32_t i0 = top < 0 ? -top : 0, i1 = H - top < kh ? H - top : kh;
    int32_t oa = (pw + sw - 1) / sw, ob = W - kw + pw >= 0 ? (W - kw + pw) / sw + 1 : 0;
    if (ob > Wo) ob = Wo;
    if (oa > ob) oa = ob;
    if (i1 > i0 && ob > oa && kh <= MCT__DW4_K && kw <= MCT__DW4_K) {
      mct__rows_groups(g2, &r, wt, rows + i0, i0, i1, oa, ob, E, tp, slow, row_out);
      if (E % 4)
        for (int32_t ow = oa; ow < ob; ++ow)
          mct__stream_pixel(rows, wt, wsum, &r, tp, kh, kw, ow * sw - pw, W, E, rows_full,
                            E - E % 4, row_out + (size_t)ow * E);
    } else {
      oa = ob = 0;
    }
    for (int32_t ow = 0; ow < Wo; ++ow) {
      if (ow == oa) ow = ob;
      if (ow >= Wo) break;
      const int32_t left = ow * sw - pw;
      const int full = rows_full && left >= 0 && left + kw <= W;
      mct__stream_pixel(rows, wt, wsum, &r, tp, kh, kw, left, W, E, full, 0,
                        row_out + (size_t)ow * E);
    }
    memcpy(y + (size_t)ro * RO, row_out, RO);
  }
  return st;
}

#else
typedef int mct__depthwise_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
