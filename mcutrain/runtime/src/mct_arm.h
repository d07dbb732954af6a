/* mct_arm.h: Cortex-M DSP helpers (ARMv7E-M: Cortex-M4, M7) shared by the *_arm.c kernels.
 * Not part of the public API. Every helper is bit-exact with the portable C it replaces:
 *
 *   int8 dot products   SXTB16 splits four int8 into two registers of int16 pairs (bytes 0,2
 *                       and 1,3), SSUB16 subtracts the zero point from both halves (|x - z| <=
 *                       255 fits int16), SMLAD adds two 16x16 products to an int32 sum: the
 *                       same integer sum in another order (integer addition is associative).
 *   requantization      sat32(acc + bias) is QADD; round-half-up of q / 2^k is
 *                       ((q >> (k - 1)) + 1) >> 1 (nested floors of power-of-two divisions),
 *                       with q >> 31 of the 64-bit product taken once, so a multiplier below
 *                       1/2 (shift <= -1, the usual case) needs no 64-bit shift; other shifts
 *                       take the 64-bit formula of mct_fixedpoint.h.
 *   float MAC           VMLA.F32 rounds the product before the addition (it is not fused), so
 *                       it equals a multiply then an add: -ffp-contract=off semantics.
 * MCT_ARM_DSP is 1 when compiling for such a core (and not -DMCT_PORTABLE); the *_arm.c files
 * are empty otherwise.
 */
#ifndef MCT_ARM_H
#define MCT_ARM_H

#include "mct.h"

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && !defined(MCT_PORTABLE)
#define MCT_ARM_DSP 1
#if defined(__ARM_FP)
#define MCT_ARM_FPU 1 /* the float kernels (VMLA) too: hard-float builds */
#else
#define MCT_ARM_FPU 0
#endif

#include <arm_acle.h>
#include <stddef.h>
#include <string.h>

