/* grad_arm.c: Cortex-M (FPv4/FPv5) versions of the float gradients of 1x1 convolutions:
 * mct_conv2d_grad_input_f32 (dispatched from conv_grad.c), mct_pointwise_grad_input_f32_inplace
 * and mct_depthwise_grad_input_f32_inplace (called first by inplace_grad.c), and
 * the weight gradient row (conv_grad.c).
 *
 * The same floats as the portable loops: every gx[p][c] starts at +0 and receives
 * (G[p][o] * s_w[o]) * w[o][c] for o = 0, 1, ... in that order, each product rounded before
 * its addition (VMLA.F32 is not fused). What changes is only which sums are in flight at once:
 * a tile of K output channels x 4 columns of weights is converted to float once and held in
 * registers while pixels stream through it, each pixel's four partial sums loaded and stored
 * back (exact: a float store and load change nothing). Skipping a zero G (the portable loops
 * do) or adding its +-0 products gives the same sums: a running sum that starts at +0 is never
 * -0, and x + (+-0) = x for any other x. The same holds for the trained slice of a
 * channel-fraction layer: its channels hold zeros in the frozen w, so their sums are taken
 * over the slice's own weights (in o order) and replace the all-zero ones.
 */
#include "mct_arm.h"

#if MCT_ARM_DSP && MCT_ARM_FPU
/* The inline assembly below needs an optimizing register allocator: these kernels are built
 * at -O2 whatever the build's level (mcutrain build --opt -O0 included). */
#pragma GCC optimize("O2")

#include "mct_internal.h"


/* ---- K x 4 streaming kernels ------------------------------------------------------------- */

/* a[p][0..4) += g[p][k] * w[k][0..4) for k = 0, ..., K - 1 in that order, p < np (np >= 1):
 * the K x 4 int8 weights (rows wstride bytes apart) converted to float once, kept in
 * s12..s31, then per pixel: its four partial sums and K gradients loaded (VLDM), K x 4 VMLAs,
 * the sums stored back (VSTM). g rows gstride bytes apart, a rows astride bytes apart. The
 * loop does two pixels per pass (an odd first one alone); the "c" kernels read consecutive
 * gradient rows (gstride K * 4) with writeback. All in asm, the tiles of four columns c = 0,
 * 4, ... < n4 included: the weight rows' pointers advance in r4.. (arguments in mct__gsa). */
typedef struct {
  const float *g; /* 0: the first pixel's K gradients */
  int32_t np;     /* 4: pixels (>= 1) */
  float *end;     /* 8: x + n4 */
  int32_t gs, as; /* 12, 16: bytes between gradient rows, between rows of x */
  float *x;       /* 20 */
  const int8_t *const *rows; /* 24: the K weight rows (their columns 0, 1, ...) */
} mct__gsa;

static __attribute__((noinline)) void mct__gs1(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldr r4, [r9]\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s12", "s13", "s14", "s15", "cc", "memory");
}

static __attribute__((noinline)) void mct__gs2(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldmia r9, {r4-r5}\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s16, s17, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s18, s19, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "vcvt.f32.s32 s16, s16\n\t""vcvt.f32.s32 s17, s17\n\t"
      "vcvt.f32.s32 s18, s18\n\t""vcvt.f32.s32 s19, s19\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s5}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s5}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s5}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s5", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "cc", "memory");
}

static __attribute__((noinline)) void mct__gs3(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldmia r9, {r4-r6}\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s16, s17, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s18, s19, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s20, s21, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s22, s23, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "vcvt.f32.s32 s16, s16\n\t""vcvt.f32.s32 s17, s17\n\t"
      "vcvt.f32.s32 s18, s18\n\t""vcvt.f32.s32 s19, s19\n\t"
      "vcvt.f32.s32 s20, s20\n\t""vcvt.f32.s32 s21, s21\n\t"
      "vcvt.f32.s32 s22, s22\n\t""vcvt.f32.s32 s23, s23\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s6}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s6}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s6}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "cc", "memory");
}

static __attribute__((noinline)) void mct__gs4(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldmia r9, {r4-r7}\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s16, s17, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s18, s19, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s20, s21, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s22, s23, r9, r10\n\t"
      "ldrsb r9, [r7], #1\n\tldrsb r10, [r7], #1\n\tvmov s24, s25, r9, r10\n\t"
      "ldrsb r9, [r7], #1\n\tldrsb r10, [r7], #1\n\tvmov s26, s27, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "vcvt.f32.s32 s16, s16\n\t""vcvt.f32.s32 s17, s17\n\t"
      "vcvt.f32.s32 s18, s18\n\t""vcvt.f32.s32 s19, s19\n\t"
      "vcvt.f32.s32 s20, s20\n\t""vcvt.f32.s32 s21, s21\n\t"
      "vcvt.f32.s32 s22, s22\n\t""vcvt.f32.s32 s23, s23\n\t"
      "vcvt.f32.s32 s24, s24\n\t""vcvt.f32.s32 s25, s25\n\t"
      "vcvt.f32.s32 s26, s26\n\t""vcvt.f32.s32 s27, s27\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s7}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s7}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s7}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "cc", "memory");
}

static __attribute__((noinline)) void mct__gs5(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldmia r9, {r4-r8}\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s16, s17, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s18, s19, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s20, s21, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s22, s23, r9, r10\n\t"
      "ldrsb r9, [r7], #1\n\tldrsb r10, [r7], #1\n\tvmov s24, s25, r9, r10\n\t"
      "ldrsb r9, [r7], #1\n\tldrsb r10, [r7], #1\n\tvmov s26, s27, r9, r10\n\t"
      "ldrsb r9, [r8], #1\n\tldrsb r10, [r8], #1\n\tvmov s28, s29, r9, r10\n\t"
      "ldrsb r9, [r8], #1\n\tldrsb r10, [r8], #1\n\tvmov s30, s31, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "vcvt.f32.s32 s16, s16\n\t""vcvt.f32.s32 s17, s17\n\t"
      "vcvt.f32.s32 s18, s18\n\t""vcvt.f32.s32 s19, s19\n\t"
      "vcvt.f32.s32 s20, s20\n\t""vcvt.f32.s32 s21, s21\n\t"
      "vcvt.f32.s32 s22, s22\n\t""vcvt.f32.s32 s23, s23\n\t"
      "vcvt.f32.s32 s24, s24\n\t""vcvt.f32.s32 s25, s25\n\t"
      "vcvt.f32.s32 s26, s26\n\t""vcvt.f32.s32 s27, s27\n\t"
      "vcvt.f32.s32 s28, s28\n\t""vcvt.f32.s32 s29, s29\n\t"
      "vcvt.f32.s32 s30, s30\n\t""vcvt.f32.s32 s31, s31\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s8}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vmla.f32 s0, s8, s28\n\t""vmla.f32 s1, s8, s29\n\t""vmla.f32 s2, s8, s30\n\t""vmla.f32 s3, s8, s31\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s8}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vmla.f32 s0, s8, s28\n\t""vmla.f32 s1, s8, s29\n\t""vmla.f32 s2, s8, s30\n\t""vmla.f32 s3, s8, s31\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1, {s4-s8}\n\tadd r1, r1, r11\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vmla.f32 s0, s8, s28\n\t""vmla.f32 s1, s8, s29\n\t""vmla.f32 s2, s8, s30\n\t""vmla.f32 s3, s8, s31\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
}

static __attribute__((noinline)) void mct__gs1c(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldr r4, [r9]\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s12", "s13", "s14", "s15", "cc", "memory");
}

static __attribute__((noinline)) void mct__gs2c(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldmia r9, {r4-r5}\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s16, s17, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s18, s19, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "vcvt.f32.s32 s16, s16\n\t""vcvt.f32.s32 s17, s17\n\t"
      "vcvt.f32.s32 s18, s18\n\t""vcvt.f32.s32 s19, s19\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s5}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s5}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s5}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s5", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "cc", "memory");
}

static __attribute__((noinline)) void mct__gs3c(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldmia r9, {r4-r6}\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s16, s17, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s18, s19, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s20, s21, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s22, s23, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "vcvt.f32.s32 s16, s16\n\t""vcvt.f32.s32 s17, s17\n\t"
      "vcvt.f32.s32 s18, s18\n\t""vcvt.f32.s32 s19, s19\n\t"
      "vcvt.f32.s32 s20, s20\n\t""vcvt.f32.s32 s21, s21\n\t"
      "vcvt.f32.s32 s22, s22\n\t""vcvt.f32.s32 s23, s23\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s6}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s6}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s6}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "cc", "memory");
}

static __attribute__((noinline)) void mct__gs4c(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldmia r9, {r4-r7}\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s16, s17, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s18, s19, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s20, s21, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s22, s23, r9, r10\n\t"
      "ldrsb r9, [r7], #1\n\tldrsb r10, [r7], #1\n\tvmov s24, s25, r9, r10\n\t"
      "ldrsb r9, [r7], #1\n\tldrsb r10, [r7], #1\n\tvmov s26, s27, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "vcvt.f32.s32 s16, s16\n\t""vcvt.f32.s32 s17, s17\n\t"
      "vcvt.f32.s32 s18, s18\n\t""vcvt.f32.s32 s19, s19\n\t"
      "vcvt.f32.s32 s20, s20\n\t""vcvt.f32.s32 s21, s21\n\t"
      "vcvt.f32.s32 s22, s22\n\t""vcvt.f32.s32 s23, s23\n\t"
      "vcvt.f32.s32 s24, s24\n\t""vcvt.f32.s32 s25, s25\n\t"
      "vcvt.f32.s32 s26, s26\n\t""vcvt.f32.s32 s27, s27\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s7}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s7}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s7}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "cc", "memory");
}

