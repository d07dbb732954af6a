/* conv_arm.c: Cortex-M DSP (SMLAD) paths of the int8 convolution and linear layers, chosen by
 * conv.c on ARMv7E-M cores (see mct_arm.h). Same results as conv.c, bit for bit.
 *
 *   pointwise  few input channels (<= 32): tiles of pixels, two pixels x four output
 *              channels per pass (naked assembly, 11 instructions per 16 MACs); more:
 *              blocks of pixel pairs when at least two pairs fit the 2.5 KB buffer (any C,
 *              trained slice or not): the block's inputs and each pair of weight rows
 *              widened once, two pixels x two channels per pass (naked assembly, 10
 *              instructions per 16 MACs); else two pixels at a time (without a trained
 *              slice and C % 8 == 0, up to 576 channels: interleaved, naked assembly, 15
 *              instructions per 16 MACs; else 17); the fast requantization (SMMLA, SSAT,
 *              bytewise clamp) when every channel allows it (the few that do not are
 *              recomputed exactly: mct__fix_list), else the exact fallbacks; per pixel
 *              (pw_pixel) for the rest.
 *   linear     the pointwise kernel on one pixel.
 *   general    (groups 1, any kernel / stride / padding) these kernels on im2col'd strips:
 *              conv_im2col_arm.c. Depthwise and grouped convs stay with conv.c (return 0).
 */
#include "mct_arm.h"

#if MCT_ARM_DSP

#include "mct_internal.h"

/* All O outputs of one pixel xp (C channels) of a 1x1 conv into yp. xp is read (widened into
 * the stack, with the trained slice's channels gathered and widened after it) before any
 * output is written, so yp may overlap xp when C + n_sel <= MCT_ARM_XMAX. */
void mct__arm_pw_pixel(const mct__arm_rq *r_in, const int8_t *xp, int32_t C, int32_t O,
                       const int8_t *w, const mct_wsplit *ws, int8_t *yp) {
  const mct__arm_rq rq = *r_in, *r = &rq; /* a local copy: int8_t stores cannot alias it */
  const int32_t xz = r->x_zero, ns = ws ? ws->n_sel : 0;
  if (C + ns > MCT_ARM_XMAX) { /* rare: no widened copy */
    int32_t o = 0, a[4];
    for (; o + 4 <= O; o += 4) {
      mct__arm_dot4(xp, xz, w + (size_t)o * C, (size_t)C, C, a);
      for (int32_t k = 0; k < 4; ++k) {
        if (ws) a[k] += mct__arm_dot_sel(xp, ws->sel, ws->wt + (size_t)(o + k) * ns, ns, 1, xz);
        const mct__arq c = mct__arm_ch(r, o + k);
        yp[o + k] = mct__arm_out(r, &c, a[k]);
      }
    }
    for (; o < O; ++o) {
      int32_t acc = mct__arm_dot1(xp, xz, w + (size_t)o * C, C);
      if (ws) acc += mct__arm_dot_sel(xp, ws->sel, ws->wt + (size_t)o * ns, ns, 1, xz);
      const mct__arq c = mct__arm_ch(r, o);
      yp[o] = mct__arm_out(r, &c, acc);
    }
    return;
  }
  uint32_t xe[MCT_ARM_XMAX / 2 + 4], *xs = xe;
  mct__arm_widen(xp, xz, C, xe);
  if (ns) { /* the slice's input channels, widened after x (word aligned) */
    xs = xe + (C + 1) / 2 + 1;
    mct__arm_widen_sel(xp, ws->sel, xz, ns, xs);
  }
  int32_t o = 0, a[4];
  for (; o + 4 <= O; o += 4) {
    mct__arm_dot4x(xe, C, w + (size_t)o * C, (size_t)C, a);
    if (ns) {
      int32_t b[4];
      mct__arm_dot4x(xs, ns, ws->wt + (size_t)o * ns, (size_t)ns, b);
      a[0] += b[0], a[1] += b[1], a[2] += b[2], a[3] += b[3];
    }
    for (int32_t k = 0; k < 4; ++k) {
      const mct__arq c = mct__arm_ch(r, o + k);
      yp[o + k] = mct__arm_out(r, &c, a[k]);
    }
  }
  for (; o < O; ++o) {
    int32_t acc = mct__arm_dot1x(xe, C, w + (size_t)o * C);
    if (ns) acc += mct__arm_dot1x(xs, ns, ws->wt + (size_t)o * ns);
    const mct__arq c = mct__arm_ch(r, o);
    yp[o] = mct__arm_out(r, &c, acc);
  }
}

#define MCT__PAIR_C MCT_ARM_PAIR_C

/* Two pixels x0p, x1p (C channels, no trained slice) of a 1x1 conv: both widened first (so
 * their outputs may overlap them, as the in-place kernel allows), then two output channels
 * at a time: each weight word is widened once for both pixels (1.1 instructions per MAC). */
static __attribute__((noinline)) void mct__pw_pair_slow(const mct__arm_rq *r_in, const int8_t *x0p, const int8_t *x1p,
                              int32_t C, int32_t O, const int8_t *w, int8_t *y0, int8_t *y1) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  uint32_t xa[MCT__PAIR_C / 2 + 4], xb[MCT__PAIR_C / 2 + 4];
  mct__arm_widen(x0p, r->x_zero, C, xa);
  mct__arm_widen(x1p, r->x_zero, C, xb);
  const int32_t G = C / 4;
  int32_t o = 0;
  for (; o + 2 <= O; o += 2) {
    const int8_t *w0 = w + (size_t)o * C, *w1 = w0 + C;
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    for (int32_t g = 0; g < G; ++g) {
      const uint32_t u = mct__ld32(w0 + 4 * g), v = mct__ld32(w1 + 4 * g);
      const int32_t ue = (int32_t)__sxtb16(u), uo = (int32_t)mct__sxtb16_hi(u);
      const int32_t ve = (int32_t)__sxtb16(v), vo = (int32_t)mct__sxtb16_hi(v);
      const int32_t pe = (int32_t)xa[2 * g], po = (int32_t)xa[2 * g + 1];
      const int32_t qe = (int32_t)xb[2 * g], qo = (int32_t)xb[2 * g + 1];
      a00 = __smlad(pe, ue, a00);
      a00 = __smlad(po, uo, a00);
      a01 = __smlad(pe, ve, a01);
      a01 = __smlad(po, vo, a01);
      a10 = __smlad(qe, ue, a10);
      a10 = __smlad(qo, uo, a10);
      a11 = __smlad(qe, ve, a11);
      a11 = __smlad(qo, vo, a11);
    }
    const int16_t *ta = (const int16_t *)(xa + 2 * G), *tb = (const int16_t *)(xb + 2 * G);
    for (int32_t c = 4 * G; c < C; ++c) {
      a00 += ta[c - 4 * G] * w0[c], a01 += ta[c - 4 * G] * w1[c];
      a10 += tb[c - 4 * G] * w0[c], a11 += tb[c - 4 * G] * w1[c];
    }
    const mct__arq c0 = mct__arm_ch(r, o), c1 = mct__arm_ch(r, o + 1);
    y0[o] = mct__arm_out(r, &c0, a00);
    y0[o + 1] = mct__arm_out(r, &c1, a01);
    y1[o] = mct__arm_out(r, &c0, a10);
    y1[o + 1] = mct__arm_out(r, &c1, a11);
  }
  for (; o < O; ++o) {
    const mct__arq c = mct__arm_ch(r, o);
    y0[o] = mct__arm_out(r, &c, mct__arm_dot1x(xa, C, w + (size_t)o * C));
    y1[o] = mct__arm_out(r, &c, mct__arm_dot1x(xb, C, w + (size_t)o * C));
  }
}

/* ---- fast requantization ------------------------------------------------------------------
 * When every output channel of a call has shift <= -2 (sh = -2 - shift <= 29), a bias that no
 * accumulator can push past the int32 limits, and (1 + 2 y_zero) << sh below 2^30 in
 * magnitude (mct__fast_ok), mct__arm_out is, exactly:
 *   acc starts at the bias (QADD cannot saturate), then
 *   v = ssat8((add + ((acc * mult) >> 32)) >> shr),  add = (1 + 2 y_zero) << sh, shr = sh + 1
 * since floor((s + c 2^sh) / 2^(sh+1)) = floor((floor(s / 2^sh) + c) / 2) and
 * floor((q + 1 + 2 yz) / 2) = ((q + 1) >> 1) + yz; |s| <= 2^30 and |add| < 2^30 so SMMLA's
 * sum does not wrap; SSAT to int8 changes nothing that the clamp to [act_min, act_max] (within
 * int8) would not. Four outputs of a pixel are then packed into a word (BFI) and clamped
 * bytewise (SSUB8 and SEL against act_min and act_max in every byte): one STR. */
/* mct__smmla, mct__fout, mct__pack4, mct__clamp4, mct__st32, mct__b4: mct_arm.h */