/* An unaligned 32-bit load (one LDR on ARMv7-M). */
static inline uint32_t mct__ld32(const void *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* SXTB16 of x rotated right by 8: bytes 1 and 3 as int16 (GCC 12 does not fold the rotation
 * into the instruction by itself). */
static inline uint32_t mct__sxtb16_hi(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

/* The zero point z in both 16-bit halves, for SSUB16. */
static inline uint32_t mct__zz(int32_t z) { return ((uint32_t)z & 0xFFFFu) * 0x10001u; }

/* Requantization constants of one output channel (see mct__arm_out). */
typedef struct {
  int32_t bias, mult, shift;
  int32_t sh; /* -2 - shift (>= 0) when shift <= -2: the SMMUL path; else -1: 64-bit path */
} mct__arq;

typedef struct {
  const int32_t *mult, *shift, *bias;
  int32_t x_zero, y_zero, act_min, act_max;
} mct__arm_rq;

static inline mct__arm_rq mct__arm_rq_of(const mct_requant *q, const int32_t *bias) {
  mct__arm_rq r = {q->mult, q->shift, bias, q->x_zero, q->y_zero, q->act_min, q->act_max};
  return r;
}

static inline mct__arq mct__arm_ch(const mct__arm_rq *r, int32_t o) {
  mct__arq c;
  c.bias = r->bias ? r->bias[o] : 0;
  c.mult = r->mult[o];
  c.shift = r->shift[o];
  c.sh = c.shift <= -2 ? -2 - c.shift : -1;
  return c;
}

/* (a * b) >> 32, the high word of the 64-bit product. */
static inline int32_t mct__smmul(int32_t a, int32_t b) {
  int32_t r;
  __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}

/* clamp(requantize(sat32(acc + bias)) + y_zero, act_min, act_max), as mct__out_s8.
 * With q = t * mult and total = 31 - shift >= 33 (shift <= -2), round-half-up of q / 2^total
 * is ((q >> (total - 1)) + 1) >> 1, and q >> (total - 1) = (q >> 32) >> (total - 33): the
 * high word alone (SMMUL). The result then fits int32 (|q| < 2^62). */
static inline int8_t mct__arm_out(const mct__arm_rq *r, const mct__arq *c, int32_t acc) {
  const int32_t t = __qadd(acc, c->bias);
  int32_t v;
  if (c->sh >= 0) {
    v = ((mct__smmul(t, c->mult) >> c->sh) + 1) >> 1;
    v += r->y_zero;
  } else {
    const int64_t v64 = mct_requantize(t, c->mult, c->shift) + r->y_zero;
    v = v64 < -128 ? -129 : (v64 > 127 ? 128 : (int32_t)v64); /* clamped below anyway */
  }
  return (int8_t)(v < r->act_min ? r->act_min : (v > r->act_max ? r->act_max : v));
}

/* mct__arm_out with the channel's constants already in registers (c.sh >= 0 checked by the
 * caller: the SMMUL path only). */
static inline int8_t mct__arm_out_fast(int32_t acc, int32_t bias, int32_t mult, int32_t sh,
                                       int32_t yz, int32_t lo, int32_t hi) {
  int32_t v = ((mct__smmul(__qadd(acc, bias), mult) >> sh) + 1) >> 1;
  v += yz;
  return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* Per-channel constants gathered once per call (mct__arm_table): the bias (with any constant
 * correction already folded in when that stays exact), the multiplier and the shift. */
typedef struct {
  int32_t bias, mult, shift;
} mct__rqc;

#define MCT_ARM_TABLE 128 /* channels whose constants fit the stack table (1.5 KB) */

/* t[o] for o < n; xz * wsum[o] (wsum NULL: none) is subtracted from the accumulators: folded
 * into the bias when that stays an int32 (QADD then saturates the same exact sum); returns 0
 * (and plain biases) when it does not, and the caller subtracts it itself. */
static inline int mct__arm_table(const mct__arm_rq *r, int32_t n, const int32_t *wsum, int32_t xz,
                                 mct__rqc *t) {
  int exact = 1;
  for (int32_t o = 0; o < n; ++o) {
    const int64_t b = (int64_t)(r->bias ? r->bias[o] : 0) - (wsum ? (int64_t)xz * wsum[o] : 0);
    if (b < INT32_MIN || b > INT32_MAX) exact = 0;
    t[o].bias = (int32_t)b;
    t[o].mult = r->mult[o];
    t[o].shift = r->shift[o];
  }
  if (!exact)
    for (int32_t o = 0; o < n; ++o) t[o].bias = r->bias ? r->bias[o] : 0;
  return exact;
}

/* mct__arm_out from a table entry. */
static inline int8_t mct__arm_out_t(const mct__rqc *c, int32_t acc, int32_t yz, int32_t lo,
                                    int32_t hi) {
  if (c->shift <= -2) return mct__arm_out_fast(acc, c->bias, c->mult, -2 - c->shift, yz, lo, hi);
  const int64_t v64 = mct_requantize(__qadd(acc, c->bias), c->mult, c->shift) + yz;
  return (int8_t)(v64 < lo ? lo : (v64 > hi ? hi : v64));
}

/* n int8 values minus z as K = n / 2 rounded up int16 pairs: each group of four as SXTB16
 * gives them, (v0, v2) then (v1, v3); the rest as (v0, v1), (v2, 0). Two vectors widened
 * alike meet in K SMLADs. Returns K. */
static inline int32_t mct__arm_pairs(const int8_t *v, int32_t n, int32_t z, uint32_t *out) {
  const uint32_t zz = mct__zz(z);
  const int32_t G = n / 4;
  for (int32_t g = 0; g < G; ++g) {
    const uint32_t x = mct__ld32(v + 4 * g);
    out[2 * g] = __ssub16(__sxtb16(x), zz);
    out[2 * g + 1] = __ssub16(mct__sxtb16_hi(x), zz);
  }
  int32_t k = 2 * G;
  for (int32_t c = 4 * G; c < n; c += 2, ++k) {
    const int32_t lo = (int32_t)v[c] - z, hi = c + 1 < n ? (int32_t)v[c + 1] - z : 0;
    out[k] = ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
  }
  return k;
}

/* a[k] = sum_c (x[c] - xz) * w[k * ws + c] for k < 4, c < n (SMLAD, two MACs each). */
static inline void mct__arm_dot4(const int8_t *x, int32_t xz, const int8_t *w, size_t ws,
                                 int32_t n, int32_t a[4]) {
  const uint32_t zz = mct__zz(xz);
  const int8_t *w0 = w, *w1 = w + ws, *w2 = w + 2 * ws, *w3 = w + 3 * ws;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, c = 0;
  for (; c + 4 <= n; c += 4) {
    const uint32_t xv = mct__ld32(x + c);
    const int32_t xe = (int32_t)__ssub16(__sxtb16(xv), zz);
    const int32_t xo = (int32_t)__ssub16(mct__sxtb16_hi(xv), zz);
    uint32_t v = mct__ld32(w0 + c);
    a0 = __smlad(xe, __sxtb16(v), a0);
    a0 = __smlad(xo, mct__sxtb16_hi(v), a0);
    v = mct__ld32(w1 + c);
    a1 = __smlad(xe, __sxtb16(v), a1);
    a1 = __smlad(xo, mct__sxtb16_hi(v), a1);
    v = mct__ld32(w2 + c);
    a2 = __smlad(xe, __sxtb16(v), a2);
    a2 = __smlad(xo, mct__sxtb16_hi(v), a2);
    v = mct__ld32(w3 + c);
    a3 = __smlad(xe, __sxtb16(v), a3);
    a3 = __smlad(xo, mct__sxtb16_hi(v), a3);
  }
  for (; c < n; ++c) {
    const int32_t xv = (int32_t)x[c] - xz;
    a0 += xv * w0[c];
    a1 += xv * w1[c];
    a2 += xv * w2[c];
    a3 += xv * w3[c];
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* sum_c (x[c] - xz) * w[c]. */
static inline int32_t mct__arm_dot1(const int8_t *x, int32_t xz, const int8_t *w, int32_t n) {
  const uint32_t zz = mct__zz(xz);
  int32_t a = 0, c = 0;
  for (; c + 4 <= n; c += 4) {
    const uint32_t xv = mct__ld32(x + c), v = mct__ld32(w + c);
    a = __smlad((int32_t)__ssub16(__sxtb16(xv), zz), __sxtb16(v), a);
    a = __smlad((int32_t)__ssub16(mct__sxtb16_hi(xv), zz), mct__sxtb16_hi(v), a);
  }
  for (; c < n; ++c) a += ((int32_t)x[c] - xz) * w[c];
  return a;
}

/* Largest vector widened once into int16 on the stack (2 bytes per element). */
#define MCT_ARM_XMAX 512

/* xe: x - xz widened to int16, in SXTB16 order: for each group of four, the word
 * (x0, x2) then (x1, x3); the n % 4 last ones after them as plain int16. Returns n / 4. */
static inline int32_t mct__arm_widen(const int8_t *x, int32_t xz, int32_t n, uint32_t *xe) {
  const uint32_t zz = mct__zz(xz);
  const int32_t G = n / 4;
  for (int32_t g = 0; g < G; ++g) {
    const uint32_t v = mct__ld32(x + 4 * g);
    xe[2 * g] = __ssub16(__sxtb16(v), zz);
    xe[2 * g + 1] = __ssub16(mct__sxtb16_hi(v), zz);
  }
  int16_t *t = (int16_t *)(xe + 2 * G);
  for (int32_t c = 4 * G; c < n; ++c) t[c - 4 * G] = (int16_t)((int32_t)x[c] - xz);
  return G;
}

/* mct__arm_widen of the gathered x[sel[0]], x[sel[1]], ... (n values). */
static inline void mct__arm_widen_sel(const int8_t *x, const int32_t *sel, int32_t xz, int32_t n,
                                      uint32_t *xe) {
  const uint32_t zz = mct__zz(xz);
  const int32_t G = n / 4;
  for (int32_t g = 0; g < G; ++g) {
    const int32_t *s = sel + 4 * g;
    const uint32_t v = (uint32_t)(uint8_t)x[s[0]] | (uint32_t)(uint8_t)x[s[1]] << 8 |
                       (uint32_t)(uint8_t)x[s[2]] << 16 | (uint32_t)(uint8_t)x[s[3]] << 24;
    xe[2 * g] = __ssub16(__sxtb16(v), zz);
    xe[2 * g + 1] = __ssub16(mct__sxtb16_hi(v), zz);
  }
  int16_t *t = (int16_t *)(xe + 2 * G);
  for (int32_t c = 4 * G; c < n; ++c) t[c - 4 * G] = (int16_t)((int32_t)x[sel[c]] - xz);
}

/* a[k] = sum_c xw[c] * w[k * ws + c] for k < 4, with xw widened by mct__arm_widen. */
static inline void mct__arm_dot4x(const uint32_t *xe, int32_t n, const int8_t *w, size_t ws,
                                  int32_t a[4]) {
  const int8_t *w0 = w, *w2 = w + 2 * ws;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  const int32_t G = n / 4;
  const uint32_t *xend = xe + 2 * G;
  for (; xe < xend; xe += 2, w0 += 4, w2 += 4) {
    const int32_t xa = (int32_t)xe[0], xb = (int32_t)xe[1];
    uint32_t v = mct__ld32(w0);
    a0 = __smlad(xa, __sxtb16(v), a0);
    a0 = __smlad(xb, mct__sxtb16_hi(v), a0);
    v = mct__ld32(w0 + ws);
    a1 = __smlad(xa, __sxtb16(v), a1);
    a1 = __smlad(xb, mct__sxtb16_hi(v), a1);
    v = mct__ld32(w2);
    a2 = __smlad(xa, __sxtb16(v), a2);
    a2 = __smlad(xb, mct__sxtb16_hi(v), a2);
    v = mct__ld32(w2 + ws);
    a3 = __smlad(xa, __sxtb16(v), a3);
    a3 = __smlad(xb, mct__sxtb16_hi(v), a3);
  }
  const int16_t *t = (const int16_t *)xend;
  for (int32_t c = 0; c < n - 4 * G; ++c) {
    const int32_t xv = t[c];
    a0 += xv * w0[c];
    a1 += xv * w0[ws + c];
    a2 += xv * w2[c];
    a3 += xv * w2[ws + c];
  }
  a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* sum_c xw[c] * w[c] with xw widened by mct__arm_widen. */
static inline int32_t mct__arm_dot1x(const uint32_t *xe, int32_t n, const int8_t *w) {
  int32_t a = 0;
  const int32_t G = n / 4;
  for (int32_t g = 0; g < G; ++g) {
    const uint32_t v = mct__ld32(w + 4 * g);
    a = __smlad((int32_t)xe[2 * g], __sxtb16(v), a);
    a = __smlad((int32_t)xe[2 * g + 1], mct__sxtb16_hi(v), a);
  }
  const int16_t *t = (const int16_t *)(xe + 2 * G);
  for (int32_t c = 4 * G; c < n; ++c) a += t[c - 4 * G] * w[c];
  return a;
}

/* sum_j (x[sel[j]] - xz) * w[j * stride]: a trained slice's contribution. */
static inline int32_t mct__arm_dot_sel(const int8_t *x, const int32_t *sel, const int8_t *w,
                                       int32_t n, size_t stride, int32_t xz) {
  int32_t acc = 0;
  for (int32_t j = 0; j < n; ++j) acc += ((int32_t)x[sel[j]] - xz) * w[(size_t)j * stride];
  return acc;
}

/* acc += a * b in float32 with the product rounded first: VMLA.F32 (not fused). */
static inline float mct__vmla(float acc, float a, float b) {
  __asm__("vmla.f32 %0, %1, %2" : "+t"(acc) : "t"(a), "t"(b));
  return acc;
}

/* The fast requantization of the pointwise and first-conv kernels (conv_arm.c explains when
 * it is exact): SMMLA with the bias-and-rounding term, shift, SSAT; four outputs packed into a
 * word and clamped bytewise. */
static inline int32_t mct__smmla(int32_t a, int32_t b, int32_t acc) {
  int32_t r;
  __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}

static inline int32_t mct__fout(int32_t acc, int32_t mult, int32_t add, int32_t shr) {
  return __ssat(mct__smmla(acc, mult, add) >> shr, 8);
}

/* The low bytes of v0..v3 as one word (v0 in byte 0). */
static inline uint32_t mct__pack4(int32_t v0, int32_t v1, int32_t v2, int32_t v3) {
  uint32_t r = (uint32_t)v0;
  __asm__("bfi %0, %1, #8, #8" : "+r"(r) : "r"(v1));
  __asm__("bfi %0, %1, #16, #8" : "+r"(r) : "r"(v2));
  __asm__("bfi %0, %1, #24, #8" : "+r"(r) : "r"(v3));
  return r;
}

/* Each signed byte of v clamped to [lo, hi] (lo4, hi4: the bounds in every byte): SSUB8
 * sets the GE flags per byte, SEL picks. Asm contract: compiler-allocated operands, the
 * flags' GE bits clobbered (no C code reads them). */
static inline uint32_t mct__clamp4(uint32_t v, uint32_t lo4, uint32_t hi4) {
  uint32_t t;
  __asm__("ssub8 %1, %0, %2\n\tsel %0, %0, %2\n\tssub8 %1, %0, %3\n\tsel %0, %3, %0"
          : "+r"(v), "=&r"(t)
          : "r"(lo4), "r"(hi4));
  return v;
}

/* A channel's fast requantization constants (the pointwise and first-conv kernels): the
 * accumulator's start, then mct__fout's mult, add, shr. */
typedef struct {
  int32_t bias, mult, add, shr;
} mct__fq;

/* Two pixels' four outputs (accumulators with the biases in them) as two words. */
static inline __attribute__((always_inline)) void mct__req24(
    int32_t a00, int32_t a01, int32_t a02, int32_t a03, int32_t a10, int32_t a11, int32_t a12,
    int32_t a13, const mct__fq *f, uint32_t *v0, uint32_t *v1) {
  a00 = mct__fout(a00, f[0].mult, f[0].add, f[0].shr);
  a10 = mct__fout(a10, f[0].mult, f[0].add, f[0].shr);
  a01 = mct__fout(a01, f[1].mult, f[1].add, f[1].shr);
  a11 = mct__fout(a11, f[1].mult, f[1].add, f[1].shr);
  a02 = mct__fout(a02, f[2].mult, f[2].add, f[2].shr);
  a12 = mct__fout(a12, f[2].mult, f[2].add, f[2].shr);
  a03 = mct__fout(a03, f[3].mult, f[3].add, f[3].shr);
  a13 = mct__fout(a13, f[3].mult, f[3].add, f[3].shr);
  *v0 = mct__pack4(a00, a01, a02, a03), *v1 = mct__pack4(a10, a11, a12, a13);
}

static inline void mct__st32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline uint32_t mct__b4(int32_t v) { return ((uint32_t)v & 0xFFu) * 0x01010101u; }

/* Kernels whose portable function calls a DSP version first (after checking its arguments):
 * the DSP version returns its status (MCT_OK or an MCT_E_* code, <= 0) when it did the work,
 * or MCT_ARM_PASS when the portable C must do it (shapes it does not cover). */
#define MCT_ARM_PASS 1
int mct__depthwise_s8_inplace_dsp(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                  int8_t *tmp);
int mct__expand_dw_s8_dsp(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                          const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                          const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y,
                          int8_t *tmp);
int mct__expand_dw_s8_rows_dsp(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                               const int32_t *b1, const mct_conv_geom *g2,
                               const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                               const int8_t *x, int8_t *y, int8_t *ring, int8_t *work);
int mct__pointwise_s8_inplace_dsp(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                  int8_t *tmp);
int mct__conv2d_s8_rows_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                            const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                            int8_t *y, int8_t *tmp_row);
int mct__clamp_mask_s8_dsp(int32_t n, int32_t lo, int32_t hi, const int8_t *y, uint8_t *bits);
int mct__clamp_grad_bits_f32_dsp(int32_t n, const uint8_t *bits, float *g);
#if MCT_ARM_FPU
/* grad_arm.c: acc[p * as + c] += sum_o (G[p][o] s_w[o]) W[o * wst + c] for c < n4 (a multiple
 * of 4), p < np <= 64, products in o order (zero gradients skipped); sg: 384 floats */
void mct__gi_stream(const float *gp, int32_t O, const float *w_scale, const int8_t *W,
                    int32_t wst, int32_t n4, float *acc, int32_t as, int32_t np, float *sg);
/* grad_kxk_arm.c: the input gradient of groups-1 convs other than the plain 1x1 */
int mct__grad_input_kxk_f32_dsp(const mct_conv_geom *g, const float *gy, const int8_t *w,
                                const mct_wsplit *ws, const float *w_scale, float *gx);
int mct__pointwise_grad_input_f32_inplace_dsp(const mct_conv_geom *g, float *buf,
                                              const int8_t *w, const mct_wsplit *ws,
                                              const float *w_scale, float *tmp);
int mct__depthwise_grad_input_f32_inplace_dsp(const mct_conv_geom *g, float *buf,
                                              const int8_t *w, const mct_wsplit *ws,
                                              const float *w_scale, float *tmp);
#endif

/* ---- entry points of the *_arm.c files (1: handled, 0: use the portable C) -------------- */
void mct__arm_pw_pixel(const mct__arm_rq *r, const int8_t *xp, int32_t C, int32_t O,
                       const int8_t *w, const mct_wsplit *ws, int8_t *yp);
void mct__arm_pw_pair(const mct__arm_rq *r, const int8_t *x0p, const int8_t *x1p, int32_t C,
                      int32_t O, const int8_t *w, int8_t *y0, int8_t *y1);
#define MCT_ARM_PAIR_C 256 /* input channels of the two-pixel pointwise kernel */
#define MCT_ARM_TILE_C 32 /* pointwise layers of at most this many input channels: tiles */
void mct__arm_pw_tiles(const mct__arm_rq *r, const int8_t *x, int32_t npix, int32_t C, int32_t O,
                       const int8_t *w, int8_t *y, int backward);
int mct__conv2d_s8_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y);
int mct__pointwise_s8_checked_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                                  const int8_t *w, const int32_t *bias, int8_t *y);
/* conv_arm.c: a whole 1x1 conv by the fast kernels (0: not applicable, nothing written) */
int mct__arm_pw_layer(const mct__arm_rq *r, const int8_t *x, int32_t npix, int32_t C, int32_t O,
                      const int8_t *w, const mct_wsplit *ws, int8_t *y, int backward);
/* conv_im2col_arm.c: groups-1 convs of any kernel as 1x1 convs of im2col'd strips */
int mct__conv2d_s8_im2col_dsp(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                              const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                              int8_t *y);
int mct__conv2d_s8_rows_im2col_dsp(const mct_conv_geom *g, const mct__arm_rq *r,
                                   const int8_t *x, const int8_t *w, const mct_wsplit *ws,
                                   int8_t *y, int8_t *tmp_row);
int mct__linear_s8_dsp(int32_t in_c, int32_t out_c, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y);
int mct__grad_input_f32_dsp(const mct_conv_geom *g, const float *gy, const int8_t *w,
                            const mct_wsplit *ws, const float *w_scale, float *gx);
int mct__grad_weight_row_f32_dsp(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                                 int32_t x_zero, const float *gy, int32_t gy_c, float s,
                                 float *gw);
int mct__add_s8_dsp(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b,
                    int8_t *y);
int mct__sgd_s8_dsp(const mct_sgd *p, int32_t row0, int32_t n_rows, int8_t *w, const float *g,
                    float *mom);

/* Assembly text shared by the naked pixel-pair kernels (conv_arm.c tiles, inplace_arm.c
 * first conv). One channel's accumulators A (pixel 0) and B (pixel 1) requantized by its
 * fast constants (mult, add, shr; lr walks them), r8-r10 clobbered: */
#define MCT__ASM_REQ2(A, B)                                                                   \
  "ldm lr!, {r8, r9, r10}\n\t"                                                                \
  "smmla " #A ", " #A ", r8, r9\n\t"                                                          \
  "smmla " #B ", " #B ", r8, r9\n\t"                                                          \
  "asr " #A ", " #A ", r10\n\t"                                                               \
  "asr " #B ", " #B ", r10\n\t"                                                               \
  "ssat " #A ", #8, " #A "\n\t"                                                               \
  "ssat " #B ", #8, " #B "\n\t"
/* both pixels' packed words (r0, r4) clamped bytewise to lo4/hi4 at [lr], r8-r10 clobbered: */
#define MCT__ASM_CLAMP2                                                                       \
  "ldrd r8, r9, [lr]\n\t"                                                                     \
  "ssub8 r10, r0, r8\n\t"                                                                     \
  "sel r0, r0, r8\n\t"                                                                        \
  "ssub8 r10, r0, r9\n\t"                                                                     \
  "sel r0, r9, r0\n\t"                                                                        \
  "ssub8 r10, r4, r8\n\t"                                                                     \
  "sel r4, r4, r8\n\t"                                                                        \
  "ssub8 r10, r4, r9\n\t"                                                                     \
  "sel r4, r9, r4\n\t"

/* After the MACs: the four channels of both pixels requantized (MCT__ASM_REQ2, lr at the
 * context's constants), packed into r0 / r4, CLAMP (MCT__ASM_CLAMP2 or nothing), stored at
 * the pair's output ([lr, #8] then, pixel stride [lr, #12]) and that pointer moved on two
 * pixels. */
#define MCT__ASM_OUT2(CLAMP)                                                                  \
  MCT__ASM_REQ2(r0, r4) MCT__ASM_REQ2(r1, r5)                                                 \
  MCT__ASM_REQ2(r2, r6) MCT__ASM_REQ2(r3, r7)                                                 \
  "bfi r0, r1, #8, #8\n\t"                                                                    \
  "bfi r4, r5, #8, #8\n\t"                                                                    \
  "bfi r0, r2, #16, #8\n\t"                                                                   \
  "bfi r4, r6, #16, #8\n\t"                                                                   \
  "bfi r0, r3, #24, #8\n\t"                                                                   \
  "bfi r4, r7, #24, #8\n\t" CLAMP                                                             \
  "ldrd r8, r9, [lr, #8]\n\t"                                                                 \
  "str r0, [r8]\n\t"                                                                          \
  "str r4, [r8, r9]\n\t"                                                                      \
  "add r8, r8, r9, lsl #1\n\t"                                                                \
  "str r8, [lr, #8]\n\t"

/* One step of the pixel-pair kernels: the pair's input words r8 (pixel 0), r9 (pixel 1)
 * against the next four weight words at lr (LDRD post-indexed: lr moves on 16 bytes):
 * r0-r3 += SMLAD(r8, w0..3), r4-r7 += SMLAD(r9, w0..3); r10, r11 clobbered. */
#define MCT__ASM_MAC8                                                                         \
  "ldrd r10, r11, [lr], #8\n\t"                                                               \
  "smlad r0, r8, r10, r0\n\t"                                                                 \
  "smlad r4, r9, r10, r4\n\t"                                                                 \
  "smlad r1, r8, r11, r1\n\t"                                                                 \
  "smlad r5, r9, r11, r5\n\t"                                                                 \
  "ldrd r10, r11, [lr], #8\n\t"                                                               \
  "smlad r2, r8, r10, r2\n\t"                                                                 \
  "smlad r6, r9, r10, r6\n\t"                                                                 \
  "smlad r3, r8, r11, r3\n\t"                                                                 \
  "smlad r7, r9, r11, r7\n\t"

/* The whole body of a naked pixel-pair kernel f(const T *xp, ctx *c) (conv_arm.c's
 * mct__ntile_*, inplace_arm.c's mct__nfirst*; ctx: bias[4] at 0, the channels' constants at
 * 16, lo4/hi4 at 64, the output and its pixel stride at 72, 76, the inputs' end at 80, the
 * weights at 84). Contract: r0 = xp, r1 = c (the AAPCS arguments); saves r4-r11 and lr
 * itself, [sp] = c + 16 while it runs. Per pair: the biases into the accumulators r0-r3
 * (pixel 0, channels 0-3) and r4-r7 (pixel 1) by two LDMDBs, lr = the weights, STEPS (the
 * MACs: inputs at r12, weights at lr, r8-r11 free), lr = c + 16, MCT__ASM_OUT2(CLAMP), NEXT
 * (moves r12 on when STEPS did not), and on while r12 != the inputs' end. Reads the inputs,
 * the weights and c; writes the pairs' outputs and c's output pointer. */
#define MCT__ASM_PAIRS(STEPS, NEXT, CLAMP)                                                    \
  "add r1, r1, #16\n\t"                                                                       \
  "push {r1, r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                       \
  "mov r12, r0\n"                                                                             \
  "1:\n\t"                                                                                    \
  "ldr lr, [sp]\n\t"                                                                          \
  "ldmdb lr, {r0, r1, r2, r3}\n\t"                                                            \
  "ldmdb lr, {r4, r5, r6, r7}\n\t"                                                            \
  "ldr lr, [lr, #68]\n\t" STEPS                                                                \
  "ldr lr, [sp]\n\t"                                                                          \
  MCT__ASM_OUT2(CLAMP) NEXT                                                                   \
  "ldr r10, [lr, #16]\n\t"                                                                    \
  "cmp r12, r10\n\t"                                                                          \
  "bne 1b\n\t"                                                                                \
  "add sp, sp, #4\n\t"                                                                        \
  "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"

#else
#define MCT_ARM_DSP 0
#define MCT_ARM_FPU 0
#endif

#endif
