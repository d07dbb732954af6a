/* mct.h: mcutrain runtime kernels (C99, CMSIS-NN manner).
 *
 * Conventions
 * - Activations are HWC (batch 1): element (h, w, c) of an H x W x C tensor at (h*W + w)*C + c.
 * - Weights keep the IR layout: conv [O][C/groups][kh][kw], linear [O][C].
 * - Gradients are float32, HWC like the activations they belong to; parameter gradients use
 *   the parameter's layout. Gradients between ops are gradients of REAL values
 *   (r = s * (q - z)); parameter gradients are in the parameter's integer steps.
 * - No malloc, no stdio, no globals. Scratch memory is passed in by the caller.
 *   Every function returns 0 (MCT_OK) or a negative MCT_E* code.
 * - Integer results are bit-exact with the NumPy reference (mcutrain/ref/interp.py);
 *   float results follow the same formulas (compile with -ffp-contract=off).
 */
#ifndef MCT_H
#define MCT_H

#include <stdint.h>

#include "mct_fixedpoint.h"

#define MCT_OK 0
#define MCT_E_ARG -1

typedef struct {
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
  int32_t groups; /* 1, or in_c (depthwise; out_c = in_c * multiplier) */
} mct_conv_geom;

typedef struct {
  int32_t x_zero, y_zero, act_min, act_max;
  const int32_t *mult, *shift; /* per output channel */
} mct_requant;

/* Weights of a layer whose weights train for only some input channels (groups == 1) or
 * some channels (depthwise): `w` (frozen, in flash) holds zeros in those channels, `wt` the
 * trained slice in RAM: [O][n_sel][kh][kw] (groups 1) or [n_sel][1][kh][kw] (depthwise);
 * sel[j] is the channel of slice entry j (ascending). A NULL mct_wsplit means w is whole. */
typedef struct {
  const int8_t *wt;
  const int32_t *sel;
  int32_t n_sel;
} mct_wsplit;

/* ---- forward (int8) ------------------------------------------------------------------- */

/* y = clamp(requantize(sat32(sum (x - x_zero) * w + bias)) + y_zero, act_min, act_max),
 * zero padding applied after subtracting x_zero. Any kernel/stride/padding; groups 1 or
 * depthwise. x [in_h][in_w][in_c], y [out_h][out_w][out_c]. */
int mct_conv2d_s8(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y);

/* int8 linear: x [in_c] -> y [out_c] (= a 1x1 conv on a 1x1 map). */
int mct_linear_s8(int32_t in_c, int32_t out_c, const mct_requant *q, const int8_t *x,
                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y);

typedef struct {
  int32_t x_zero, y_zero_in, y_zero, act_min, act_max, left_shift;
  int32_t x_mult, x_shift, y_mult, y_shift, out_mult, out_shift;
} mct_add_params;

/* quantized residual add (ops/fixedpoint.add_int8), n elements; y may alias a or b. */
int mct_add_s8(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *y);

/* y[c] = round_half_even(sum_hw x[hw][c] / hw). */
int mct_avgpool_global_s8(int32_t hw, int32_t c, const int8_t *x, int8_t *y);

/* max over windows (padding never wins: padded cells count as -128). */
int mct_maxpool_s8(const mct_conv_geom *g, const int8_t *x, int8_t *y);

/* y = clamp(x, lo, hi) elementwise (standalone ReLU in int8). y may alias x. */
int mct_clamp_s8(int32_t n, int32_t lo, int32_t hi, const int8_t *x, int8_t *y);

/* y = scale * (x - zero) as float. */
int mct_dequantize_s8(int32_t n, float scale, int32_t zero, const int8_t *x, float *y);

/* y[hw][j] = x[hw][sel[j]]: the saved input channels of a channel-fraction layer. */
int mct_gather_channels_s8(int32_t hw, int32_t c, const int32_t *sel, int32_t n_sel,
                           const int8_t *x, int8_t *y);

/* ---- forward, in place (memory-saving forms; results identical to the above) ---------- */

/* 1x1 conv, stride 1, no padding, groups 1, computed over its own input: buf holds x
 * [in_h][in_w][in_c] on entry and y [in_h][in_w][out_c] on return (same base address; the
 * buffer must hold max(in, out) bytes). Pixels run forward when out_c <= in_c, backward
 * otherwise, so no input pixel is overwritten before it is read. tmp: in_c bytes. */
int mct_pointwise_s8_inplace(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                             const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                             int8_t *tmp);

/* Depthwise conv (multiplier 1, any kernel/stride/padding) over its own input: one channel
 * at a time into tmp (out_h*out_w bytes), then stored to that channel's HWC positions, which
 * only ever held the same channel of the input. */
int mct_depthwise_s8_inplace(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                             const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                             int8_t *tmp);

/* General conv computed one output row at a time into tmp_row (out_w*out_c bytes) and then
 * stored, so y may overlap x as long as y + gap <= x, with (computed at compile time)
 *   gap = max over r < out_h - 1 of ((r+1)*out_w*out_c - max(0, stride_h*(r+1) - pad_h)*in_w*in_c)
 * (or 0): output row r then only overwrites input rows that no later output row reads. */