static inline int32_t mct__clamp1(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* Given sh = -2 - shift in [0, 29], |1 + 2 y_zero| = ac1 <= 255 and amax < 2^31 (checked by
 * the callers): 1 when (1 + 2 y_zero) << sh is below 2^30 in magnitude (|c1| 2^sh < 2^30 iff
 * |c1| < 2^(30 - sh)) and no accumulator of up to amax in magnitude can push the bias b past
 * the int32 limits: the fast formula's other conditions, in 32-bit arithmetic. */
static inline int mct__ch_fits(int32_t sh, int32_t b, int32_t ac1, int32_t amax) {
  return ac1 < (1 << (30 - sh)) && b <= INT32_MAX - amax && b >= INT32_MIN + amax;
}

/* The ranges mct__ch_fits assumes (else the callers answer "not fast", always safe). */
static inline int mct__fits_range(const mct__arm_rq *r, int32_t n) {
  return n >= 0 && n <= 65536 && r->y_zero >= -128 && r->y_zero <= 127;
}

/* 1 when every channel of r (O of them) takes the fast formula with accumulators of n
 * products (|x - x_zero| <= 255, |w| <= 128) plus the bias. */
static int mct__fast_ok(const mct__arm_rq *r, int32_t O, int32_t n) {
  if (!mct__fits_range(r, n)) return 0;
  const int32_t amax = n * 255 * 128, c1 = 1 + 2 * r->y_zero, ac1 = c1 < 0 ? -c1 : c1;
  for (int32_t o = 0; o < O; ++o) {
    const int32_t shift = r->shift[o];
    if (shift > -2 || shift < -31) return 0;
    if (!mct__ch_fits(-2 - shift, r->bias ? r->bias[o] : 0, ac1, amax)) return 0;
  }
  return 1;
}

/* The channels of r (O of them) outside the fast formula (see mct__fast_ok) into fix, their
 * number returned; -1 when there are more than MCT__FIX of them, or when one of them has a
 * shift outside [-31, -2]. For the listed ones (add = (1 + 2 y_zero) << sh out of range, or a
 * bias that the accumulators could push past the int32 limits, e.g. the INT32_MIN of a dead
 * channel) the two-pixel kernel's arithmetic stays defined (shift counts within 0..31, sums
 * wrapping in SMLAD / SMMLA or in unsigned C) and its outputs are recomputed exactly. */
#define MCT__FIX 16
static int32_t mct__fix_list(const mct__arm_rq *r, int32_t O, int32_t n, uint16_t *fix) {
  if (!mct__fits_range(r, n)) return -1;
  const int32_t amax = n * 255 * 128, c1 = 1 + 2 * r->y_zero, ac1 = c1 < 0 ? -c1 : c1;
  int32_t nfix = 0;
  for (int32_t o = 0; o < O; ++o) {
    const int32_t shift = r->shift[o];
    if (shift > -2 || shift < -31) return -1;
    if (!mct__ch_fits(-2 - shift, r->bias ? r->bias[o] : 0, ac1, amax)) {
      if (nfix == MCT__FIX) return -1;
      fix[nfix++] = (uint16_t)o;
    }
  }
  return nfix;
}

/* ---- pointwise, few input channels: tiles --------------------------------------------------
 * A tile's pixels widened (K = C / 2 rounded up int16 pairs each, mct__arm_pairs), then four
 * output channels at a time: their widened weights (k-major: wv[4 k + j]) and constants on the stack,
 * two pixels x four channels per pass (eight accumulators: each input word meets four weight
 * words, each weight word two pixels), four outputs of a pixel stored as one word. */
#define MCT__TW 256 /* widened words of a tile (1 KB): 256 / K pixels */

/* mct__arm_pairs of n weights (no zero point) into every fourth word: out[4 k], k < K.
 * Asm contract (two words a pass): operands v, out (advanced), temporaries a, b, e, all
 * compiler-allocated; reads v[0..8), writes out[0], out[4], out[8], out[12]. */
static inline void mct__pairs_k4(const int8_t *v, int32_t n, uint32_t *out) {
  int32_t G = n / 4;
  if (G >= 2) { /* two words per pass */
    const int8_t *end = v + G / 2 * 8;
    uint32_t a, b, e;
    do {
      __asm__ volatile("ldr %[a], [%[v]], #4\n\t"
                       "ldr %[b], [%[v]], #4\n\t"
                       "sxtb16 %[e], %[a]\n\t"
                       "sxtb16 %[a], %[a], ror #8\n\t"
                       "str %[e], [%[o]]\n\t"
                       "str %[a], [%[o], #16]\n\t"
                       "sxtb16 %[e], %[b]\n\t"
                       "sxtb16 %[b], %[b], ror #8\n\t"
                       "str %[e], [%[o], #32]\n\t"
                       "str %[b], [%[o], #48]\n\t"
                       "add %[o], %[o], #64"
                       : [v] "+r"(v), [o] "+r"(out), [a] "=&r"(a), [b] "=&r"(b), [e] "=&r"(e)
                       :
                       : "memory");
    } while (v != end);
    n -= G / 2 * 8, G &= 1;
  }
  for (int32_t g = 0; g < G; ++g, out += 8) {
    const uint32_t x = mct__ld32(v + 4 * g);
    out[0] = __sxtb16(x);
    out[4] = mct__sxtb16_hi(x);
  }
  for (int32_t c = 4 * G; c < n; c += 2, out += 4) {
    const int32_t hi = c + 1 < n ? v[c + 1] : 0;
    out[0] = ((uint32_t)(int32_t)v[c] & 0xFFFFu) | ((uint32_t)hi << 16);
  }
}

/* acc_0j, acc_1j (the two pixels of a pair) += one int16 pair of each pixel (the words at xp,
 * interleaved: pixel 0, pixel 1) times weight words j = 0..3 at wp (k-major); xp and wp move
 * on: 11 instructions for 16 MACs. Two assembly statements (10 and 9 registers), so that the
 * compiler can allocate them at every optimization level.
 * Asm contract: compiler-allocated named operands only (accumulators in and out, xp and wp
 * advanced, temporaries early-clobbered); reads xp[0..2) and wp[0..4). */
#define MCT__MAC24                                                                            \
  do {                                                                                        \
    __asm__("ldrd %[u], %[v], [%[xp]], #8\n\t"                                                \
            "ldrd %[t0], %[t1], [%[wp]], #8\n\t"                                              \
            "smlad %[a00], %[u], %[t0], %[a00]\n\t"                                           \
            "smlad %[a10], %[v], %[t0], %[a10]\n\t"                                           \
            "smlad %[a01], %[u], %[t1], %[a01]\n\t"                                           \
            "smlad %[a11], %[v], %[t1], %[a11]"                                               \
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),             \
              [xp] "+r"(xp), [wp] "+r"(wp), [u] "=&r"(u), [v] "=&r"(v), [t0] "=&r"(t0),        \
              [t1] "=&r"(t1)                                                                  \
            :                                                                                 \
            : "memory");                                                                      \
    __asm__("ldrd %[t0], %[t1], [%[wp]], #8\n\t"                                              \
            "smlad %[a02], %[u], %[t0], %[a02]\n\t"                                           \
            "smlad %[a12], %[v], %[t0], %[a12]\n\t"                                           \
            "smlad %[a03], %[u], %[t1], %[a03]\n\t"                                           \
            "smlad %[a13], %[v], %[t1], %[a13]"                                               \
            : [a02] "+r"(a02), [a03] "+r"(a03), [a12] "+r"(a12), [a13] "+r"(a13),             \
              [wp] "+r"(wp), [t0] "=&r"(t0), [t1] "=&r"(t1)                                    \
            : [u] "r"(u), [v] "r"(v)                                                          \
            : "memory");                                                                      \
  } while (0)

/* n pixels of a tile (pairs interleaved word by word, K words per pixel; an odd last pixel
 * paired with a copy of itself), four output channels (weights k-major, constants f) to yp
 * (pixel stride O). */
static inline __attribute__((always_inline)) void mct__tile24(const uint32_t *xp, int32_t n,
                                                              const int32_t K,
                                                              const uint32_t *wv,
                                                              const mct__fq *f, int8_t *yp,
                                                              int32_t O, uint32_t lo4,
                                                              uint32_t hi4, const int clamp) {
  for (int32_t p = 0; p < n; p += 2, yp += 2 * O) {
    int32_t a00 = f[0].bias, a01 = f[1].bias, a02 = f[2].bias, a03 = f[3].bias;
    int32_t a10 = a00, a11 = a01, a12 = a02, a13 = a03;
    const uint32_t *wp = wv;
    uint32_t u, v, t0, t1, v0, v1;
#pragma GCC unroll 16
    for (int32_t k = 0; k < K; ++k) MCT__MAC24;
    mct__req24(a00, a01, a02, a03, a10, a11, a12, a13, f, &v0, &v1);
    if (clamp) v0 = mct__clamp4(v0, lo4, hi4), v1 = mct__clamp4(v1, lo4, hi4);
    mct__st32(yp, v0);
    if (p + 1 < n) mct__st32(yp + O, v1);
  }
}

/* The tile kernel's pixel pairs in assembly (a naked function: its registers are its own at
 * every optimization level, frame pointer or not). Registers: accumulators r0-r3 (pixel 0,
 * channels 0-3) and r4-r7 (pixel 1), input words r8, r9, weight words r10, r11, inputs r12,
 * weights lr; the context (mct__tctx) + 16 at [sp]. Per pair: the biases by two LDMDBs, K
 * steps of 11 instructions (16 MACs), an LDM of each channel's constants, SMMLA/ASR/SSAT per
 * output, BFI packing, the clamp (a variant with, one without), one STR per pixel; the pairs
 * end when the inputs reach xend. */
typedef struct {
  int32_t bias[4];    /* 0 */
  int32_t k[12];      /* 16: mult, add, shr of channel j at 16 + 12 j */
  uint32_t lo4, hi4;  /* 64, 68 */
  int8_t *yp;         /* 72: the pair's first output */
  int32_t O;          /* 76: pixel stride of y */
  const uint32_t *xend; /* 80: the end of the pairs' inputs */
  const uint32_t *wv; /* 84: the weights, k-major */
} mct__tctx;
typedef char mct__tctx_layout[(offsetof(mct__tctx, k) == 16 && offsetof(mct__tctx, lo4) == 64 &&
                               offsetof(mct__tctx, yp) == 72 &&
                               offsetof(mct__tctx, xend) == 80 && offsetof(mct__tctx, wv) == 84)
                                  ? 1
                                  : -1];

#define MCT__NSTEP                                                                            \
  "ldrd r8, r9, [r12], #8\n\t"                                                                \
  MCT__ASM_MAC8
#define MCT__NSTEP4 MCT__NSTEP MCT__NSTEP MCT__NSTEP MCT__NSTEP

#define MCT__NTILE(NAME, STEPS, CLAMP)                                                        \
  static __attribute__((naked, noinline)) void NAME(const uint32_t *xp, mct__tctx *c) {       \
    __asm__ volatile(MCT__ASM_PAIRS(STEPS, "", CLAMP));                                       \
  }
#define MCT__NSTEP8 MCT__NSTEP4 MCT__NSTEP4
MCT__NTILE(mct__ntile_4, MCT__NSTEP4, "")
MCT__NTILE(mct__ntile_8, MCT__NSTEP8, "")
MCT__NTILE(mct__ntile_12, MCT__NSTEP8 MCT__NSTEP4, "")
MCT__NTILE(mct__ntile_16, MCT__NSTEP8 MCT__NSTEP8, "")
MCT__NTILE(mct__ntile_4c, MCT__NSTEP4, MCT__ASM_CLAMP2)
MCT__NTILE(mct__ntile_8c, MCT__NSTEP8, MCT__ASM_CLAMP2)
MCT__NTILE(mct__ntile_12c, MCT__NSTEP8 MCT__NSTEP4, MCT__ASM_CLAMP2)
MCT__NTILE(mct__ntile_16c, MCT__NSTEP8 MCT__NSTEP8, MCT__ASM_CLAMP2)

/* Any other K (C not a multiple of 8). */
static __attribute__((noinline)) void mct__tile24_n(const uint32_t *xp, int32_t n, int32_t K,
                                                    const uint32_t *wv, const mct__fq *f,
                                                    int8_t *yp, int32_t O, uint32_t lo4,
                                                    uint32_t hi4, int clamp) {
  mct__tile24(xp, n, K, wv, f, yp, O, lo4, hi4, clamp);
}

