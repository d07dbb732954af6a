/* tflm_check.c: runs the kernels of mct_tflm.h on pseudo-random data and writes every output
 * (and status) to out.bin. tests/targets/test_tflm_device.py builds it for the Cortex-M (QEMU,
 * semihosting) with the DSP paths compiled in, and for the host (-DMCT_HOST_CHECK, stdio): the
 * two files must be equal byte for byte. The host kernels equal the NumPy reference
 * (tests/c/test_tflm_kernels.py), so the device's do too: the 64-bit products, arithmetic
 * shifts and float sums of TFLite Micro's arithmetic behave alike on both. */
#include <string.h>

#include "mct.h"

#ifdef MCT_HOST_CHECK
#include <stdio.h>
static FILE *out;
static int out_open(void) { return (out = fopen("out.bin", "wb")) != NULL; }
static void out_write(const void *p, uint32_t n) { fwrite(p, 1, n, out); }
static void out_close(void) { fclose(out); }
#else
#include "mct_device.h"
/* the device library's hooks (this program is not a model) */
int8_t *mct_dev_train_input(void) { return 0; }
int8_t *mct_dev_forward_input(void) { return 0; }
const mct_span mct_dev_param_spans[1];
const int32_t mct_dev_n_param_spans = 0;
const uint32_t mct_dev_model_hash = 0;
static int out_fd;
static int out_open(void) { return (out_fd = mct_sh_open("out.bin", 5)) >= 0; }
static void out_write(const void *p, uint32_t n) { mct_sh_write(out_fd, p, n); }
static void out_close(void) { mct_sh_close(out_fd); }
#endif

static uint32_t seed = 2023u;
static uint32_t rnd(void) {
  seed = seed * 1664525u + 1013904223u;
  return seed >> 8;
}
static int32_t rint_(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }

static int8_t X[20000], Y[20000], W[20000], T[4096];
static float F[20000], G[20000];
static int32_t MULT[512], SHIFT[512], BIAS[512];
static int case_no;

static void emit(int32_t status, const void *p, uint32_t n) {
  const uint32_t h[3] = {(uint32_t)case_no++, n, (uint32_t)status};
  out_write(h, 12);
  out_write(p, n);
}
static void fill8(int8_t *p, int32_t n) {
  for (int32_t i = 0; i < n; ++i) p[i] = (int8_t)rint_(-128, 127);
}
static void fillf(float *p, int32_t n) {
  for (int32_t i = 0; i < n; ++i) p[i] = (float)rint_(-30000, 30000) * 3.0e-5f;
}
static int32_t mult31(void) { return (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu)); }

/* Every draw of rnd() is its own statement (or a comma-sequenced one): the order in which
 * function arguments and initializers are evaluated is unspecified, and host and device
 * compilers must draw the same numbers. */
/* multipliers in [2^30, 2^31) with shifts in [lo, hi], biases sometimes near the int32 ends */
static mct_requant rq(int32_t n, int32_t lo, int32_t hi) {
  for (int32_t o = 0; o < n; ++o) {
    MULT[o] = mult31();
    SHIFT[o] = rint_(lo, hi);
    BIAS[o] = rnd() % 13 == 0 ? (rnd() & 1 ? 2147480000 : -2147480000) : rint_(-40000, 40000);
  }
  mct_requant q; /* one draw per statement: the order of initializers is unspecified */
  q.x_zero = rint_(-128, 127);
  q.y_zero = rint_(-128, 127);
  q.act_min = rnd() & 1 ? -128 : rint_(-128, 0);
  q.act_max = rnd() & 1 ? 127 : rint_(0, 127);
  q.mult = MULT, q.shift = SHIFT;
  return q;
}
/* a conv geometry: non-square kernels, strides 1-3, padding below the kernel, tiny maps */
static mct_conv_geom geom(int32_t c, int32_t o, int32_t groups) {
  mct_conv_geom g;
  g.k_h = rint_(1, 5), g.k_w = rint_(1, 5), g.stride_h = rint_(1, 3), g.stride_w = rint_(1, 3);
  g.pad_h = rint_(0, g.k_h - 1), g.pad_w = rint_(0, g.k_w - 1);
  g.in_h = rint_(g.k_h - 2 * g.pad_h > 1 ? g.k_h - 2 * g.pad_h : 1, 9);
  g.in_w = rint_(g.k_w - 2 * g.pad_w > 1 ? g.k_w - 2 * g.pad_w : 1, 9);
  g.in_c = c, g.out_c = o, g.groups = groups;
  g.out_h = (g.in_h + 2 * g.pad_h - g.k_h) / g.stride_h + 1;
  g.out_w = (g.in_w + 2 * g.pad_w - g.k_w) / g.stride_w + 1;
  return g;
}