static __attribute__((noinline)) void mct__gs5c(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r9, [r0, #24]\n\t"
      "ldmia r9, {r4-r8}\n\t"
      "ldrd r11, r12, [r0, #12]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s12, s13, r9, r10\n\t"
      "ldrsb r9, [r4], #1\n\tldrsb r10, [r4], #1\n\tvmov s14, s15, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s16, s17, r9, r10\n\t"
      "ldrsb r9, [r5], #1\n\tldrsb r10, [r5], #1\n\tvmov s18, s19, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s20, s21, r9, r10\n\t"
      "ldrsb r9, [r6], #1\n\tldrsb r10, [r6], #1\n\tvmov s22, s23, r9, r10\n\t"
      "ldrsb r9, [r7], #1\n\tldrsb r10, [r7], #1\n\tvmov s24, s25, r9, r10\n\t"
      "ldrsb r9, [r7], #1\n\tldrsb r10, [r7], #1\n\tvmov s26, s27, r9, r10\n\t"
      "ldrsb r9, [r8], #1\n\tldrsb r10, [r8], #1\n\tvmov s28, s29, r9, r10\n\t"
      "ldrsb r9, [r8], #1\n\tldrsb r10, [r8], #1\n\tvmov s30, s31, r9, r10\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "vcvt.f32.s32 s16, s16\n\t""vcvt.f32.s32 s17, s17\n\t"
      "vcvt.f32.s32 s18, s18\n\t""vcvt.f32.s32 s19, s19\n\t"
      "vcvt.f32.s32 s20, s20\n\t""vcvt.f32.s32 s21, s21\n\t"
      "vcvt.f32.s32 s22, s22\n\t""vcvt.f32.s32 s23, s23\n\t"
      "vcvt.f32.s32 s24, s24\n\t""vcvt.f32.s32 s25, s25\n\t"
      "vcvt.f32.s32 s26, s26\n\t""vcvt.f32.s32 s27, s27\n\t"
      "vcvt.f32.s32 s28, s28\n\t""vcvt.f32.s32 s29, s29\n\t"
      "vcvt.f32.s32 s30, s30\n\t""vcvt.f32.s32 s31, s31\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s8}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vmla.f32 s0, s8, s28\n\t""vmla.f32 s1, s8, s29\n\t""vmla.f32 s2, s8, s30\n\t""vmla.f32 s3, s8, s31\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s8}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vmla.f32 s0, s8, s28\n\t""vmla.f32 s1, s8, s29\n\t""vmla.f32 s2, s8, s30\n\t""vmla.f32 s3, s8, s31\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s8}\n\t"
      "vmla.f32 s0, s4, s12\n\t""vmla.f32 s1, s4, s13\n\t""vmla.f32 s2, s4, s14\n\t""vmla.f32 s3, s4, s15\n\t"
      "vmla.f32 s0, s5, s16\n\t""vmla.f32 s1, s5, s17\n\t""vmla.f32 s2, s5, s18\n\t""vmla.f32 s3, s5, s19\n\t"
      "vmla.f32 s0, s6, s20\n\t""vmla.f32 s1, s6, s21\n\t""vmla.f32 s2, s6, s22\n\t""vmla.f32 s3, s6, s23\n\t"
      "vmla.f32 s0, s7, s24\n\t""vmla.f32 s1, s7, s25\n\t""vmla.f32 s2, s7, s26\n\t""vmla.f32 s3, s7, s27\n\t"
      "vmla.f32 s0, s8, s28\n\t""vmla.f32 s1, s8, s29\n\t""vmla.f32 s2, s8, s30\n\t""vmla.f32 s3, s8, s31\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r9, [r0, #8]\n\tcmp lr, r9\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
}


/* Six gradients per pixel (consecutive, read three at a time with writeback) x 4 columns:
 * the 24 weights in s8..s31, the sums in s0..s3, as the K <= 5 kernels otherwise. */
static __attribute__((noinline)) void mct__gs6c(const mct__gsa *P) {
  register const mct__gsa *p __asm__("r0") = P;
  __asm__ volatile(
      "ldr r10, [r0, #24]\n\t"
      "ldmia r10, {r4-r9}\n\t"
      "ldr r12, [r0, #16]\n\t"
      "ldr lr, [r0, #20]\n\t"
      "4:\n\t"
      "ldmia r0, {r1, r2}\n\t"
      "mov r3, lr\n\t"
      "ldrsb r10, [r4], #1\n\tldrsb r11, [r4], #1\n\tvmov s8, s9, r10, r11\n\t"
      "ldrsb r10, [r4], #1\n\tldrsb r11, [r4], #1\n\tvmov s10, s11, r10, r11\n\t"
      "ldrsb r10, [r5], #1\n\tldrsb r11, [r5], #1\n\tvmov s12, s13, r10, r11\n\t"
      "ldrsb r10, [r5], #1\n\tldrsb r11, [r5], #1\n\tvmov s14, s15, r10, r11\n\t"
      "ldrsb r10, [r6], #1\n\tldrsb r11, [r6], #1\n\tvmov s16, s17, r10, r11\n\t"
      "ldrsb r10, [r6], #1\n\tldrsb r11, [r6], #1\n\tvmov s18, s19, r10, r11\n\t"
      "ldrsb r10, [r7], #1\n\tldrsb r11, [r7], #1\n\tvmov s20, s21, r10, r11\n\t"
      "ldrsb r10, [r7], #1\n\tldrsb r11, [r7], #1\n\tvmov s22, s23, r10, r11\n\t"
      "ldrsb r10, [r8], #1\n\tldrsb r11, [r8], #1\n\tvmov s24, s25, r10, r11\n\t"
      "ldrsb r10, [r8], #1\n\tldrsb r11, [r8], #1\n\tvmov s26, s27, r10, r11\n\t"
      "ldrsb r10, [r9], #1\n\tldrsb r11, [r9], #1\n\tvmov s28, s29, r10, r11\n\t"
      "ldrsb r10, [r9], #1\n\tldrsb r11, [r9], #1\n\tvmov s30, s31, r10, r11\n\t"
      "vcvt.f32.s32 s8, s8\n\t""vcvt.f32.s32 s9, s9\n\t"
      "vcvt.f32.s32 s10, s10\n\t""vcvt.f32.s32 s11, s11\n\t"
      "vcvt.f32.s32 s12, s12\n\t""vcvt.f32.s32 s13, s13\n\t"
      "vcvt.f32.s32 s14, s14\n\t""vcvt.f32.s32 s15, s15\n\t"
      "vcvt.f32.s32 s16, s16\n\t""vcvt.f32.s32 s17, s17\n\t"
      "vcvt.f32.s32 s18, s18\n\t""vcvt.f32.s32 s19, s19\n\t"
      "vcvt.f32.s32 s20, s20\n\t""vcvt.f32.s32 s21, s21\n\t"
      "vcvt.f32.s32 s22, s22\n\t""vcvt.f32.s32 s23, s23\n\t"
      "vcvt.f32.s32 s24, s24\n\t""vcvt.f32.s32 s25, s25\n\t"
      "vcvt.f32.s32 s26, s26\n\t""vcvt.f32.s32 s27, s27\n\t"
      "vcvt.f32.s32 s28, s28\n\t""vcvt.f32.s32 s29, s29\n\t"
      "vcvt.f32.s32 s30, s30\n\t""vcvt.f32.s32 s31, s31\n\t"
      "lsrs r2, r2, #1\n\tbcc 2f\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s6}\n\t"
      "vmla.f32 s0, s4, s8\n\t""vmla.f32 s1, s4, s9\n\t""vmla.f32 s2, s4, s10\n\t""vmla.f32 s3, s4, s11\n\t"
      "vmla.f32 s0, s5, s12\n\t""vmla.f32 s1, s5, s13\n\t""vmla.f32 s2, s5, s14\n\t""vmla.f32 s3, s5, s15\n\t"
      "vmla.f32 s0, s6, s16\n\t""vmla.f32 s1, s6, s17\n\t""vmla.f32 s2, s6, s18\n\t""vmla.f32 s3, s6, s19\n\t"
      "vldmia r1!, {s4-s6}\n\t"
      "vmla.f32 s0, s4, s20\n\t""vmla.f32 s1, s4, s21\n\t""vmla.f32 s2, s4, s22\n\t""vmla.f32 s3, s4, s23\n\t"
      "vmla.f32 s0, s5, s24\n\t""vmla.f32 s1, s5, s25\n\t""vmla.f32 s2, s5, s26\n\t""vmla.f32 s3, s5, s27\n\t"
      "vmla.f32 s0, s6, s28\n\t""vmla.f32 s1, s6, s29\n\t""vmla.f32 s2, s6, s30\n\t""vmla.f32 s3, s6, s31\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "cmp r2, #0\n\tbeq 3f\n\t"
      "2:\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s6}\n\t"
      "vmla.f32 s0, s4, s8\n\t""vmla.f32 s1, s4, s9\n\t""vmla.f32 s2, s4, s10\n\t""vmla.f32 s3, s4, s11\n\t"
      "vmla.f32 s0, s5, s12\n\t""vmla.f32 s1, s5, s13\n\t""vmla.f32 s2, s5, s14\n\t""vmla.f32 s3, s5, s15\n\t"
      "vmla.f32 s0, s6, s16\n\t""vmla.f32 s1, s6, s17\n\t""vmla.f32 s2, s6, s18\n\t""vmla.f32 s3, s6, s19\n\t"
      "vldmia r1!, {s4-s6}\n\t"
      "vmla.f32 s0, s4, s20\n\t""vmla.f32 s1, s4, s21\n\t""vmla.f32 s2, s4, s22\n\t""vmla.f32 s3, s4, s23\n\t"
      "vmla.f32 s0, s5, s24\n\t""vmla.f32 s1, s5, s25\n\t""vmla.f32 s2, s5, s26\n\t""vmla.f32 s3, s5, s27\n\t"
      "vmla.f32 s0, s6, s28\n\t""vmla.f32 s1, s6, s29\n\t""vmla.f32 s2, s6, s30\n\t""vmla.f32 s3, s6, s31\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "vldmia r3, {s0-s3}\n\t"
      "vldmia r1!, {s4-s6}\n\t"
      "vmla.f32 s0, s4, s8\n\t""vmla.f32 s1, s4, s9\n\t""vmla.f32 s2, s4, s10\n\t""vmla.f32 s3, s4, s11\n\t"
      "vmla.f32 s0, s5, s12\n\t""vmla.f32 s1, s5, s13\n\t""vmla.f32 s2, s5, s14\n\t""vmla.f32 s3, s5, s15\n\t"
      "vmla.f32 s0, s6, s16\n\t""vmla.f32 s1, s6, s17\n\t""vmla.f32 s2, s6, s18\n\t""vmla.f32 s3, s6, s19\n\t"
      "vldmia r1!, {s4-s6}\n\t"
      "vmla.f32 s0, s4, s20\n\t""vmla.f32 s1, s4, s21\n\t""vmla.f32 s2, s4, s22\n\t""vmla.f32 s3, s4, s23\n\t"
      "vmla.f32 s0, s5, s24\n\t""vmla.f32 s1, s5, s25\n\t""vmla.f32 s2, s5, s26\n\t""vmla.f32 s3, s5, s27\n\t"
      "vmla.f32 s0, s6, s28\n\t""vmla.f32 s1, s6, s29\n\t""vmla.f32 s2, s6, s30\n\t""vmla.f32 s3, s6, s31\n\t"
      "vstmia r3, {s0-s3}\n\tadd r3, r3, r12\n\t"
      "subs r2, r2, #1\n\tbne 2b\n\t"
      "3:\n\t"
      "add lr, lr, #16\n\tldr r10, [r0, #8]\n\tcmp lr, r10\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",
        "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
}


typedef void (*mct__gs_fn)(const mct__gsa *);
static const mct__gs_fn mct__gs_k[6] = {0, mct__gs1, mct__gs2, mct__gs3, mct__gs4, mct__gs5};
static const mct__gs_fn mct__gs_kc[7] = {0, mct__gs1c, mct__gs2c, mct__gs3c, mct__gs4c,
                                         mct__gs5c, mct__gs6c};

/* x[p][c] += sum_{k < K} g[p * gc + k] * rows[k][c] for c < n4 (a multiple of 4), p < np
 * (rows of x C apart), k in order (K <= 5, or 6 with gc == K). Two pixels per pass; gc == K: the gradients consecutive
 * (read with writeback, the "c" kernels). */
static void mct__gs_cols(const int8_t *const *rows, int32_t C, int32_t n4, int32_t K,
                         const float *g, int32_t gc, float *x, int32_t np) {
  if (n4 <= 0) return;
  const mct__gsa P = {g, np, x + n4, gc * 4, C * 4, x, rows};
  (gc == K ? mct__gs_kc : mct__gs_k)[K](&P);
}

/* One pixel, one weight column: sum_o (g[o] * s_w[o]) * w[o * wstride], zero g skipped. */
static float mct__pg_1x1(const float *g, const float *w_scale, const int8_t *w, size_t wstride,
                         int32_t O) {
  float a = 0.0f;
  for (int32_t o = 0; o < O; ++o, w += wstride) {
    float v = g[o];
    if (v == 0.0f) continue;
    if (w_scale) v *= w_scale[o];
    a = mct__vmla(a, v, (float)*w);
  }
  return a;
}

/* Channel c = sel[s] of a trained slice for one pixel: the portable order exactly, the
 * frozen weight's product then the slice weight's for every o (g scaled by w_scale when it
 * is given, as the portable loop does). */
static float mct__slice_ch(const float *g, const float *w_scale, const int8_t *w, int32_t C,
                           const mct_wsplit *ws, int32_t s, int32_t O) {
  const int32_t c = ws->sel[s], n = ws->n_sel;
  float a = 0.0f;
  for (int32_t o = 0; o < O; ++o) {
    float v = g[o];
    if (v == 0.0f) continue;
    if (w_scale) v *= w_scale[o];
    a = mct__vmla(a, v, (float)w[(size_t)o * C + c]);
    a = mct__vmla(a, v, (float)ws->wt[(size_t)o * n + s]);
  }
  return a;
}

/* Whether the frozen weights hold zeros in the slice's channels, as generated code keeps
 * them (mct.h): then a slice channel's sum is its slice weights' sum alone (the frozen terms
 * add +-0 to a sum that is never -0). */
static int mct__slice_zero(const int8_t *w, int32_t C, const mct_wsplit *ws, int32_t O) {
  for (int32_t o = 0; o < O; ++o)
    for (int32_t s = 0; s < ws->n_sel; ++s)
      if (w[(size_t)o * C + ws->sel[s]]) return 0;
  return 1;
}

/* ---- pointwise, in place --------------------------------------------------------------------- */

static const float mct__zeros[16];

/* p[i] = +0 for i < n: sixteen floats per VSTM, then one by one. */
static void mct__zero_f32(float *p, size_t n) {
  size_t n16 = n >> 4;
  if (n16)
    __asm__ volatile(
        "vldmia %[z], {s0-s15}\n\t"
        "1:\n\t"
        "vstmia %[p]!, {s0-s15}\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b"
        : [p] "+r"(p), [n] "+r"(n16)
        : [z] "r"(mct__zeros)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",
          "s14", "s15", "cc", "memory");
  for (size_t i = 0; i < (n & 15); ++i) p[i] = 0.0f;
}

/* ---- few pixels: sums held in registers ------------------------------------------------------ */

/* x[p][c + j] = sum over o < n, in order, of g[o * P + p] * w[o * wst + j] for p < P, j < Q
 * (n >= 1): the P x Q sums start at +0 (loaded) and stay in s0..s23; per o the P gradients
 * (one VLDM) and Q weights (converted four at a time), then the P * Q VMLAs. Rows of x xst
 * bytes apart. */
static void mct__ra1_16(const float *g, const int8_t *w, int32_t wst, int32_t n, float *x,
                        int32_t xst) {
  __asm__ volatile(
      "vldmia %[z], {s0-s15}\n\t"
      "1:\n\t"
      "vldmia %[g]!, {s24}\n\t"
      "ldrsb r4, [%[w], #0]\n\tldrsb r5, [%[w], #1]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #2]\n\tldrsb r5, [%[w], #3]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s0, s24, s28\n\t""vmla.f32 s1, s24, s29\n\t""vmla.f32 s2, s24, s30\n\t""vmla.f32 s3, s24, s31\n\t"
      "ldrsb r4, [%[w], #4]\n\tldrsb r5, [%[w], #5]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #6]\n\tldrsb r5, [%[w], #7]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s4, s24, s28\n\t""vmla.f32 s5, s24, s29\n\t""vmla.f32 s6, s24, s30\n\t""vmla.f32 s7, s24, s31\n\t"
      "ldrsb r4, [%[w], #8]\n\tldrsb r5, [%[w], #9]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #10]\n\tldrsb r5, [%[w], #11]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s8, s24, s28\n\t""vmla.f32 s9, s24, s29\n\t""vmla.f32 s10, s24, s30\n\t""vmla.f32 s11, s24, s31\n\t"
      "ldrsb r4, [%[w], #12]\n\tldrsb r5, [%[w], #13]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #14]\n\tldrsb r5, [%[w], #15]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s12, s24, s28\n\t""vmla.f32 s13, s24, s29\n\t""vmla.f32 s14, s24, s30\n\t""vmla.f32 s15, s24, s31\n\t"
      "add %[w], %[w], %[wst]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vstmia %[x], {s0-s15}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [wst] "r"(wst), [xst] "r"(xst), [z] "r"(mct__zeros)
      : "r4", "r5", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s24", "s28", "s29", "s30", "s31", "cc", "memory");
}

static void mct__ra1_8(const float *g, const int8_t *w, int32_t wst, int32_t n, float *x,
                        int32_t xst) {
  __asm__ volatile(
      "vldmia %[z], {s0-s7}\n\t"
      "1:\n\t"
      "vldmia %[g]!, {s24}\n\t"
      "ldrsb r4, [%[w], #0]\n\tldrsb r5, [%[w], #1]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #2]\n\tldrsb r5, [%[w], #3]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s0, s24, s28\n\t""vmla.f32 s1, s24, s29\n\t""vmla.f32 s2, s24, s30\n\t""vmla.f32 s3, s24, s31\n\t"
      "ldrsb r4, [%[w], #4]\n\tldrsb r5, [%[w], #5]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #6]\n\tldrsb r5, [%[w], #7]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s4, s24, s28\n\t""vmla.f32 s5, s24, s29\n\t""vmla.f32 s6, s24, s30\n\t""vmla.f32 s7, s24, s31\n\t"
      "add %[w], %[w], %[wst]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vstmia %[x], {s0-s7}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [wst] "r"(wst), [xst] "r"(xst), [z] "r"(mct__zeros)
      : "r4", "r5", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s24", "s28", "s29", "s30", "s31", "cc", "memory");
}

static void mct__ra1_4(const float *g, const int8_t *w, int32_t wst, int32_t n, float *x,
                        int32_t xst) {
  __asm__ volatile(
      "vldmia %[z], {s0-s3}\n\t"
      "1:\n\t"
      "vldmia %[g]!, {s24}\n\t"
      "ldrsb r4, [%[w], #0]\n\tldrsb r5, [%[w], #1]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #2]\n\tldrsb r5, [%[w], #3]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s0, s24, s28\n\t""vmla.f32 s1, s24, s29\n\t""vmla.f32 s2, s24, s30\n\t""vmla.f32 s3, s24, s31\n\t"
      "add %[w], %[w], %[wst]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vstmia %[x], {s0-s3}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [wst] "r"(wst), [xst] "r"(xst), [z] "r"(mct__zeros)
      : "r4", "r5", "s0", "s1", "s2", "s3", "s24", "s28", "s29", "s30", "s31", "cc", "memory");
}

static void mct__ra2_8(const float *g, const int8_t *w, int32_t wst, int32_t n, float *x,
                        int32_t xst) {
  __asm__ volatile(
      "vldmia %[z], {s0-s15}\n\t"
      "1:\n\t"
      "vldmia %[g]!, {s24-s25}\n\t"
      "ldrsb r4, [%[w], #0]\n\tldrsb r5, [%[w], #1]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #2]\n\tldrsb r5, [%[w], #3]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s0, s24, s28\n\t""vmla.f32 s1, s24, s29\n\t""vmla.f32 s2, s24, s30\n\t""vmla.f32 s3, s24, s31\n\t"
      "vmla.f32 s8, s25, s28\n\t""vmla.f32 s9, s25, s29\n\t""vmla.f32 s10, s25, s30\n\t""vmla.f32 s11, s25, s31\n\t"
      "ldrsb r4, [%[w], #4]\n\tldrsb r5, [%[w], #5]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #6]\n\tldrsb r5, [%[w], #7]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s4, s24, s28\n\t""vmla.f32 s5, s24, s29\n\t""vmla.f32 s6, s24, s30\n\t""vmla.f32 s7, s24, s31\n\t"
      "vmla.f32 s12, s25, s28\n\t""vmla.f32 s13, s25, s29\n\t""vmla.f32 s14, s25, s30\n\t""vmla.f32 s15, s25, s31\n\t"
      "add %[w], %[w], %[wst]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vstmia %[x], {s0-s7}\n\t""add %[x], %[x], %[xst]\n\t"
      "vstmia %[x], {s8-s15}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [wst] "r"(wst), [xst] "r"(xst), [z] "r"(mct__zeros)
      : "r4", "r5", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s24", "s25", "s28", "s29", "s30", "s31", "cc", "memory");
}

static void mct__ra2_4(const float *g, const int8_t *w, int32_t wst, int32_t n, float *x,
                        int32_t xst) {
  __asm__ volatile(
      "vldmia %[z], {s0-s7}\n\t"
      "1:\n\t"
      "vldmia %[g]!, {s24-s25}\n\t"
      "ldrsb r4, [%[w], #0]\n\tldrsb r5, [%[w], #1]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #2]\n\tldrsb r5, [%[w], #3]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s0, s24, s28\n\t""vmla.f32 s1, s24, s29\n\t""vmla.f32 s2, s24, s30\n\t""vmla.f32 s3, s24, s31\n\t"
      "vmla.f32 s4, s25, s28\n\t""vmla.f32 s5, s25, s29\n\t""vmla.f32 s6, s25, s30\n\t""vmla.f32 s7, s25, s31\n\t"
      "add %[w], %[w], %[wst]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vstmia %[x], {s0-s3}\n\t""add %[x], %[x], %[xst]\n\t"
      "vstmia %[x], {s4-s7}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [wst] "r"(wst), [xst] "r"(xst), [z] "r"(mct__zeros)
      : "r4", "r5", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s24", "s25", "s28", "s29", "s30", "s31", "cc", "memory");
}

static void mct__ra3_8(const float *g, const int8_t *w, int32_t wst, int32_t n, float *x,
                        int32_t xst) {
  __asm__ volatile(
      "vldmia %[z], {s0-s15}\n\t"
      "vldmia %[z], {s16-s23}\n\t"
      "1:\n\t"
      "vldmia %[g]!, {s24-s26}\n\t"
      "ldrsb r4, [%[w], #0]\n\tldrsb r5, [%[w], #1]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #2]\n\tldrsb r5, [%[w], #3]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s0, s24, s28\n\t""vmla.f32 s1, s24, s29\n\t""vmla.f32 s2, s24, s30\n\t""vmla.f32 s3, s24, s31\n\t"
      "vmla.f32 s8, s25, s28\n\t""vmla.f32 s9, s25, s29\n\t""vmla.f32 s10, s25, s30\n\t""vmla.f32 s11, s25, s31\n\t"
      "vmla.f32 s16, s26, s28\n\t""vmla.f32 s17, s26, s29\n\t""vmla.f32 s18, s26, s30\n\t""vmla.f32 s19, s26, s31\n\t"
      "ldrsb r4, [%[w], #4]\n\tldrsb r5, [%[w], #5]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #6]\n\tldrsb r5, [%[w], #7]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s4, s24, s28\n\t""vmla.f32 s5, s24, s29\n\t""vmla.f32 s6, s24, s30\n\t""vmla.f32 s7, s24, s31\n\t"
      "vmla.f32 s12, s25, s28\n\t""vmla.f32 s13, s25, s29\n\t""vmla.f32 s14, s25, s30\n\t""vmla.f32 s15, s25, s31\n\t"
      "vmla.f32 s20, s26, s28\n\t""vmla.f32 s21, s26, s29\n\t""vmla.f32 s22, s26, s30\n\t""vmla.f32 s23, s26, s31\n\t"
      "add %[w], %[w], %[wst]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vstmia %[x], {s0-s7}\n\t""add %[x], %[x], %[xst]\n\t"
      "vstmia %[x], {s8-s15}\n\t""add %[x], %[x], %[xst]\n\t"
      "vstmia %[x], {s16-s23}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [wst] "r"(wst), [xst] "r"(xst), [z] "r"(mct__zeros)
      : "r4", "r5", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s28", "s29", "s30", "s31", "cc", "memory");
}

static void mct__ra3_4(const float *g, const int8_t *w, int32_t wst, int32_t n, float *x,
                        int32_t xst) {
  __asm__ volatile(
      "vldmia %[z], {s0-s11}\n\t"
      "1:\n\t"
      "vldmia %[g]!, {s24-s26}\n\t"
      "ldrsb r4, [%[w], #0]\n\tldrsb r5, [%[w], #1]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #2]\n\tldrsb r5, [%[w], #3]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s0, s24, s28\n\t""vmla.f32 s1, s24, s29\n\t""vmla.f32 s2, s24, s30\n\t""vmla.f32 s3, s24, s31\n\t"
      "vmla.f32 s4, s25, s28\n\t""vmla.f32 s5, s25, s29\n\t""vmla.f32 s6, s25, s30\n\t""vmla.f32 s7, s25, s31\n\t"
      "vmla.f32 s8, s26, s28\n\t""vmla.f32 s9, s26, s29\n\t""vmla.f32 s10, s26, s30\n\t""vmla.f32 s11, s26, s31\n\t"
      "add %[w], %[w], %[wst]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vstmia %[x], {s0-s3}\n\t""add %[x], %[x], %[xst]\n\t"
      "vstmia %[x], {s4-s7}\n\t""add %[x], %[x], %[xst]\n\t"
      "vstmia %[x], {s8-s11}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [wst] "r"(wst), [xst] "r"(xst), [z] "r"(mct__zeros)
      : "r4", "r5", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s24", "s25", "s26", "s28", "s29", "s30", "s31", "cc", "memory");
}

static void mct__ra4_4(const float *g, const int8_t *w, int32_t wst, int32_t n, float *x,
                        int32_t xst) {
  __asm__ volatile(
      "vldmia %[z], {s0-s15}\n\t"
      "1:\n\t"
      "vldmia %[g]!, {s24-s27}\n\t"
      "ldrsb r4, [%[w], #0]\n\tldrsb r5, [%[w], #1]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[w], #2]\n\tldrsb r5, [%[w], #3]\n\tvmov s30, s31, r4, r5\n\t"
      "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\tvcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
      "vmla.f32 s0, s24, s28\n\t""vmla.f32 s1, s24, s29\n\t""vmla.f32 s2, s24, s30\n\t""vmla.f32 s3, s24, s31\n\t"
      "vmla.f32 s4, s25, s28\n\t""vmla.f32 s5, s25, s29\n\t""vmla.f32 s6, s25, s30\n\t""vmla.f32 s7, s25, s31\n\t"
      "vmla.f32 s8, s26, s28\n\t""vmla.f32 s9, s26, s29\n\t""vmla.f32 s10, s26, s30\n\t""vmla.f32 s11, s26, s31\n\t"
      "vmla.f32 s12, s27, s28\n\t""vmla.f32 s13, s27, s29\n\t""vmla.f32 s14, s27, s30\n\t""vmla.f32 s15, s27, s31\n\t"
      "add %[w], %[w], %[wst]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vstmia %[x], {s0-s3}\n\t""add %[x], %[x], %[xst]\n\t"
      "vstmia %[x], {s4-s7}\n\t""add %[x], %[x], %[xst]\n\t"
      "vstmia %[x], {s8-s11}\n\t""add %[x], %[x], %[xst]\n\t"
      "vstmia %[x], {s12-s15}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)
      : [wst] "r"(wst), [xst] "r"(xst), [z] "r"(mct__zeros)
      : "r4", "r5", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
}


typedef void (*mct__ra_fn)(const float *, const int8_t *, int32_t, int32_t, float *, int32_t);

/* One pixel's sum over o of gt[o * np] * w[o * wstride], zero gradients skipped (as
 * mct__pg_1x1) with the gradients of the block transposed. */
static float mct__pg_1x1t(const float *gt, int32_t np, const int8_t *w, size_t wstride,
                          int32_t O) {
  float a = 0.0f;
  for (int32_t o = 0; o < O; ++o, gt += np, w += wstride) {
    const float v = *gt;
    if (v == 0.0f) continue;
    a = mct__vmla(a, v, (float)*w);
  }
  return a;
}

/* mct__ip_block for np <= 4 pixels from their gradients transposed (gt[o * np + p]): each
 * gx[p][c] summed in a register from +0 over o = 0, 1, ... (the tile kernels' order), each
 * weight converted once for all np pixels instead of once per tile and block. */
static void mct__ip_small(const float *gt, float *x, int32_t np, int32_t C, int32_t O,
                          const int8_t *w, const mct_wsplit *ws) {
  static const mct__ra_fn k8[3] = {mct__ra1_8, mct__ra2_8, mct__ra3_8};
  static const mct__ra_fn k4[4] = {mct__ra1_4, mct__ra2_4, mct__ra3_4, mct__ra4_4};
  const int32_t xst = C * 4;
  int32_t c = 0;
  if (np == 1)
    for (; c + 16 <= C; c += 16) mct__ra1_16(gt, w + c, C, O, x + c, xst);
  if (np < 4)
    for (; c + 8 <= C; c += 8) k8[np - 1](gt, w + c, C, O, x + c, xst);
  for (; c + 4 <= C; c += 4) k4[np - 1](gt, w + c, C, O, x + c, xst);
  for (int32_t p = 0; p < np; ++p) {
    float *xp = x + (size_t)p * C;
    for (int32_t k = c; k < C; ++k) xp[k] = mct__pg_1x1t(gt + p, np, w + k, (size_t)C, O);
    if (ws)
      for (int32_t s = 0; s < ws->n_sel; ++s)
        xp[ws->sel[s]] = mct__pg_1x1t(gt + p, np, ws->wt + s, (size_t)ws->n_sel, O);
  }
}


#define MCT__IP_COPY 512 /* gradients of a block of pixels copied to the stack (2 KB) */

/* Pixels [0, np) of a block: gx rows x (C apart) from the already scaled gradients g (O
 * apart), which x does not overlap; the slice (zero frozen channels) sums replace the
 * frozen channels' (+0) ones. */
/* d[p * K + k] = s[p * O + k] for p < np (np >= 1), k < K <= 6: one group of gradients made
 * consecutive (a plain copy). */
static void mct__group_copy(const float *s, int32_t O, int32_t K, int32_t np, float *d) {
  if (K == 6) {
    __asm__ volatile(
        "1:\n\t"
        "vldmia %[s], {s0-s5}\n\t"
        "vstmia %[d]!, {s0-s5}\n\t"
        "add %[s], %[s], %[os]\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b"
        : [s] "+r"(s), [d] "+r"(d), [n] "+r"(np)
        : [os] "r"(O * 4)
        : "s0", "s1", "s2", "s3", "s4", "s5", "cc", "memory");
    return;
  }
  for (int32_t p = 0; p < np; ++p)
    for (int32_t k = 0; k < K; ++k) d[p * K + k] = s[(size_t)p * O + k];
}

/* gb (ngb floats, or NULL): where each group of six gradients is first made consecutive
 * (for at most ngb / 6 pixels at a time) when there are enough columns, so the tiles read
 * them with writeback (six per tile); otherwise groups of five read in place. */
static void mct__ip_block(const float *g, float *x, int32_t np, int32_t C, int32_t O,
                          const int8_t *w, const mct_wsplit *ws, float *gb, int32_t ngb) {
  const int32_t n4 = C & ~3;
  mct__zero_f32(x, (size_t)np * C);
  const int32_t pc = gb && n4 >= 32 ? ngb / 6 : 0, G = pc ? 6 : 5; /* outputs per group */
  if (n4)
    for (int32_t o = 0; o < O; o += G) {
      const int32_t K = O - o < G ? O - o : G;
      const int8_t *rows[6];
      for (int32_t k = 0; k < K; ++k) rows[k] = w + (size_t)(o + k) * C;
      if (!pc) {
        mct__gs_cols(rows, C, n4, K, g + o, O, x, np);
        continue;
      }
      for (int32_t p0 = 0; p0 < np; p0 += pc) {
        const int32_t m = np - p0 < pc ? np - p0 : pc;
        mct__group_copy(g + (size_t)p0 * O + o, O, K, m, gb);
        mct__gs_cols(rows, C, n4, K, gb, K, x + (size_t)p0 * C, m);
      }
    }
  for (int32_t p = 0; p < np; ++p) {
    const float *gp = g + (size_t)p * O;
    float *xp = x + (size_t)p * C;
    for (int32_t c = n4; c < C; ++c) xp[c] = mct__pg_1x1(gp, NULL, w + c, (size_t)C, O);
    if (ws)
      for (int32_t s = 0; s < ws->n_sel; ++s)
        xp[ws->sel[s]] = mct__pg_1x1(gp, NULL, ws->wt + s, (size_t)ws->n_sel, O);
  }
}

/* A block of np <= 4 pixels (gradients src, gx rows x) through mct__ip_small, its gradients
 * first copied transposed to cp (np * O <= MCT__IP_COPY) or, one pixel, to tmp; 0 when the
 * block is larger. */
static int mct__ip_few(const float *src, float *x, int32_t np, int32_t C, int32_t O,
                       const int8_t *w, const mct_wsplit *ws, float *cp, float *tmp) {
  if (np > 4 || (np > 1 && np * O > MCT__IP_COPY)) return 0;
  float *const t = np * O <= MCT__IP_COPY ? cp : tmp;
  for (int32_t p = 0; p < np; ++p)
    for (int32_t o = 0; o < O; ++o) t[o * np + p] = src[(size_t)p * O + o];
  mct__ip_small(t, x, np, C, O, w, ws);
  return 1;
}

/* d[i] *= s[i] for i < n: eight at a time (VLDM, VMULs, VSTM), then one by one. */
static void mct__mul_f32(float *d, const float *s, int32_t n) {
  int32_t n8 = n >> 3;
  if (n8)
    __asm__ volatile(
        "1:\n\t"
        "vldmia %[d], {s0-s7}\n\t"
        "vldmia %[s]!, {s8-s15}\n\t"
        "vmul.f32 s0, s0, s8\n\tvmul.f32 s1, s1, s9\n\tvmul.f32 s2, s2, s10\n\t"
        "vmul.f32 s3, s3, s11\n\tvmul.f32 s4, s4, s12\n\tvmul.f32 s5, s5, s13\n\t"
        "vmul.f32 s6, s6, s14\n\tvmul.f32 s7, s7, s15\n\t"
        "vstmia %[d]!, {s0-s7}\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b"
        : [d] "+r"(d), [s] "+r"(s), [n] "+r"(n8)
        :
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",
          "s14", "s15", "cc", "memory");
  for (int32_t i = 0; i < (n & 7); ++i) d[i] *= s[i];
}

/* G is first scaled in place (G * s_w[o], the portable kernel's gv: a zero G gives +-0, whose
 * products change no sum, as skipping it does). Then blocks of pixels: a block whose gx rows
 * lie wholly outside every gradient still to be read (its own included) is computed straight
 * from buf, streaming its pixels through K x 4 weight tiles; otherwise the block's gradients
 * are first copied (to the stack, or tmp for one pixel), so its gx may overwrite them.
 * in_c > out_c: blocks from the end (gx of pixels [a, b) = [a C, b C) is above the gradients
 * [0, b O) still to be read when b O <= a C); in_c <= out_c: from the start (when b C <= a O). */
int mct__pointwise_grad_input_f32_inplace_dsp(const mct_conv_geom *g, float *buf,
                                                const int8_t *w, const mct_wsplit *ws,
                                                const float *w_scale, float *tmp) {
  if (!mct__geom_ok(g) || g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 ||
      g->stride_w != 1 || g->pad_h != 0 || g->pad_w != 0 || !buf || !w || !tmp ||
      !mct__wsplit_ok(ws, g->in_c) || (ws && !mct__slice_zero(w, g->in_c, ws, g->out_c)))
    return MCT_ARM_PASS;
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w;
  if (w_scale)
    for (int32_t p = 0; p < npix; ++p) mct__mul_f32(buf + (size_t)p * O, w_scale, O);
  float cp[MCT__IP_COPY];
  float *const cbuf = O <= MCT__IP_COPY ? cp : tmp;
  const int32_t ncap = O <= MCT__IP_COPY ? MCT__IP_COPY / O : 1;
  if (C > O) {
    for (int32_t b = npix; b > 0;) {
      const int32_t ad = (int32_t)(((int64_t)b * O + C - 1) / C), ac = b > ncap ? b - ncap : 0;
      const int32_t a0 = ad < ac ? ad : ac;
      if (mct__ip_few(buf + (size_t)a0 * O, buf + (size_t)a0 * C, b - a0, C, O, w, ws, cp, tmp)) {
      } else if (ad < ac) {
        mct__ip_block(buf + (size_t)ad * O, buf + (size_t)ad * C, b - ad, C, O, w, ws, cp,
                      MCT__IP_COPY);
      } else {
        memcpy(cbuf, buf + (size_t)ac * O, (size_t)(b - ac) * O * sizeof(float));
        mct__ip_block(cbuf, buf + (size_t)ac * C, b - ac, C, O, w, ws, 0, 0);
      }
      b = a0;
    }
  } else {
    for (int32_t a = 0; a < npix;) {
      int32_t bd = (int32_t)(((int64_t)a * O) / C);
      const int32_t bc = npix - a > ncap ? a + ncap : npix;
      if (bd > npix) bd = npix;
      const int32_t b0 = bd > bc ? bd : bc;
      if (mct__ip_few(buf + (size_t)a * O, buf + (size_t)a * C, b0 - a, C, O, w, ws, cp, tmp)) {
      } else if (bd > bc) {
        mct__ip_block(buf + (size_t)a * O, buf + (size_t)a * C, bd - a, C, O, w, ws, cp,
                      MCT__IP_COPY);
      } else {
        memcpy(cbuf, buf + (size_t)a * O, (size_t)(bc - a) * O * sizeof(float));
        mct__ip_block(cbuf, buf + (size_t)a * C, bc - a, C, O, w, ws, 0, 0);
      }
      a = b0;
    }
  }
  return MCT_OK;
}

/* ---- weight gradient of a 1x1 conv, one output channel ------------------------------------ */

#define MCT__GW_PIX 256 /* pixels whose non-zero gradients are listed on the stack */

/* float(i) for i = -255 .. 256: (x - x_zero) of int8 x and x_zero as one table load. */
#define MCT__F4(b) (float)(b), (float)((b) + 1), (float)((b) + 2), (float)((b) + 3)
#define MCT__F16(b) MCT__F4(b), MCT__F4((b) + 4), MCT__F4((b) + 8), MCT__F4((b) + 12)
#define MCT__F64(b) MCT__F16(b), MCT__F16((b) + 16), MCT__F16((b) + 32), MCT__F16((b) + 48)
#define MCT__F256(b) MCT__F64(b), MCT__F64((b) + 64), MCT__F64((b) + 128), MCT__F64((b) + 192)
static const float mct__i2f[512] = {MCT__F256(-255), MCT__F256(1)};

/* out[j] = (sum over k < n, in order, of gv[k] * lut[xl[k][c + j]]) * s for j < NB (n >= 1):
 * the sums start at +0 (loaded), each x - x_zero one LDRSB and one table LDR. */
static void mct__gw16(const int8_t *const *xl, const float *gv, int32_t n, int32_t c,
                     const float *lut, float s, float *out) {
  __asm__ volatile(
      "vldmia %[z], {s0-s15}\n\t"
      "1:\n\t"
      "ldr r6, [%[xl]], #4\n\tvldmia %[gv]!, {s16}\n\tadd r6, r6, %[c]\n\t"
      "ldrsb r4, [r6, #0]\n\tldrsb r5, [r6, #1]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s17, s18, r4, r5\n\t"
      "vmla.f32 s0, s16, s17\n\tvmla.f32 s1, s16, s18\n\t"
      "ldrsb r4, [r6, #2]\n\tldrsb r5, [r6, #3]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s17, s18, r4, r5\n\t"
      "vmla.f32 s2, s16, s17\n\tvmla.f32 s3, s16, s18\n\t"
      "ldrsb r4, [r6, #4]\n\tldrsb r5, [r6, #5]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s17, s18, r4, r5\n\t"
      "vmla.f32 s4, s16, s17\n\tvmla.f32 s5, s16, s18\n\t"
      "ldrsb r4, [r6, #6]\n\tldrsb r5, [r6, #7]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s17, s18, r4, r5\n\t"
      "vmla.f32 s6, s16, s17\n\tvmla.f32 s7, s16, s18\n\t"
      "ldrsb r4, [r6, #8]\n\tldrsb r5, [r6, #9]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s17, s18, r4, r5\n\t"
      "vmla.f32 s8, s16, s17\n\tvmla.f32 s9, s16, s18\n\t"
      "ldrsb r4, [r6, #10]\n\tldrsb r5, [r6, #11]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s17, s18, r4, r5\n\t"
      "vmla.f32 s10, s16, s17\n\tvmla.f32 s11, s16, s18\n\t"
      "ldrsb r4, [r6, #12]\n\tldrsb r5, [r6, #13]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s17, s18, r4, r5\n\t"
      "vmla.f32 s12, s16, s17\n\tvmla.f32 s13, s16, s18\n\t"
      "ldrsb r4, [r6, #14]\n\tldrsb r5, [r6, #15]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s17, s18, r4, r5\n\t"
      "vmla.f32 s14, s16, s17\n\tvmla.f32 s15, s16, s18\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vmul.f32 s0, s0, %[s]\n\t""vmul.f32 s1, s1, %[s]\n\t""vmul.f32 s2, s2, %[s]\n\t""vmul.f32 s3, s3, %[s]\n\t"
      "vmul.f32 s4, s4, %[s]\n\t""vmul.f32 s5, s5, %[s]\n\t""vmul.f32 s6, s6, %[s]\n\t""vmul.f32 s7, s7, %[s]\n\t"
      "vmul.f32 s8, s8, %[s]\n\t""vmul.f32 s9, s9, %[s]\n\t""vmul.f32 s10, s10, %[s]\n\t""vmul.f32 s11, s11, %[s]\n\t"
      "vmul.f32 s12, s12, %[s]\n\t""vmul.f32 s13, s13, %[s]\n\t""vmul.f32 s14, s14, %[s]\n\t""vmul.f32 s15, s15, %[s]\n\t"
      "vstmia %[out], {s0-s15}"
      : [xl] "+r"(xl), [gv] "+r"(gv), [n] "+r"(n)
      : [c] "r"(c), [lut] "r"(lut), [s] "t"(s), [out] "r"(out), [z] "r"(mct__zeros)
      : "r4", "r5", "r6", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "cc", "memory");
}

static void mct__gw8(const int8_t *const *xl, const float *gv, int32_t n, int32_t c,
                     const float *lut, float s, float *out) {
  __asm__ volatile(
      "vldmia %[z], {s0-s7}\n\t"
      "1:\n\t"
      "ldr r6, [%[xl]], #4\n\tvldmia %[gv]!, {s8}\n\tadd r6, r6, %[c]\n\t"
      "ldrsb r4, [r6, #0]\n\tldrsb r5, [r6, #1]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s9, s10, r4, r5\n\t"
      "vmla.f32 s0, s8, s9\n\tvmla.f32 s1, s8, s10\n\t"
      "ldrsb r4, [r6, #2]\n\tldrsb r5, [r6, #3]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s9, s10, r4, r5\n\t"
      "vmla.f32 s2, s8, s9\n\tvmla.f32 s3, s8, s10\n\t"
      "ldrsb r4, [r6, #4]\n\tldrsb r5, [r6, #5]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s9, s10, r4, r5\n\t"
      "vmla.f32 s4, s8, s9\n\tvmla.f32 s5, s8, s10\n\t"
      "ldrsb r4, [r6, #6]\n\tldrsb r5, [r6, #7]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s9, s10, r4, r5\n\t"
      "vmla.f32 s6, s8, s9\n\tvmla.f32 s7, s8, s10\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vmul.f32 s0, s0, %[s]\n\t""vmul.f32 s1, s1, %[s]\n\t""vmul.f32 s2, s2, %[s]\n\t""vmul.f32 s3, s3, %[s]\n\t"
      "vmul.f32 s4, s4, %[s]\n\t""vmul.f32 s5, s5, %[s]\n\t""vmul.f32 s6, s6, %[s]\n\t""vmul.f32 s7, s7, %[s]\n\t"
      "vstmia %[out], {s0-s7}"
      : [xl] "+r"(xl), [gv] "+r"(gv), [n] "+r"(n)
      : [c] "r"(c), [lut] "r"(lut), [s] "t"(s), [out] "r"(out), [z] "r"(mct__zeros)
      : "r4", "r5", "r6", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "cc", "memory");
}

static void mct__gw4(const int8_t *const *xl, const float *gv, int32_t n, int32_t c,
                     const float *lut, float s, float *out) {
  __asm__ volatile(
      "vldmia %[z], {s0-s3}\n\t"
      "1:\n\t"
      "ldr r6, [%[xl]], #4\n\tvldmia %[gv]!, {s4}\n\tadd r6, r6, %[c]\n\t"
      "ldrsb r4, [r6, #0]\n\tldrsb r5, [r6, #1]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s5, s6, r4, r5\n\t"
      "vmla.f32 s0, s4, s5\n\tvmla.f32 s1, s4, s6\n\t"
      "ldrsb r4, [r6, #2]\n\tldrsb r5, [r6, #3]\n\tldr r4, [%[lut], r4, lsl #2]\n\t"
      "ldr r5, [%[lut], r5, lsl #2]\n\tvmov s5, s6, r4, r5\n\t"
      "vmla.f32 s2, s4, s5\n\tvmla.f32 s3, s4, s6\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "vmul.f32 s0, s0, %[s]\n\t""vmul.f32 s1, s1, %[s]\n\t""vmul.f32 s2, s2, %[s]\n\t""vmul.f32 s3, s3, %[s]\n\t"
      "vstmia %[out], {s0-s3}"
      : [xl] "+r"(xl), [gv] "+r"(gv), [n] "+r"(n)
      : [c] "r"(c), [lut] "r"(lut), [s] "t"(s), [out] "r"(out), [z] "r"(mct__zeros)
      : "r4", "r5", "r6", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "cc", "memory");
}


/* ---- weight gradient of a 1x1 conv, several output channels ------------------------------- */

/* Pixel-major: the sums gw[k][c] of rows r0 + k live in gw itself (from +0); pixel by pixel,
 * the rows whose gradient G[p][r0 + k] is not +-0 are listed (bits, row address), then for
 * each block of at most 15 channels the pixel's x - x_zero are converted once into s16..s30
 * and every listed row adds G * x to its block (VLDM, VMLAs, VSTM). Each gw[k][c] thus
 * receives the products of the per-row kernel in the same order (pixels ascending, zero G
 * skipped), each one VMLA (product rounded, then added); the scaling by x_scale * w_scale
 * comes last, as there. Generated: mct__gwr<B> for m >= 1 consecutive blocks of B = 1..15
 * channels, the first at x (the pixel's x + its channel); l holds 2n >= 2 (G bits, tag)
 * entries, two per pass, the block of a row at tag * L + off (mod 2^32; off advances by the
 * block's bytes). An odd list is padded with (+0, the first tag), whose +-0 products change
 * no sum (a sum from +0 is never -0, as above). */
static void mct__gwr1(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldr r4, [%[lut], r4, lsl #2]\n\tvmov s16, r4\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0}\n\t"
      "vmla.f32 s0, s15, s16\n\t"
      "vstmia r5, {s0}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0}\n\t"
      "vmla.f32 s0, s15, s16\n\t"
      "vstmia r9, {s0}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #1\n\tadds %[off], %[off], #4\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s15", "s16", "cc", "memory");
}

static void mct__gwr2(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s1}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t"
      "vstmia r5, {s0-s1}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s1}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t"
      "vstmia r9, {s0-s1}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #2\n\tadds %[off], %[off], #8\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s15", "s16", "s17", "cc", "memory");
}

static void mct__gwr3(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldr r4, [%[lut], r4, lsl #2]\n\tvmov s18, r4\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s2}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t"
      "vstmia r5, {s0-s2}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s2}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t"
      "vstmia r9, {s0-s2}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #3\n\tadds %[off], %[off], #12\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s15", "s16", "s17", "s18", "cc", "memory");
}

static void mct__gwr4(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s3}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vstmia r5, {s0-s3}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s3}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vstmia r9, {s0-s3}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #4\n\tadds %[off], %[off], #16\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s15", "s16", "s17", "s18", "s19", "cc", "memory");
}

static void mct__gwr5(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldr r4, [%[lut], r4, lsl #2]\n\tvmov s20, r4\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s4}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t"
      "vstmia r5, {s0-s4}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s4}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t"
      "vstmia r9, {s0-s4}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #5\n\tadds %[off], %[off], #20\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s15", "s16", "s17", "s18", "s19", "s20", "cc", "memory");
}

static void mct__gwr6(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s5}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t"
      "vstmia r5, {s0-s5}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s5}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t"
      "vstmia r9, {s0-s5}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #6\n\tadds %[off], %[off], #24\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "cc", "memory");
}

static void mct__gwr7(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "ldrsb r4, [%[x], #6]\n\tldr r4, [%[lut], r4, lsl #2]\n\tvmov s22, r4\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s6}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t"
      "vstmia r5, {s0-s6}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s6}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t"
      "vstmia r9, {s0-s6}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #7\n\tadds %[off], %[off], #28\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "cc", "memory");
}

static void mct__gwr8(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "ldrsb r4, [%[x], #6]\n\tldrsb r5, [%[x], #7]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s22, s23, r4, r5\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s7}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vstmia r5, {s0-s7}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s7}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vstmia r9, {s0-s7}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #8\n\tadds %[off], %[off], #32\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "cc", "memory");
}

static void mct__gwr9(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "ldrsb r4, [%[x], #6]\n\tldrsb r5, [%[x], #7]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s22, s23, r4, r5\n\t"
      "ldrsb r4, [%[x], #8]\n\tldr r4, [%[lut], r4, lsl #2]\n\tvmov s24, r4\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s8}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t"
      "vstmia r5, {s0-s8}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s8}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t"
      "vstmia r9, {s0-s8}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #9\n\tadds %[off], %[off], #36\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "cc", "memory");
}

static void mct__gwr10(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "ldrsb r4, [%[x], #6]\n\tldrsb r5, [%[x], #7]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s22, s23, r4, r5\n\t"
      "ldrsb r4, [%[x], #8]\n\tldrsb r5, [%[x], #9]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s24, s25, r4, r5\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s9}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t"
      "vstmia r5, {s0-s9}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s9}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t"
      "vstmia r9, {s0-s9}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #10\n\tadds %[off], %[off], #40\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "cc", "memory");
}

static void mct__gwr11(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "ldrsb r4, [%[x], #6]\n\tldrsb r5, [%[x], #7]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s22, s23, r4, r5\n\t"
      "ldrsb r4, [%[x], #8]\n\tldrsb r5, [%[x], #9]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s24, s25, r4, r5\n\t"
      "ldrsb r4, [%[x], #10]\n\tldr r4, [%[lut], r4, lsl #2]\n\tvmov s26, r4\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s10}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t"
      "vstmia r5, {s0-s10}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s10}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t"
      "vstmia r9, {s0-s10}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #11\n\tadds %[off], %[off], #44\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "cc", "memory");
}

static void mct__gwr12(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "ldrsb r4, [%[x], #6]\n\tldrsb r5, [%[x], #7]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s22, s23, r4, r5\n\t"
      "ldrsb r4, [%[x], #8]\n\tldrsb r5, [%[x], #9]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s24, s25, r4, r5\n\t"
      "ldrsb r4, [%[x], #10]\n\tldrsb r5, [%[x], #11]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s26, s27, r4, r5\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s11}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t""vmla.f32 s11, s15, s27\n\t"
      "vstmia r5, {s0-s11}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s11}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t""vmla.f32 s11, s15, s27\n\t"
      "vstmia r9, {s0-s11}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #12\n\tadds %[off], %[off], #48\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "cc", "memory");
}

static void mct__gwr13(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "ldrsb r4, [%[x], #6]\n\tldrsb r5, [%[x], #7]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s22, s23, r4, r5\n\t"
      "ldrsb r4, [%[x], #8]\n\tldrsb r5, [%[x], #9]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s24, s25, r4, r5\n\t"
      "ldrsb r4, [%[x], #10]\n\tldrsb r5, [%[x], #11]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s26, s27, r4, r5\n\t"
      "ldrsb r4, [%[x], #12]\n\tldr r4, [%[lut], r4, lsl #2]\n\tvmov s28, r4\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s12}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t""vmla.f32 s11, s15, s27\n\t"
      "vmla.f32 s12, s15, s28\n\t"
      "vstmia r5, {s0-s12}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s12}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t""vmla.f32 s11, s15, s27\n\t"
      "vmla.f32 s12, s15, s28\n\t"
      "vstmia r9, {s0-s12}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #13\n\tadds %[off], %[off], #52\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "cc", "memory");
}

static void mct__gwr14(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "ldrsb r4, [%[x], #6]\n\tldrsb r5, [%[x], #7]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s22, s23, r4, r5\n\t"
      "ldrsb r4, [%[x], #8]\n\tldrsb r5, [%[x], #9]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s24, s25, r4, r5\n\t"
      "ldrsb r4, [%[x], #10]\n\tldrsb r5, [%[x], #11]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s26, s27, r4, r5\n\t"
      "ldrsb r4, [%[x], #12]\n\tldrsb r5, [%[x], #13]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s28, s29, r4, r5\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s13}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t""vmla.f32 s11, s15, s27\n\t"
      "vmla.f32 s12, s15, s28\n\t""vmla.f32 s13, s15, s29\n\t"
      "vstmia r5, {s0-s13}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s13}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t""vmla.f32 s11, s15, s27\n\t"
      "vmla.f32 s12, s15, s28\n\t""vmla.f32 s13, s15, s29\n\t"
      "vstmia r9, {s0-s13}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #14\n\tadds %[off], %[off], #56\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "cc", "memory");
}

static void mct__gwr15(const int8_t *x, const float *lut, const uint32_t *l, int32_t n,
                      uint32_t off, int32_t m, int32_t L) {
  __asm__ volatile(
      "2:\n\t"
      "ldrsb r4, [%[x], #0]\n\tldrsb r5, [%[x], #1]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s16, s17, r4, r5\n\t"
      "ldrsb r4, [%[x], #2]\n\tldrsb r5, [%[x], #3]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s18, s19, r4, r5\n\t"
      "ldrsb r4, [%[x], #4]\n\tldrsb r5, [%[x], #5]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s20, s21, r4, r5\n\t"
      "ldrsb r4, [%[x], #6]\n\tldrsb r5, [%[x], #7]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s22, s23, r4, r5\n\t"
      "ldrsb r4, [%[x], #8]\n\tldrsb r5, [%[x], #9]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s24, s25, r4, r5\n\t"
      "ldrsb r4, [%[x], #10]\n\tldrsb r5, [%[x], #11]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s26, s27, r4, r5\n\t"
      "ldrsb r4, [%[x], #12]\n\tldrsb r5, [%[x], #13]\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\tvmov s28, s29, r4, r5\n\t"
      "ldrsb r4, [%[x], #14]\n\tldr r4, [%[lut], r4, lsl #2]\n\tvmov s30, r4\n\t"
      "mov r6, %[l]\n\tmov r7, %[n]\n\t"
      "1:\n\t"
      "ldmia r6!, {r4, r5, r8, r9}\n\t"
      "vmov s15, r4\n\tmla r5, r5, %[L], %[off]\n\t"
      "vldmia r5, {s0-s14}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t""vmla.f32 s11, s15, s27\n\t"
      "vmla.f32 s12, s15, s28\n\t""vmla.f32 s13, s15, s29\n\t""vmla.f32 s14, s15, s30\n\t"
      "vstmia r5, {s0-s14}\n\t"
      "vmov s15, r8\n\tmla r9, r9, %[L], %[off]\n\t"
      "vldmia r9, {s0-s14}\n\t"
      "vmla.f32 s0, s15, s16\n\t""vmla.f32 s1, s15, s17\n\t""vmla.f32 s2, s15, s18\n\t""vmla.f32 s3, s15, s19\n\t"
      "vmla.f32 s4, s15, s20\n\t""vmla.f32 s5, s15, s21\n\t""vmla.f32 s6, s15, s22\n\t""vmla.f32 s7, s15, s23\n\t"
      "vmla.f32 s8, s15, s24\n\t""vmla.f32 s9, s15, s25\n\t""vmla.f32 s10, s15, s26\n\t""vmla.f32 s11, s15, s27\n\t"
      "vmla.f32 s12, s15, s28\n\t""vmla.f32 s13, s15, s29\n\t""vmla.f32 s14, s15, s30\n\t"
      "vstmia r9, {s0-s14}\n\t"
      "subs r7, r7, #1\n\tbne 1b\n\t"
      "adds %[x], %[x], #15\n\tadds %[off], %[off], #60\n\t"
      "subs %[m], %[m], #1\n\tbne 2b"
      : [x] "+r"(x), [off] "+r"(off), [m] "+r"(m)
      : [lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)
      : "r4", "r5", "r6", "r7", "r8", "r9", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "cc", "memory");
}

typedef void (*mct__gwr_fn)(const int8_t *, const float *, const uint32_t *, int32_t, uint32_t,
                            int32_t, int32_t);
static const mct__gwr_fn mct__gwr_k[16] = {0, mct__gwr1, mct__gwr2, mct__gwr3, mct__gwr4,
                                           mct__gwr5, mct__gwr6, mct__gwr7, mct__gwr8,
                                           mct__gwr9, mct__gwr10, mct__gwr11, mct__gwr12,
                                           mct__gwr13, mct__gwr14, mct__gwr15};

/* p[i] *= s for i < n. */
static void mct__scale_f32(float *p, int32_t n, float s) {
  int32_t n8 = n >> 3;
  if (n8)
    __asm__ volatile(
        "1:\n\t"
        "vldmia %[p], {s0-s7}\n\t"
        "vmul.f32 s0, s0, %[s]\n\t""vmul.f32 s1, s1, %[s]\n\t""vmul.f32 s2, s2, %[s]\n\t""vmul.f32 s3, s3, %[s]\n\t"
        "vmul.f32 s4, s4, %[s]\n\t""vmul.f32 s5, s5, %[s]\n\t""vmul.f32 s6, s6, %[s]\n\t""vmul.f32 s7, s7, %[s]\n\t"
        "vstmia %[p]!, {s0-s7}\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b"
        : [p] "+r"(p), [n] "+r"(n8)
        : [s] "t"(s)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "cc", "memory");
  for (int32_t i = 0; i < (n & 7); ++i) p[i] *= s;
}

#define MCT__GWR_MAX 64 /* rows of one call (their list on the stack: 520 bytes) */

/* The entries (g[k] bits, address of g[k + 1]) of the k < n with g[k] not +-0, from l on;
 * returns the end of the list. */
static uint32_t *mct__gw_list(const uint32_t *g, int32_t n, uint32_t *l) {
  int32_t n2 = n >> 1;
  if (n2)
    __asm__ volatile(
        "1:\n\t"
        "ldr r4, [%[g]], #4\n\tlsls r5, r4, #1\n\tit ne\n\tstrdne r4, %[g], [%[l]], #8\n\t"
        "ldr r4, [%[g]], #4\n\tlsls r5, r4, #1\n\tit ne\n\tstrdne r4, %[g], [%[l]], #8\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b"
        : [g] "+r"(g), [l] "+r"(l), [n] "+r"(n2)
        :
        : "r4", "r5", "cc", "memory");
  if (n & 1) {
    const uint32_t u = *g++;
    if (u << 1) l[0] = u, l[1] = (uint32_t)(uintptr_t)g, l += 2;
  }
  return l;
}

/* mct_conv2d_grad_weight_rows_f32 of a 1x1 conv (stride 1, no padding, groups 1); arguments
 * are checked by conv_grad.c. */
int mct__grad_weight_rows_f32_dsp(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                                  int32_t x_zero, float x_scale, const float *gy, int32_t r0,
                                  int32_t n_rows, const float *w_scale, float *gw) {
  if (g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 || g->stride_w != 1 ||
      g->pad_h != 0 || g->pad_w != 0 || x_zero < -128 || x_zero > 127 ||
      n_rows > MCT__GWR_MAX)
    return 0;
  const int32_t npix = g->out_h * g->out_w, O = g->out_c, L = n_ch;
  const int32_t nb = (L + 14) / 15, bw = (L + nb - 1) / nb; /* blocks of bw channels */
  const int32_t bm = L / bw, br = L - bm * bw;                /* bm of them, then br */
  const float *lut = mct__i2f + 255 - x_zero; /* lut[x] = x - x_zero */
  uint32_t lst[2 * MCT__GWR_MAX + 2];
  mct__zero_f32(gw, (size_t)n_rows * L);
  for (int32_t p = 0; p < npix; ++p) {
    const uint32_t *gp = (const uint32_t *)(const void *)(gy + (size_t)p * O + r0);
    uint32_t *l = mct__gw_list(gp, n_rows, lst);
    if (l == lst) continue;
    if ((l - lst) & 2) l[0] = 0, l[1] = lst[1], l += 2; /* even: (+0, the first tag) */
    const int32_t n = (int32_t)(l - lst) / 4;         /* pairs of entries */
    /* row k (tag gp + k + 1) at gw + k * L floats: tag * L + base */
    const uint32_t base = (uint32_t)(uintptr_t)gw - ((uint32_t)(uintptr_t)gp + 4u) * (uint32_t)L;
    const int8_t *x = xs + (size_t)p * n_ch;
    mct__gwr_k[bw](x, lut, lst, n, base, bm, L);
    if (br) mct__gwr_k[br](x + bm * bw, lut, lst, n, base + (uint32_t)(bm * bw * 4), 1, L);
  }
  for (int32_t k = 0; k < n_rows; ++k) mct__scale_f32(gw + (size_t)k * L, L, x_scale * w_scale[r0 + k]);
  return 1;
}

/* ---- depthwise, in place ------------------------------------------------------------------- */


#define MCT__DWG_TAPS 64 /* kernel taps converted to float on the stack */

/* One channel plane, scattered exactly as the portable loop does (outputs in order, zero
 * gradients skipped, the clipped window of each), with the kernel already in float (wf):
 * a tap costs a load, a VMLA and a store. */
static void mct__dwg_plane(const mct_conv_geom *g, const float *tg, const float *wf, float *tx) {
  const int32_t H = g->in_h, W = g->in_w, kh = g->k_h, kw = g->k_w;
  for (int32_t k = 0; k < H * W; ++k) tx[k] = 0.0f;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    const int32_t ih0 = oh * g->stride_h - g->pad_h;
    const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = H - ih0 < kh ? H - ih0 : kh;
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const float gv = tg[oh * g->out_w + ow];
      if (gv == 0.0f) continue;
      const int32_t iw0 = ow * g->stride_w - g->pad_w;
      const int32_t j0 = iw0 < 0 ? -iw0 : 0, j1 = W - iw0 < kw ? W - iw0 : kw;
      for (int32_t i = i0; i < i1; ++i) {
        float *xr = tx + (size_t)(ih0 + i) * W + (iw0 + j0);
        const float *wi = wf + i * kw + j0;
        for (int32_t j = 0; j < j1 - j0; ++j) xr[j] = mct__vmla(xr[j], gv, wi[j]);
      }
    }
  }
}

/* Eight channels at a time: the block's gradients G * s_w copied to the stack ([pixel][8]),
 * its kernels in float ([i][j][8]), then every input pixel gathers its
 * products in the portable scatter's order: output pixels in raster order, i.e. kernel rows
 * i descending (oh ascending) and, within one, taps j descending (ow ascending, the kernel
 * read backwards by VLDMDB); a tap is two VLDMs and eight VMLAs. Writing gx of the block's channels only overwrites the same
 * channels' G (HWC, both C apart), already copied. */
#define MCT__DWB_G 512    /* floats of the block's gradient copy (2 KB: 64 output pixels) */
#define MCT__DWB_TAPS 49 /* kernel taps of the block (7 x 7: 1.5 KB in float) */

typedef struct {
  int32_t grow, wrow, ntaps; /* bytes between rows' first taps (gradients, weights), taps */
  float *dst;
} mct__dwk;

/* s0..s7 = sum over rows r < nrows, taps t < ntaps of g[r][t][0..8) * w[r][t][0..8), stored
 * to k->dst. Stride-1 taps: weights consecutive; stride 2: every other. */
static void mct__dw_pix_s1(const float *g, const float *w, int32_t nrows, const mct__dwk *k) {
  __asm__ volatile(
      "ldmia %[k], {r4-r7}\n\t"
      "vldmia %[z], {s0-s7}\n\t"
      "2:\n\t"
      "mov r8, %[g]\n\tmov r9, %[w]\n\tmov r10, r6\n\t"
      "1:\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "subs r10, r10, #1\n\t"
      "bne 1b\n\t"
      "add %[g], %[g], r4\n\tadd %[w], %[w], r5\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 2b\n\t"
      "vstmia r7, {s0-s7}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(nrows)
      : [k] "r"(k), [z] "r"(mct__zeros)
      : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "s0", "s1", "s2", "s3", "s4", "s5", "s6",
        "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19",
        "s20", "s21", "s22", "s23", "cc", "memory");
}

static void mct__dw_pix_s2(const float *g, const float *w, int32_t nrows, const mct__dwk *k) {
  __asm__ volatile(
      "ldmia %[k], {r4-r7}\n\t"
      "vldmia %[z], {s0-s7}\n\t"
      "2:\n\t"
      "mov r8, %[g]\n\tmov r9, %[w]\n\tmov r10, r6\n\t"
      "1:\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "sub r9, r9, #32\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "subs r10, r10, #1\n\t"
      "bne 1b\n\t"
      "add %[g], %[g], r4\n\tadd %[w], %[w], r5\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 2b\n\t"
      "vstmia r7, {s0-s7}"
      : [g] "+r"(g), [w] "+r"(w), [n] "+r"(nrows)
      : [k] "r"(k), [z] "r"(mct__zeros)
      : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "s0", "s1", "s2", "s3", "s4", "s5", "s6",
        "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19",
        "s20", "s21", "s22", "s23", "cc", "memory");
}

/* d[p][0..8) = b[p * C + 0..8) * s[0..8) for p < n (n >= 1). */
static void mct__dw_copy8(const float *b, int32_t cstride, const float *s, float *d, int32_t n) {
  __asm__ volatile(
      "vldmia %[s], {s8-s15}\n\t"
      "1:\n\t"
      "vldmia %[b], {s0-s7}\n\t"
      "add %[b], %[b], %[cs]\n\t"
      "vmul.f32 s0, s0, s8\n\tvmul.f32 s1, s1, s9\n\tvmul.f32 s2, s2, s10\n\t"
      "vmul.f32 s3, s3, s11\n\tvmul.f32 s4, s4, s12\n\tvmul.f32 s5, s5, s13\n\t"
      "vmul.f32 s6, s6, s14\n\tvmul.f32 s7, s7, s15\n\t"
      "vstmia %[d]!, {s0-s7}\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [b] "+r"(b), [d] "+r"(d), [n] "+r"(n)
      : [s] "r"(s), [cs] "r"(cstride)
      : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",
        "s14", "s15", "cc", "memory");
}

/* o[t * 8 + 0..4) = float(a[t]), float(b[t]), float(c[t]), float(d[t]) for t < n (n >= 1):
 * four kernels interleaved, each weight one LDRSB and one table LDR, four stored by STM. */
static __attribute__((noinline)) void mct__dw_w4(const int8_t *a, const int8_t *b, const int8_t *c, const int8_t *d,
                       const uint32_t *lut, uint32_t *o, int32_t n) {
  __asm__ volatile(
      "1:\n\t"
      "ldrsb r4, [%[a]], #1\n\tldrsb r5, [%[b]], #1\n\t"
      "ldrsb r6, [%[c]], #1\n\tldrsb r7, [%[d]], #1\n\t"
      "ldr r4, [%[lut], r4, lsl #2]\n\tldr r5, [%[lut], r5, lsl #2]\n\t"
      "ldr r6, [%[lut], r6, lsl #2]\n\tldr r7, [%[lut], r7, lsl #2]\n\t"
      "stmia %[o], {r4-r7}\n\t"
      "adds %[o], %[o], #32\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [a] "+r"(a), [b] "+r"(b), [c] "+r"(c), [d] "+r"(d), [o] "+r"(o), [n] "+r"(n)
      : [lut] "r"(lut)
      : "r4", "r5", "r6", "r7", "cc", "memory");
}

/* One input row of a block of eight channels, all asm: per input pixel its table entry
 * (gradient and weight byte offsets of its first tap, minus the bytes of its taps), then its
 * rows (nrows, the same for the whole input row) through the taps unrolled seven times and
 * entered at the pixel's first tap (BX), the sums stored to dst (cstride bytes apart). The
 * taps and rows in the order of mct__dw_pix_s1/_s2. Offsets: the asm reads the fields by
 * position. */
typedef struct {
  const int32_t *tab;     /* 0: per input pixel {g offset, w offset, -(taps * tap code bytes)} */
  float *dst;             /* 4 */
  const float *grow;      /* 8: the gradients of the row's first output row */
  const float *wrow;      /* 12: the taps of kernel row i (see mct__dwg_block8) */
  int32_t nrows, w;       /* 16, 20: output rows, input pixels (>= 1 each) */
  int32_t gstride, wstride, cstride; /* 24, 28, 32: bytes per output row, kernel row, pixel */
  const float *zeros;     /* 36 */
} mct__dwl;

static __attribute__((noinline)) void mct__dw_line_s1(const mct__dwl *P) {
  register const mct__dwl *p __asm__("r0") = P;
  __asm__ volatile(
      "ldmia r0, {r1, r2, r3, r4, r5, r7}\n\t"
      "adr.w r6, 5f\n\t"
      "adds r6, r6, #1\n\t"
      "4:\n\t"
      "ldmia r1!, {r8, r9, r10}\n\t"
      "add r12, r3, r8\n\tadd lr, r4, r9\n\tadd r10, r10, r6\n\t"
      "ldr r8, [r0, #36]\n\tvldmia r8, {s0-s7}\n\t"
      "mov r11, r5\n\t"
      "3:\n\t"
      "mov r8, r12\n\tmov r9, lr\n\tbx r10\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "5:\n\t"
      "ldrd r8, r9, [r0, #24]\n\t"
      "add r12, r12, r8\n\tadd lr, lr, r9\n\t"
      "subs r11, r11, #1\n\tbne 3b\n\t"
      "vstmia r2, {s0-s7}\n\t"
      "ldr r8, [r0, #32]\n\tadd r2, r2, r8\n\t"
      "subs r7, r7, #1\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "s0",
        "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14",
        "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "cc", "memory");
}

static __attribute__((noinline)) void mct__dw_line_s2(const mct__dwl *P) {
  register const mct__dwl *p __asm__("r0") = P;
  __asm__ volatile(
      "ldmia r0, {r1, r2, r3, r4, r5, r7}\n\t"
      "adr.w r6, 5f\n\t"
      "adds r6, r6, #1\n\t"
      "4:\n\t"
      "ldmia r1!, {r8, r9, r10}\n\t"
      "add r12, r3, r8\n\tadd lr, r4, r9\n\tadd r10, r10, r6\n\t"
      "ldr r8, [r0, #36]\n\tvldmia r8, {s0-s7}\n\t"
      "mov r11, r5\n\t"
      "3:\n\t"
      "mov r8, r12\n\tmov r9, lr\n\tbx r10\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "sub.w r9, r9, #32\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "sub.w r9, r9, #32\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "sub.w r9, r9, #32\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "sub.w r9, r9, #32\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "sub.w r9, r9, #32\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "sub.w r9, r9, #32\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "vldmia r8!, {s8-s15}\n\t"
      "vldmdb r9!, {s16-s23}\n\t"
      "sub.w r9, r9, #32\n\t"
      "vmla.f32 s0, s8, s16\n\tvmla.f32 s1, s9, s17\n\tvmla.f32 s2, s10, s18\n\t"
      "vmla.f32 s3, s11, s19\n\tvmla.f32 s4, s12, s20\n\tvmla.f32 s5, s13, s21\n\t"
      "vmla.f32 s6, s14, s22\n\tvmla.f32 s7, s15, s23\n\t"
      "5:\n\t"
      "ldrd r8, r9, [r0, #24]\n\t"
      "add r12, r12, r8\n\tadd lr, lr, r9\n\t"
      "subs r11, r11, #1\n\tbne 3b\n\t"
      "vstmia r2, {s0-s7}\n\t"
      "ldr r8, [r0, #32]\n\tadd r2, r2, r8\n\t"
      "subs r7, r7, #1\n\tbne 4b"
      :
      : "r"(p)
      : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "s0",
        "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14",
        "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "cc", "memory");
}


#define MCT__DWL_KW 7 /* kernel width of the unrolled taps */

static const float mct__ones[8] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};

/* Channels [c0, c0 + 8) (stride 1 or 2; see above). tab: mct__dwl's per input column
 * table (NULL: the per-pixel loop). */
static void mct__dwg_block8(const mct_conv_geom *g, float *buf, const int8_t *const *wk,
                            const float *s, int32_t c0, float *gb, float *wr,
                            const int32_t *tab) {
  const int32_t C = g->in_c, H = g->in_h, W = g->in_w, OH = g->out_h, OW = g->out_w;
  const int32_t kh = g->k_h, kw = g->k_w, sh = g->stride_h, sw = g->stride_w;
  const int32_t ph = g->pad_h, pw = g->pad_w;
  const uint32_t *lut = (const uint32_t *)(const void *)(mct__i2f + 255);
  mct__dw_w4(wk[0], wk[1], wk[2], wk[3], lut, (uint32_t *)(void *)wr, kh * kw);
  mct__dw_w4(wk[4], wk[5], wk[6], wk[7], lut, (uint32_t *)(void *)wr + 4, kh * kw);
  mct__dw_copy8(buf + c0, C * 4, s, gb, OH * OW);
  mct__dwk k;
  k.grow = OW * 32, k.wrow = -sh * kw * 32;
  mct__dwl L;
  L.tab = tab, L.w = W, L.gstride = OW * 32, L.wstride = -sh * kw * 32, L.cstride = C * 4;
  L.zeros = mct__zeros;
  for (int32_t ih = 0; ih < H; ++ih) {
    /* output rows oh with 0 <= ih + ph - oh * sh < kh */
    const int32_t th = ih + ph;
    int32_t oh0 = th - kh + 1 <= 0 ? 0 : (th - kh + sh) / sh, oh1 = th / sh;
    if (oh1 > OH - 1) oh1 = OH - 1;
    if (tab) {
      float *dst = buf + (size_t)ih * W * C + c0;
      if (oh0 > oh1) {
        for (int32_t iw = 0; iw < W; ++iw) memcpy(dst + (size_t)iw * C, mct__zeros, 32);
        continue;
      }
      L.dst = dst, L.nrows = oh1 - oh0 + 1;
      L.grow = gb + oh0 * OW * 8, L.wrow = wr + (th - oh0 * sh) * kw * 8;
      if (sw == 1)
        mct__dw_line_s1(&L);
      else
        mct__dw_line_s2(&L);
      continue;
    }
    for (int32_t iw = 0; iw < W; ++iw) {
      float *dst = buf + (size_t)(ih * W + iw) * C + c0;
      const int32_t tw = iw + pw;
      int32_t ow0 = tw - kw + 1 <= 0 ? 0 : (tw - kw + sw) / sw, ow1 = tw / sw;
      if (ow1 > OW - 1) ow1 = OW - 1;
      if (oh0 > oh1 || ow0 > ow1) {
        memcpy(dst, mct__zeros, 32);
        continue;
      }
      const int32_t i = th - oh0 * sh, j = tw - ow0 * sw;
      k.ntaps = ow1 - ow0 + 1, k.dst = dst;
      const float *gp = gb + (oh0 * OW + ow0) * 8, *wp = wr + (i * kw + j + 1) * 8;
      if (sw == 1)
        mct__dw_pix_s1(gp, wp, oh1 - oh0 + 1, &k);
      else
        mct__dw_pix_s2(gp, wp, oh1 - oh0 + 1, &k);
    }
  }
}

/* Channels [0, 8 * (C / 8)) by blocks of eight; returns how many. tmp (ntmp int32): the
 * per input column table of mct__dw_line_s1/_s2 when it fits and kw <= MCT__DWL_KW: for
 * column iw its output columns ow0 .. ow1 (none: zero taps), their first tap j. */
__attribute__((noinline)) static int32_t mct__dwg_blocks(const mct_conv_geom *g, float *buf,
                                                         const int8_t *w, const mct_wsplit *ws,
                                                         const float *w_scale, int32_t *next,
                                                         int32_t *tmp, int32_t ntmp) {
  const int32_t C = g->in_c, kk = g->k_h * g->k_w, W = g->in_w, kw = g->k_w, sw = g->stride_w;
  float gb[MCT__DWB_G], wr[MCT__DWB_TAPS * 8];
  int32_t *tab = 0;
  if (kw <= MCT__DWL_KW && 3 * W <= ntmp) {
    tab = tmp;
    const int32_t tapb = sw == 1 ? 40 : 44; /* code bytes of one unrolled tap */
    for (int32_t iw = 0; iw < W; ++iw) {
      const int32_t tw = iw + g->pad_w;
      int32_t ow0 = tw - kw + 1 <= 0 ? 0 : (tw - kw + sw) / sw, ow1 = tw / sw;
      if (ow1 > g->out_w - 1) ow1 = g->out_w - 1;
      int32_t *t = tab + 3 * iw;
      if (ow0 > ow1) {
        t[0] = t[1] = t[2] = 0;
      } else {
        t[0] = ow0 * 32, t[1] = (tw - ow0 * sw + 1) * 32, t[2] = -(ow1 - ow0 + 1) * tapb;
      }
    }
  }
  int32_t c = 0;
  for (; c + 8 <= C; c += 8) {
    const int8_t *wk[8];
    for (int32_t u = 0; u < 8; ++u) {
      wk[u] = w + (size_t)(c + u) * kk;
      if (ws && *next < ws->n_sel && ws->sel[*next] == c + u) wk[u] = ws->wt + (size_t)((*next)++) * kk;
    }
    mct__dwg_block8(g, buf, wk, w_scale ? w_scale + c : mct__ones, c, gb, wr, tab);
  }
  return c;
}

int mct__depthwise_grad_input_f32_inplace_dsp(const mct_conv_geom *g, float *buf,
                                                const int8_t *w, const mct_wsplit *ws,
                                                const float *w_scale, float *tmp) {
  if (!mct__geom_ok(g) || g->groups != g->in_c || g->out_c != g->in_c || !buf || !w || !tmp ||
      !mct__wsplit_ok(ws, g->in_c) || g->k_h * g->k_w > MCT__DWG_TAPS)
    return MCT_ARM_PASS;
  const int32_t C = g->in_c, kk = g->k_h * g->k_w;
  const int32_t nout = g->out_h * g->out_w, nin = g->in_h * g->in_w;
  float *tg = tmp, *tx = tmp + nout, wf[MCT__DWG_TAPS];
  int32_t next = 0; /* cursor into the ascending ws->sel */
  int32_t c = 0;
  if (nout * 8 <= MCT__DWB_G && kk <= MCT__DWB_TAPS && (g->stride_w == 1 || g->stride_w == 2))
    c = mct__dwg_blocks(g, buf, w, ws, w_scale, &next, (int32_t *)(void *)tmp, nout + nin);
  for (; c < C; ++c) {
    const int8_t *wk = w + (size_t)c * kk;
    if (ws && next < ws->n_sel && ws->sel[next] == c) wk = ws->wt + (size_t)(next++) * kk;
    for (int32_t t = 0; t < kk; ++t) wf[t] = (float)wk[t];
    float *bc = buf + c;
    const float s = w_scale ? w_scale[c] : 1.0f; /* G * s_w, then times w: as conv_grad.c */
    for (int32_t p = 0; p < nout; ++p) tg[p] = bc[(size_t)p * C] * s;
    mct__dwg_plane(g, tg, wf, tx);
    for (int32_t p = 0; p < nin; ++p) bc[(size_t)p * C] = tx[p];
  }
  return MCT_OK;
}

/* ---- bias gradient ---- */

static void mct__bg16(const float *g, int32_t stride, int32_t hw, const float *bs, float *gb) {
  __asm__ volatile(
      "vldmia %[z], {s0-s15}\n\t"
      "1:\n\t"
      "vldmia %[g], {s16-s31}\n\t"
      "add %[g], %[g], %[st]\n\t"
      "vadd.f32 s0, s0, s16\n\t""vadd.f32 s1, s1, s17\n\t""vadd.f32 s2, s2, s18\n\t""vadd.f32 s3, s3, s19\n\t"
      "vadd.f32 s4, s4, s20\n\t""vadd.f32 s5, s5, s21\n\t""vadd.f32 s6, s6, s22\n\t""vadd.f32 s7, s7, s23\n\t"
      "vadd.f32 s8, s8, s24\n\t""vadd.f32 s9, s9, s25\n\t""vadd.f32 s10, s10, s26\n\t""vadd.f32 s11, s11, s27\n\t"
      "vadd.f32 s12, s12, s28\n\t""vadd.f32 s13, s13, s29\n\t""vadd.f32 s14, s14, s30\n\t""vadd.f32 s15, s15, s31\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "cmp %[bs], #0\n\tbeq 2f\n\t"
      "vldmia %[bs], {s16-s31}\n\t"
      "vmul.f32 s0, s0, s16\n\t""vmul.f32 s1, s1, s17\n\t""vmul.f32 s2, s2, s18\n\t""vmul.f32 s3, s3, s19\n\t"
      "vmul.f32 s4, s4, s20\n\t""vmul.f32 s5, s5, s21\n\t""vmul.f32 s6, s6, s22\n\t""vmul.f32 s7, s7, s23\n\t"
      "vmul.f32 s8, s8, s24\n\t""vmul.f32 s9, s9, s25\n\t""vmul.f32 s10, s10, s26\n\t""vmul.f32 s11, s11, s27\n\t"
      "vmul.f32 s12, s12, s28\n\t""vmul.f32 s13, s13, s29\n\t""vmul.f32 s14, s14, s30\n\t""vmul.f32 s15, s15, s31\n\t"
      "2:\n\t"
      "vstmia %[gb], {s0-s15}"
      : [g] "+r"(g), [n] "+r"(hw)
      : [st] "r"(stride), [bs] "r"(bs), [gb] "r"(gb), [z] "r"(mct__zeros)
      : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
}

static void mct__bg8(const float *g, int32_t stride, int32_t hw, const float *bs, float *gb) {
  __asm__ volatile(
      "vldmia %[z], {s0-s7}\n\t"
      "1:\n\t"
      "vldmia %[g], {s16-s23}\n\t"
      "add %[g], %[g], %[st]\n\t"
      "vadd.f32 s0, s0, s16\n\t""vadd.f32 s1, s1, s17\n\t""vadd.f32 s2, s2, s18\n\t""vadd.f32 s3, s3, s19\n\t"
      "vadd.f32 s4, s4, s20\n\t""vadd.f32 s5, s5, s21\n\t""vadd.f32 s6, s6, s22\n\t""vadd.f32 s7, s7, s23\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "cmp %[bs], #0\n\tbeq 2f\n\t"
      "vldmia %[bs], {s16-s23}\n\t"
      "vmul.f32 s0, s0, s16\n\t""vmul.f32 s1, s1, s17\n\t""vmul.f32 s2, s2, s18\n\t""vmul.f32 s3, s3, s19\n\t"
      "vmul.f32 s4, s4, s20\n\t""vmul.f32 s5, s5, s21\n\t""vmul.f32 s6, s6, s22\n\t""vmul.f32 s7, s7, s23\n\t"
      "2:\n\t"
      "vstmia %[gb], {s0-s7}"
      : [g] "+r"(g), [n] "+r"(hw)
      : [st] "r"(stride), [bs] "r"(bs), [gb] "r"(gb), [z] "r"(mct__zeros)
      : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "cc", "memory");
}

static void mct__bg4(const float *g, int32_t stride, int32_t hw, const float *bs, float *gb) {
  __asm__ volatile(
      "vldmia %[z], {s0-s3}\n\t"
      "1:\n\t"
      "vldmia %[g], {s16-s19}\n\t"
      "add %[g], %[g], %[st]\n\t"
      "vadd.f32 s0, s0, s16\n\t""vadd.f32 s1, s1, s17\n\t""vadd.f32 s2, s2, s18\n\t""vadd.f32 s3, s3, s19\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b\n\t"
      "cmp %[bs], #0\n\tbeq 2f\n\t"
      "vldmia %[bs], {s16-s19}\n\t"
      "vmul.f32 s0, s0, s16\n\t""vmul.f32 s1, s1, s17\n\t""vmul.f32 s2, s2, s18\n\t""vmul.f32 s3, s3, s19\n\t"
      "2:\n\t"
      "vstmia %[gb], {s0-s3}"
      : [g] "+r"(g), [n] "+r"(hw)
      : [st] "r"(stride), [bs] "r"(bs), [gb] "r"(gb), [z] "r"(mct__zeros)
      : "s0", "s1", "s2", "s3", "s16", "s17", "s18", "s19", "cc", "memory");
}


/* mct_bias_grad_f32 (dispatched from conv_grad.c): gb[o] = (+0 + g[0][o] + g[1][o] + ...) *
 * b_scale[o], the portable additions in pixel order, 16, 8 or 4 channels in registers. */
int mct__bias_grad_f32_dsp(int32_t hw, int32_t c, const float *g, const float *b_scale,
                           float *gb) {
  int32_t o = 0;
  const int32_t st = c * 4;
  for (; o + 16 <= c; o += 16) mct__bg16(g + o, st, hw, b_scale ? b_scale + o : 0, gb + o);
  if (o + 8 <= c) mct__bg8(g + o, st, hw, b_scale ? b_scale + o : 0, gb + o), o += 8;
  if (o + 4 <= c) mct__bg4(g + o, st, hw, b_scale ? b_scale + o : 0, gb + o), o += 4;
  for (; o < c; ++o) {
    float a = 0.0f;
    for (int32_t p = 0; p < hw; ++p) a += g[(size_t)p * c + o];
    gb[o] = b_scale ? a * b_scale[o] : a;
  }
  return 1;
}

/* gw[c] = (sum over pixels p in order, G[p][o] != 0, of G[p][o] * (xs[p][c] - x_zero)) * s:
 * the portable loop's sums (same order, zero G skipped), 16, 8 or 4 channels in registers,
 * the non-zero pixels listed once. Arguments are checked by conv_grad.c. */
int mct__grad_weight_row_f32_dsp(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                                 int32_t x_zero, const float *gy, int32_t gy_c, float s,
                                 float *gw) {
  if (g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 || g->stride_w != 1 ||
      g->pad_h != 0 || g->pad_w != 0 || g->out_h * g->out_w > MCT__GW_PIX || x_zero < -128 ||
      x_zero > 127)
    return 0;
  const int32_t npix = g->out_h * g->out_w, O = g->out_c;
  const int8_t *xl[MCT__GW_PIX];
  float gv[MCT__GW_PIX];
  int32_t n = 0;
  for (int32_t p = 0; p < npix; ++p) {
    const float v = gy[(size_t)p * O + gy_c];
    if (v != 0.0f) xl[n] = xs + (size_t)p * n_ch, gv[n++] = v;
  }
  if (!n) {
    for (int32_t c = 0; c < n_ch; ++c) gw[c] = 0.0f * s;
    return 1;
  }
  const float *lut = mct__i2f + 255 - x_zero; /* lut[x] = x - x_zero */
  int32_t c = 0;
  for (; c + 16 <= n_ch; c += 16) mct__gw16(xl, gv, n, c, lut, s, gw + c);
  if (c + 8 <= n_ch) mct__gw8(xl, gv, n, c, lut, s, gw + c), c += 8;
  if (c + 4 <= n_ch) mct__gw4(xl, gv, n, c, lut, s, gw + c), c += 4;
  for (; c < n_ch; ++c) {
    float a = 0.0f;
    for (int32_t k = 0; k < n; ++k) a = mct__vmla(a, gv[k], lut[xl[k][c]]);
    gw[c] = a * s;
  }
  return 1;
}

/* Four pixels (gy rows O apart) x four weight columns (rows wstride apart): a[t * 4 + u]. */
static void mct__pg_4x4(const float *gy, int32_t O, const float *w_scale, const int8_t *w,
                        size_t wstride, float a[16]) {
  float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
  float a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
  for (int32_t o = 0; o < O; ++o, w += wstride) {
    float g0 = gy[o], g1 = gy[O + o], g2 = gy[2 * O + o], g3 = gy[3 * O + o];
    if (w_scale) {
      const float s = w_scale[o];
      g0 *= s, g1 *= s, g2 *= s, g3 *= s;
    }
    const float w0 = (float)w[0], w1 = (float)w[1], w2 = (float)w[2], w3 = (float)w[3];
    a00 = mct__vmla(a00, g0, w0), a01 = mct__vmla(a01, g0, w1);
    a02 = mct__vmla(a02, g0, w2), a03 = mct__vmla(a03, g0, w3);
    a10 = mct__vmla(a10, g1, w0), a11 = mct__vmla(a11, g1, w1);
    a12 = mct__vmla(a12, g1, w2), a13 = mct__vmla(a13, g1, w3);
    a20 = mct__vmla(a20, g2, w0), a21 = mct__vmla(a21, g2, w1);
    a22 = mct__vmla(a22, g2, w2), a23 = mct__vmla(a23, g2, w3);
    a30 = mct__vmla(a30, g3, w0), a31 = mct__vmla(a31, g3, w1);
    a32 = mct__vmla(a32, g3, w2), a33 = mct__vmla(a33, g3, w3);
  }
  a[0] = a00, a[1] = a01, a[2] = a02, a[3] = a03, a[4] = a10, a[5] = a11, a[6] = a12;
  a[7] = a13, a[8] = a20, a[9] = a21, a[10] = a22, a[11] = a23, a[12] = a30, a[13] = a31;
  a[14] = a32, a[15] = a33;
}

/* Columns [0, n) of weights w (rows wstride apart) for pixels [p0, p1): gx[p][col(u)], col(u)
 * = sel[u] when sel is given, else u. */
static void mct__pg_columns(const float *gy, int32_t O, const float *w_scale, const int8_t *w,
                            size_t wstride, int32_t n, const int32_t *sel, int32_t p0,
                            int32_t p1, int32_t C, float *gx) {
  float a[16];
  int32_t p = p0;
  for (; p + 4 <= p1; p += 4) {
    const float *gp = gy + (size_t)p * O;
    int32_t u = 0;
    for (; u + 4 <= n; u += 4) {
      mct__pg_4x4(gp, O, w_scale, w + u, wstride, a);
      for (int32_t t = 0; t < 4; ++t)
        for (int32_t v = 0; v < 4; ++v)
          gx[(size_t)(p + t) * C + (sel ? sel[u + v] : u + v)] = a[t * 4 + v];
    }
    for (; u < n; ++u)
      for (int32_t t = 0; t < 4; ++t)
        gx[(size_t)(p + t) * C + (sel ? sel[u] : u)] =
            mct__pg_1x1(gp + (size_t)t * O, w_scale, w + u, wstride, O);
  }
  for (; p < p1; ++p)
    for (int32_t u = 0; u < n; ++u)
      gx[(size_t)p * C + (sel ? sel[u] : u)] =
          mct__pg_1x1(gy + (size_t)p * O, w_scale, w + u, wstride, O);
}

#define MCT__GI_PIX 64 /* pixels of a block: their K <= 6 scaled gradients on the stack (1.5 KB) */

/* Whether output channel o has a non-zero gradient among np pixels (g = &G[0][o], rows O
 * apart): +-0 is the only value whose bits shifted left by one are 0. */
static int mct__live(const float *g, int32_t O, int32_t np) {
  const uint32_t *u = (const uint32_t *)(const void *)g;
  int32_t p = 0;
  for (; p + 2 <= np; p += 2, u += 2 * O) /* two pixels per test */
    if ((u[0] | u[O]) << 1) return 1;
  return p < np && (u[0] << 1) != 0;
}

typedef struct {
  int32_t off[5]; /* byte offsets of the five output channels in a gradient row */
  float sc[5];    /* their s_w (1 without: x * 1 = x) */
  int32_t gstride; /* bytes between gradient rows */
} mct__g5;

/* d[p][k] = g[p][o_k] * s_w[o_k] for k < 5, p < np (np >= 1). */
static void mct__gather5(const float *g, const mct__g5 *t, float *d, int32_t np) {
  __asm__ volatile(
      "ldmia %[t]!, {r4-r8}\n\t"
      "vldmia %[t]!, {s8-s12}\n\t"
      "ldr %[t], [%[t]]\n\t"
      "1:\n\t"
      "ldr r9, [%[g], r4]\n\tldr r10, [%[g], r5]\n\tvmov s0, s1, r9, r10\n\t"
      "ldr r9, [%[g], r6]\n\tldr r10, [%[g], r7]\n\tvmov s2, s3, r9, r10\n\t"
      "ldr r9, [%[g], r8]\n\tvmov s4, r9\n\t"
      "vmul.f32 s0, s0, s8\n\tvmul.f32 s1, s1, s9\n\tvmul.f32 s2, s2, s10\n\t"
      "vmul.f32 s3, s3, s11\n\tvmul.f32 s4, s4, s12\n\t"
      "vstmia %[d]!, {s0-s4}\n\t"
      "add %[g], %[g], %[t]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [g] "+r"(g), [d] "+r"(d), [n] "+r"(np), [t] "+r"(t)
      :
      : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "s0", "s1", "s2", "s3", "s4", "s8", "s9",
        "s10", "s11", "s12", "cc", "memory");
}

typedef struct {
  int32_t off[6]; /* byte offsets of the six output channels in a gradient row */
  float sc[6];    /* their s_w (1 without: x * 1 = x) */
  int32_t gstride; /* bytes between gradient rows */
} mct__g6;

/* d[p][k] = g[p][o_k] * s_w[o_k] for k < 6, p < np (np >= 1). */
static void mct__gather6(const float *g, const mct__g6 *t, float *d, int32_t np) {
  __asm__ volatile(
      "ldmia %[t]!, {r4-r9}\n\t"
      "vldmia %[t]!, {s8-s13}\n\t"
      "ldr %[t], [%[t]]\n\t"
      "1:\n\t"
      "ldr r10, [%[g], r4]\n\tldr r11, [%[g], r5]\n\tvmov s0, s1, r10, r11\n\t"
      "ldr r10, [%[g], r6]\n\tldr r11, [%[g], r7]\n\tvmov s2, s3, r10, r11\n\t"
      "ldr r10, [%[g], r8]\n\tldr r11, [%[g], r9]\n\tvmov s4, s5, r10, r11\n\t"
      "vmul.f32 s0, s0, s8\n\tvmul.f32 s1, s1, s9\n\tvmul.f32 s2, s2, s10\n\t"
      "vmul.f32 s3, s3, s11\n\tvmul.f32 s4, s4, s12\n\tvmul.f32 s5, s5, s13\n\t"
      "vstmia %[d]!, {s0-s5}\n\t"
      "add %[g], %[g], %[t]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [g] "+r"(g), [d] "+r"(d), [n] "+r"(np), [t] "+r"(t)
      :
      : "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "s0", "s1", "s2", "s3", "s4", "s5",
        "s8", "s9", "s10", "s11", "s12", "s13", "cc", "memory");
}

/* acc[p * as + c] += (G[p][o] * s_w[o]) * W[o * wst + c] for the output channels o with a
 * non-zero gradient among pixels p < np (in o order; the others add only +-0 products, which
 * change no sum), c < n4 (a multiple of 4): their scaled gradients (the portable kernel's gv)
 * gathered six at a time into sg ([p][K]) and streamed through the K x 4 weight tiles. */
static void mct__gi_stream(const float *gp, int32_t O, const float *w_scale, const int8_t *W,
                           int32_t wst, int32_t n4, float *acc, int32_t as, int32_t np,
                           float *sg) {
  for (int32_t o = 0; o < O;) {
    int32_t K = 0, os[6];
    for (; o < O && K < 6; ++o)
      if (mct__live(gp + o, O, np)) os[K++] = o;
    if (!K) break;
    const int8_t *rows[6];
    for (int32_t k = 0; k < K; ++k) rows[k] = W + (size_t)os[k] * wst;
    if (K == 6) {
      mct__g6 t;
      for (int32_t k = 0; k < 6; ++k)
        t.off[k] = os[k] * 4, t.sc[k] = w_scale ? w_scale[os[k]] : 1.0f;
      t.gstride = O * 4;
      mct__gather6(gp, &t, sg, np);
    } else if (K == 5) {
      mct__g5 t;
      for (int32_t k = 0; k < 5; ++k)
        t.off[k] = os[k] * 4, t.sc[k] = w_scale ? w_scale[os[k]] : 1.0f;
      t.gstride = O * 4;
      mct__gather5(gp, &t, sg, np);
    } else {
      float *d = sg;
      for (int32_t p = 0; p < np; ++p, d += K) {
        const float *gr = gp + (size_t)p * O;
        for (int32_t k = 0; k < K; ++k) d[k] = w_scale ? gr[os[k]] * w_scale[os[k]] : gr[os[k]];
      }
    }
    mct__gs_cols(rows, as, n4, K, sg, K, acc, np);
  }
}

#define MCT__GI_SLICE 256 /* floats of a trained slice's sums on the stack (1 KB) */

/* mct_conv2d_grad_input_f32 of a 1x1 conv (stride 1, no padding, groups 1); arguments are
 * checked by conv_grad.c. gx starts at +0; blocks of pixels through mct__gi_stream, so each
 * gx[p][c] still receives its products in o order, one VMLA each. A trained slice whose
 * frozen channels hold zeros: its sums streamed the same way into the stack, then stored over
 * those channels' (+0) sums. */
int mct__grad_input_f32_dsp(const mct_conv_geom *g, const float *gy, const int8_t *w,
                            const mct_wsplit *ws, const float *w_scale, float *gx) {
  if (g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 || g->stride_w != 1 ||
      g->pad_h != 0 || g->pad_w != 0)
    return 0;
  const int32_t C = g->in_c, O = g->out_c, npix = g->in_h * g->in_w, n4 = C & ~3;
  float sg[MCT__GI_PIX * 6];
  mct__zero_f32(gx, (size_t)npix * C);
  for (int32_t p0 = 0; p0 < npix; p0 += MCT__GI_PIX) {
    const int32_t np = npix - p0 < MCT__GI_PIX ? npix - p0 : MCT__GI_PIX;
    const float *gp = gy + (size_t)p0 * O;
    float *xp = gx + (size_t)p0 * C;
    if (n4) mct__gi_stream(gp, O, w_scale, w, C, n4, xp, C, np, sg);
    for (int32_t p = 0; p < np; ++p)
      for (int32_t c = n4; c < C; ++c)
        xp[(size_t)p * C + c] = mct__pg_1x1(gp + (size_t)p * O, w_scale, w + c, (size_t)C, O);
  }
  if (!ws) return 1;
  const int32_t n = ws->n_sel, s4 = n & ~3;
  if (!mct__slice_zero(w, C, ws, O)) {
    for (int32_t p = 0; p < npix; ++p)
      for (int32_t s = 0; s < n; ++s)
        gx[(size_t)p * C + ws->sel[s]] = mct__slice_ch(gy + (size_t)p * O, w_scale, w, C, ws, s, O);
  } else if (s4 == 0 || s4 > MCT__GI_SLICE) {
    mct__pg_columns(gy, O, w_scale, ws->wt, (size_t)n, n, ws->sel, 0, npix, C, gx);
  } else {
    float ts[MCT__GI_SLICE];
    const int32_t pb = MCT__GI_SLICE / s4 < MCT__GI_PIX ? MCT__GI_SLICE / s4 : MCT__GI_PIX;
    for (int32_t p0 = 0; p0 < npix; p0 += pb) {
      const int32_t np = npix - p0 < pb ? npix - p0 : pb;
      const float *gp = gy + (size_t)p0 * O;
      mct__zero_f32(ts, (size_t)np * s4);
      mct__gi_stream(gp, O, w_scale, ws->wt, n, s4, ts, s4, np, sg);
      for (int32_t p = 0; p < np; ++p)
        for (int32_t s = 0; s < s4; ++s) gx[(size_t)(p0 + p) * C + ws->sel[s]] = ts[p * s4 + s];
    }
    for (int32_t p = 0; p < npix; ++p)
      for (int32_t s = s4; s < n; ++s)
        gx[(size_t)p * C + ws->sel[s]] =
            mct__pg_1x1(gy + (size_t)p * O, w_scale, ws->wt + s, (size_t)n, O);
  }
  return 1;
}

#else
typedef int mct__grad_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
