/* optim_arm.c: the int8 and int32 SGD updates (mct_sgd_s8, mct_sgd_s32) for Cortex-M cores
 * with an FPU, chosen by optim.c. The same float32 operations in the same order as optim.c (one rounding each,
 * no fused multiply-add); only floor() of the stochastic rounding is inlined: for
 * |t| < 2^23, truncation toward zero (VCVT) minus one when that went up is floor(t) exactly,
 * and larger or non-finite t take optim.c's floorf path. */
#include "mct_arm.h"

#if MCT_ARM_DSP && MCT_ARM_FPU
/* The inline assembly below needs an optimizing register allocator: these kernels are built
 * at -O2 whatever the build's level (mcutrain build --opt -O0 included). */
#pragma GCC optimize("O2")

#include <math.h>

/* floor(delta + u) as an integer, clamped to +-2^32 as a float, NaN -> 0 (optim.c). */
static inline int64_t mct__arm_stoch_round(float delta, float u) {
  const float t = delta + u;
  if (t > -8388608.0f && t < 8388608.0f) {
    int32_t i = (int32_t)t;
    if ((float)i > t) i -= 1;
    return i;
  }
  float f = floorf(t);
  if (f > 4294967296.0f)
    f = 4294967296.0f;
  else if (f < -4294967296.0f)
    f = -4294967296.0f;
  else if (f != f)
    f = 0.0f;
  return (int64_t)f;
}

#if defined(__ARM_FP) && (__ARM_FP & 8) /* FPv5-D16 (Cortex-M7): VCVTM */
/* The stochastic rounding's shared steps, as asm text (register contract: the statement's
 * operands [x] (the PRNG input), [m1], [m2] (optim.c's mix32 multipliers, MCT__ASM_MIX_K),
 * s0 = delta on entry; r4 and s1 are clobbered):
 *   MCT__ASM_FLOOR_U  r4 = floor(delta + u) by VCVTM (saturating, NaN -> 0), u = (mix32(x)
 *                     >> 8) / 2^24 by VCVT from 24-bit fixed point (exact); s0 clobbered.
 *   MCT__ASM_ADD32    the int32 element's end: stop (branch to 2:) when r4 + 0x80000001 <= 1
 *                     unsigned (the floor maybe saturated: [edge]); else w[0] = QADD(r4, w[0])
 *                     (w advances), x += [gold], and loop to 1: while --n; r5 clobbered. */
#define MCT__ASM_MIX_K [m1] "r"(0x7FEB352Du), [m2] "r"(0x846CA68Bu), [gold] "r"(0x9E3779B9u)
#define MCT__ASM_FLOOR_U                                                                       \
  "eor r4, %[x], %[x], lsr #16\n\t"                                                            \
  "mul r4, r4, %[m1]\n\t"                                                                      \
  "eor r4, r4, r4, lsr #15\n\t"                                                                \
  "mul r4, r4, %[m2]\n\t"                                                                      \
  "eor r4, r4, r4, lsr #16\n\t"                                                                \
  "lsrs r4, r4, #8\n\t"                                                                        \
  "vmov s1, r4\n\t"                                                                            \
  "vcvt.f32.u32 s1, s1, #24\n\t"                                                               \
  "vadd.f32 s0, s0, s1\n\t"                                                                    \
  "vcvtm.s32.f32 s0, s0\n\t"                                                                   \
  "vmov r4, s0\n\t"
#define MCT__ASM_ADD32                                                                         \
  "add r5, r4, %[edge]\n\t"                                                                    \
  "cmp r5, #1\n\t"                                                                             \
  "bls 2f\n\t"                                                                                 \
  "ldr r5, [%[w]]\n\t"                                                                         \
  "qadd r4, r4, r5\n\t"                                                                        \
  "str r4, [%[w]], #4\n\t"                                                                     \
  "add %[x], %[x], %[gold]\n\t"                                                                \
  "subs %[n], %[n], #1\n\t"                                                                    \
  "bne 1b\n\t"                                                                                 \
  "2:"