int mct_conv2d_s8_rows(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y,
                       int8_t *tmp_row);

/* Inverted-residual expansion fused into its depthwise conv: for each expanded channel e,
 * the 1x1 conv (g1, q1, w1, b1) computes channel e for every pixel into tmp (g1 out_h*out_w
 * bytes) and the depthwise conv (g2, q2, w2, b2) turns it into channel e of y. The expanded
 * tensor never exists whole. x [H][W][C], y [Ho][Wo][E]; y must not overlap x. */
int mct_expand_dw_s8(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                     const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                     const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y, int8_t *tmp);

/* The same fusion streamed by rows, so its output can overwrite its consumed input: output
 * row r needs expanded rows s*r - p .. s*r - p + k_h - 1, kept in a ring of k_h rows
 * (ring: k_h * in_w * E bytes, each expanded row computed once from input row j, after which
 * input row j is dead); the row is assembled in `work` and stored. y may start `gap` bytes
 * before x, with (computed at compile time)
 *   gap = max over r < out_h - 1 of ((r+1)*out_w*E - min(in_h, s*r - p + k_h)*in_w*C).
 * work: MCT_EXPAND_DW_WORK(out_w, E, k_h, k_w) bytes (output row, weights by tap, int32 sums). */
#define MCT_EXPAND_DW_WORK(out_w, E, k_h, k_w) \
  (((out_w) * (E) + (k_h) * (k_w) * (E) + 15) / 16 * 16 + 4 * (E))
int mct_expand_dw_s8_rows(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                          const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                          const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y,
                          int8_t *ring, int8_t *work);

/* ---- float head and loss ---------------------------------------------------------------- */

/* y[o] = sum_c w[o][c] * x[c] + b[o]  (float, accumulated in order c = 0..in_c-1). */
int mct_linear_f32(int32_t in_c, int32_t out_c, const float *x, const float *w, const float *b,
                   float *y);

/* Softmax cross-entropy of logits z[n] with `label`: returns the loss; when dz is not
 * NULL writes dz = softmax(z) - onehot(label). */
float mct_softmax_ce_f32(int32_t n, const float *z, int32_t label, float *dz);

/* Mean squared error of z[n] against the target t[n] (a reconstruction: t is the model's
 * input): returns sum_k (z[k] - t[k])^2 / n, accumulated in double in order k = 0..n-1; when
 * dz is not NULL writes dz[k] = 2 (z[k] - t[k]) / n. (loss_mse.c) */
float mct_mse_f32(int32_t n, const float *z, const float *t, float *dz);

/* ---- backward ----------------------------------------------------------------------------- */

/* g[i] = (lo < y[i] < hi) ? g[i] : 0, in place (gradient through the int8 output clamp). */
int mct_clamp_grad_f32(int32_t n, int32_t lo, int32_t hi, const int8_t *y, float *g);

/* gx = conv_transpose(g, w * w_scale): real input gradient. w_scale per output channel
 * (NULL: w is already real, i.e. a float layer: then w_f32 is used instead of w).
 * g [out_h][out_w][out_c], gx [in_h][in_w][in_c] (overwritten). */
int mct_conv2d_grad_input_f32(const mct_conv_geom *g, const float *gy, const int8_t *w,
                              const mct_wsplit *ws, const float *w_scale, float *gx);

/* In-place input gradients: buf holds gy [out_h][out_w][out_c] on entry and gx
 * [in_h][in_w][in_c] on return (same base; buffer of max of the two sizes).
 * Pointwise (1x1, stride 1, no pad, groups 1): pixel by pixel, forward when in_c <= out_c,
 * backward otherwise; tmp: out_c floats. Depthwise (multiplier 1, any k/stride/pad): one
 * channel at a time; tmp: out_h*out_w + in_h*in_w floats. */
int mct_pointwise_grad_input_f32_inplace(const mct_conv_geom *g, float *buf, const int8_t *w,
                                         const mct_wsplit *ws, const float *w_scale, float *tmp);
int mct_depthwise_grad_input_f32_inplace(const mct_conv_geom *g, float *buf, const int8_t *w,
                                         const mct_wsplit *ws, const float *w_scale, float *tmp);

/* Weight gradient of output channel `o` only (so the whole dW never has to exist):
 * gw[c][i][j] = w_scale[o] * sum_{h,w} gy[h][w][o] * x_scale * (xs[.][.][c] - x_zero)
 * over the n_ch saved input channels xs [in_h][in_w][n_ch] (all channels or the selected
 * ones, in the order of the weight slice). Grouped (groups > 1, g->in_c the layer's real
 * input channels): the row's in_c / groups channels start at saved channel xs_c, which is
 * (o / (out_c / groups)) * (in_c / groups); a depthwise conv's one channel c = o / multiplier
 * (or sel entry o of a slice: pass the gradient channel index in gy_c and the saved channel
 * index in xs_c). gw has n_ch*kh*kw (groups 1) or (in_c / groups)*kh*kw floats. */
int mct_conv2d_grad_weight_row_f32(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                                   int32_t x_zero, float x_scale, const float *gy, int32_t gy_c,
                                   int32_t xs_c, float w_scale_o, float *gw);

