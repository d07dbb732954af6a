/* dsp_check.c: runs the runtime kernels that have Cortex-M DSP versions on pseudo-random data
 * and writes every output to out.bin (semihosting). tests/targets/test_dsp.py builds it twice,
 * with the DSP paths and with -DMCT_PORTABLE, runs both in QEMU and compares the files byte
 * for byte: the DSP kernels must give the portable C's integers and floats exactly.
 * Geometries cover every path: tails of odd sizes, trained slices, both in-place directions,
 * strides, paddings, kernel sizes, multipliers on both sides of the fast requantization. */
#include <string.h>

#include "mct.h"
#include "mct_device.h"

/* the device library's hooks (this program is not a model) */
int8_t *mct_dev_train_input(void) { return 0; }
int8_t *mct_dev_forward_input(void) { return 0; }
const mct_span mct_dev_param_spans[1];
const int32_t mct_dev_n_param_spans = 0;
const uint32_t mct_dev_model_hash = 0;

static uint32_t seed = 12345u;
static uint32_t rnd(void) {
  seed = seed * 1664525u + 1013904223u;
  return seed >> 8;
}
static int32_t rint_(int32_t lo, int32_t hi) {
  return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

static int8_t X[40000], Y[40000], T[8192], W1[20000], W2[4096], WT[4096], RING[8192], WORK[8192];
static uint8_t BITS[4096];
static float F[20000], G[20000], S[1024], M[16384], GW[16384];
static int32_t MULT[1024], SHIFT[1024], BIAS[1024], BIAS2[1024], MULT2[1024], SHIFT2[1024], SEL[1024];
static int out_fd, case_no;

static void emit(const void *p, uint32_t n) {
  const uint32_t h[2] = {(uint32_t)case_no, n};
  mct_sh_write(out_fd, h, 8);
  mct_sh_write(out_fd, p, n);
}

static void fill8(int8_t *p, int32_t n) {
  for (int32_t i = 0; i < n; ++i) p[i] = (int8_t)rint_(-128, 127);
}
static void fillf(float *p, int32_t n, int zeros) {
  for (int32_t i = 0; i < n; ++i)
    p[i] = zeros && rnd() % 3 == 0 ? 0.0f : (float)rint_(-30000, 30000) * 3.0e-5f;
}
/* requantization constants: multipliers in [2^30, 2^31), shifts mostly small (fast path),
 * some >= -1 (64-bit path); biases with a few near the int32 limits (saturation). */
static mct_requant rq(int32_t n, int32_t *mult, int32_t *shift, int32_t *bias, int full) {
  for (int32_t o = 0; o < n; ++o) {
    mult[o] = (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu));
    shift[o] = rnd() % 7 == 0 ? rint_(-1, 1) : rint_(-14, -2);
    bias[o] = rnd() % 11 == 0 ? (rnd() & 1 ? 2147480000 : -2147480000) : rint_(-40000, 40000);
  }
  mct_requant q = {rint_(-128, 127), rint_(-20, 20), full ? -128 : rint_(-128, -60),
                   full ? 127 : rint_(40, 127), mult, shift};
  return q;
}
static mct_conv_geom geom(int32_t h, int32_t w, int32_t c, int32_t o, int32_t k, int32_t s,
                          int32_t p, int32_t groups) {
  mct_conv_geom g = {h, w, c, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1, o,
                     k, k, s, s, p, p, groups};
  return g;
}
static mct_wsplit slice(int32_t n_channels, int32_t n_sel, int32_t rows) {
  if (n_sel > (int32_t)(sizeof SEL / sizeof SEL[0]) || rows * n_sel > (int32_t)sizeof WT)
    __builtin_trap(); /* a case larger than the buffers: fail loudly, never overwrite */
  int32_t j = 0;
  for (int32_t c = 0; c < n_channels && j < n_sel; ++c)
    if ((int32_t)(rnd() % (uint32_t)n_channels) < 2 * n_sel || n_channels - c == n_sel - j)
      SEL[j++] = c;
  fill8(WT, rows * j);
  mct_wsplit ws = {WT, SEL, j};
  return ws;
}