/* One row of the usual update (QAS, no weight decay, no momentum), x = key + i * golden for
 * its first element i: d = g * q; delta = -(lr * d) (VNMUL: the rounded product negated);
 * u = (mix32(x) >> 8) / 2^24 (VCVT from 24-bit fixed point: exact); floor(delta + u) by
 * VCVTM, which saturates to the int32 range (NaN -> 0, as optim.c); w + r with QADD (so a
 * saturated r still clamps the same), then clamped to [-127, 127] (SSAT, and -128 -> -127).
 * Asm contract: operands g, w, n, x (advanced), q, lr (s-registers), the mix constants;
 * clobbers r4, r5, s0, s1, flags; reads g[0 .. n), reads and writes w[0 .. n). */
static void mct__sgd_row_m7(const float *g, int8_t *w, int32_t n, uint32_t x, float q, float lr) {
  __asm__ volatile(
      "1:\n\t"
      "vldmia %[g]!, {s0}\n\t"
      "vmul.f32 s0, s0, %[q]\n\t"
      "vnmul.f32 s0, %[lr], s0\n\t"
      MCT__ASM_FLOOR_U
      "ldrsb r5, [%[w]]\n\t"
      "qadd r4, r4, r5\n\t"
      "ssat r4, #8, r4\n\t"
      "cmn r4, #128\n\t"
      "it eq\n\t"
      "mvneq r4, #126\n\t"
      "strb r4, [%[w]], #1\n\t"
      "add %[x], %[x], %[gold]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [q] "t"(q), [lr] "t"(lr), MCT__ASM_MIX_K
      : "r4", "r5", "s0", "s1", "cc", "memory");
}

/* Two elements per pass (n2 >= 1 pairs), the same results by negation: -t = lr * d - u is
 * exactly -(delta + u) (round to nearest is symmetric), VCVTP gives ceil(-t) = -floor(t)
 * (saturating, NaN -> 0), QSUB m - w = -(w + r), and clamp(v, -127, 127) = SSAT8(-SSAT8(-v)).
 * A saturated m or m - w (|r| >= 2^31 - 1) still clamps to the same side.
 * Asm contract: operands g, w, n2, x (advanced), q, lr, the mix constants; clobbers r4-r6
 * (r6: the second element's x), s0-s3, flags; reads g[0 .. 2 n2), reads and writes
 * w[0 .. 2 n2). */
static __attribute__((noinline)) void mct__sgd_row2_m7(const float *g, int8_t *w, int32_t n2, uint32_t x, float q,
                             float lr) {
  __asm__ volatile(
      "1:\n\t"
      "vldmia %[g]!, {s0-s1}\n\t"
      "vmul.f32 s0, s0, %[q]\n\t"
      "vmul.f32 s1, s1, %[q]\n\t"
      "vmul.f32 s0, %[lr], s0\n\t"
      "vmul.f32 s1, %[lr], s1\n\t"
      "add r6, %[x], %[gold]\n\t"
      "eor r4, %[x], %[x], lsr #16\n\t"
      "eor r5, r6, r6, lsr #16\n\t"
      "mul r4, r4, %[m1]\n\t"
      "mul r5, r5, %[m1]\n\t"
      "eor r4, r4, r4, lsr #15\n\t"
      "eor r5, r5, r5, lsr #15\n\t"
      "mul r4, r4, %[m2]\n\t"
      "mul r5, r5, %[m2]\n\t"
      "eor r4, r4, r4, lsr #16\n\t"
      "eor r5, r5, r5, lsr #16\n\t"
      "lsrs r4, r4, #8\n\t"
      "lsrs r5, r5, #8\n\t"
      "vmov s2, s3, r4, r5\n\t"
      "vcvt.f32.u32 s2, s2, #24\n\t"
      "vcvt.f32.u32 s3, s3, #24\n\t"
      "vsub.f32 s0, s0, s2\n\t"
      "vsub.f32 s1, s1, s3\n\t"
      "vcvtp.s32.f32 s0, s0\n\t"
      "vcvtp.s32.f32 s1, s1\n\t"
      "vmov r4, r5, s0, s1\n\t"
      "add %[x], r6, %[gold]\n\t"
      "ldrsb r6, [%[w]]\n\t"
      "qsub r4, r4, r6\n\t"
      "ldrsb r6, [%[w], #1]\n\t"
      "qsub r5, r5, r6\n\t"
      "ssat r4, #8, r4\n\t"
      "ssat r5, #8, r5\n\t"
      "rsb r4, r4, #0\n\t"
      "rsb r5, r5, #0\n\t"
      "ssat r4, #8, r4\n\t"
      "ssat r5, #8, r5\n\t"
      "strb r4, [%[w]], #1\n\t"
      "strb r5, [%[w]], #1\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n2), [x] "+r"(x)
      : [q] "t"(q), [lr] "t"(lr), MCT__ASM_MIX_K
      : "r4", "r5", "r6", "s0", "s1", "s2", "s3", "cc", "memory");
}