/* A tile's n pixels (xt) for the four channels in tc by the kernel, outputs to yo. */
static inline void mct__tile_run(void (*kern)(const uint32_t *, mct__tctx *), const uint32_t *xt,
                                 int32_t n, int32_t K, mct__tctx *tc, int8_t *yo, int32_t O) {
  tc->yp = yo, tc->O = O, tc->xend = xt + (size_t)(n / 2) * 2 * K;
  if (n >= 2) kern(xt, tc);
  if (n & 1) { /* the last pixel (paired with its copy): into a word, then stored */
    int8_t last[8];
    tc->yp = last, tc->O = 4, tc->xend = xt + (size_t)(n + 1) * K;
    kern(xt + (size_t)(n - 1) * K, tc);
    memcpy(yo + (size_t)(n - 1) * O, last, 4);
  }
}

/* n + the sign-extended bytes 1 and 3 of x, in both 16-bit halves (SXTAB16, ROR #8). */
static inline uint32_t mct__sxtab16_hi(uint32_t n, uint32_t x) {
  uint32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(n), "r"(x));
  return r;
}

/* Asm text of the widening loops below (operands by name: %[nz] = -z in both halves, the
 * output %[p], post-indexed, temporaries %[e], %[h] / %[f]):
 *   MCT__ASM_XZ_WORD(U)  the word U of four int8 as (x - z) int16 pairs in SXTB16 order
 *                        (bytes 0, 2, then 1, 3), one STRD;
 *   MCT__ASM_X_WORD(U)   the same without z (SXTB16);
 *   MCT__ASM_PAIRS_2PX   one group of four channels of pixels a and b (%[a], %[b], loaded
 *                        into %[u], %[v], post-indexed), interleaved word by word. */
#define MCT__ASM_XZ_WORD(U)                                                                   \
  "sxtab16 %[e], %[nz], %[" #U "]\n\t"                                                         \
  "sxtab16 %[h], %[nz], %[" #U "], ror #8\n\t"                                                 \
  "strd %[e], %[h], [%[p]], #8\n\t"
#define MCT__ASM_X_WORD(U)                                                                    \
  "sxtb16 %[e], %[" #U "]\n\t"                                                                 \
  "sxtb16 %[h], %[" #U "], ror #8\n\t"                                                         \
  "strd %[e], %[h], [%[p]], #8\n\t"
#define MCT__ASM_PAIRS_2PX                                                                    \
  "ldr %[u], [%[a]], #4\n\t"                                                                  \
  "ldr %[v], [%[b]], #4\n\t"                                                                  \
  "sxtab16 %[e], %[nz], %[u]\n\t"                                                             \
  "sxtab16 %[f], %[nz], %[v]\n\t"                                                             \
  "strd %[e], %[f], [%[p]], #8\n\t"                                                           \
  "sxtab16 %[e], %[nz], %[u], ror #8\n\t"                                                     \
  "sxtab16 %[f], %[nz], %[v], ror #8\n\t"                                                     \
  "strd %[e], %[f], [%[p]], #8\n\t"

/* Pixels xa and xb (C channels, minus z) as int16 pairs interleaved word by word: for pair k
 * of the channels (mct__arm_pairs' order), out[2 k] of xa, out[2 k + 1] of xb.
 * Asm contract (two groups a pass): operands xa, xb, out (advanced), nz, temporaries u, v,
 * e, f, all compiler-allocated; reads xa, xb[0..8), writes out[0..8). */
static inline void mct__pairs_2px(const int8_t *xa, const int8_t *xb, int32_t C, int32_t z,
                                  uint32_t *out) {
  const uint32_t nz = mct__zz(-z); /* x - z by SXTAB16 (see mct__widen2i) */
  int32_t G = C / 4;
  if (G >= 2) { /* two groups per pass */
    const int8_t *end = xa + G / 2 * 8;
    uint32_t u, v, e, f;
    do {
      __asm__ volatile(MCT__ASM_PAIRS_2PX MCT__ASM_PAIRS_2PX
                       : [a] "+r"(xa), [b] "+r"(xb), [p] "+r"(out), [u] "=&r"(u), [v] "=&r"(v),
                         [e] "=&r"(e), [f] "=&r"(f)
                       : [nz] "r"(nz)
                       : "memory");
    } while (xa != end);
    C -= G / 2 * 8, G &= 1;
  }
  for (int32_t g = 0; g < G; ++g, out += 4) {
    const uint32_t va = mct__ld32(xa + 4 * g), vb = mct__ld32(xb + 4 * g);
    out[0] = __sxtab16(nz, va);
    out[1] = __sxtab16(nz, vb);
    out[2] = mct__sxtab16_hi(nz, va);
    out[3] = mct__sxtab16_hi(nz, vb);
  }
  for (int32_t c = 4 * G; c < C; c += 2, out += 2) {
    const int32_t a0 = (int32_t)xa[c] - z, a1 = c + 1 < C ? (int32_t)xa[c + 1] - z : 0;
    const int32_t b0 = (int32_t)xb[c] - z, b1 = c + 1 < C ? (int32_t)xb[c + 1] - z : 0;
    out[0] = ((uint32_t)a0 & 0xFFFFu) | ((uint32_t)a1 << 16);
    out[1] = ((uint32_t)b0 & 0xFFFFu) | ((uint32_t)b1 << 16);
  }
}

/* Channel o's constants for the fast formula (valid: mct__fast_ok). */
static inline mct__fq mct__fq_of(const mct__arm_rq *r, int32_t o) {
  const int32_t sh = -2 - r->shift[o];
  mct__fq f;
  f.bias = r->bias ? r->bias[o] : 0;
  f.mult = r->mult[o];
  f.add = (int32_t)((uint32_t)(1 + 2 * r->y_zero) << sh);
  f.shr = sh + 1;
  return f;
}

/* Channel o's constants (mct__fq), 1 when the fast formula holds for it with accumulators of
 * up to amax in magnitude (see mct__fast_ok). */
static inline int mct__fq_chk(const mct__arm_rq *r, int32_t o, int64_t amax, mct__fq *f) {
  const int32_t shift = r->shift[o], b = r->bias ? r->bias[o] : 0;
  f->bias = b, f->mult = r->mult[o], f->shr = -1 - shift;
  if (shift > -2 || shift < -31) return 0;
  const int64_t add = (1 + 2 * (int64_t)r->y_zero) * ((int64_t)1 << (-2 - shift));
  f->add = (int32_t)add;
  return add < ((int64_t)1 << 30) && add > -((int64_t)1 << 30) && b + amax <= INT32_MAX &&
         b - amax >= INT32_MIN;
}

/* Channels o..o+3 of a tile in plain C with mct__arm_out (some channel outside the fast
 * formula): exact for any constants. */
static __attribute__((noinline)) void mct__tile_slow(const mct__arm_rq *r, const uint32_t *xt,
                                                     int32_t n, int32_t K, const uint32_t *wv,
                                                     int32_t o, int8_t *yt, int32_t O) {
  for (int32_t j = 0; j < 4; ++j) {
    const mct__arq c = mct__arm_ch(r, o + j);
    for (int32_t p = 0; p < n; ++p) {
      const uint32_t *xp = xt + (size_t)(p & ~1) * K + (p & 1);
      int32_t a = 0;
      for (int32_t k = 0; k < K; ++k) a = __smlad((int32_t)xp[2 * k], (int32_t)wv[4 * k + j], a);
      yt[(size_t)p * O + o + j] = mct__arm_out(r, &c, a);
    }
  }
}

/* A 1x1 conv of few input channels (C <= MCT_ARM_TILE_C), no trained slice, over tiles of
 * pixels: the tile's inputs widened first (so y may overlap x as the in-place kernel allows:
 * a tile's outputs only cover inputs of its own and earlier-processed pixels; `backward`
 * takes the tiles from the end), then its outputs, four channels at a time (their weights
 * and constants prepared per tile; when some channel is outside the fast formula, each group
 * is checked, and one with such a channel takes the exact plain-C path). */
void mct__arm_pw_tiles(const mct__arm_rq *r_in, const int8_t *x, int32_t npix, int32_t C,
                       int32_t O, const int8_t *w, int8_t *y, int backward) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  const int32_t K = (C + 1) / 2, nt = MCT__TW / K / 2 * 2, lo = r->act_min, hi = r->act_max;
  const int64_t amax = (int64_t)C * 255 * 128;
  const uint32_t lo4 = mct__b4(lo), hi4 = mct__b4(hi);
  const int clamp = lo > -128 || hi < 127, all_fast = mct__fast_ok(r, O, C);
  const uint32_t c1u = (uint32_t)(1 + 2 * r->y_zero);
  void (*kern)(const uint32_t *, mct__tctx *) =
      K == 4 ? (clamp ? mct__ntile_4c : mct__ntile_4) :
      K == 8 ? (clamp ? mct__ntile_8c : mct__ntile_8) :
      K == 12 ? (clamp ? mct__ntile_12c : mct__ntile_12) :
      K == 16 ? (clamp ? mct__ntile_16c : mct__ntile_16) : NULL;
  uint32_t xt[MCT__TW] __attribute__((aligned(8))), wv[4 * (MCT_ARM_TILE_C / 2)];
  mct__tctx tc;
  tc.lo4 = lo4, tc.hi4 = hi4, tc.wv = wv;
  for (int32_t t0 = 0; t0 < npix; t0 += nt) {
    const int32_t n = npix - t0 < nt ? npix - t0 : nt;
    const int32_t first = backward ? npix - t0 - n : t0;
    const int8_t *xf = x + (size_t)first * C;
    for (int32_t p = 0; p < n; p += 2) /* an odd last pixel with a copy of itself */
      mct__pairs_2px(xf + (size_t)p * C, xf + (size_t)(p + 1 < n ? p + 1 : p) * C, C,
                     r->x_zero, xt + (size_t)p * K);
    int8_t *yt = y + (size_t)first * O;
    int32_t o = 0;
    for (; o + 4 <= O; o += 4) {
      if (kern && all_fast) { /* the usual case: the constants straight into the context */
        const int32_t *sp = r->shift + o, *mp = r->mult + o, *bp = r->bias ? r->bias + o : NULL;
        for (int32_t j = 0; j < 4; ++j) {
          mct__pairs_k4(w + (size_t)(o + j) * C, C, wv + j);
          const int32_t sh = -2 - sp[j];
          tc.bias[j] = bp ? bp[j] : 0;
          tc.k[3 * j] = mp[j];
          tc.k[3 * j + 1] = (int32_t)(c1u << sh);
          tc.k[3 * j + 2] = sh + 1;
        }
        mct__tile_run(kern, xt, n, K, &tc, yt + o, O);
        continue;
      }
      mct__fq f[4];
      int fast = 1;
      for (int32_t j = 0; j < 4; ++j) {
        mct__pairs_k4(w + (size_t)(o + j) * C, C, wv + j);
        if (all_fast)
          f[j] = mct__fq_of(r, o + j);
        else
          fast &= mct__fq_chk(r, o + j, amax, &f[j]);
        tc.bias[j] = f[j].bias, tc.k[3 * j] = f[j].mult, tc.k[3 * j + 1] = f[j].add;
        tc.k[3 * j + 2] = f[j].shr;
      }
      int8_t *yo = yt + o;
      if (!fast) {
        mct__tile_slow(r, xt, n, K, wv, o, yt, O);
      } else if (!kern) {
        mct__tile24_n(xt, n, K, wv, f, yo, O, lo4, hi4, clamp);
      } else {
        mct__tile_run(kern, xt, n, K, &tc, yo, O);
      }
    }
    for (; o < O; ++o) { /* the last O % 4 channels one by one */
      mct__arm_pairs(w + (size_t)o * C, C, 0, wv);
      mct__fq c;
      const int fast = mct__fq_chk(r, o, amax, &c); /* (once per tile: few channels) */
      const mct__arq cs = mct__arm_ch(r, o);
      int8_t *yp = yt + o;
      for (int32_t p = 0; p < n; ++p, yp += O) {
        const uint32_t *xp = xt + (size_t)(p & ~1) * K + (p & 1);
        int32_t a = 0;
        for (int32_t k = 0; k < K; ++k) a = __smlad((int32_t)xp[2 * k], (int32_t)wv[k], a);
        *yp = fast ? (int8_t)mct__clamp1(mct__fout(a + c.bias, c.mult, c.add, c.shr), lo, hi)
                   : mct__arm_out(r, &cs, a);
      }
    }
  }
}