static void conv_cases(void) {
  for (int i = 0; i < 60; ++i) {
    const int kind = i % 3; /* groups 1, depthwise (multiplier 1-3), grouped */
    int32_t c = rint_(1, 16), o = rint_(1, 16), groups = 1;
    if (kind == 1) groups = c, o = c * rint_(1, 3);
    if (kind == 2) groups = rint_(2, 3), c = groups * rint_(1, 4), o = groups * rint_(1, 3);
    const mct_conv_geom g = geom(c, o, groups);
    const mct_requant q = rq(o, -20, 4);
    fill8(X, g.in_h * g.in_w * c);
    fill8(W, o * (c / groups) * g.k_h * g.k_w);
    const int32_t n = g.out_h * g.out_w * o;
    emit(mct_conv2d_s8_tflm(&g, &q, X, W, NULL, BIAS, Y), Y, (uint32_t)n);
    if (kind == 2) continue;
    /* the row-by-row form, output separate from the input (the overlap is tested on host) */
    emit(mct_conv2d_s8_rows_tflm(&g, &q, X, W, NULL, BIAS, Y, T), Y, (uint32_t)n);
  }
}

static void inplace_cases(void) {
  for (int i = 0; i < 20; ++i) {
    const int32_t c = rint_(1, 40), o = rint_(1, 40), h = rint_(1, 6), w = rint_(1, 6);
    const mct_conv_geom g = {h, w, c, h, w, o, 1, 1, 1, 1, 0, 0, 1};
    const mct_requant q = rq(o, -20, 2);
    fill8(X, h * w * (c > o ? c : o));
    fill8(W, o * c);
    emit(mct_pointwise_s8_inplace_tflm(&g, &q, X, W, NULL, BIAS, T), X, (uint32_t)(h * w * o));
    const int32_t cd = rint_(1, 20);
    const mct_conv_geom gd = geom(cd, cd, cd);
    const mct_requant qd = rq(cd, -20, 2);
    const int32_t in = gd.in_h * gd.in_w, on = gd.out_h * gd.out_w;
    fill8(X, cd * (in > on ? in : on));
    fill8(W, cd * gd.k_h * gd.k_w);
    emit(mct_depthwise_s8_inplace_tflm(&gd, &qd, X, W, NULL, BIAS, T), X, (uint32_t)(cd * on));
  }
}

static void linear_add_cases(void) {
  for (int i = 0; i < 30; ++i) {
    const int32_t c = rint_(1, 200), o = rint_(1, 40);
    const mct_requant q = rq(o, -24, 2);
    fill8(X, c);
    fill8(W, c * o);
    emit(mct_linear_s8_tflm(c, o, &q, X, W, NULL, BIAS, Y), Y, (uint32_t)o);
  }
  for (int i = 0; i < 30; ++i) {
    const int32_t n = rint_(1, 500);
    mct_add_params p;
    p.x_zero = rint_(-128, 127), p.y_zero_in = rint_(-128, 127), p.y_zero = rint_(-128, 127);
    p.act_min = -128, p.act_max = 127, p.left_shift = 20;
    p.x_mult = mult31(), p.x_shift = rint_(-8, -1);
    p.y_mult = mult31(), p.y_shift = rint_(-8, -1);
    p.out_mult = mult31(), p.out_shift = rint_(-26, -12);
    if (i % 3 == 0) p.act_min = rint_(-128, 0), p.act_max = rint_(0, 127);
    fill8(X, n);
    fill8(W, n);
    emit(mct_add_s8_tflm(&p, n, X, W, Y), Y, (uint32_t)n);
  }
}