static void pointwise_cases(void) {
  static const int32_t cfg[][4] = {{3, 5, 7, 0}, {8, 16, 9, 0}, {16, 8, 33, 0}, {24, 12, 5, 0},
                                   {40, 20, 7, 1}, {96, 33, 4, 0}, {300, 10, 3, 0},
                                   {600, 6, 2, 0}, {48, 16, 5, 1}, {13, 7, 6, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t C = cfg[k][0], O = cfg[k][1], np = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    mct_requant q = rq(O, MULT, SHIFT, BIAS, k & 1);
    fill8(X, np * C), fill8(W1, O * C);
    mct_wsplit ws = slice(C, C / 8 + 1, O);
    const mct_wsplit *wp = cfg[k][3] ? &ws : 0;
    int st = mct_conv2d_s8(&g, &q, X, W1, wp, BIAS, Y);
    emit(&st, 4), emit(Y, np * O);
    st = mct_linear_s8(C, O, &q, X, W1, wp, BIAS, Y);
    emit(&st, 4), emit(Y, O);
    /* in place, both directions (O <= C forward, O > C backward) */
    memcpy(Y, X, (size_t)np * C);
    st = mct_pointwise_s8_inplace(&g, &q, Y, W1, wp, BIAS, T);
    emit(&st, 4), emit(Y, np * O);
    mct_conv_geom g2 = geom(1, np, O, C, 1, 1, 0, 1);
    fill8(W2, C * O);
    mct_requant q2 = rq(C, MULT2, SHIFT2, BIAS2, 1);
    memcpy(Y, X, (size_t)np * O);
    st = mct_pointwise_s8_inplace(&g2, &q2, Y, W2, 0, BIAS2, T);
    emit(&st, 4), emit(Y, np * C);
  }
}

static void depthwise_cases(void) {
  static const int32_t cfg[][6] = {{16, 16, 6, 3, 1, 1}, {9, 11, 5, 5, 2, 2}, {8, 8, 4, 7, 2, 3},
                                   {6, 6, 3, 3, 1, 0},   {4, 4, 7, 5, 1, 2},  {5, 7, 9, 3, 2, 1},
                                   {40, 33, 2, 3, 1, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t H = cfg[k][0], Wd = cfg[k][1], C = cfg[k][2], K = cfg[k][3];
    mct_conv_geom g = geom(H, Wd, C, C, K, cfg[k][4], cfg[k][5], C);
    mct_requant q = rq(C, MULT, SHIFT, BIAS, k & 1);
    fill8(X, H * Wd * C), fill8(W1, C * K * K);
    mct_wsplit ws = slice(C, 2, K * K);
    memcpy(Y, X, (size_t)H * Wd * C);
    int st = mct_depthwise_s8_inplace(&g, &q, Y, W1, k & 2 ? &ws : 0, BIAS, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
    /* expansion fused into it, whole and streamed by rows */
    const int32_t Ci = 3 + (int32_t)k * 5;
    mct_conv_geom g1 = geom(H, Wd, Ci, C, 1, 1, 0, 1);
    mct_requant q1 = rq(C, MULT2, SHIFT2, BIAS2, 1);
    fill8(W2, C * Ci);
    st = mct_expand_dw_s8(&g1, &q1, W2, BIAS2, &g, &q, W1, BIAS, X, Y, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
    memset(Y, 0, (size_t)g.out_h * g.out_w * C);
    st = mct_expand_dw_s8_rows(&g1, &q1, W2, BIAS2, &g, &q, W1, BIAS, X, Y, RING, WORK);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
    /* float input gradient in place */
    fillf(F, g.out_h * g.out_w * C, 1), fillf(S, C, 0);
    st = mct_depthwise_grad_input_f32_inplace(&g, F, W1, k & 2 ? &ws : 0, S, G);
    emit(&st, 4), emit(F, 4 * H * Wd * C);
  }
}

static void rows_cases(void) {
  static const int32_t cfg[][6] = {{20, 18, 3, 7, 3, 2}, {9, 9, 5, 8, 5, 1}, {8, 6, 32, 4, 3, 1},
                                   {10, 10, 12, 9, 1, 2}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    mct_conv_geom g = geom(cfg[k][0], cfg[k][1], cfg[k][2], cfg[k][3], cfg[k][4], cfg[k][5],
                           cfg[k][4] / 2, 1);
    mct_requant q = rq(g.out_c, MULT, SHIFT, BIAS, k & 1);
    fill8(X, g.in_h * g.in_w * g.in_c), fill8(W1, g.out_c * g.in_c * g.k_h * g.k_w);
    int st = mct_conv2d_s8_rows(&g, &q, X, W1, 0, BIAS, Y, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * g.out_c);
  }
}

static void float_cases(void) {
  static const int32_t cfg[][4] = {{7, 12, 20, 0}, {16, 33, 9, 1}, {5, 300, 40, 0},
                                   {9, 17, 270, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t np = cfg[k][0], C = cfg[k][1], O = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    fill8(W1, O * C), fillf(G, np * O, 1), fillf(S, O, 0);
    mct_wsplit ws = slice(C, 3, O);
    if (k == 3) /* as generated code keeps them: zeros in the slice's frozen channels */
      for (int32_t o = 0; o < O; ++o)
        for (int32_t j = 0; j < ws.n_sel; ++j) W1[o * C + SEL[j]] = 0;
    const mct_wsplit *wp = cfg[k][3] ? &ws : 0;
    int st = mct_conv2d_grad_input_f32(&g, G, W1, wp, S, F);
    emit(&st, 4), emit(F, 4 * np * C);
    memcpy(F, G, (size_t)4 * np * O);
    st = mct_pointwise_grad_input_f32_inplace(&g, F, W1, wp, S, M);
    emit(&st, 4), emit(F, 4 * np * C);
    mct_conv_geom g2 = geom(1, np, O, C, 1, 1, 0, 1); /* the other direction */
    fill8(W2, C * O), fillf(G, np * C, 1);
    memcpy(F, G, (size_t)4 * np * C);
    st = mct_pointwise_grad_input_f32_inplace(&g2, F, W2, 0, 0, M);
    emit(&st, 4), emit(F, 4 * np * O);
    /* weight gradient rows and the update */
    fill8(X, np * C), fillf(G, np * O, 1);
    for (int32_t o = 0; o < O; ++o) {
      st = mct_conv2d_grad_weight_row_f32(&g, X, C, rint_(-100, 100), 0.0125f, G, o, 0, S[o],
                                          GW + o * C);
      emit(&st, 4);
    }
    emit(GW, 4 * O * C);
    fill8(W1, O * C), fillf(M, O * C, 0);
    mct_sgd s = {0.5f, k & 1 ? 0.9f : 0.0f, k & 2 ? 0.01f : 0.0f, S, C, 7u, (uint32_t)k, 3u};
    st = mct_sgd_s8(&s, 0, O, W1, GW, k & 1 ? M : 0);
    emit(&st, 4), emit(W1, O * C), emit(M, 4 * O * C);
  }
}

static void mask_cases(void) {
  static const int32_t cfg[][3] = {{1000, -128, 127}, {77, -20, 30}, {64, -128, 100},
                                   {13, 126, 127}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t n = cfg[k][0];
    fill8(X, n);
    for (int32_t i = 0; i < n; i += 5) X[i] = (int8_t)cfg[k][1 + (i & 1)];
    int st = mct_clamp_mask_s8(n, cfg[k][1], cfg[k][2], X, BITS);
    emit(&st, 4), emit(BITS, (n + 7) / 8);
    fillf(F, n, 0);
    st = mct_clamp_grad_bits_f32(n, BITS, F);
    emit(&st, 4), emit(F, 4 * n);
  }
}

static void add_cases(void) {
  static const int32_t cfg[][4] = {{1, -1, 0, -18}, {0, -1, -5, -19}, {20, 0, 0, 0},
                                   {22, -1, -1, -3}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t n = 777, ls = k == 0 ? 20 : cfg[k][0];
    mct_add_params p = {rint_(-128, 127), rint_(-128, 127), rint_(-20, 20), k & 1 ? -128 : -100,
                        k & 1 ? 127 : 90, ls, (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu)),
                        cfg[k][1], (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu)), cfg[k][2],
                        (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu)), cfg[k][3]};
    fill8(X, n), fill8(T, n);
    int st = mct_add_s8(&p, n, X, T, Y);
    emit(&st, 4), emit(Y, n);
  }
}


/* ---- pw (opt-pw): the fast pointwise and first-conv paths -------------------------------- */
/* Requantization the fast kernels take (every channel: shift <= -2, a bias far from the int32
 * limits), optionally with one channel that is not (shift -1, or a bias near the limit), so
 * the whole call takes the fallback. */
static int8_t PW_W[40000], PW_WT[4096];
static int32_t PW_SEL[512];
static mct_requant pw_rq(int32_t n, int full, int spoil) {
  for (int32_t o = 0; o < n; ++o) {
    MULT[o] = (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu));
    SHIFT[o] = rint_(-16, -2);
    BIAS[o] = rint_(-60000, 60000);
  }
  if (spoil == 1) SHIFT[rnd() % (uint32_t)n] = -1;
  if (spoil == 2) BIAS[rnd() % (uint32_t)n] = 2147480000;
  mct_requant q = {rint_(-128, 127), rint_(-128, 127), full ? -128 : rint_(-128, -30),
                   full ? 127 : rint_(20, 127), MULT, SHIFT};
  return q;
}
static mct_wsplit pw_slice(int32_t C, int32_t ns, int32_t rows) {
  if (ns > (int32_t)(sizeof PW_SEL / sizeof PW_SEL[0]) || rows * ns > (int32_t)sizeof PW_WT)
    __builtin_trap(); /* as slice() */
  int32_t j = 0;
  for (int32_t c = 0; c < C && j < ns; ++c)
    if ((int32_t)(rnd() % (uint32_t)C) < 2 * ns || C - c == ns - j) PW_SEL[j++] = c;
  fill8(PW_WT, rows * j);
  mct_wsplit ws = {PW_WT, PW_SEL, j};
  return ws;
}
static void pw_cases(void) {
  /* C, O, pixels, n_sel (-1: none), spoil */
  static const int32_t cfg[][5] = {
      {8, 48, 64, -1, 0},   {8, 48, 7, -1, 0},    {16, 8, 130, -1, 0},  {16, 96, 9, -1, 0},
      {24, 144, 5, -1, 0},  {32, 192, 3, -1, 0},  {3, 16, 11, -1, 0},   {5, 7, 13, -1, 0},
      {13, 6, 70, -1, 0},   {30, 9, 17, -1, 0},   {2, 5, 66, -1, 0},    {8, 48, 9, -1, 1},
      {16, 8, 9, -1, 2},    {48, 8, 9, -1, 0},    {96, 16, 6, -1, 0},   {144, 24, 5, -1, 0},
      {336, 40, 3, -1, 0},  {350, 10, 3, -1, 0},  {360, 10, 3, -1, 0},  {33, 7, 5, -1, 0},
      {56, 20, 5, 7, 0},    {56, 20, 4, 28, 0},   {50, 13, 3, 9, 0},    {48, 8, 5, -1, 1},
      {56, 20, 3, 7, 2},    {340, 6, 3, 11, 0},   {97, 17, 1, -1, 0},   {8, 12, 1, -1, 0}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t C = cfg[k][0], O = cfg[k][1], np = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    mct_requant q = pw_rq(O, k & 1, cfg[k][4]);
    fill8(X, np * C), fill8(PW_W, O * C);
    mct_wsplit ws;
    const mct_wsplit *wp = 0;
    if (cfg[k][3] >= 0) ws = pw_slice(C, cfg[k][3], O), wp = &ws;
    int st = mct_conv2d_s8(&g, &q, X, PW_W, wp, BIAS, Y);
    emit(&st, 4), emit(Y, np * O);
    st = mct_linear_s8(C, O, &q, X, PW_W, wp, BIAS, Y);
    emit(&st, 4), emit(Y, O);
    memcpy(Y, X, (size_t)np * C); /* in place: forward when O <= C, else backward */
    st = mct_pointwise_s8_inplace(&g, &q, Y, PW_W, wp, BIAS, T);
    emit(&st, 4), emit(Y, np * O);
    mct_conv_geom g2 = geom(1, np, O, C, 1, 1, 0, 1); /* the other direction */
    mct_requant q2 = pw_rq(C, 1, 0);
    memcpy(Y, X, (size_t)np * O);
    st = mct_pointwise_s8_inplace(&g2, &q2, Y, PW_W, 0, BIAS, T);
    emit(&st, 4), emit(Y, np * C);
  }
  /* general convs by rows: H, W, C, O, k, stride, pad, spoil, full range */
  static const int32_t rc[][9] = {
      {20, 18, 3, 16, 3, 2, 1, 0, 0}, {17, 13, 3, 8, 3, 2, 1, 0, 1}, {16, 128, 3, 16, 3, 2, 1, 0, 0},
      {9, 11, 3, 6, 3, 2, 1, 0, 0},   {12, 10, 3, 12, 3, 2, 0, 0, 1}, {10, 9, 3, 16, 3, 2, 1, 1, 0},
      {10, 9, 3, 16, 3, 2, 1, 2, 0},  {11, 8, 3, 5, 3, 2, 1, 0, 1},  {7, 7, 3, 16, 3, 1, 1, 0, 0},
      {8, 140, 3, 8, 3, 2, 1, 0, 0},  {6, 9, 4, 8, 3, 2, 1, 0, 0},   {9, 12, 3, 4, 3, 2, 2, 0, 0}};
  for (unsigned k = 0; k < sizeof rc / sizeof rc[0]; ++k, ++case_no) {
    mct_conv_geom g = geom(rc[k][0], rc[k][1], rc[k][2], rc[k][3], rc[k][4], rc[k][5], rc[k][6], 1);
    mct_requant q = pw_rq(g.out_c, rc[k][8], rc[k][7]);
    fill8(X, g.in_h * g.in_w * g.in_c), fill8(PW_W, g.out_c * g.in_c * g.k_h * g.k_w);
    int st = mct_conv2d_s8_rows(&g, &q, X, PW_W, 0, BIAS, Y, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * g.out_c);
    st = mct_conv2d_s8(&g, &q, X, PW_W, 0, BIAS, Y);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * g.out_c);
  }
}
/* ---- end pw ------------------------------------------------------------------------------- */
/* ---- pw2 (opt-pw2): pointwise layers with a few channels outside the fast formula -------- */
/* Tiny scales (shift -23 .. -30) with a large |1 + 2 y_zero|: the fast formula's constant
 * overflows for those channels only (recomputed exactly); nbad of them (more than 16: the
 * whole call falls back), with slices, odd channel counts, odd pixel counts, both directions
 * in place; spoil as in pw_rq; wide inputs (up to 576 channels). */