/* ---- pointwise, two pixels ----------------------------------------------------------------
 * Both pixels widened (mct__arm_widen; a trained slice's gathered channels after them) into
 * one stack buffer, pixel b MCT__PD words after pixel a, before any output is written; then
 * two output channels at a time: each weight word loaded and widened once for both pixels,
 * each input word used for both channels (16 MACs in 8 SMLADs per four input channels). */
#define MCT__P2_MAX 496 /* input channels (with the slice's) of the two-pixel kernel: the pixels
                           * MCT__PD = 256 words apart, within LDRD's offset (1020 bytes) */
#define MCT__PD (MCT__P2_MAX / 2 + 8) /* words between the two pixels' widened inputs */
#define MCT__STR2(v) #v
#define MCT__STR(v) MCT__STR2(v)

/* One group of four input channels of both pixels against two weight rows (see mct__seg22):
 * two statements (10 and 9 registers), so that the compiler can always allocate them.
 * Asm contract: compiler-allocated named operands only (accumulators in and out, xa, w0, w1
 * advanced, temporaries early-clobbered); reads the group's words of both pixels and rows. */
#define MCT__G22                                                                              \
  do {                                                                                        \
    __asm__("ldrd %[pe], %[po], [%[xa]], #8\n\t"                                              \
            "ldr %[u], [%[w0]], #4\n\t"                                                       \
            "ldrd %[qe], %[qo], [%[xa], #" MCT__STR(MCT__PD) " * 4 - 8]\n\t"                   \
            "sxtb16 %[t], %[u]\n\t"                                                           \
            "sxtb16 %[u], %[u], ror #8\n\t"                                                   \
            "smlad %[b00], %[pe], %[t], %[b00]\n\t"                                           \
            "smlad %[b10], %[qe], %[t], %[b10]\n\t"                                           \
            "smlad %[b00], %[po], %[u], %[b00]\n\t"                                           \
            "smlad %[b10], %[qo], %[u], %[b10]"                                               \
            : [b00] "+r"(b00), [b10] "+r"(b10), [xa] "+r"(xa), [w0] "+r"(w0), [pe] "=&r"(pe), \
              [po] "=&r"(po), [qe] "=&r"(qe), [qo] "=&r"(qo), [u] "=&r"(u), [t] "=&r"(t)       \
            :                                                                                 \
            : "memory");                                                                      \
    __asm__("ldr %[t], [%[w1]], #4\n\t"                                                       \
            "sxtb16 %[u], %[t]\n\t"                                                           \
            "sxtb16 %[t], %[t], ror #8\n\t"                                                   \
            "smlad %[b01], %[pe], %[u], %[b01]\n\t"                                           \
            "smlad %[b11], %[qe], %[u], %[b11]\n\t"                                           \
            "smlad %[b01], %[po], %[t], %[b01]\n\t"                                           \
            "smlad %[b11], %[qo], %[t], %[b11]"                                               \
            : [b01] "+r"(b01), [b11] "+r"(b11), [w1] "+r"(w1), [u] "=&r"(u), [t] "=&r"(t)       \
            : [pe] "r"(pe), [po] "r"(po), [qe] "r"(qe), [qo] "r"(qo)                            \
            : "memory");                                                                      \
  } while (0)

/* a[0..3] += (xa.w0, xa.w1, xb.w0, xb.w1) over G groups of four (xb = xa + MCT__PD words):
 * each weight word loaded and widened once for both pixels, each input word used for both
 * rows; two groups per loop pass. */
static inline __attribute__((always_inline)) void mct__seg22(const uint32_t *xa, int32_t G,
                                                             const int8_t *w0, const int8_t *w1,
                                                             int32_t *a00, int32_t *a01,
                                                             int32_t *a10, int32_t *a11) {
  if (G <= 0) return;
  const int8_t *wend = w0 + 4 * G;
  int32_t b00 = *a00, b01 = *a01, b10 = *a10, b11 = *a11;
  uint32_t pe, po, qe, qo, u, t;
  if (G & 1) MCT__G22;
  while (w0 != wend) {
    MCT__G22;
    MCT__G22;
  }
  *a00 = b00, *a01 = b01, *a10 = b10, *a11 = b11;
}

/* The widened inputs' int16 tail (n % 4 values after the groups) against two weight rows. */
static inline void mct__tail22(const int16_t *ta, int32_t n, const int8_t *w0, const int8_t *w1,
                               int32_t *a00, int32_t *a01, int32_t *a10, int32_t *a11) {
  const int16_t *tb = ta + 2 * MCT__PD;
  for (int32_t c = 0; c < n; ++c) {
    const int32_t xa = ta[c], xb = tb[c], u = w0[c], v = w1[c];
    /* wrapping sums (as SMLAD's): defined for the channels that mct__fix_list lists */
    *a00 = (int32_t)((uint32_t)*a00 + (uint32_t)(xa * u));
    *a01 = (int32_t)((uint32_t)*a01 + (uint32_t)(xa * v));
    *a10 = (int32_t)((uint32_t)*a10 + (uint32_t)(xb * u));
    *a11 = (int32_t)((uint32_t)*a11 + (uint32_t)(xb * v));
  }
}

/* The two-pixel kernel without a trained slice, C a multiple of 8 and a bias, in assembly (a
 * naked function, as the tile kernel): per pair of output channels, the MAC loop (two groups
 * of four input channels per pass: 32 instructions for 64 MACs; accumulators r0-r3, the
 * pixels' words r4-r7, a weight word r8, r9, pixel a r10 (pixel b MCT__PD words on), weight
 * rows r11, r12, their end lr), then the fast requantization and a halfword store per
 * pixel. The context (mct__pctx) at [sp]; its pointers move on from pair to pair. */
typedef struct {
  const uint32_t *xa;   /* 0 */
  int32_t C;            /* 4: bytes per weight row */
  const int8_t *w0, *w1; /* 8, 12: the pair's weight rows */
  const int32_t *bias;  /* 16 */
  const int32_t *mult;  /* 20 */
  const int32_t *shift; /* 24 */
  int32_t c1;           /* 28: 1 + 2 y_zero */
  uint32_t lo4, hi4;    /* 32, 36 */
  int8_t *y0, *y1;      /* 40, 44 */
  int32_t pairs;        /* 48: channel pairs left */
  int32_t clamp;        /* 52 */
} mct__pctx;
typedef char mct__pctx_layout[(offsetof(mct__pctx, w0) == 8 && offsetof(mct__pctx, c1) == 28 &&
                               offsetof(mct__pctx, lo4) == 32 && offsetof(mct__pctx, y0) == 40 &&
                               offsetof(mct__pctx, pairs) == 48 &&
                               offsetof(mct__pctx, clamp) == 52)
                                  ? 1
                                  : -1];

/* Both pixels' words r4-r7 (four input channels) times weight word r8 (row w0, loaded) and
 * the next word of row w1 (r12): the two-pixel groups' MACs after their loads. */
#define MCT__G22_MACS                                                                         \
  "sxtb16 r9, r8\n\t"                                                                         \
  "sxtb16 r8, r8, ror #8\n\t"                                                                 \
  "smlad r0, r4, r9, r0\n\t"                                                                  \
  "smlad r2, r6, r9, r2\n\t"                                                                  \
  "ldr r9, [r12], #4\n\t"                                                                     \
  "smlad r0, r5, r8, r0\n\t"                                                                  \
  "smlad r2, r7, r8, r2\n\t"                                                                  \
  "sxtb16 r8, r9\n\t"                                                                         \
  "sxtb16 r9, r9, ror #8\n\t"                                                                 \
  "smlad r1, r4, r8, r1\n\t"                                                                  \
  "smlad r3, r6, r8, r3\n\t"                                                                  \
  "smlad r1, r5, r9, r1\n\t"                                                                  \
  "smlad r3, r7, r9, r3\n\t"

#define MCT__NG22                                                                             \
  "ldrd r4, r5, [r10], #8\n\t"                                                                \
  "ldr r8, [r11], #4\n\t"                                                                     \
  "ldrd r6, r7, [r10, #" MCT__STR(MCT__PD) " * 4 - 8]\n\t"                                     \
  MCT__G22_MACS

/* The two-pixel kernels' channel-pair tail (mct__npair, mct__npairi): the next
 * pair's rows into the context, the fast requantization of both pixels' two outputs, the
 * optional clamp, a halfword store per pixel, the pair count; returns when it ends. */
