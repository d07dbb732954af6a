/* mct_tflm.h: the kernels of graphs read from a .tflite file (mcutrain/frontend/tflite*.py):
 * TFLite Micro's requantization (attrs rounding="tflm", mct_gemmlowp.h) for conv2d, linear
 * and add, and the ops only those graphs use: pad, avgpool2d, mean_hw, softmax_s8, with the
 * float gradients of pad and avgpool2d. Included at the end of mct.h; same conventions (HWC
 * activations, batch 1, caller-owned memory, 0 or MCT_E_ARG). The new ops need no scratch;
 * a _tflm twin needs exactly the scratch of its mct.h original.
 * Specification: mcutrain/ops/{common,elementwise,pad,avgpool,softmax,gemmlowp}.py.
 */
#ifndef MCT_TFLM_H
#define MCT_TFLM_H

#include "mct.h"
#include "mct_gemmlowp.h"

/* ---- TFLite Micro's requantization ------------------------------------------------------ */

/* mct_conv2d_s8 / mct_linear_s8 / mct_add_s8 with every requantization
 * x -> mct_mbqm_tflm(x, mult, shift) instead of mct_requantize (same structs, same value
 * ranges, same loops: conv.c's portable paths). Conv: any groups (depthwise with any
 * multiplier), kernel, stride, symmetric padding; mult/shift per output channel (a per-tensor
 * layer repeats its one pair out_c times). */
int mct_conv2d_s8_tflm(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y);
int mct_linear_s8_tflm(int32_t in_c, int32_t out_c, const mct_requant *q, const int8_t *x,
                       const int8_t *w, const mct_wsplit *ws, const int32_t *bias, int8_t *y);
/* y may alias a or b. */
int mct_add_s8_tflm(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b,
                    int8_t *y);

/* The memory-saving forms of mct.h with the same requantization (same arguments, scratch
 * and overlap rules as mct_pointwise_s8_inplace, mct_depthwise_s8_inplace,
 * mct_conv2d_s8_rows, mct_expand_dw_s8, mct_expand_dw_s8_rows). */
int mct_pointwise_s8_inplace_tflm(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                  int8_t *tmp);
int mct_depthwise_s8_inplace_tflm(const mct_conv_geom *g, const mct_requant *q, int8_t *buf,
                                  const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                                  int8_t *tmp);
int mct_conv2d_s8_rows_tflm(const mct_conv_geom *g, const mct_requant *q, const int8_t *x,
                            const int8_t *w, const mct_wsplit *ws, const int32_t *bias,
                            int8_t *y, int8_t *tmp_row);
int mct_expand_dw_s8_tflm(const mct_conv_geom *g1, const mct_requant *q1, const int8_t *w1,
                          const int32_t *b1, const mct_conv_geom *g2, const mct_requant *q2,
                          const int8_t *w2, const int32_t *b2, const int8_t *x, int8_t *y,
                          int8_t *tmp);
int mct_expand_dw_s8_rows_tflm(const mct_conv_geom *g1, const mct_requant *q1,
                               const int8_t *w1, const int32_t *b1, const mct_conv_geom *g2,
                               const mct_requant *q2, const int8_t *w2, const int32_t *b2,
                               const int8_t *x, int8_t *y, int8_t *ring, int8_t *work);

/* ---- pad ---------------------------------------------------------------------------------- */

/* Constant padding of H and W (ops/pad.py): x [in_h][in_w][c] -> y [top + in_h + bottom]
 * [left + in_w + right][c], padded cells = value (int8: usually the input's zero point).
 * y may equal x (same base, a buffer of the padded size): the copy runs backward. */
typedef struct {
  int32_t in_h, in_w, c;
  int32_t top, bottom, left, right; /* >= 0 */
} mct_pad_geom;

int mct_pad_s8(const mct_pad_geom *g, int32_t value, const int8_t *x, int8_t *y);

/* pad_grad: gx [in_h][in_w][c] = gy [padded][padded][c] without the border. gx may equal gy
 * (the copy runs forward, every element moving to a lower or the same address). */
int mct_pad_grad_f32(const mct_pad_geom *g, const float *gy, float *gx);

/* ---- avgpool2d (TFLite's AVERAGE_POOL_2D) -------------------------------------------------- */

/* Windows of k_h x k_w at strides (stride_h, stride_w) over the input padded by (top, bottom,
 * left, right): out_h = (in_h + top + bottom - k_h) / stride_h + 1 (likewise out_w). Padding
 * is never counted and no window may lie wholly in it (max(top, bottom) < k_h, etc.). */
typedef struct {
  int32_t in_h, in_w, c, out_h, out_w;
  int32_t k_h, k_w, stride_h, stride_w;
  int32_t top, bottom, left, right;
} mct_pool_geom;

/* y = clamp(round_half_away(sum x / n), act_min, act_max), n = in-bounds cells of the window
 * (C: (sum +- n/2) / n); the output keeps the input's quantization. */
int mct_avgpool2d_s8(const mct_pool_geom *g, int32_t act_min, int32_t act_max, const int8_t *x,
                     int8_t *y);

/* gx[cell] = sum over the windows holding the cell of gy[window] / n[window] (float32, each
 * share rounded once, then summed in window order). gx is overwritten; must not overlap gy. */
int mct_avgpool2d_grad_f32(const mct_pool_geom *g, const float *gy, float *gx);

/* ---- mean over H and W (TFLite's MEAN) ---------------------------------------------------- */

/* y[k] = clamp(mbqm(sum_hw (x[hw][k] - x_zero), mult, shift) + y_zero, -128, 127), where
 * (mult, shift) already fold 1 / hw in (ops/avgpool.mean_params). hw * 255 < 2^31.
 * Backward: mct_clamp_grad_f32 (-128, 127) then mct_avgpool_global_grad_f32. */
int mct_mean_hw_s8(int32_t hw, int32_t c, int32_t x_zero, int32_t y_zero, int32_t mult,
                   int32_t shift, const int8_t *x, int8_t *y);

/* ---- softmax_s8 (TFLite's int8 SOFTMAX, inference only) ----------------------------------- */

typedef struct {
  int32_t input_multiplier, input_left_shift, diff_min; /* ops/gemmlowp.softmax_params */
} mct_softmax_params;

/* rows softmaxes over k contiguous int8 values each: output scale 1/256, zero point -128.
 * y may equal x. */
int mct_softmax_s8(const mct_softmax_params *p, int32_t rows, int32_t k, const int8_t *x,
                   int8_t *y);

#endif