/* Rows r0 .. r0 + n_rows - 1 of a groups-1 conv's weight gradient at once (row k at
 * gw + k * n_ch * kh * kw, gy channel r0 + k, scale w_scale[r0 + k]): the same floats as
 * n_rows calls of mct_conv2d_grad_weight_row_f32, each x converted once for all of them. */
int mct_conv2d_grad_weight_rows_f32(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                                    int32_t x_zero, float x_scale, const float *gy, int32_t r0,
                                    int32_t n_rows, const float *w_scale, float *gw);

/* gb[o] = b_scale[o] * sum_hw g[hw][o]  (b_scale NULL: 1). */
int mct_bias_grad_f32(int32_t hw, int32_t c, const float *g, const float *b_scale, float *gb);

/* gx[hw][c] = gy[c] / hw. */
int mct_avgpool_global_grad_f32(int32_t hw, int32_t c, const float *gy, float *gx);

/* gx[c] = sum_o g[o] * w_scale[o] * w[o][c]  (int8 linear; w_scale NULL and w_f32 for float). */
int mct_linear_grad_input_f32(int32_t in_c, int32_t out_c, const float *gy, const int8_t *w,
                              const float *w_f32, const float *w_scale, float *gx);

/* bits: bit i (little-endian within each byte) = (lo < y[i] < hi), for n elements in memory
 * order: the 1-bit saved form of an output that backward needs only for its clamp mask. */
int mct_clamp_mask_s8(int32_t n, int32_t lo, int32_t hi, const int8_t *y, uint8_t *bits);

/* g[i] = bit i of bits ? g[i] : 0, in place. */
int mct_clamp_grad_bits_f32(int32_t n, const uint8_t *bits, float *g);

/* gw[o][c] = gy[o] * x[c]: weight gradient of a float linear layer (the head). */
int mct_outer_f32(int32_t out_c, int32_t in_c, const float *gy, const float *x, float *gw);

/* y[i] += x[i]. */
int mct_accumulate_f32(int32_t n, const float *x, float *y);

/* ---- parameter update (ops/optim.py: sgd_update) ---------------------------------------- */

typedef struct {
  float lr, momentum, weight_decay;
  const float *qas; /* per row (first dimension of the trained slice), NULL: no QAS */
  int32_t row_len;  /* elements per row */
  uint32_t seed, param_id, step;
} mct_sgd;

/* Update rows [row0, row0 + n_rows) of a trained slice from their gradient g (n_rows*row_len
 * floats). d = g * qas[row] + wd * w; m = momentum * m + d; d = m (when mom != NULL);
 * delta = -(lr * d). int8: w = clamp(w + floor(delta + u), -127, 127), int32: saturating,
 * float: w += delta. u = mct_uniform01(key, flat index in the slice). */
int mct_sgd_s8(const mct_sgd *p, int32_t row0, int32_t n_rows, int8_t *w, const float *g, float *mom);
int mct_sgd_s32(const mct_sgd *p, int32_t row0, int32_t n_rows, int32_t *w, const float *g, float *mom);
int mct_sgd_f32(const mct_sgd *p, int32_t row0, int32_t n_rows, float *w, const float *g, float *mom);

/* int value of a float master: clamp(rint(m), lo, hi) (round half to even). */
int mct_round_master_s8(int32_t n, const float *m, int8_t *w);
int mct_round_master_s32(int32_t n, const float *m, int32_t *w);

/* ---- divergence guard (guard.c) ------------------------------------------------------------ */

/* A training run stops when its loss turns non-finite or explodes, so that the parameters of
 * the last good state can be kept (the device never persists a diverged set). Windows of
 * MCT_GUARD_WINDOW steps: the reference is ln(classes) (a uniform guess) during the first
 * window, then max(that, the first window's mean loss); a window whose loss sum exceeds
 * MCT_GUARD_FACTOR * reference * MCT_GUARD_WINDOW exploded (checked at every step, so one
 * absurd step is caught at once). classes <= 0 (a loss with no uniform-guess level, as the
 * MSE of a reconstruction): no prior, the first window's mean is the reference. */
#define MCT_GUARD_WINDOW 32
#define MCT_GUARD_FACTOR 10.0f
#define MCT_GUARD_OK 0
#define MCT_GUARD_NONFINITE 1
#define MCT_GUARD_EXPLODED 2

typedef struct {
  float ref;    /* reference loss (see above) */
  float sum;    /* loss sum of the current window */
  int32_t n;    /* steps in the current window */
  int32_t first; /* 1 while in the first window */
} mct_guard;

void mct_guard_init(mct_guard *g, int32_t classes);
/* One step's loss: MCT_GUARD_OK, MCT_GUARD_NONFINITE or MCT_GUARD_EXPLODED. */
int mct_guard_step(mct_guard *g, float loss);
/* 1 when all n floats are finite. */
int mct_all_finite_f32(int32_t n, const float *x);

/* The kernels of graphs read from a .tflite file (TFLite Micro's arithmetic). */
#include "mct_tflm.h"

#endif