#define MCT__PAIR_TAIL \
      "ldr lr, [sp]\n\t"                                                                   \
      "ldr r9, [lr, #4]\n\t"                                                               \
      "add r11, r12, r9\n\t"          /* the next pair: rows o + 2 (= w1's end), o + 3 */  \
      "strd r12, r11, [lr, #8]\n\t"                                                        \
      "ldr r9, [lr, #20]\n\t"         /* mult */                                           \
      "ldrd r4, r5, [r9], #8\n\t"                                                          \
      "str r9, [lr, #20]\n\t"                                                              \
      "ldr r9, [lr, #24]\n\t"         /* shift: shr = ~shift = -1 - shift */               \
      "ldrd r6, r7, [r9], #8\n\t"                                                          \
      "str r9, [lr, #24]\n\t"                                                              \
      "mvn r6, r6\n\t"                                                                     \
      "mvn r7, r7\n\t"                                                                     \
      "ldr r9, [lr, #28]\n\t"         /* c1: add = (c1 << shr) >> 1 = c1 << sh, exact */   \
      "lsl r8, r9, r6\n\t"                                                                 \
      "asr r8, r8, #1\n\t"                                                                 \
      "smmla r0, r0, r4, r8\n\t"                                                           \
      "smmla r2, r2, r4, r8\n\t"                                                           \
      "asr r0, r0, r6\n\t"                                                                 \
      "asr r2, r2, r6\n\t"                                                                 \
      "ssat r0, #8, r0\n\t"                                                                \
      "ssat r2, #8, r2\n\t"                                                                \
      "lsl r8, r9, r7\n\t"                                                                 \
      "asr r8, r8, #1\n\t"                                                                 \
      "smmla r1, r1, r5, r8\n\t"                                                           \
      "smmla r3, r3, r5, r8\n\t"                                                           \
      "asr r1, r1, r7\n\t"                                                                 \
      "asr r3, r3, r7\n\t"                                                                 \
      "ssat r1, #8, r1\n\t"                                                                \
      "ssat r3, #8, r3\n\t"                                                                \
      "bfi r0, r1, #8, #8\n\t"                                                             \
      "bfi r2, r3, #8, #8\n\t"                                                             \
      "bfi r0, r2, #16, #16\n\t"      /* a_o, a_o+1, b_o, b_o+1 */                         \
      "ldr r9, [lr, #52]\n\t"                                                              \
      "cmp r9, #0\n\t"                                                                     \
      "beq 3f\n\t"                                                                         \
      "ldrd r4, r5, [lr, #32]\n\t"                                                         \
      "ssub8 r9, r0, r4\n\t"                                                               \
      "sel r0, r0, r4\n\t"                                                                 \
      "ssub8 r9, r0, r5\n\t"                                                               \
      "sel r0, r5, r0\n"                                                                   \
      "3:\n\t"                                                                             \
      "ldrd r4, r5, [lr, #40]\n\t"                                                         \
      "strh r0, [r4], #2\n\t"                                                              \
      "lsr r0, r0, #16\n\t"                                                                \
      "strh r0, [r5], #2\n\t"                                                              \
      "strd r4, r5, [lr, #40]\n\t"                                                         \
      "ldr r9, [lr, #48]\n\t"                                                              \
      "subs r9, r9, #1\n\t"                                                                \
      "str r9, [lr, #48]\n\t"                                                              \
      "bne 1b\n\t"                                                                         \
      "add sp, sp, #4\n\t"                                                                 \
      "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"

/* The entry of mct__npair / mct__npairi: c (r0) and r4-r11, lr pushed (c at [sp]), then at
 * label 1 the start of each pair of output channels: r10 the inputs, r11, r12 the weight
 * rows w0, w1, r0-r3 the accumulators from the pair's two biases (c's bias pointer moved
 * on), r9 = C. */
#define MCT__PAIR_HEAD                                                                        \
  "push {r0, r4, r5, r6, r7, r8, r9, r10, r11, lr}\n"                                          \
  "1:\n\t"                                                                                    \
  "ldr lr, [sp]\n\t"                                                                          \
  "ldr r10, [lr]\n\t"                                                                         \
  "ldrd r11, r12, [lr, #8]\n\t"                                                               \
  "ldr r9, [lr, #16]\n\t"                                                                     \
  "ldrd r0, r1, [r9], #8\n\t"                                                                 \
  "str r9, [lr, #16]\n\t"                                                                     \
  "mov r2, r0\n\t"                                                                            \
  "mov r3, r1\n\t"                                                                            \
  "ldr r9, [lr, #4]\n\t"

/* Asm contract (see the comment above mct__pctx): r0 = c; saves r4-r11 and lr, [sp] = c;
 * reads c, the pixels and the weight rows, writes the outputs and c's moving fields. */
static __attribute__((naked, noinline)) void mct__npair(mct__pctx *c) {
  __asm__ volatile(
      MCT__PAIR_HEAD /* r10: xa */
      "add lr, r11, r9\n"             /* the end of row w0 */
      "2:\n\t" MCT__NG22 MCT__NG22
      "cmp r11, lr\n\t"
      "bne 2b\n\t"
      MCT__PAIR_TAIL);
}

/* mct__arm_widen of both pixels, pixel b MCT__PD words after pixel a, in one pass. */
static inline void mct__widen2(const int8_t *a, const int8_t *b, int32_t xz, int32_t C,
                               uint32_t *xx) {
  const uint32_t zz = mct__zz(xz);
  const int32_t G = C / 4;
  uint32_t *xb = xx + MCT__PD;
  for (int32_t g = 0; g < G; ++g) {
    const uint32_t va = mct__ld32(a + 4 * g), vb = mct__ld32(b + 4 * g);
    xx[2 * g] = __ssub16(__sxtb16(va), zz);
    xx[2 * g + 1] = __ssub16(mct__sxtb16_hi(va), zz);
    xb[2 * g] = __ssub16(__sxtb16(vb), zz);
    xb[2 * g + 1] = __ssub16(mct__sxtb16_hi(vb), zz);
  }
  int16_t *ta = (int16_t *)(xx + 2 * G), *tb = (int16_t *)(xb + 2 * G);
  for (int32_t c = 4 * G; c < C; ++c)
    ta[c - 4 * G] = (int16_t)((int32_t)a[c] - xz), tb[c - 4 * G] = (int16_t)((int32_t)b[c] - xz);
}

/* Both pixels' sums for weight rows o0, o1 (with the trained slice's) added to a00..a11. */
static inline __attribute__((always_inline)) void mct__acc22(const uint32_t *xx, int32_t C, const int8_t *w, int32_t o0,
                              int32_t o1, const mct_wsplit *ws, const uint32_t *xs, int32_t *a00,
                              int32_t *a01, int32_t *a10, int32_t *a11) {
  const int32_t G = C / 4;
  const int8_t *w0 = w + (size_t)o0 * C, *w1 = w + (size_t)o1 * C;
  mct__seg22(xx, G, w0, w1, a00, a01, a10, a11);
  if (C & 3)
    mct__tail22((const int16_t *)(xx + 2 * G), C & 3, w0 + 4 * G, w1 + 4 * G, a00, a01, a10, a11);
  if (ws) {
    const int32_t ns = ws->n_sel, GS = ns / 4;
    const int8_t *s0 = ws->wt + (size_t)o0 * ns, *s1 = ws->wt + (size_t)o1 * ns;
    mct__seg22(xs, GS, s0, s1, a00, a01, a10, a11);
    if (ns & 3)
      mct__tail22((const int16_t *)(xs + 2 * GS), ns & 3, s0 + 4 * GS, s1 + 4 * GS, a00, a01,
                  a10, a11);
  }
}

/* Channel o of both pixels (widened in xx as mct__pw2 lays them out, the slice's S words
 * after each) recomputed with the exact requantization mct__arm_out: for the channels that
 * mct__fix_list found outside the fast formula (whose fast outputs are meaningless). */
static __attribute__((noinline)) void mct__pw2_fix(const mct__arm_rq *r, const uint32_t *xx,
                                                   int32_t C, const int8_t *w,
                                                   const mct_wsplit *ws, int32_t S, int32_t o,
                                                   int8_t *y0, int8_t *y1) {
  const int8_t *wo = w + (size_t)o * C;
  int32_t a0 = mct__arm_dot1x(xx, C, wo), a1 = mct__arm_dot1x(xx + MCT__PD, C, wo);
  if (ws) {
    const int32_t ns = ws->n_sel;
    const int8_t *so = ws->wt + (size_t)o * ns;
    a0 += mct__arm_dot1x(xx + S, ns, so), a1 += mct__arm_dot1x(xx + MCT__PD + S, ns, so);
  }
  const mct__arq c = mct__arm_ch(r, o);
  y0[o] = mct__arm_out(r, &c, a0);
  y1[o] = mct__arm_out(r, &c, a1);
}

/* Two pixels x0p, x1p of a 1x1 conv (C channels, optional trained slice ws, C + n_sel <=
 * MCT__P2_MAX, the fast formula valid: mct__fast_ok), outputs to y0, y1 (which may overlap
 * the inputs): four output channels per block (two passes of two), stored as one word per
 * pixel. */
static void mct__pw2(const mct__arm_rq *r_in, const int8_t *x0p, const int8_t *x1p, int32_t C,
                     int32_t O, const int8_t *w, const mct_wsplit *ws, int8_t *y0, int8_t *y1,
                     const uint16_t *fix, int32_t nfix) {
  const mct__arm_rq rq = *r_in, *r = &rq;
  uint32_t xx[2 * MCT__PD] __attribute__((aligned(8)));
  const int32_t ns = ws ? ws->n_sel : 0, S = ((C + 1) / 2 + 2) / 2 * 2;
  mct__widen2(x0p, x1p, r->x_zero, C, xx);
  if (ns) { /* the slice's channels, S words (8-byte aligned) after x */
    mct__arm_widen_sel(x0p, ws->sel, r->x_zero, ns, xx + S);
    mct__arm_widen_sel(x1p, ws->sel, r->x_zero, ns, xx + MCT__PD + S);
  }
  const uint32_t *xs = xx + S;
  const uint32_t lo4 = mct__b4(r->act_min), hi4 = mct__b4(r->act_max);
  const int32_t c1 = 1 + 2 * r->y_zero, *bias = r->bias, *mult = r->mult, *shift = r->shift;
  int32_t o = 0;
  if (!ws && bias && C % 8 == 0 && O >= 2) {
    mct__pctx pc = {xx, C, w, w + C, bias, mult, shift, c1, lo4, hi4, y0, y1, O / 2,
                    r->act_min > -128 || r->act_max < 127};
    mct__npair(&pc);
    o = O / 2 * 2;
  }
  for (; o + 4 <= O; o += 4) {
    int32_t a00 = 0, a01 = 0, a02 = 0, a03 = 0;
    if (bias) a00 = bias[o], a01 = bias[o + 1], a02 = bias[o + 2], a03 = bias[o + 3];
    int32_t a10 = a00, a11 = a01, a12 = a02, a13 = a03;
    mct__acc22(xx, C, w, o, o + 1, ws, xs, &a00, &a01, &a10, &a11);
    mct__acc22(xx, C, w, o + 2, o + 3, ws, xs, &a02, &a03, &a12, &a13);
    int32_t sh = -2 - shift[o], ad = (int32_t)((uint32_t)c1 << sh);
    a00 = mct__fout(a00, mult[o], ad, sh + 1), a10 = mct__fout(a10, mult[o], ad, sh + 1);
    sh = -2 - shift[o + 1], ad = (int32_t)((uint32_t)c1 << sh);
    a01 = mct__fout(a01, mult[o + 1], ad, sh + 1), a11 = mct__fout(a11, mult[o + 1], ad, sh + 1);
    sh = -2 - shift[o + 2], ad = (int32_t)((uint32_t)c1 << sh);
    a02 = mct__fout(a02, mult[o + 2], ad, sh + 1), a12 = mct__fout(a12, mult[o + 2], ad, sh + 1);
    sh = -2 - shift[o + 3], ad = (int32_t)((uint32_t)c1 << sh);
    a03 = mct__fout(a03, mult[o + 3], ad, sh + 1), a13 = mct__fout(a13, mult[o + 3], ad, sh + 1);
    mct__st32(y0 + o, mct__clamp4(mct__pack4(a00, a01, a02, a03), lo4, hi4));
    mct__st32(y1 + o, mct__clamp4(mct__pack4(a10, a11, a12, a13), lo4, hi4));
  }
  for (; o < O; o += 2) { /* the last O % 4 channels, two at a time (the last with itself) */
    const int32_t o1 = o + 1 < O ? o + 1 : o;
    int32_t a00 = bias ? bias[o] : 0, a01 = bias ? bias[o1] : 0, a10 = a00, a11 = a01;
    mct__acc22(xx, C, w, o, o1, ws, xs, &a00, &a01, &a10, &a11);
    int32_t sh = -2 - shift[o], ad = (int32_t)((uint32_t)c1 << sh);
    a00 = mct__fout(a00, mult[o], ad, sh + 1), a10 = mct__fout(a10, mult[o], ad, sh + 1);
    sh = -2 - shift[o1], ad = (int32_t)((uint32_t)c1 << sh);
    a01 = mct__fout(a01, mult[o1], ad, sh + 1), a11 = mct__fout(a11, mult[o1], ad, sh + 1);
    const uint32_t v = mct__clamp4(mct__pack4(a00, a01, a10, a11), lo4, hi4);
    y0[o] = (int8_t)v, y1[o] = (int8_t)(v >> 16);
    if (o1 > o) y0[o1] = (int8_t)(v >> 8), y1[o1] = (int8_t)(v >> 24);
  }
  for (int32_t k = 0; k < nfix; ++k) /* channels outside the fast formula: again, exactly */
    mct__pw2_fix(r, xx, C, w, ws, S, fix[k], y0, y1);
}

