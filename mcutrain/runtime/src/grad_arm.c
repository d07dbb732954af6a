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
 * at -O2 whatever the build's level (mcutrain build --opt -O0 included). At -O0 GCC keeps r7
 * as the frame pointer, which the kernels of grad_arm_asm.h use ("r7 cannot be used in asm
 * here"), and cannot fit the operands of the larger statements ("impossible constraints"). */
#pragma GCC optimize("O2")

#include "mct_internal.h"

static const float mct__zeros[16]; /* +0.0f: where the kernels load zero sums from */

#include "grad_arm_asm.h" /* the width-unrolled asm kernels (tools/gen_arm_asm.py) */


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

/* p[i] = +0 for i < n: sixteen floats per VSTM, then one by one (GCC makes the C loop a
 * call of newlib's memset).
 * Asm contract: operands p, n16 (advanced), mct__zeros; clobbers s0-s15, flags; reads
 * mct__zeros[0..16), writes p[0 .. 16 n16). */
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

/* d[p * K + k] = s[p * O + k] for p < np (np >= 1), k < K <= 6: one group of gradients made
 * consecutive (a plain copy).
 * Asm contract (K = 6): operands s, d, np (advanced), O * 4; clobbers s0-s5, flags; reads
 * s's np rows of six floats (O apart), writes d[0 .. 6 np). */
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

/* Pixels [0, np) of a block: gx rows x (C apart) from the already scaled gradients g (O
 * apart), which x does not overlap; the slice (zero frozen channels) sums replace the
 * frozen channels' (+0) ones.
 * gb (ngb floats, or NULL): where each group of six gradients is first made consecutive
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

/* d[i] *= s[i] for i < n: eight at a time (VLDM, VMULs, VSTM: 13 instructions, where GCC's
 * C loop takes 6 a float), then one by one.
 * Asm contract: operands d, s, n8 (advanced); clobbers s0-s15, flags; reads s[0 .. 8 n8),
 * reads and writes d[0 .. 8 n8). */
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


/* p[i] *= s for i < n: eight at a time (12 instructions, where GCC's C loop takes 5 a
 * float), then one by one.
 * Asm contract: operands p, n8 (advanced), s (any s-register); clobbers s0-s7, flags; reads
 * and writes p[0 .. 8 n8). */
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
 * returns the end of the list. +-0 is the only float whose bits shifted left by one are 0.
 * Asm contract: operands g, l, n2 (advanced); clobbers r4 (g[k] bits), r5, flags; reads
 * g[0 .. 2 n2), writes up to 4 n2 words from l (two per listed entry, by STRD). */
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

/* d[p][0..8) = b[p * C + 0..8) * s[0..8) for p < n (n >= 1).
 * Asm contract: operands b, d, n (advanced), s, cstride (bytes); clobbers s0-s7 (a row),
 * s8-s15 (s), flags; reads s[0..8) and b's n rows of eight floats, writes d[0 .. 8 n). */
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
 * four kernels interleaved, each weight one LDRSB and one table LDR, four stored by STM.
 * Asm contract: operands a, b, c, d, o, n (advanced), lut (float bits of -255 .. 256, indexed
 * from 0); clobbers r4-r7 (the four words of one STM), flags; reads a..d[0 .. n), writes
 * o[8 t .. 8 t + 4) for t < n. */
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
    const int32_t tapb = sw == 1 ? MCT__DWL_TAP_S1 : MCT__DWL_TAP_S2; /* code bytes a tap */
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

/* acc[p * as + c] += (G[p][o] * s_w[o]) * W[o * wst + c] for the output channels o with a
 * non-zero gradient among pixels p < np (in o order; the others add only +-0 products, which
 * change no sum), c < n4 (a multiple of 4): their scaled gradients (the portable kernel's gv)
 * gathered six at a time into sg ([p][K]) and streamed through the K x 4 weight tiles. */
void mct__gi_stream(const float *gp, int32_t O, const float *w_scale, const int8_t *W,
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
  if (g->groups != 1) return 0;
  if (g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 || g->stride_w != 1 || g->pad_h != 0 ||
      g->pad_w != 0)
    return mct__grad_input_kxk_f32_dsp(g, gy, w, ws, w_scale, gx); /* grad_kxk_arm.c */
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