/* The int32 row (biases), same steps; w + r saturates to int32 (QADD, as mct_sat32) when
 * VCVTM did not saturate. Stops before an element whose floor is INT32_MAX or INT32_MIN
 * (r + 0x80000001 <= 1 unsigned: maybe saturated) and returns how many are left (0: all
 * done); the caller takes that one the portable way.
 * Asm contract: operands g, w, n, x (advanced), q, lr, the mix constants, edge; clobbers
 * r4, r5, s0, s1, flags; reads g[0 .. n), reads and writes w[0 .. n) (up to the stop). */
static int32_t mct__sgd_row32_m7(const float *g, int32_t *w, int32_t n, uint32_t x, float q,
                                 float lr) {
  __asm__ volatile(
      "1:\n\t"
      "vldmia %[g]!, {s0}\n\t"
      "vmul.f32 s0, s0, %[q]\n\t"
      "vnmul.f32 s0, %[lr], s0\n\t"
      MCT__ASM_FLOOR_U
      MCT__ASM_ADD32
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [q] "t"(q), [lr] "t"(lr), MCT__ASM_MIX_K, [edge] "r"(0x80000001u)
      : "r4", "r5", "s0", "s1", "cc", "memory");
  return n;
}

/* The same for row_len 1 (a bias): element k is row k, with its own QAS factor q[k].
 * Asm contract: as mct__sgd_row32_m7, q a pointer (advanced) and s2 its element too. */
static int32_t mct__sgd_col32_m7(const float *g, int32_t *w, int32_t n, uint32_t x, const float *q,
                                 float lr) {
  __asm__ volatile(
      "1:\n\t"
      "vldmia %[g]!, {s0}\n\t"
      "vldmia %[q]!, {s2}\n\t"
      "vmul.f32 s0, s0, s2\n\t"
      "vnmul.f32 s0, %[lr], s0\n\t"
      MCT__ASM_FLOOR_U
      MCT__ASM_ADD32
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x), [q] "+r"(q)
      : [lr] "t"(lr), MCT__ASM_MIX_K, [edge] "r"(0x80000001u)
      : "r4", "r5", "s0", "s1", "s2", "cc", "memory");
  return n;
}
#define MCT__SGD_M7 1
#else
#define MCT__SGD_M7 0
#endif

#if MCT__SGD_M7
/* One int32 element exactly as optim.c (QAS, no decay, no momentum): PRNG index i. */
static void mct__sgd32_one(uint32_t key, uint32_t i, float gk, float q, float lr, int32_t *w) {
  const float delta = -(lr * (gk * q));
  float t = floorf(delta + mct_uniform01(key, i));
  if (t > 4294967296.0f)
    t = 4294967296.0f;
  else if (t < -4294967296.0f)
    t = -4294967296.0f;
  else if (t != t)
    t = 0.0f;
  const int64_t nw = (int64_t)*w + (int64_t)t;
  *w = nw > INT32_MAX ? INT32_MAX : (nw < INT32_MIN ? INT32_MIN : (int32_t)nw);
}
#endif

/* mct_sgd_s32 (dispatched from optim.c): the FPv5 rows above for the usual update (QAS, no
 * weight decay, no momentum); 0 (the portable loop) otherwise. */