/* ---- pointwise, two pixels interleaved -----------------------------------------------------
 * No trained slice, C a multiple of 8 (up to MCT__P2I_MAX), a bias: both pixels widened into
 * one stack buffer interleaved by groups of four channels (pixel a's two words, then pixel
 * b's: one LDM reads all four), before any output is written; then two output channels at a
 * time (each weight word loaded and widened once for both pixels): 15 instructions per 16
 * MACs, four groups per loop pass (a C % 16 == 8 enters halfway). The last channel of an odd
 * O and the channels outside the fast formula (mct__fix_list) are computed exactly in C. */
#define MCT__P2I_MAX 576 /* input channels: the buffer is MCT__P2I_MAX words (2.25 KB) */

/* a, b (C channels, C % 8 == 0) minus xz as int16 pairs: for group g, xx[4 g], xx[4 g + 1]
 * of a (SXTB16 order), xx[4 g + 2], xx[4 g + 3] of b. SXTAB16 adds the sign-extended bytes
 * to -xz in both halves: x - xz, within int16 (|x - xz| <= 255), in one instruction.
 * Asm contract: operands a, b, xx (advanced), nz, temporaries, all compiler-allocated; per
 * pass reads eight bytes of a and b, writes xx[0..8). */
static inline void mct__widen2i(const int8_t *a, const int8_t *b, int32_t xz, int32_t C,
                                uint32_t *xx) {
  const uint32_t nz = mct__zz(-xz), *end = xx + C; /* C % 8 == 0: two groups per pass */
  uint32_t u, v, e, h;
  if ((((uintptr_t)a | (uintptr_t)b) & 3) == 0) { /* word-aligned pixels: LDRD */
    uint32_t u1, v1;
    do {
      __asm__ volatile("ldrd %[u], %[u1], [%[a]], #8\n\t"
                       "ldrd %[v], %[v1], [%[b]], #8\n\t"
                       MCT__ASM_XZ_WORD(u)
                       MCT__ASM_XZ_WORD(v)
                       MCT__ASM_XZ_WORD(u1)
                       MCT__ASM_XZ_WORD(v1)
                       : [a] "+r"(a), [b] "+r"(b), [p] "+r"(xx), [u] "=&r"(u), [v] "=&r"(v),
                         [u1] "=&r"(u1), [v1] "=&r"(v1), [e] "=&r"(e), [h] "=&r"(h)
                       : [nz] "r"(nz)
                       : "memory");
    } while (xx != end);
    return;
  }
  do {
    __asm__ volatile("ldr %[u], [%[a]], #4\n\t"
                     "ldr %[v], [%[b]], #4\n\t"
                     MCT__ASM_XZ_WORD(u)
                     MCT__ASM_XZ_WORD(v)
                     "ldr %[u], [%[a]], #4\n\t"
                     "ldr %[v], [%[b]], #4\n\t"
                     MCT__ASM_XZ_WORD(u)
                     MCT__ASM_XZ_WORD(v)
                     : [a] "+r"(a), [b] "+r"(b), [p] "+r"(xx), [u] "=&r"(u), [v] "=&r"(v),
                       [e] "=&r"(e), [h] "=&r"(h)
                     : [nz] "r"(nz)
                     : "memory");
  } while (xx != end);
}

/* Weight rows w0, w1 (C % 8 == 0) as int16 pairs: for group g, wv[4 g], wv[4 g + 1] of w0
 * (SXTB16 order), wv[4 g + 2], wv[4 g + 3] of w1.
 * Asm contract: operands w0, w1, wv (advanced), temporaries, all compiler-allocated; per
 * pass reads eight bytes of w0 and w1, writes wv[0..8). */
static inline void mct__widen_rows2(const int8_t *w0, const int8_t *w1, int32_t C, uint32_t *wv) {
  const uint32_t *end = wv + C;
  uint32_t u, v, e, h;
  if ((((uintptr_t)w0 | (uintptr_t)w1) & 3) == 0) { /* word-aligned rows: LDRD */
    uint32_t u1, v1;
    do {
      __asm__ volatile("ldrd %[u], %[u1], [%[a]], #8\n\t"
                       "ldrd %[v], %[v1], [%[b]], #8\n\t"
                       "sxtb16 %[h], %[u], ror #8\n\t"
                       "sxtb16 %[u], %[u]\n\t"
                       "strd %[u], %[h], [%[p]], #8\n\t"
                       "sxtb16 %[h], %[v], ror #8\n\t"
                       "sxtb16 %[v], %[v]\n\t"
                       "strd %[v], %[h], [%[p]], #8\n\t"
                       "sxtb16 %[h], %[u1], ror #8\n\t"
                       "sxtb16 %[u1], %[u1]\n\t"
                       "strd %[u1], %[h], [%[p]], #8\n\t"
                       "sxtb16 %[h], %[v1], ror #8\n\t"
                       "sxtb16 %[v1], %[v1]\n\t"
                       "strd %[v1], %[h], [%[p]], #8"
                       : [a] "+r"(w0), [b] "+r"(w1), [p] "+r"(wv), [u] "=&r"(u), [v] "=&r"(v),
                         [u1] "=&r"(u1), [v1] "=&r"(v1), [h] "=&r"(h)
                       :
                       : "memory");
    } while (wv != end);
    return;
  }
  do {
    __asm__ volatile("ldr %[u], [%[a]], #4\n\t"
                     "ldr %[v], [%[b]], #4\n\t"
                     MCT__ASM_X_WORD(u)
                     MCT__ASM_X_WORD(v)
                     "ldr %[u], [%[a]], #4\n\t"
                     "ldr %[v], [%[b]], #4\n\t"
                     MCT__ASM_X_WORD(u)
                     MCT__ASM_X_WORD(v)
                     : [a] "+r"(w0), [b] "+r"(w1), [p] "+r"(wv), [u] "=&r"(u), [v] "=&r"(v),
                       [e] "=&r"(e), [h] "=&r"(h)
                     :
                     : "memory");
  } while (wv != end);
}

/* Channel o of both pixels (widened by mct__widen2i) with the exact mct__arm_out. */
static __attribute__((noinline)) void mct__pw2i_exact(const mct__arm_rq *r, const uint32_t *xx,
                                                      int32_t C, const int8_t *w, int32_t o,
                                                      int8_t *y0, int8_t *y1) {
  const int8_t *wo = w + (size_t)o * C;
  int32_t a0 = 0, a1 = 0;
  for (int32_t g = 0; g < C / 4; ++g, xx += 4) {
    const uint32_t v = mct__ld32(wo + 4 * g);
    const int32_t e = (int32_t)__sxtb16(v), h = (int32_t)mct__sxtb16_hi(v);
    a0 = __smlad((int32_t)xx[0], e, a0);
    a0 = __smlad((int32_t)xx[1], h, a0);
    a1 = __smlad((int32_t)xx[2], e, a1);
    a1 = __smlad((int32_t)xx[3], h, a1);
  }
  const mct__arq c = mct__arm_ch(r, o);
  y0[o] = mct__arm_out(r, &c, a0);
  y1[o] = mct__arm_out(r, &c, a1);
}

/* four input channels of both pixels against rows w0 (r11), w1 (r12) */
#define MCT__NGI                                                                              \
  "ldm r10!, {r4, r5, r6, r7}\n\t"                                                            \
  "ldr r8, [r11], #4\n\t"                                                                     \
  MCT__G22_MACS

/* As mct__npair (same context, same registers but for the inputs: r10 walks the interleaved
 * buffer), C % 8 == 0. Asm contract: as mct__npair's. */
static __attribute__((naked, noinline)) void mct__npairi(mct__pctx *c) {
  __asm__ volatile(
      MCT__PAIR_HEAD /* r10: xx */
      "add lr, r11, r9\n\t"           /* the end of row w0 */
      "tst r9, #8\n\t"
      "bne 4f\n"
      "2:\n\t" MCT__NGI MCT__NGI
      "4:\n\t" MCT__NGI MCT__NGI
      "cmp r11, lr\n\t"
      "bne 2b\n\t"
      MCT__PAIR_TAIL);
}

/* Two pixels x0p, x1p (see above; the fast formula valid but for the nfix channels in fix),
 * outputs to y0, y1 (which may overlap the inputs). */
static void mct__pw2i(const mct__arm_rq *r, const int8_t *x0p, const int8_t *x1p, int32_t C,
                      int32_t O, const int8_t *w, int8_t *y0, int8_t *y1, const uint16_t *fix,
                      int32_t nfix) {
  uint32_t xx[MCT__P2I_MAX] __attribute__((aligned(8)));
  mct__widen2i(x0p, x1p, r->x_zero, C, xx);
  if (O >= 2) {
    mct__pctx pc = {xx, C, w, w + C, r->bias, r->mult, r->shift, 1 + 2 * r->y_zero,
                    mct__b4(r->act_min), mct__b4(r->act_max), y0, y1, O / 2,
                    r->act_min > -128 || r->act_max < 127};
    mct__npairi(&pc);
  }
  if (O & 1) mct__pw2i_exact(r, xx, C, w, O - 1, y0, y1);
  for (int32_t k = 0; k < nfix; ++k) /* channels outside the fast formula: again, exactly */
    mct__pw2i_exact(r, xx, C, w, fix[k], y0, y1);
}