static void pad_pool_cases(void) {
  for (int i = 0; i < 30; ++i) {
    mct_pad_geom g;
    g.in_h = rint_(1, 8), g.in_w = rint_(1, 8), g.c = rint_(1, 8);
    g.top = rint_(0, 3), g.bottom = rint_(0, 3), g.left = rint_(0, 3), g.right = rint_(0, 3);
    const int32_t n = (g.in_h + g.top + g.bottom) * (g.in_w + g.left + g.right) * g.c;
    fill8(X, g.in_h * g.in_w * g.c);
    const int32_t value = rint_(-128, 127);
    emit(mct_pad_s8(&g, value, X, Y), Y, (uint32_t)n);
    fillf(F, n);
    emit(mct_pad_grad_f32(&g, F, G), G, (uint32_t)(4 * g.in_h * g.in_w * g.c));
  }
  for (int i = 0; i < 40; ++i) {
    mct_pool_geom g;
    g.k_h = rint_(1, 5), g.k_w = rint_(1, 5), g.stride_h = rint_(1, 3), g.stride_w = rint_(1, 3);
    g.top = rint_(0, g.k_h - 1), g.bottom = rint_(0, g.k_h - 1);
    g.left = rint_(0, g.k_w - 1), g.right = rint_(0, g.k_w - 1);
    g.in_h = rint_(g.k_h - g.top - g.bottom > 1 ? g.k_h - g.top - g.bottom : 1, 9);
    g.in_w = rint_(g.k_w - g.left - g.right > 1 ? g.k_w - g.left - g.right : 1, 9);
    g.c = rint_(1, 12);
    g.out_h = (g.in_h + g.top + g.bottom - g.k_h) / g.stride_h + 1;
    g.out_w = (g.in_w + g.left + g.right - g.k_w) / g.stride_w + 1;
    fill8(X, g.in_h * g.in_w * g.c);
    const int32_t on = g.out_h * g.out_w * g.c;
    emit(mct_avgpool2d_s8(&g, i % 4 ? -128 : -30, i % 5 ? 127 : 40, X, Y), Y, (uint32_t)on);
    fillf(F, on);
    emit(mct_avgpool2d_grad_f32(&g, F, G), G, (uint32_t)(4 * g.in_h * g.in_w * g.c));
  }
}

static void mean_softmax_cases(void) {
  for (int i = 0; i < 20; ++i) {
    const int32_t hw = rint_(1, 400), c = rint_(1, 40);
    const int32_t xz = rint_(-128, 127), yz = rint_(-128, 127);
    const int32_t m31 = mult31(), mult = m31 >> rint_(0, 8), shift = rint_(-14, 2);
    fill8(X, hw * c);
    emit(mct_mean_hw_s8(hw, c, xz, yz, mult, shift, X, Y), Y, (uint32_t)c);
  }
  for (int i = 0; i < 30; ++i) {
    const int32_t rows = rint_(1, 3), k = rint_(1, 1000);
    const int32_t left = rint_(18, 26); /* beta * s_x * 2^26 = mult * 2^(left - 31) */
    const int32_t mult = mult31();
    /* the largest difference that stays above -32 in Q5.26, as softmax_params computes it */
    const mct_softmax_params p = {mult, left, -(int32_t)((((int64_t)31) << 26) >> left)};
    fill8(X, rows * k);
    if (i % 5 == 1) memset(X, rint_(-128, 127), (size_t)(rows * k));
    emit(mct_softmax_s8(&p, rows, k, X, Y), Y, (uint32_t)(rows * k));
  }
}

int main(void) {
  if (!out_open()) return 3;
  conv_cases();
  inplace_cases();
  linear_add_cases();
  pad_pool_cases();
  mean_softmax_cases();
  out_close();
  return 0;
}