int mct__sgd_s32_dsp(const mct_sgd *p, int32_t row0, int32_t n_rows, int32_t *w,
                     const float *g, float *mom) {
#if MCT__SGD_M7
  const int32_t L = p->row_len;
  if (!p->qas || p->weight_decay != 0.0f || mom || L <= 0) return 0;
  const uint32_t key = mct_sr_key(p->seed, p->param_id, p->step);
  const float lr = p->lr;
  if (L == 1) { /* one run: element k is row row0 + k, PRNG index row0 + k */
    for (int32_t k = 0; k < n_rows;) {
      const int32_t row = row0 + k;
      const int32_t left = mct__sgd_col32_m7(g + k, w + row, n_rows - k,
                                             key + (uint32_t)row * 0x9E3779B9u, p->qas + row, lr);
      k = n_rows - left;
      if (left) mct__sgd32_one(key, (uint32_t)(row0 + k), g[k], p->qas[row0 + k], lr, w + row0 + k), ++k;
    }
    return 1;
  }
  for (int32_t r = 0; r < n_rows; ++r) {
    const int32_t row = row0 + r;
    const float q = p->qas[row];
    const float *gr = g + (size_t)r * L;
    int32_t *wr = w + (size_t)row * L;
    const uint32_t i0 = (uint32_t)row * (uint32_t)L;
    for (int32_t k = 0; k < L;) {
      const int32_t left = mct__sgd_row32_m7(gr + k, wr + k, L - k,
                                             key + (i0 + (uint32_t)k) * 0x9E3779B9u, q, lr);
      k = L - left;
      if (left) mct__sgd32_one(key, i0 + (uint32_t)k, gr[k], q, lr, wr + k), ++k;
    }
  }
  return 1;
#else
  (void)p, (void)row0, (void)n_rows, (void)w, (void)g, (void)mom;
  return 0;
#endif
}

int mct__sgd_s8_dsp(const mct_sgd *p, int32_t row0, int32_t n_rows, int8_t *w, const float *g,
                    float *mom) {
  const uint32_t key = mct_sr_key(p->seed, p->param_id, p->step);
  const int32_t L = p->row_len;
  const float lr = p->lr, wd = p->weight_decay, mo = p->momentum;
#if MCT__SGD_M7
  if (p->qas && wd == 0.0f && !mom && L > 0) {
    for (int32_t r = 0; r < n_rows; ++r) {
      const int32_t row = row0 + r;
      const uint32_t x = key + (uint32_t)row * (uint32_t)L * 0x9E3779B9u;
      const int32_t n2 = L >> 1;
      if (n2) mct__sgd_row2_m7(g + (size_t)r * L, w + (size_t)row * L, n2, x, p->qas[row], lr);
      if (L & 1)
        mct__sgd_row_m7(g + (size_t)r * L + 2 * n2, w + (size_t)row * L + 2 * n2, 1,
                        x + (uint32_t)(2 * n2) * 0x9E3779B9u, p->qas[row], lr);
    }
    return 1;
  }
#endif
  for (int32_t r = 0; r < n_rows; ++r) {
    const int32_t row = row0 + r;
    const float q = p->qas ? p->qas[row] : 1.0f;
    const float *gr = g + (size_t)r * L;
    int8_t *wr = w + (size_t)row * L;
    float *mr = mom ? mom + (size_t)row * L : NULL;
    uint32_t i = (uint32_t)row * (uint32_t)L;
    for (int32_t k = 0; k < L; ++k, ++i) {
      float d = gr[k];
      if (p->qas) d = d * q;
      if (wd != 0.0f) d = d + wd * (float)wr[k];
      if (mr) {
        const float m = mo * mr[k] + d;
        mr[k] = m;
        d = m;
      }
      const float delta = -(lr * d);
      const int64_t nw = (int64_t)wr[k] + mct__arm_stoch_round(delta, mct_uniform01(key, i));
      wr[k] = (int8_t)(nw < -127 ? -127 : (nw > 127 ? 127 : nw));
    }
  }
  return 1;
}

#else
typedef int mct__optim_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