/* ---- pointwise, blocks of pixel pairs -------------------------------------------------------
 * The same layers (no trained slice, C % 8 == 0, a bias) when a block of at least two pixel
 * pairs fits the stack buffer with one pair of weight rows: the block's pixels widened first
 * (mct__widen2i, pair after pair; so its outputs may overlap its inputs as the in-place kernel
 * allows, blocks taken from the end when `backward`), then per pair of output channels their
 * weights widened once into int16 (group g: row 0's two words, row 1's) and every pixel pair
 * of the block against them: per four input channels one LDM of the pixels' words, one of
 * the weights', eight SMLADs (10 instructions per 16 MACs). */
#define MCT__BLK_W 768 /* words of the buffer (3 KB): the weights (C) and the pairs (C each) */
#define MCT__BLK_MIN 2 /* pixel pairs per block at least */

typedef struct {
  const uint32_t *xend; /* 0: the end of the block's widened pairs */
  const uint32_t *wv;   /* 4: the two rows' widened weights */
  int32_t bias[2];      /* 8 */
  int32_t k[6];         /* 16: mult, add, shr of row 0, then of row 1 */
  uint32_t lo4, hi4;    /* 40, 44 */
  int8_t *yp;           /* 48: the first pair's outputs o, o + 1 */
  int32_t O;            /* 52: pixel stride of y */
  const uint32_t *xb;   /* 56: the block's widened pairs */
  int32_t entry;        /* 60: where the first pass of the loop (eight groups) starts: at
                         * two groups times this, so that the passes end with the weights */
  const uint32_t *wend; /* 64: the end of wv */
} mct__bctx;
typedef char mct__bctx_layout[(offsetof(mct__bctx, bias) == 8 && offsetof(mct__bctx, k) == 16 &&
                               offsetof(mct__bctx, lo4) == 40 && offsetof(mct__bctx, yp) == 48 &&
                               offsetof(mct__bctx, xb) == 56 && offsetof(mct__bctx, entry) == 60 &&
                               offsetof(mct__bctx, wend) == 64)
                                  ? 1
                                  : -1];

/* four input channels of both pixels (r12) against both rows (lr) */
#define MCT__NBG                                                                              \
  "ldm r12!, {r4, r5, r6, r7}\n\t"                                                            \
  "ldm lr!, {r8, r9, r10, r11}\n\t"                                                           \
  "smlad r0, r4, r8, r0\n\t"                                                                  \
  "smlad r1, r4, r10, r1\n\t"                                                                 \
  "smlad r2, r6, r8, r2\n\t"                                                                  \
  "smlad r3, r6, r10, r3\n\t"                                                                 \
  "smlad r0, r5, r9, r0\n\t"                                                                  \
  "smlad r1, r5, r11, r1\n\t"                                                                 \
  "smlad r2, r7, r9, r2\n\t"                                                                  \
  "smlad r3, r7, r11, r3\n\t"
#define MCT__NBCLAMP                                                                          \
  "ldrd r4, r5, [lr, #40]\n\t"                                                                \
  "ssub8 r6, r0, r4\n\t"                                                                      \
  "sel r0, r0, r4\n\t"                                                                        \
  "ssub8 r6, r0, r5\n\t"                                                                      \
  "sel r0, r5, r0\n\t"

/* The block's pixel pairs for two output channels (a naked function, as the tile kernel):
 * accumulators r0, r1 (pixel a, rows 0, 1), r2, r3 (pixel b), the pixels' words r4-r7, the
 * weights' r8-r11, inputs r12, weights lr; the end of the weights at [sp], the context at
 * [sp, #4]. Outputs: the two bytes of each pixel stored as one halfword.
 * Asm contract: r0 = c (mct__bctx); saves r4-r11 and lr; reads c, the inputs and weights,
 * writes the outputs and c's moving fields. */