static mct_requant pw2_rq(int32_t n, int32_t nbad, int full, int spoil) {
  mct_requant q = pw_rq(n, full, spoil);
  q.y_zero = rnd() & 1 ? rint_(-128, -40) : rint_(40, 127);
  for (int32_t k = 0; k < nbad; ++k) { /* a bias large enough to move their outputs */
    const uint32_t o = rnd() % (uint32_t)n;
    SHIFT[o] = rint_(-30, -23);
    BIAS[o] = ((int32_t)(rnd() & 0x7FFFFF) - 0x400000) * (1 << (-SHIFT[o] - 18));
    if (rnd() % 3 == 0) BIAS[o] = rnd() & 1 ? INT32_MIN : 2147480000; /* dead channels */
  }
  return q;
}
static int32_t mct__clamp_i(int32_t v) { return v < -128 ? -128 : (v > 127 ? 127 : v); }
static void pw2_cases(void) {
  /* C, O, pixels, n_sel (-1: none), bad channels, spoil */
  static const int32_t cfg[][6] = {
      {48, 144, 5, -1, 1, 0},  {48, 192, 4, -1, 5, 0},  {96, 40, 3, -1, 14, 0},
      {96, 38, 5, 12, 14, 0},  {50, 13, 3, 9, 3, 0},    {56, 20, 4, -1, 16, 0},
      {56, 40, 4, -1, 30, 0},  {64, 20, 3, -1, 2, 1},   {64, 20, 3, -1, 2, 2},
      {45, 9, 7, -1, 2, 0},    {384, 24, 3, -1, 3, 0},  {384, 16, 4, -1, 0, 0},
      {490, 10, 3, -1, 1, 0},  {496, 12, 2, -1, 0, 0},  {576, 14, 3, -1, 2, 0},
      {576, 8, 2, -1, 0, 0},   {372, 10, 3, 20, 1, 0},  {40, 160, 3, -1, 1, 0},
      {33, 6, 5, -1, 6, 0},    {120, 24, 1, -1, 2, 0},  {360, 10, 3, -1, 0, 0},
      {47, 30, 3, 5, 9, 0},    {96, 44, 4, 12, 12, 0},  {62, 22, 5, -1, 10, 0}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t C = cfg[k][0], O = cfg[k][1], np = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    mct_requant q = pw2_rq(O, cfg[k][4], k & 1, cfg[k][5]);
    fill8(X, np * C), fill8(PW_W, O * C);
    mct_wsplit ws;
    const mct_wsplit *wp = 0;
    if (cfg[k][3] >= 0) ws = pw_slice(C, cfg[k][3], O), wp = &ws;
    int st = mct_conv2d_s8(&g, &q, X, PW_W, wp, BIAS, Y);
    emit(&st, 4), emit(Y, np * O);
    memcpy(Y, X, (size_t)np * C);
    st = mct_pointwise_s8_inplace(&g, &q, Y, PW_W, wp, BIAS, T);
    emit(&st, 4), emit(Y, np * O);
    mct_conv_geom g2 = geom(1, np, O, C, 1, 1, 0, 1); /* the other direction */
    mct_requant q2 = pw2_rq(C, cfg[k][4], 1, 0);
    memcpy(Y, X, (size_t)np * O);
    st = mct_pointwise_s8_inplace(&g2, &q2, Y, PW_W, 0, BIAS, T);
    emit(&st, 4), emit(Y, np * C);
  }
  /* the first conv (3x3 stride 2, three channels) with such channels: H, W, O, bad, full,
   * soft (inputs near the zero point, weights in [-1, 1], some shifts -1 or 0: unsaturated
   * outputs of channels outside the fast formula that depend on every product) */
  static const int32_t fc[][6] = {{10, 9, 16, 2, 0, 0}, {12, 17, 16, 5, 1, 0},
                                  {9, 13, 8, 1, 0, 0},  {16, 70, 12, 3, 1, 0},
                                  {8, 11, 5, 2, 0, 0},  {11, 6, 16, 16, 0, 0},
                                  {10, 9, 16, 0, 0, 1}, {12, 23, 8, 2, 1, 1},
                                  {9, 66, 12, 1, 0, 1}};
  for (unsigned k = 0; k < sizeof fc / sizeof fc[0]; ++k, ++case_no) {
    mct_conv_geom g = geom(fc[k][0], fc[k][1], 3, fc[k][2], 3, 2, 1, 1);
    mct_requant q = pw2_rq(g.out_c, fc[k][3], fc[k][4], 0);
    fill8(X, g.in_h * g.in_w * 3), fill8(PW_W, g.out_c * 27);
    if (fc[k][5]) {
      for (int32_t i = 0; i < g.in_h * g.in_w * 3; ++i)
        X[i] = (int8_t)mct__clamp_i(q.x_zero + rint_(-3, 3));
      for (int32_t i = 0; i < g.out_c * 27; ++i) PW_W[i] = (int8_t)rint_(-1, 1);
      for (int32_t o = 0; o < g.out_c; ++o)
        if (rnd() % 3 == 0) SHIFT[o] = rint_(-1, 0), BIAS[o] = rint_(-20, 20);
    }
    int st = mct_conv2d_s8_rows(&g, &q, X, PW_W, 0, BIAS, Y, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * g.out_c);
  }
}
/* ---- end pw2 ------------------------------------------------------------------------------ */
/* ---- pw3 (opt-pw): the interleaved two-pixel kernel (C % 8 == 0, up to 576 channels) ---- */
/* C % 16 == 8 (the loop entered halfway), O odd or 1, odd pixel counts, channels outside the
 * fast formula, clamps or not, both directions in place, C just past the kernel's limit. */
