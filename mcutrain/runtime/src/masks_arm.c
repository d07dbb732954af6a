/* masks_arm.c: Cortex-M DSP versions of the 1-bit clamp masks of masks.c, called first by
 * masks.c. Same bits, same gradients:
 *   mct_clamp_mask_s8      four bytes at a time: SSUB8 sets a GE flag per byte where
 *                          y - (lo + 1) >= 0 (y > lo) and where (hi - 1) - y >= 0 (y < hi),
 *                          SEL turns the flags into 0/1 bytes, and one multiply by 0x01020408
 *                          gathers the four into bits 24..27.
 *   mct_clamp_grad_bits_f32  a whole byte of ones keeps its eight gradients untouched; any
 *                          other byte, two bits per LSLS (N and C) and a conditional store
 *                          of +0 (the bits of 0.0f) per clear bit, no branches. */
#include "mct_arm.h"

#if MCT_ARM_DSP


static inline uint32_t mct__mask4(uint32_t v, uint32_t lo1, uint32_t hi1) {
  (void)__ssub8(v, lo1); /* GE[i]: y[i] >= lo + 1 */
  const uint32_t a = __sel(0x01010101u, 0u);
  (void)__ssub8(hi1, v); /* GE[i]: hi - 1 >= y[i] */
  const uint32_t b = __sel(0x01010101u, 0u);
  return ((a & b) * 0x01020408u) >> 24;
}

int mct__clamp_mask_s8_dsp(int32_t n, int32_t lo, int32_t hi, const int8_t *y, uint8_t *bits) {
  if (n < 0 || !y || !bits || lo < -128 || lo > 126 || hi < -127 || hi > 127)
    return MCT_ARM_PASS;
  const uint32_t lo1 = (uint32_t)(uint8_t)(lo + 1) * 0x01010101u;
  const uint32_t hi1 = (uint32_t)(uint8_t)(hi - 1) * 0x01010101u;
  int32_t b = 0;
  for (; 8 * b + 8 <= n; ++b) {
    const uint32_t m0 = mct__mask4(mct__ld32(y + 8 * b), lo1, hi1);
    const uint32_t m1 = mct__mask4(mct__ld32(y + 8 * b + 4), lo1, hi1);
    bits[b] = (uint8_t)(m0 | (m1 << 4));
  }
  if (8 * b < n) {
    uint8_t v = 0;
    for (int32_t i = 8 * b; i < n; ++i) v |= (uint8_t)((y[i] > lo && y[i] < hi) << (i - 8 * b));
    bits[b] = v;
  }
  return MCT_OK;
}

int mct__clamp_grad_bits_f32_dsp(int32_t n, const uint8_t *bits, float *g) {
  if (n < 0 || !bits || !g) return MCT_ARM_PASS;
  int32_t nb = n >> 3;
  if (nb) {
    const uint8_t *b = bits;
    float *gp = g;
    /* per byte: 0xFF keeps all eight; otherwise LSLS #(31 - k) puts bit k in N and bit k + 1
     * in C, and each clear one stores +0 (the portable 0.0f) over its gradient.
     * Asm contract: operands b, gp, nb (advanced), a zero register; clobbers r4 (the byte),
     * r5, flags; reads bits[0 .. nb), writes +0 over some of g[0 .. 8 nb). */
    __asm__ volatile(
        "1:\n\t"
        "ldrb r4, [%[b]], #1\n\t"
        "cmp r4, #255\n\t"
        "beq 2f\n\t"
        "lsls r5, r4, #31\n\tit pl\n\tstrpl %[z], [%[g]]\n\tit cc\n\tstrcc %[z], [%[g], #4]\n\t"
        "lsls r5, r4, #29\n\tit pl\n\tstrpl %[z], [%[g], #8]\n\tit cc\n\tstrcc %[z], [%[g], #12]\n\t"
        "lsls r5, r4, #27\n\tit pl\n\tstrpl %[z], [%[g], #16]\n\tit cc\n\tstrcc %[z], [%[g], #20]\n\t"
        "lsls r5, r4, #25\n\tit pl\n\tstrpl %[z], [%[g], #24]\n\tit cc\n\tstrcc %[z], [%[g], #28]\n\t"
        "2:\n\t"
        "adds %[g], %[g], #32\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b"
        : [b] "+r"(b), [g] "+r"(gp), [n] "+r"(nb)
        : [z] "r"(0)
        : "r4", "r5", "cc", "memory");
  }
  for (int32_t i = n & ~7; i < n; ++i)
    if (!((bits[i >> 3] >> (i & 7)) & 1)) g[i] = 0.0f;
  return MCT_OK;
}

#else
typedef int mct__masks_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