#define MCT__NBLK(NAME, CLAMP)                                                                \
  static __attribute__((naked, noinline)) void NAME(mct__bctx *c) {                           \
    __asm__ volatile(                                                                         \
        "push {r0, r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                 \
        "ldr r1, [r0, #64]\n\t"                                                               \
        "push {r1}\n\t"                                                                       \
        "ldr r12, [r0, #56]\n"                                                                \
        "1:\n\t"                                                                              \
        "ldr lr, [sp, #4]\n\t"                                                                \
        "ldrd r0, r1, [lr, #8]\n\t"                                                           \
        "mov r2, r0\n\t"                                                                      \
        "mov r3, r1\n\t"                                                                      \
        "ldr r4, [lr, #60]\n\t"                                                               \
        "ldr lr, [lr, #4]\n\t"                                                                \
        "tbb [pc, r4]\n"                                                                      \
        "5:\n\t"                                                                              \
        ".byte (20f - 5b) / 2, (21f - 5b) / 2, (22f - 5b) / 2, (23f - 5b) / 2\n\t"          \
        ".align 1\n"                                                                          \
        "20:\n\t" MCT__NBG MCT__NBG                                                           \
        "21:\n\t" MCT__NBG MCT__NBG                                                           \
        "22:\n\t" MCT__NBG MCT__NBG                                                           \
        "23:\n\t" MCT__NBG MCT__NBG                                                           \
        "ldr r7, [sp]\n\t"                                                                    \
        "cmp lr, r7\n\t"                                                                      \
        "bne 20b\n\t"                                                                         \
        "ldr lr, [sp, #4]\n\t"                                                                \
        "add r10, lr, #16\n\t"                                                                \
        "ldm r10, {r4, r5, r6, r7, r8, r9}\n\t"                                               \
        "smmla r0, r0, r4, r5\n\t"                                                            \
        "smmla r2, r2, r4, r5\n\t"                                                            \
        "smmla r1, r1, r7, r8\n\t"                                                            \
        "smmla r3, r3, r7, r8\n\t"                                                            \
        "asr r0, r0, r6\n\t"                                                                  \
        "asr r2, r2, r6\n\t"                                                                  \
        "asr r1, r1, r9\n\t"                                                                  \
        "asr r3, r3, r9\n\t"                                                                  \
        "ssat r0, #8, r0\n\t"                                                                 \
        "ssat r2, #8, r2\n\t"                                                                 \
        "ssat r1, #8, r1\n\t"                                                                 \
        "ssat r3, #8, r3\n\t"                                                                 \
        "bfi r0, r1, #8, #8\n\t"                                                              \
        "bfi r2, r3, #8, #8\n\t"                                                              \
        "bfi r0, r2, #16, #16\n\t" CLAMP                                                      \
        "ldrd r4, r5, [lr, #48]\n\t"                                                          \
        "strh r0, [r4]\n\t"                                                                   \
        "lsr r0, r0, #16\n\t"                                                                 \
        "strh r0, [r4, r5]\n\t"                                                               \
        "add r4, r4, r5, lsl #1\n\t"                                                          \
        "str r4, [lr, #48]\n\t"                                                               \
        "ldr r5, [lr]\n\t"                                                                    \
        "cmp r12, r5\n\t"                                                                     \
        "bne 1b\n\t"                                                                          \
        "add sp, sp, #8\n\t"                                                                  \
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");                                    \
  }
MCT__NBLK(mct__nblk, "")
MCT__NBLK(mct__nblk_c, MCT__NBCLAMP)

/* A block pair's layout: its C channels, then the trained slice's ns (gathered), each part
 * rounded up to a multiple of 8 with zeros (inputs and weights both: products 0): Ct words
 * per pixel pair and per pair of weight rows, in groups of four channels as mct__widen2i. */
static inline int32_t mct__blk_ct(int32_t C, int32_t ns) {
  return (C + 7) / 8 * 8 + (ns + 7) / 8 * 8;
}

/* n values of pixels a, b (a[sel[j]], or a[j] when sel is NULL), minus z, zeros after them
 * to a multiple of 8 (the bytes gathered first, padded with z), as interleaved groups. */
#define MCT__BLK_T (MCT__BLK_W / (MCT__BLK_MIN + 1)) /* the layout's words at most */
static __attribute__((noinline)) void mct__tail2i(const int8_t *a, const int8_t *b,
                                                  const int32_t *sel, int32_t n, int32_t z,
                                                  uint32_t *xx) {
  if (n <= 0) return;
  int8_t ta[MCT__BLK_T] __attribute__((aligned(4))), tb[MCT__BLK_T] __attribute__((aligned(4)));
  const int32_t n8 = (n + 7) / 8 * 8;
  for (int32_t j = 0; j < n8; ++j) {
    const int32_t c = j < n ? (sel ? sel[j] : j) : 0;
    ta[j] = j < n ? a[c] : (int8_t)z;
    tb[j] = j < n ? b[c] : (int8_t)z;
  }
  mct__widen2i(ta, tb, z, n8, xx);
}

/* The layout's words of pixels a, b into xx. */
static void mct__blk_widen(const int8_t *a, const int8_t *b, int32_t C, const mct_wsplit *ws,
                           int32_t z, uint32_t *xx) {
  const int32_t C8 = C / 8 * 8;
  if (C8) mct__widen2i(a, b, z, C8, xx);
  mct__tail2i(a + C8, b + C8, NULL, C - C8, z, xx + C8);
  if (ws) mct__tail2i(a, b, ws->sel, ws->n_sel, z, xx + (C + 7) / 8 * 8);
}

/* Rows r0, r1 of n weights in the layout (zeros after them to a multiple of 8). */
static inline __attribute__((always_inline)) void mct__rows2_any(const int8_t *r0,
                                                                 const int8_t *r1, int32_t n,
                                                                 uint32_t *q) {
  const int32_t n8 = n / 8 * 8;
  if (n8) mct__widen_rows2(r0, r1, n8, q);
  if (n > n8) { /* the last n % 8 from a zero-padded copy */
    int8_t t0[8] __attribute__((aligned(4))) = {0}, t1[8] __attribute__((aligned(4))) = {0};
    for (int32_t j = 0; j < n - n8; ++j) t0[j] = r0[n8 + j], t1[j] = r1[n8 + j];
    mct__widen_rows2(t0, t1, 8, q + n8);
  }
}

/* Weight rows o, o + 1 in the layout (the slice's rows of ws->wt after them). */
static inline __attribute__((always_inline)) void mct__blk_rows(const int8_t *w, int32_t C,
                                                                const mct_wsplit *ws,
                                                                int32_t o, uint32_t *wv) {
  const int8_t *w0 = w + (size_t)o * C;
  mct__rows2_any(w0, w0 + C, C, wv);
  if (ws) {
    const int32_t ns = ws->n_sel;
    const int8_t *s0 = ws->wt + (size_t)o * ns;
    mct__rows2_any(s0, s0 + ns, ns, wv + (C + 7) / 8 * 8);
  }
}

/* Channel o of a block pair (its words at xp) with the exact mct__arm_out, into ya, yb. */
static __attribute__((noinline)) void mct__blk_exact(const mct__arm_rq *r, const uint32_t *xp,
                                                     int32_t C, const int8_t *w,
                                                     const mct_wsplit *ws, int32_t o,
                                                     int8_t *ya, int8_t *yb) {
  const int32_t ns = ws ? ws->n_sel : 0, Cp = (C + 7) / 8 * 8, C4 = C / 4 * 4;
  const int16_t *h = (const int16_t *)xp;
  const int8_t *wo = w + (size_t)o * C;
  int32_t a0 = 0, a1 = 0;
  for (int32_t g = 0; g < C4 / 4; ++g) { /* whole groups: SMLAD */
    const uint32_t v = mct__ld32(wo + 4 * g);
    const int32_t e = (int32_t)__sxtb16(v), d = (int32_t)mct__sxtb16_hi(v);
    a0 = __smlad((int32_t)xp[4 * g], e, a0);
    a0 = __smlad((int32_t)xp[4 * g + 1], d, a0);
    a1 = __smlad((int32_t)xp[4 * g + 2], e, a1);
    a1 = __smlad((int32_t)xp[4 * g + 3], d, a1);
  }
  for (int32_t t = C4; t < Cp + ns; ++t) {
    if (t >= C && t < Cp) continue;
    const int32_t wt = t < C ? w[(size_t)o * C + t] : ws->wt[(size_t)o * ns + (t - Cp)];
    /* value t: group t / 4, lane t % 4 at halfword 2 (lane & 1) + (lane >> 1) of the group's
     * words (pixel b two words on) */
    const int32_t l = t & 3, i = 8 * (t >> 2) + 2 * (l & 1) + (l >> 1);
    a0 += h[i] * wt, a1 += h[i + 4] * wt;
  }
  const mct__arq c = mct__arm_ch(r, o);
  *ya = mct__arm_out(r, &c, a0);
  *yb = mct__arm_out(r, &c, a1);
}

/* Pixels p0 .. p0 + np - 1 (np even) of the layer (see mct__arm_pw_layer; the fast formula
 * valid but for the nfix channels in fix) by blocks of pixel pairs. */
static __attribute__((noinline)) void mct__pw_blocks(const mct__arm_rq *r, const int8_t *x,
                                                     int32_t p0, int32_t np, int32_t C,
                                                     int32_t O, const int8_t *w,
                                                     const mct_wsplit *ws, int8_t *y,
                                                     const uint16_t *fix, int32_t nfix,
                                                     int backward) {
  uint32_t buf[MCT__BLK_W] __attribute__((aligned(8)));
  const int32_t Ct = mct__blk_ct(C, ws ? ws->n_sel : 0);
  uint32_t *wv = buf, *xb = buf + Ct;
  const int32_t nb = 2 * (MCT__BLK_W / Ct - 1); /* pixels per block */
  const int clamp = r->act_min > -128 || r->act_max < 127;
  void (*kern)(mct__bctx *) = clamp ? mct__nblk_c : mct__nblk;
  const uint32_t c1 = (uint32_t)(1 + 2 * r->y_zero);
  mct__bctx bc;
  bc.wv = wv, bc.wend = wv + Ct, bc.xb = xb, bc.entry = (8 - Ct / 4 % 8) / 2 % 4, bc.O = O;
  bc.lo4 = mct__b4(r->act_min), bc.hi4 = mct__b4(r->act_max);
  for (int32_t t = 0; t < np; t += nb) {
    const int32_t n = np - t < nb ? np - t : nb;
    const int32_t first = backward ? p0 + np - t - n : p0 + t;
    const int8_t *xf = x + (size_t)first * C;
    for (int32_t i = 0; i < n; i += 2)
      mct__blk_widen(xf + (size_t)i * C, xf + (size_t)(i + 1) * C, C, ws, r->x_zero,
                     xb + (size_t)i / 2 * Ct);
    bc.xend = xb + (size_t)n / 2 * Ct;
    int8_t *yf = y + (size_t)first * O;
    for (int32_t o = 0; o + 2 <= O; o += 2) {
      mct__blk_rows(w, C, ws, o, wv);
      for (int32_t j = 0; j < 2; ++j) { /* shift in [-31, -2] (mct__fix_list) */
        const int32_t sh = -2 - r->shift[o + j];
        bc.bias[j] = r->bias ? r->bias[o + j] : 0;
        bc.k[3 * j] = r->mult[o + j];
        bc.k[3 * j + 1] = (int32_t)(c1 << sh);
        bc.k[3 * j + 2] = sh + 1;
      }
      bc.yp = yf + o;
      kern(&bc);
    }
    for (int32_t i = 0; i < n; i += 2) { /* the odd last channel, those outside the formula */
      int8_t *ya = yf + (size_t)i * O;
      const uint32_t *xp = xb + (size_t)i / 2 * Ct;
      if (O & 1) mct__blk_exact(r, xp, C, w, ws, O - 1, ya + O - 1, ya + O + O - 1);
      for (int32_t k = 0; k < nfix; ++k)
        mct__blk_exact(r, xp, C, w, ws, fix[k], ya + fix[k], ya + O + fix[k]);
    }
  }
}

void mct__arm_pw_pair(const mct__arm_rq *r, const int8_t *x0p, const int8_t *x1p, int32_t C,
                      int32_t O, const int8_t *w, int8_t *y0, int8_t *y1) {
  if (C <= MCT__P2_MAX && mct__fast_ok(r, O, C))
    mct__pw2(r, x0p, x1p, C, O, w, NULL, y0, y1, NULL, 0);
  else
    mct__pw_pair_slow(r, x0p, x1p, C, O, w, y0, y1);
}

/* A whole 1x1 conv (stride 1, no padding) of npix pixels by the fast kernels: tiles for few
 * input channels, else two pixels at a time (with the trained slice ws, if any), `backward`
 * from the end (the in-place order when O > C; each pass reads its pixels before writing
 * them). 0 when they do not apply (the fast formula invalid, too many channels): nothing
 * written. Also called by inplace_arm.c (declared there). */
int mct__arm_pw_layer(const mct__arm_rq *r, const int8_t *x, int32_t npix, int32_t C, int32_t O,
                      const int8_t *w, const mct_wsplit *ws, int8_t *y, int backward) {
  const int32_t ns = ws ? ws->n_sel : 0;
  if (!ws && C <= MCT_ARM_TILE_C) {
    mct__arm_pw_tiles(r, x, npix, C, O, w, y, backward);
    return 1;
  }
  uint16_t fix[MCT__FIX];
  /* the interleaved two-pixel kernel; blocks of pixel pairs (the even part, then the odd
   * pixel by a two-pixel kernel) */
  const int i2 = !ws && r->bias && C % 8 == 0 && C <= MCT__P2I_MAX;
  const int blk = npix >= 4 && MCT__BLK_W / mct__blk_ct(C, ns) - 1 >= MCT__BLK_MIN;
  if (!i2 && !blk && C + ns > MCT__P2_MAX) return 0;
  const int32_t nfix = mct__fix_list(r, O, C + ns, fix);
  if (nfix < 0) return 0;
  int32_t k = 0;
  if (blk) {
    k = npix & ~1;
    mct__pw_blocks(r, x, backward ? npix & 1 : 0, k, C, O, w, ws, y, fix, nfix, backward);
  }
  for (; k < npix; k += 2) { /* an odd last pixel as a pair with itself */
    const int32_t p = backward ? npix - 1 - k : k;
    const int32_t q = k + 1 == npix ? p : (backward ? p - 1 : p + 1);
    if (i2)
      mct__pw2i(r, x + (size_t)p * C, x + (size_t)q * C, C, O, w, y + (size_t)p * O,
                y + (size_t)q * O, fix, nfix);
    else
      mct__pw2(r, x + (size_t)p * C, x + (size_t)q * C, C, O, w, ws, y + (size_t)p * O,
               y + (size_t)q * O, fix, nfix);
  }
  return 1;
}

/* A 1x1 conv (stride 1, no padding, groups 1; arguments checked by the caller). */
static int mct__pointwise_s8_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                                 const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                 int8_t *y) {
  const mct__arm_rq r = mct__arm_rq_of(q, bias);
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w;
  if (mct__arm_pw_layer(&r, x, npix, C, O, w, ws, y, 0)) return 1;
  int32_t p = 0;
  if (!ws && C <= MCT__PAIR_C)
    for (; p + 2 <= npix; p += 2)
      mct__pw_pair_slow(&r, x + (size_t)p * C, x + (size_t)(p + 1) * C, C, O, w,
                        y + (size_t)p * O, y + (size_t)(p + 1) * O);
  for (; p < npix; ++p)
    mct__arm_pw_pixel(&r, x + (size_t)p * C, C, O, w, ws, y + (size_t)p * O);
  return 1;
}

/* Arguments are checked by the caller (conv.c). */
int mct__conv2d_s8_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y) {
  if (g->groups != 1) return 0;
  if (g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 || g->stride_w != 1 || g->pad_h != 0 ||
      g->pad_w != 0)
    return mct__conv2d_s8_im2col_dsp(g, q, x, w, ws, bias, y); /* conv_im2col_arm.c */
  return mct__pointwise_s8_dsp(g, q, x, w, ws, bias, y);
}

/* mct_conv2d_s8 of a 1x1 conv (stride 1, no padding, groups 1, no trained slice), its
 * arguments checked as conv.c checks them: depthwise_arm.c's streamed expansion rows call
 * this rather than mct_conv2d_s8, so that the general path's stack (im2col strips under the
 * block kernels) is not on their call path in the build's stack bound. */
int mct__pointwise_s8_checked_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                                  const int8_t *w, const int32_t *bias, int8_t *y) {
  if (!mct__geom_ok(g) || !mct__requant_ok(q) || !x || !w || !y || g->groups != 1 ||
      g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 || g->stride_w != 1 || g->pad_h != 0 ||
      g->pad_w != 0)
    return MCT_E_ARG;
  mct__pointwise_s8_dsp(g, q, x, w, NULL, bias, y);
  return MCT_OK;
}

int mct__linear_s8_dsp(int32_t in_c, int32_t out_c, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y) {
  const mct__arm_rq r = mct__arm_rq_of(q, bias);
  mct__arm_pw_pixel(&r, x, in_c, out_c, w, ws, y);
  return 1;
}

#else
typedef int mct__conv_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