static void pw3_cases(void) {
  /* C, O, pixels, bad channels, spoil, full range */
  static const int32_t cfg[][6] = {
      {120, 25, 7, 0, 0, 0},  {72, 1, 5, 0, 0, 1},    {40, 3, 4, 2, 0, 0},
      {568, 11, 3, 1, 0, 1},  {576, 9, 5, 3, 0, 0},   {584, 7, 3, 0, 0, 0},
      {8, 40, 3, 0, 0, 0},    {200, 17, 1, 4, 0, 1},  {136, 32, 6, 16, 0, 0},
      {136, 30, 4, 17, 0, 1}, {88, 12, 5, 1, 1, 0},   {88, 12, 5, 1, 2, 1},
      {48, 10, 53, 2, 0, 0},  {96, 21, 23, 3, 0, 1},  {48, 96, 13, 1, 0, 0},
      {40, 64, 11, 0, 0, 1},  {192, 6, 8, 0, 0, 0},   {200, 9, 9, 2, 0, 0},
      {56, 8, 4, 0, 0, 1},    {8, 56, 6, 1, 0, 0},    {8, 40, 300, 0, 0, 0},
      {24, 16, 75, 1, 0, 1},  {32, 12, 37, 0, 0, 0}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t C = cfg[k][0], O = cfg[k][1], np = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    mct_requant q = pw2_rq(O, cfg[k][3], cfg[k][5], cfg[k][4]);
    fill8(X, np * C), fill8(PW_W, O * C);
    int st = mct_conv2d_s8(&g, &q, X, PW_W, 0, BIAS, Y);
    emit(&st, 4), emit(Y, np * O);
    memcpy(Y, X, (size_t)np * C);
    st = mct_pointwise_s8_inplace(&g, &q, Y, PW_W, 0, BIAS, T);
    emit(&st, 4), emit(Y, np * O);
    mct_conv_geom g2 = geom(1, np, O, C, 1, 1, 0, 1); /* the other direction */
    mct_requant q2 = pw2_rq(C, cfg[k][3], cfg[k][5], 0);
    memcpy(Y, X, (size_t)np * O);
    st = mct_pointwise_s8_inplace(&g2, &q2, Y, PW_W, 0, BIAS, T);
    emit(&st, 4), emit(Y, np * C);
  }
}
/* ---- end pw3 ------------------------------------------------------------------------------ */
/* ---- pw4 (opt-pw): blocks of pixel pairs with trained slices, C % 8 != 0 ----------------- */
static void pw4_cases(void) {
  /* C, O, pixels, n_sel (-1: none), bad channels, full range */
  static const int32_t cfg[][6] = {
      {56, 20, 16, 28, 0, 0}, {45, 13, 9, 7, 2, 1},   {200, 10, 6, 8, 1, 0},
      {61, 7, 27, -1, 3, 1},  {33, 9, 5, 1, 0, 0},    {40, 90, 7, 12, 1, 0},
      {100, 30, 11, -1, 0, 0}, {64, 12, 30, 64, 4, 1}, {36, 8, 4, 3, 0, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t C = cfg[k][0], O = cfg[k][1], np = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    mct_requant q = pw2_rq(O, cfg[k][4], cfg[k][5], 0);
    fill8(X, np * C), fill8(PW_W, O * C);
    mct_wsplit ws;
    const mct_wsplit *wp = 0;
    if (cfg[k][3] >= 0) ws = pw_slice(C, cfg[k][3], O), wp = &ws;
    int st = mct_conv2d_s8(&g, &q, X, PW_W, wp, BIAS, Y);
    emit(&st, 4), emit(Y, np * O);
    st = mct_conv2d_s8(&g, &q, X, PW_W, wp, 0, Y); /* no bias */
    emit(&st, 4), emit(Y, np * O);
    st = mct_conv2d_s8(&g, &q, X + 1, PW_W + 3, wp, BIAS, Y); /* unaligned rows */
    emit(&st, 4), emit(Y, np * O);
    memcpy(Y, X, (size_t)np * C);
    st = mct_pointwise_s8_inplace(&g, &q, Y, PW_W, wp, BIAS, T);
    emit(&st, 4), emit(Y, np * O);
  }
}
/* ---- end pw4 ------------------------------------------------------------------------------ */
/* ---- dw: depthwise_arm.c's group kernel (four channels over a zero-point-padded ring) ---- */
/* In place, fused expansion (1x1 of 4, 8, ..., 24 input channels) and streamed: 3x3 stride 1
 * and 2, 5x5, no padding, rows wider than the ring (fallback), channel remainders, trained
 * slices, both clamp forms and the general requantization (mixed within a group). */
static void dw_group_cases(void) {
  static const int32_t cfg[][8] = {/* H, W, C (= E), K, stride, pad, Ci, full range */
                                   {7, 20, 16, 3, 1, 1, 8, 1},  {9, 17, 8, 3, 2, 1, 16, 0},
                                   {6, 64, 4, 3, 1, 1, 12, 1},  {5, 80, 4, 3, 1, 1, 24, 1},
                                   {8, 9, 12, 5, 1, 2, 4, 0},   {10, 10, 6, 3, 2, 1, 20, 1},
                                   {12, 13, 8, 3, 1, 0, 8, 1},  {4, 4, 12, 3, 1, 1, 16, 0},
                                   {11, 16, 10, 3, 2, 1, 24, 1}, {3, 5, 8, 3, 1, 1, 8, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t H = cfg[k][0], Wd = cfg[k][1], C = cfg[k][2], K = cfg[k][3], Ci = cfg[k][6];
    mct_conv_geom g = geom(H, Wd, C, C, K, cfg[k][4], cfg[k][5], C);
    mct_requant q = rq(C, MULT, SHIFT, BIAS, cfg[k][7]);
    fill8(X, H * Wd * (C > Ci ? C : Ci)), fill8(W1, C * K * K);
    mct_wsplit ws = slice(C, 3, K * K);
    memcpy(Y, X, (size_t)H * Wd * C);
    int st = mct_depthwise_s8_inplace(&g, &q, Y, W1, k & 1 ? &ws : 0, BIAS, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
    mct_conv_geom g1 = geom(H, Wd, Ci, C, 1, 1, 0, 1);
    mct_requant q1 = rq(C, MULT2, SHIFT2, BIAS2, k % 3 != 1);
    fill8(W2, C * Ci);
    st = mct_expand_dw_s8(&g1, &q1, W2, BIAS2, &g, &q, W1, BIAS, X, Y, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
    memset(Y, 0, (size_t)g.out_h * g.out_w * C);
    st = mct_expand_dw_s8_rows(&g1, &q1, W2, BIAS2, &g, &q, W1, BIAS, X, Y, RING, WORK);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
  }
}
/* ---- end dw ---- */
/* ---- opt-float: float backward kernels (1x1 grad input streaming, in place both ways) ---- */
static void float_stream_cases(void) {
  /* {pixels, in_c, out_c, slice (1: zero frozen channels), scale} */
  static const int32_t cfg[][5] = {{16, 56, 336, 0, 1}, {16, 336, 56, 0, 1}, {64, 192, 32, 0, 1},
                                   {70, 24, 13, 0, 1},  {9, 40, 40, 0, 0},   {5, 48, 301, 0, 1},
                                   {6, 301, 7, 0, 1},   {16, 64, 22, 1, 1},  {11, 20, 64, 1, 0},
                                   {3, 4, 1, 0, 1},     {1, 8, 3, 0, 1},     {33, 100, 16, 1, 1},
                                   {4, 16, 600, 0, 1},  {3, 600, 24, 0, 0}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t np = cfg[k][0], C = cfg[k][1], O = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    fill8(W1, O * C), fillf(G, np * O, 1), fillf(S, O, 0);
    if (k & 1) /* channels whose gradient is +-0 at every pixel */
      for (int32_t o = 1; o < O; o += 3)
        for (int32_t p = 0; p < np; ++p) G[p * O + o] = p & 1 ? -0.0f : 0.0f;
    mct_wsplit ws = slice(C, 5, O);
    for (int32_t o = 0; o < O; ++o)
      for (int32_t j = 0; j < ws.n_sel; ++j) W1[o * C + SEL[j]] = 0;
    const mct_wsplit *wp = cfg[k][3] ? &ws : 0;
    const float *sc = cfg[k][4] ? S : 0;
    int st = mct_conv2d_grad_input_f32(&g, G, W1, wp, sc, F);
    emit(&st, 4), emit(F, 4 * np * C);
    for (int32_t i = 0; i < np * (C > O ? C : O); ++i) F[i] = -1.5f;
    memcpy(F, G, (size_t)4 * np * O);
    st = mct_pointwise_grad_input_f32_inplace(&g, F, W1, wp, sc, M);
    emit(&st, 4), emit(F, 4 * np * C);
    /* weight gradient rows (channels with no non-zero gradient included) */
    fill8(X, np * C);
    const int32_t xz = k == 2 ? -128 : (k == 3 ? 127 : rint_(-128, 127));
    int32_t o = 0;
    for (; o < O && (o + 1) * C <= 16384; ++o) {
      st = mct_conv2d_grad_weight_row_f32(&g, X, C, xz, 0.0125f, G, o, 0, S[o], GW + o * C);
      emit(&st, 4);
    }
    emit(GW, 4 * o * C);
  }
}
static void float_slice_cases(void) {
  /* 1x1 grad input with larger trained slices (zero frozen channels): {pixels, C, O, n_sel} */
  static const int32_t cfg[][4] = {{16, 56, 120, 28}, {64, 32, 40, 16}, {16, 64, 60, 32},
                                   {16, 64, 64, 64}, {5, 24, 33, 7}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t np = cfg[k][0], C = cfg[k][1], O = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    fill8(W1, O * C), fillf(G, np * O, 1), fillf(S, O, 0);
    for (int32_t o = 2; o < O; o += 4)
      for (int32_t p = 0; p < np; ++p) G[p * O + o] = 0.0f;
    mct_wsplit ws = slice(C, cfg[k][3], O);
    for (int32_t o = 0; o < O; ++o)
      for (int32_t j = 0; j < ws.n_sel; ++j) W1[o * C + SEL[j]] = 0;
    int st = mct_conv2d_grad_input_f32(&g, G, W1, &ws, k & 1 ? 0 : S, F);
    emit(&st, 4), emit(F, 4 * np * C);
    memcpy(F, G, (size_t)4 * np * O);
    st = mct_pointwise_grad_input_f32_inplace(&g, F, W1, &ws, k & 1 ? 0 : S, M);
    emit(&st, 4), emit(F, 4 * np * C);
  }
}

static void float_misc_cases(void) {
  /* bias gradients: {pixels, channels, scale} */
  static const int32_t cfg[][3] = {{16, 336, 1}, {64, 32, 0}, {1, 10, 1}, {5, 7, 1}, {3, 29, 0},
                                   {2, 44, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t hw = cfg[k][0], c = cfg[k][1];
    fillf(G, hw * c, 1), fillf(S, c, 0);
    G[0] = -0.0f; /* +0 + -0 */
    int st = mct_bias_grad_f32(hw, c, G, cfg[k][2] ? S : 0, F);
    emit(&st, 4), emit(F, 4 * c);
  }
  /* clamp gradient bits: bytes all ones, all zeros, mixed; tails */
  static const int32_t n_of[] = {5376, 8, 13, 3, 64};
  for (unsigned k = 0; k < sizeof n_of / sizeof n_of[0]; ++k, ++case_no) {
    const int32_t n = n_of[k];
    for (int32_t b = 0; b < (n + 7) / 8; ++b)
      BITS[b] = (uint8_t)(b % 4 == 0 ? 0xFF : (b % 4 == 1 ? 0 : rnd()));
    fillf(F, n, 0);
    int st = mct_clamp_grad_bits_f32(n, BITS, F);
    emit(&st, 4), emit(F, 4 * n);
  }
}
static void float_dw_cases(void) {
  /* depthwise input gradient in place: {H, W, C, k, stride, pad, slice, scale} */
  static const int32_t cfg[][8] = {{4, 4, 336, 3, 1, 1, 0, 1}, {8, 8, 24, 3, 1, 1, 1, 1},
                                   {8, 8, 16, 3, 2, 1, 0, 1},  {4, 4, 16, 7, 1, 3, 1, 0},
                                   {8, 8, 16, 5, 1, 2, 0, 1},  {9, 9, 16, 3, 1, 1, 0, 1},
                                   {7, 5, 12, 3, 2, 0, 1, 1},  {6, 6, 10, 5, 2, 2, 0, 0},
                                   {5, 5, 17, 3, 1, 0, 1, 1},  {8, 8, 8, 7, 2, 3, 0, 1},
                                   {3, 11, 9, 3, 1, 1, 0, 1},  {2, 2, 8, 3, 1, 1, 0, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t H = cfg[k][0], Wd = cfg[k][1], C = cfg[k][2], K = cfg[k][3];
    mct_conv_geom g = geom(H, Wd, C, C, K, cfg[k][4], cfg[k][5], C);
    fill8(W1, C * K * K);
    mct_wsplit ws = slice(C, 3, K * K);
    fillf(F, H * Wd * C, 1), fillf(S, C, 0);
    if (k & 1) /* channels with no non-zero gradient */
      for (int32_t p = 0; p < g.out_h * g.out_w; ++p) F[p * C + 1] = F[p * C + 5] = 0.0f;
    int st = mct_depthwise_grad_input_f32_inplace(&g, F, W1, cfg[k][6] ? &ws : 0,
                                                  cfg[k][7] ? S : 0, G);
    emit(&st, 4), emit(F, 4 * H * Wd * C);
  }
}
static void float_sgd_cases(void) {
  /* int8 SGD with QAS, no weight decay, no momentum (the generated code's update), extremes */
  static const float big[] = {3.0e9f, -3.0e9f, 2.2e9f, -2.2e9f, 1.0e30f, -1.0e30f, 300.0f,
                              -300.0f, 1.0f / 0.0f, -1.0f / 0.0f, 0.0f / 0.0f, -0.0f, 0.0f,
                              1.5f, -1.5f, 4.0e9f, -4.5e9f, 254.7f, -254.7f};
  for (int k = 0; k < 3; ++k, ++case_no) {
    const int32_t L = 37 + 9 * k, rows = 5, row0 = 2;
    fill8(W1, (row0 + rows) * L), fillf(GW, rows * L, 1), fillf(S, row0 + rows, 0);
    for (int32_t i = 0; i < (row0 + rows) * L; i += 3) W1[i] = (int8_t)(i & 1 ? 127 : -127);
    for (int32_t i = 0; i < rows * L; i += 2) GW[i] = big[(i / 2) % (sizeof big / sizeof big[0])];
    mct_sgd s = {k == 2 ? 1.0e-3f : 0.5f, 0.0f, 0.0f, S, L, 7u + (uint32_t)k, 5u, 11u};
    int st = mct_sgd_s8(&s, row0, rows, W1, GW, 0);
    emit(&st, 4), emit(W1, (row0 + rows) * L);
    /* int32 (biases): weights near both limits, steps past 2^31 */
    int32_t *B = (int32_t *)(void *)M;
    for (int32_t i = 0; i < (row0 + rows) * L; ++i)
      B[i] = i % 4 == 0 ? 2147483000 - i : (i % 4 == 1 ? -2147483000 + i : rint_(-40000, 40000));
    for (int32_t i = 1; i < rows * L; i += 4) GW[i] = big[(i / 4) % (sizeof big / sizeof big[0])];
    st = mct_sgd_s32(&s, row0, rows, B, GW, 0);
    emit(&st, 4), emit(B, 4 * (row0 + rows) * L);
    /* a bias: row_len 1, one QAS factor per row */
    fillf(S, 200, 0);
    mct_sgd sb = {k == 2 ? 1.0e-3f : 0.5f, 0.0f, 0.0f, S, 1, 9u, 6u + (uint32_t)k, 12u};
    st = mct_sgd_s32(&sb, 3 + k, 150, B, GW, 0);
    emit(&st, 4), emit(B, 4 * (160 + k));
  }
}
/* ---- end opt-float ---- */

/* ---- gw2: in-place 1x1 grad input blocks of 1 to 4 pixels (sums in registers) ---- */
static void gw2_cases(void) {
  /* {pixels, in_c, out_c, slice, scale}: blocks of 1..4 pixels at both ends, column tails */
  static const int32_t cfg[][5] = {{16, 384, 48, 0, 1}, {16, 96, 200, 1, 1}, {16, 24, 600, 0, 1},
                                   {4, 36, 12, 0, 1},    {3, 28, 130, 1, 1},  {2, 22, 7, 0, 1},
                                   {1, 29, 600, 1, 0},   {5, 60, 100, 0, 1},  {16, 336, 56, 1, 1},
                                   {7, 13, 90, 0, 1},    {4, 200, 100, 0, 0}, {16, 150, 130, 0, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t np = cfg[k][0], C = cfg[k][1], O = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    fill8(W1, O * C), fillf(G, np * O, 1), fillf(S, O, 0);
    if (k & 1)
      for (int32_t o = 2; o < O; o += 5)
        for (int32_t p = 0; p < np; ++p) G[p * O + o] = p & 1 ? -0.0f : 0.0f;
    mct_wsplit ws = slice(C, 6, O);
    for (int32_t o = 0; o < O; ++o)
      for (int32_t j = 0; j < ws.n_sel; ++j) W1[o * C + SEL[j]] = 0;
    for (int32_t i = 0; i < np * (C > O ? C : O); ++i) F[i] = -1.5f;
    memcpy(F, G, (size_t)4 * np * O);
    int st = mct_pointwise_grad_input_f32_inplace(&g, F, W1, cfg[k][3] ? &ws : 0,
                                                  cfg[k][4] ? S : 0, M);
    emit(&st, 4), emit(F, 4 * np * C);
  }
}
/* int8 residual add: table path (n >= 256) with extreme zero points and a narrow range, and
 * the direct loop just below it */
static void gw2_add_cases(void) {
  static const int32_t cfg[][6] = {{2000, 20, -128, 127, -60, 70}, {255, 20, 5, -7, -128, 127},
                                   {300, 18, 127, -128, -128, 127}, {1024, 16, -3, 9, 0, 127}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t n = cfg[k][0];
    mct_add_params p = {cfg[k][2], cfg[k][3], rint_(-20, 20), cfg[k][4], cfg[k][5], cfg[k][1],
                        (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu)), -1 - (int32_t)k,
                        (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu)), -2,
                        (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu)), -17 - (int32_t)k};
    fill8(X, n), fill8(T, n);
    for (int32_t i = 0; i < n; i += 7) X[i] = (int8_t)(i & 8 ? 127 : -128);
    int st = mct_add_s8(&p, n, X, T, Y);
    emit(&st, 4), emit(Y, n);
  }
}
/* ---- end gw2 ---- */

/* ---- dwp: depthwise_arm.c's pair-ring kernels (3x3, 5x5, 7x7 stride 1, full range) ---- */
/* Even and odd output widths (the last output alone), a single pair, a single output, rows
 * at the ring's limit, paddings below (k - 1) / 2, large shifts (sh = 29: the fast form at its
 * edge or, with y_zero != 0, the tap kernels). In place and with the fused expansion. */
static void dwp_cases(void) {
  static const int32_t cfg[][8] = {/* H, W, C (= E), K, pad, Ci, big shifts, slice */
                                   {9, 14, 8, 5, 2, 8, 0, 0},   {7, 11, 12, 5, 2, 16, 0, 1},
                                   {6, 9, 4, 5, 0, 4, 0, 0},    {10, 12, 8, 7, 3, 8, 0, 1},
                                   {9, 13, 4, 7, 3, 12, 0, 0},  {8, 8, 8, 7, 1, 8, 0, 0},
                                   {5, 2, 8, 3, 1, 8, 0, 0},    {4, 1, 4, 3, 1, 4, 0, 0},
                                   {6, 7, 8, 3, 1, 8, 1, 0},    {7, 10, 8, 5, 2, 8, 1, 0},
                                   {5, 40, 4, 5, 2, 4, 0, 0},   {4, 66, 4, 3, 1, 4, 0, 1},
                                   {6, 28, 8, 7, 3, 8, 0, 0},   {5, 9, 12, 3, 0, 20, 0, 0}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t H = cfg[k][0], Wd = cfg[k][1], C = cfg[k][2], K = cfg[k][3], Ci = cfg[k][5];
    mct_conv_geom g = geom(H, Wd, C, C, K, 1, cfg[k][4], C);
    mct_requant q = rq(C, MULT, SHIFT, BIAS, 1);
    for (int32_t c = 0; c < C; ++c) /* the requantization's SMMUL form throughout */
      if (SHIFT[c] > -2) SHIFT[c] = -2 - (int32_t)(rnd() % 9);
    if (cfg[k][6]) SHIFT[0] = SHIFT[5] = -31, q.y_zero = k & 1 ? 0 : q.y_zero;
    fill8(X, H * Wd * (C > Ci ? C : Ci)), fill8(W1, C * K * K);
    mct_wsplit ws = slice(C, 3, K * K);
    memcpy(Y, X, (size_t)H * Wd * C);
    int st = mct_depthwise_s8_inplace(&g, &q, Y, W1, cfg[k][7] ? &ws : 0, BIAS, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
    mct_conv_geom g1 = geom(H, Wd, Ci, C, 1, 1, 0, 1);
    mct_requant q1 = rq(C, MULT2, SHIFT2, BIAS2, k % 3 != 1);
    fill8(W2, C * Ci);
    st = mct_expand_dw_s8(&g1, &q1, W2, BIAS2, &g, &q, W1, BIAS, X, Y, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
  }
}
/* ---- end dwp ---- */
/* ---- grad (opt-grad): weight gradient rows of a 1x1 conv, several at once -------------- */
static void grad_rows_case(mct_conv_geom *g, int32_t C, int32_t O, int32_t np, int32_t r0,
                           int32_t nr, int32_t xz) {
  fill8(X, np * C), fillf(G, np * O, 1), fillf(S, O, 0);
  for (int32_t o = r0 + 1; o < O; o += 5) /* rows whose gradient is +-0 at every pixel */
    for (int32_t p = 0; p < np; ++p) G[p * O + o] = p & 1 ? -0.0f : 0.0f;
  for (int32_t p = 1; p < np; p += 3) /* pixels with no non-zero gradient in the rows */
    for (int32_t o = 0; o < O; ++o) G[p * O + o] = 0.0f;
  for (int32_t i = 0; i < nr * C * g->k_h * g->k_w; ++i) GW[i] = -7.0f;
  int st = mct_conv2d_grad_weight_rows_f32(g, X, C, xz, 0.0125f, G, r0, nr, S, GW);
  emit(&st, 4), emit(GW, 4 * nr * C * g->k_h * g->k_w);
}
static void grad_rows_cases(void) {
  /* {pixels, C, O, r0, rows, x_zero (300: random)} */
  static const int32_t cfg[][6] = {
      {16, 56, 70, 3, 18, 300}, {64, 32, 40, 0, 40, -128}, {16, 64, 80, 16, 64, 127},
      {300, 10, 30, 5, 25, 300}, {1, 112, 10, 0, 10, 3},  {16, 20, 80, 0, 70, 300},
      {9, 48, 50, 49, 1, -5},   {16, 7, 100, 36, 64, 300}, {64, 24, 30, 2, 0, 300},
      {16, 40, 12, 0, 12, 200}, {4, 16, 33, 1, 31, -128}, {49, 29, 17, 0, 17, 300}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t np = cfg[k][0], C = cfg[k][1], O = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    grad_rows_case(&g, C, O, np, cfg[k][3], cfg[k][4], cfg[k][5] == 300 ? rint_(-128, 127) : cfg[k][5]);
  }
  for (int32_t C = 1; C <= 31; ++C, ++case_no) { /* every block width and remainder */
    mct_conv_geom g = geom(1, 7, C, 21, 1, 1, 0, 1);
    grad_rows_case(&g, C, 21, 7, C & 3, 21 - (C & 3), rint_(-128, 127));
  }
  { /* not a 1x1 conv: the per-row kernels */
    mct_conv_geom g = geom(5, 5, 6, 8, 3, 1, 1, 1);
    grad_rows_case(&g, 6, 8, 25, 1, 6, 9);
    ++case_no;
  }
}
/* depthwise input gradient in place, blocks of eight channels by input rows (mct__dw_line):
 * uncovered input rows and columns (stride 2, no padding), a table too large for tmp (one
 * input row), kernels 1 to 7 wide: {H, W, C, k, stride, pad} */
static void grad_dw_cases(void) {
  static const int32_t cfg[][6] = {{8, 8, 16, 3, 2, 0}, {9, 10, 8, 5, 2, 0}, {1, 9, 8, 3, 2, 1},
                                   {1, 12, 16, 3, 1, 1}, {6, 6, 24, 1, 1, 0}, {5, 9, 8, 7, 1, 3},
                                   {7, 7, 8, 7, 2, 0}, {3, 4, 16, 2, 2, 1}, {10, 3, 9, 5, 1, 2}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t H = cfg[k][0], Wd = cfg[k][1], C = cfg[k][2], K = cfg[k][3];
    mct_conv_geom g = geom(H, Wd, C, C, K, cfg[k][4], cfg[k][5], C);
    fill8(W1, C * K * K);
    mct_wsplit ws = slice(C, 3, K * K);
    fillf(F, H * Wd * C, 1), fillf(S, C, 0);
    int st = mct_depthwise_grad_input_f32_inplace(&g, F, W1, k & 1 ? &ws : 0, k & 2 ? 0 : S,
                                                  G);
    emit(&st, 4), emit(F, 4 * H * Wd * C);
  }
}
/* 1x1 input gradient in place with wide blocks read straight from the buffer (gradient
 * groups made consecutive, more than one chunk of pixels): {pixels, C, O, slice, scale} */
static void grad_ip_cases(void) {
  static const int32_t cfg[][5] = {{300, 64, 10, 0, 1}, {40, 48, 13, 1, 0}, {200, 40, 44, 0, 1},
                                   {130, 36, 7, 0, 1},  {64, 96, 16, 1, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t np = cfg[k][0], C = cfg[k][1], O = cfg[k][2];
    mct_conv_geom g = geom(1, np, C, O, 1, 1, 0, 1);
    fill8(W1, O * C), fillf(S, O, 0);
    mct_wsplit ws = slice(C, 5, O);
    for (int32_t o = 0; o < O; ++o)
      for (int32_t j = 0; j < ws.n_sel; ++j) W1[o * C + SEL[j]] = 0;
    for (int32_t i = 0; i < np * (C > O ? C : O); ++i) F[i] = -1.5f;
    fillf(F, np * O, 1);
    int st = mct_pointwise_grad_input_f32_inplace(&g, F, W1, cfg[k][3] ? &ws : 0,
                                                  cfg[k][4] ? S : 0, M);
    emit(&st, 4), emit(F, 4 * np * C);
  }
}
/* ---- end opt-grad ---- */

/* ---- dw2: depthwise_arm.c's fused 1x1 in assembly (mct__pw4a_*) ---- */
/* Input groups G = 2 .. 10 (and odd ones: the C kernels), both ring layouts (pair ring for
 * stride 1, widened for stride 2 / other kernels), first columns even and odd, a single
 * column, an unaligned input (the C kernels), large shifts at the SMMLA form's edge. */
static void dw2_pw_cases(void) {
  static const int32_t cfg[][9] = {/* H, W, C (= E), K, stride, pad, Ci, x offset, big sh */
                                   {6, 9, 8, 3, 1, 1, 32, 0, 0},  {5, 7, 8, 3, 2, 1, 40, 0, 0},
                                   {7, 10, 4, 5, 1, 2, 24, 0, 0}, {6, 6, 8, 3, 2, 1, 8, 0, 1},
                                   {4, 1, 4, 3, 1, 1, 16, 0, 0},  {5, 8, 8, 7, 2, 3, 32, 0, 0},
                                   {6, 9, 8, 5, 1, 0, 40, 0, 1},  {5, 6, 4, 3, 1, 1, 16, 1, 0},
                                   {5, 11, 12, 3, 1, 1, 20, 0, 0}, {3, 13, 8, 3, 1, 1, 16, 2, 0},
                                   {6, 12, 8, 3, 1, 1, 24, 0, 1}, {4, 7, 4, 3, 2, 1, 40, 0, 0},
                                   {5, 9, 8, 3, 1, 1, 40, 0, 0},  {6, 8, 4, 3, 2, 1, 24, 0, 0},
                                   {5, 9, 8, 5, 2, 2, 16, 0, 0}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t H = cfg[k][0], Wd = cfg[k][1], C = cfg[k][2], K = cfg[k][3], Ci = cfg[k][6];
    mct_conv_geom g = geom(H, Wd, C, C, K, cfg[k][4], cfg[k][5], C);
    mct_requant q = rq(C, MULT, SHIFT, BIAS, 1);
    for (int32_t c = 0; c < C; ++c) /* outputs mostly inside the range, not saturated */
      SHIFT[c] = -9 - (int32_t)(rnd() % 6), BIAS[c] = rint_(-40000, 40000);
    int8_t *x = X + cfg[k][7];
    fill8(x, H * Wd * Ci), fill8(W1, C * K * K);
    mct_conv_geom g1 = geom(H, Wd, Ci, C, 1, 1, 0, 1);
    mct_requant q1 = rq(C, MULT2, SHIFT2, BIAS2, k != 9);
    for (int32_t c = 0; c < C; ++c)
      if (SHIFT2[c] > -2 || BIAS2[c] > 1000000 || BIAS2[c] < -1000000)
        SHIFT2[c] = -6 - (int32_t)(rnd() % 8), BIAS2[c] = rint_(-40000, 40000);
    if (cfg[k][8]) /* sh = 29: exact with y_zero = 0 (the assembly), else the C kernels */
      SHIFT2[1] = SHIFT2[6] = -31, q1.y_zero = k & 1 ? 0 : q1.y_zero;
    fill8(W2, C * Ci);
    int st = mct_expand_dw_s8(&g1, &q1, W2, BIAS2, &g, &q, W1, BIAS, x, Y, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
  }
}
/* The pair kernels' scaled requantization (weights, start and add times 2^(9 - shr)):
 * shr from 1 to 9 and beyond (the plain form then), biases large enough that the scaled
 * sums would not fit int32 for some channels (the plain form for their group). */
static void dw2_scale_cases(void) {
  static const int32_t cfg[][6] = {/* H, W, C, K, pad, bias class */
                                   {6, 9, 16, 3, 1, 0}, {5, 8, 16, 3, 1, 1}, {7, 9, 8, 5, 2, 1},
                                   {8, 7, 8, 7, 3, 1},  {6, 10, 12, 5, 2, 2}, {5, 6, 16, 3, 1, 2},
                                   {4, 5, 8, 3, 2, 0},  {1, 6, 4, 3, 1, 0},  {3, 9, 8, 3, 0, 1},
                                   {2, 1, 4, 3, 1, 0}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t H = cfg[k][0], Wd = cfg[k][1], C = cfg[k][2], K = cfg[k][3];
    mct_conv_geom g = geom(H, Wd, C, C, K, 1, cfg[k][4], C);
    mct_requant q = rq(C, MULT, SHIFT, BIAS, 1);
    for (int32_t c = 0; c < C; ++c) {
      SHIFT[c] = c % 7 == 3 ? -11 - (int32_t)(rnd() % 8) : -2 - (int32_t)(rnd() % 9);
      if (cfg[k][5] == 0) SHIFT[c] = -2 - (int32_t)(rnd() % 9);
      BIAS[c] = cfg[k][5] == 1 ? rint_(-40000, 40000) * (1 << (rnd() % 13))
                               : (rnd() & 1 ? 1 : -1) * rint_(1 << 22, 1 << 24);
    }
    fill8(X, H * Wd * C), fill8(W1, C * K * K);
    memcpy(Y, X, (size_t)H * Wd * C);
    int st = mct_depthwise_s8_inplace(&g, &q, Y, W1, 0, BIAS, T);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
  }
}
/* The streamed 3x3 stride 2 (mct__dw4b_3x3): rows of fewer and more than 20 outputs (the
 * scaled form from 20), shifts beyond the scaled form, large biases, channel remainders. */
static void dw2_rows_cases(void) {
  static const int32_t cfg[][5] = {/* H, W, C (= E), Ci, bias class */
                                   {7, 45, 8, 8, 0},  {6, 50, 12, 16, 1}, {9, 41, 6, 8, 0},
                                   {5, 44, 16, 12, 2}, {8, 30, 8, 8, 1},  {5, 47, 10, 12, 0}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t H = cfg[k][0], Wd = cfg[k][1], C = cfg[k][2], Ci = cfg[k][3];
    mct_conv_geom g = geom(H, Wd, C, C, 3, 2, 1, C);
    mct_requant q = rq(C, MULT, SHIFT, BIAS, 1);
    for (int32_t c = 0; c < C; ++c) {
      SHIFT[c] = c % 5 == 2 && k % 2 ? -11 - (int32_t)(rnd() % 8) : -2 - (int32_t)(rnd() % 10);
      BIAS[c] = cfg[k][4] == 0 ? rint_(-40000, 40000)
                : cfg[k][4] == 1 ? rint_(-40000, 40000) * (1 << (rnd() % 13))
                                 : (rnd() & 1 ? 1 : -1) * rint_(1 << 22, 1 << 24);
    }
    fill8(X, H * Wd * Ci), fill8(W1, C * 9);
    mct_conv_geom g1 = geom(H, Wd, Ci, C, 1, 1, 0, 1);
    mct_requant q1 = rq(C, MULT2, SHIFT2, BIAS2, 1);
    fill8(W2, C * Ci);
    memset(Y, 0, (size_t)g.out_h * g.out_w * C);
    int st = mct_expand_dw_s8_rows(&g1, &q1, W2, BIAS2, &g, &q, W1, BIAS, X, Y, RING, WORK);
    emit(&st, 4), emit(Y, g.out_h * g.out_w * C);
  }
}
/* ---- end dw2 ---- */

/* General convs (groups 1) through conv_im2col_arm.c: im2col'd strips into the 1x1 kernels
 * (tiles K <= 32, blocks, the two-pixel kernels up to K = 576, the per-pixel fallback beyond),
 * non-square kernels, mixed strides and paddings, odd channels, trained slices (in column form
 * up to 64 columns; longer ones back to the portable C); mct_conv2d_s8 and the rows form; and
 * their float input gradients (grad_kxk_arm.c: taps backwards through the streamed 1x1). */
static void im2col_cases(void) {
  /* in_h, in_w, C, O, kh, kw, sh, sw, ph, pw, n_sel */
  static const int32_t cfg[][11] = {
      {32, 32, 3, 16, 3, 3, 1, 1, 1, 1, 0},  {16, 16, 16, 16, 3, 3, 1, 1, 1, 1, 0},
      {16, 16, 16, 32, 3, 3, 2, 2, 1, 1, 0}, {8, 8, 32, 32, 3, 3, 1, 1, 1, 1, 0},
      {8, 8, 64, 24, 3, 3, 1, 1, 1, 1, 0},   {49, 10, 1, 64, 10, 4, 2, 2, 5, 1, 0},
      {7, 9, 5, 7, 3, 2, 2, 1, 0, 1, 0},     {6, 5, 13, 9, 2, 3, 1, 2, 1, 2, 0},
      {5, 5, 125, 5, 2, 2, 1, 1, 0, 0, 0},   {8, 8, 16, 12, 3, 3, 1, 1, 1, 1, 3},
      {4, 4, 20, 6, 3, 3, 1, 1, 1, 1, 8},    {16, 16, 16, 32, 1, 1, 2, 2, 0, 0, 0},
      {5, 5, 8, 8, 1, 1, 1, 1, 1, 1, 2},     {9, 7, 7, 11, 5, 5, 1, 1, 2, 2, 1}};
  for (unsigned k = 0; k < sizeof cfg / sizeof cfg[0]; ++k, ++case_no) {
    const int32_t *c = cfg[k];
    mct_conv_geom g = {c[0], c[1], c[2], (c[0] + 2 * c[8] - c[4]) / c[6] + 1,
                       (c[1] + 2 * c[9] - c[5]) / c[7] + 1, c[3], c[4], c[5], c[6], c[7],
                       c[8], c[9], 1};
    const int32_t kk = c[4] * c[5], ny = g.out_h * g.out_w * g.out_c;
    mct_requant q = rq(g.out_c, MULT, SHIFT, BIAS, k & 1);
    fill8(X, c[0] * c[1] * c[2]), fill8(W1, c[3] * c[2] * kk);
    mct_wsplit ws = slice(c[2], c[10], c[3] * kk);
    const mct_wsplit *wp = c[10] ? &ws : 0;
    int st = mct_conv2d_s8(&g, &q, X, W1, wp, BIAS, Y);
    emit(&st, 4), emit(Y, ny);
    memset(Y, 0, (size_t)ny);
    st = mct_conv2d_s8_rows(&g, &q, X, W1, wp, BIAS, Y, T);
    emit(&st, 4), emit(Y, ny);
    st = mct_conv2d_s8(&g, &q, X, W1, wp, 0, Y); /* no bias */
    emit(&st, 4), emit(Y, ny);
    /* the float input gradient (grad_kxk_arm.c; a trained slice: the portable C) */
    fillf(G, ny, 1), fillf(S, g.out_c, 0);
    st = mct_conv2d_grad_input_f32(&g, G, W1, wp, k & 2 ? 0 : S, F);
    emit(&st, 4), emit(F, 4 * c[0] * c[1] * c[2]);
  }
}

int main(void) {
  out_fd = mct_sh_open("out.bin", 5);
  if (out_fd < 0) return MCT_EXIT_IO;
  pointwise_cases();
  depthwise_cases();
  rows_cases();
  float_cases();
  float_stream_cases(); /* opt-float */
  float_misc_cases();   /* opt-float */
  float_slice_cases();  /* opt-float */
  float_dw_cases();     /* opt-float */
  float_sgd_cases();    /* opt-float */
  gw2_cases();          /* gw2 */
  gw2_add_cases();      /* gw2 */
  mask_cases();
  add_cases();
  dw_group_cases();
  pw_cases(); /* pw (opt-pw) */
  pw2_cases(); /* pw2 (opt-pw2) */
  dwp_cases(); /* dwp (opt-dw) */
  grad_rows_cases(); /* opt-grad */
  grad_dw_cases();   /* opt-grad */
  grad_ip_cases();   /* opt-grad */
  pw3_cases(); /* pw3 (opt-pw) */
  pw4_cases(); /* pw4 (opt-pw) */
  dw2_pw_cases(); /* dw2 (opt-dw2) */
  dw2_scale_cases(); /* dw2 (opt-dw2) */
  dw2_rows_cases(); /* dw2 (opt-dw2) */
  im2col_cases();
  mct_sh_close(out_fd);
  return 0;
}
