/* conv_grad.c: float gradients of a convolution (int8 or float layer):
 *     gx     = conv_transpose(G, s_w * w)                     mct_conv2d_grad_input_f32
 *     gw[o]  = s_w[o] * sum_hw G[o] * s_x * (x - x_zero)       mct_conv2d_grad_weight_row_f32
 *     gb[o]  = b_scale[o] * sum_hw G[o]                         mct_bias_grad_f32
 * Specification: mcutrain/ops/conv.py (conv_grad_input_nchw, conv_grad_weight_nchw,
 * _gb_ref), which computes in float64 and rounds once to float32.
 *
 * Precision: accumulation is in float32 (single-precision FPUs of Cortex-M4F/M7 have no
 * fast double). The sums are short (kh*kw*out_c terms for gx, out_h*out_w for gw and gb),
 * so the result stays within ~1e-6 relative of the float64 reference (max-norm). The
 * integer factor (x - x_zero) and int8 weights are exact in float32.
 *
 * All three kernels scatter/accumulate in the order of the output pixels, so the inner
 * loops run over contiguous channels (HWC), and a zero gradient (common after a ReLU
 * clamp) skips its whole window.
 */
#include "mct.h"
#include "mct_arm.h" /* Cortex-M4/M7: grad_arm.c (VMLA, bit-exact), MCT_ARM_DSP */
#include "mct_internal.h"

#include <stddef.h>

/* x86 hosts: AVX2 versions of these loops (same results, see conv_grad_x86.c). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)
#define MCT_X86 1
int mct__grad_input_avx2(const mct_conv_geom *g, const float *gy, const int8_t *w,
                         const mct_wsplit *ws, const float *w_scale, float *gx);
int mct__grad_weight_row_avx2(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                              int32_t x_zero, const float *gy, int32_t gy_c, float s, float *gw);
int mct__bias_grad_avx2_run(int32_t hw, int32_t c, const float *g, const float *b_scale,
                            float *gb);
#else
#define MCT_X86 0
#endif
int mct__bias_grad_f32_dsp(int32_t hw, int32_t c, const float *g, const float *b_scale,
                           float *gb); /* grad_arm.c (Cortex-M4F/M7) */
int mct__grad_weight_rows_f32_dsp(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                                  int32_t x_zero, float x_scale, const float *gy, int32_t r0,
                                  int32_t n_rows, const float *w_scale,
                                  float *gw); /* grad_arm.c (Cortex-M4F/M7) */

/* Output pixel (oh, ow)'s window clipped to the image (as in conv.c). */
typedef struct {
  int32_t ih0, iw0, i0, i1, j0, j1;
} mct__gwin;

static inline mct__gwin mct__gwindow(const mct_conv_geom *g, int32_t oh, int32_t ow) {
  mct__gwin r;
  r.ih0 = oh * g->stride_h - g->pad_h;
  r.iw0 = ow * g->stride_w - g->pad_w;
  r.i0 = r.ih0 < 0 ? -r.ih0 : 0;
  r.j0 = r.iw0 < 0 ? -r.iw0 : 0;
  r.i1 = g->in_h - r.ih0 < g->k_h ? g->in_h - r.ih0 : g->k_h;
  r.j1 = g->in_w - r.iw0 < g->k_w ? g->in_w - r.iw0 : g->k_w;
  return r;
}

/* ---- grad input --------------------------------------------------------------------------- */

/* Depthwise (groups == in_c, multiplier m): gx[.][o / m] += G[o] s_w[o] w[o][i][j]. */
static void mct__gi_depthwise(const mct_conv_geom *g, const float *gy, const int8_t *w,
                              const mct_wsplit *ws, const float *w_scale, float *gx) {
  const int32_t C = g->in_c, O = g->out_c, m = O / C, kw = g->k_w, kk = g->k_h * g->k_w;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const mct__gwin wn = mct__gwindow(g, oh, ow);
      const float *gp = gy + ((size_t)oh * g->out_w + ow) * O;
      int32_t next = 0;
      for (int32_t o = 0; o < O; ++o) {
        const int8_t *wr = w + (size_t)o * kk;
        if (ws && next < ws->n_sel && ws->sel[next] == o) wr = ws->wt + (size_t)(next++) * kk;
        float gv = gp[o];
        if (gv == 0.0f) continue;
        if (w_scale) gv *= w_scale[o];
        const int32_t c = o / m;
        for (int32_t i = wn.i0; i < wn.i1; ++i) {
          float *gr = gx + ((size_t)(wn.ih0 + i) * g->in_w + (wn.iw0 + wn.j0)) * C + c;
          const int8_t *wi = wr + i * kw + wn.j0;
          for (int32_t j = 0; j < wn.j1 - wn.j0; ++j) gr[(size_t)j * C] += gv * (float)wi[j];
        }
      }
    }
  }
}

/* Grouped (groups 1 included): gx[.][c0 + c] += G[o] s_w[o] w[o][c][i][j]; for groups 1 the
 * trained slice adds gx[.][sel[s]] += G[o] s_w[o] wt[o][s][i][j]. */
static void mct__gi_general(const mct_conv_geom *g, const float *gy, const int8_t *w,
                            const mct_wsplit *ws, const float *w_scale, float *gx) {
  const int32_t C = g->in_c, O = g->out_c, cg = C / g->groups, og = O / g->groups;
  const int32_t kw = g->k_w, kk = g->k_h * g->k_w;
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const mct__gwin wn = mct__gwindow(g, oh, ow);
      const float *gp = gy + ((size_t)oh * g->out_w + ow) * O;
      for (int32_t o = 0; o < O; ++o) {
        float gv = gp[o];
        if (gv == 0.0f) continue;
        if (w_scale) gv *= w_scale[o];
        const int32_t c0 = (o / og) * cg;
        const int8_t *wo = w + (size_t)o * cg * kk;
        for (int32_t i = wn.i0; i < wn.i1; ++i) {
          for (int32_t j = wn.j0; j < wn.j1; ++j) {
            float *gr = gx + ((size_t)(wn.ih0 + i) * g->in_w + (wn.iw0 + j)) * C;
            const int8_t *wp = wo + i * kw + j;
            float *gc = gr + c0;
            for (int32_t c = 0; c < cg; ++c) gc[c] += gv * (float)wp[(size_t)c * kk];
            if (ws) {
              const int8_t *wt = ws->wt + (size_t)o * ws->n_sel * kk + i * kw + j;
              for (int32_t s = 0; s < ws->n_sel; ++s)
                gr[ws->sel[s]] += gv * (float)wt[(size_t)s * kk];
            }
          }
        }
      }
    }
  }
}

/* w_scale NULL: the int8 values of w are taken as they are (scale 1). mct.h's comment also
 * names a float weight array for float layers, which this signature has no argument for. */
int mct_conv2d_grad_input_f32(const mct_conv_geom *g, const float *gy, const int8_t *w,
                              const mct_wsplit *ws, const float *w_scale, float *gx) {
  if (!mct__geom_ok(g) || !gy || !w || !gx) return MCT_E_ARG;
  const int depthwise = g->groups > 1 && g->groups == g->in_c;
  if (ws && g->groups != 1 && !depthwise) return MCT_E_ARG;
  if (!mct__wsplit_ok(ws, depthwise ? g->out_c : g->in_c)) return MCT_E_ARG;
#if MCT_X86
  if (mct__grad_input_avx2(g, gy, w, ws, w_scale, gx)) return MCT_OK;
#endif
#if MCT_ARM_DSP && MCT_ARM_FPU
  if (mct__grad_input_f32_dsp(g, gy, w, ws, w_scale, gx)) return MCT_OK;
#endif
  const size_t n = (size_t)g->in_h * g->in_w * g->in_c;
  for (size_t i = 0; i < n; ++i) gx[i] = 0.0f;
  if (depthwise)
    mct__gi_depthwise(g, gy, w, ws, w_scale, gx);
  else
    mct__gi_general(g, gy, w, ws, w_scale, gx);
  return MCT_OK;
}

/* ---- grad weight (one output channel) ------------------------------------------------------ */

int mct_conv2d_grad_weight_row_f32(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                                   int32_t x_zero, float x_scale, const float *gy, int32_t gy_c,
                                   int32_t xs_c, float w_scale_o, float *gw) {
  if (!mct__geom_ok(g) || !xs || !gy || !gw || n_ch <= 0 || gy_c < 0 || gy_c >= g->out_c)
    return MCT_E_ARG;
  /* The row's channels: all n_ch saved ones (groups 1), or its group's in_c / groups
   * channels starting at saved channel xs_c (one channel for a depthwise conv). */
  const int32_t nc = g->groups == 1 ? n_ch : g->in_c / g->groups;
  const int32_t c_off = g->groups == 1 ? 0 : xs_c;
  if (g->groups != 1 && (xs_c < 0 || xs_c > n_ch - nc)) return MCT_E_ARG;
  const int32_t kw = g->k_w, kk = g->k_h * g->k_w, O = g->out_c;
  const float s = x_scale * w_scale_o;
#if MCT_X86
  if (g->groups == 1 && mct__grad_weight_row_avx2(g, xs, n_ch, x_zero, gy, gy_c, s, gw))
    return MCT_OK;
#endif
#if MCT_ARM_DSP && MCT_ARM_FPU
  if (g->groups == 1 && mct__grad_weight_row_f32_dsp(g, xs, n_ch, x_zero, gy, gy_c, s, gw))
    return MCT_OK;
#endif
  for (int32_t k = 0; k < nc * kk; ++k) gw[k] = 0.0f;
  /* S[c][i][j] = sum_hw G * (xs - x_zero), then gw = S * (x_scale * w_scale_o). */
  for (int32_t oh = 0; oh < g->out_h; ++oh) {
    for (int32_t ow = 0; ow < g->out_w; ++ow) {
      const float gv = gy[((size_t)oh * g->out_w + ow) * O + gy_c];
      if (gv == 0.0f) continue;
      const mct__gwin wn = mct__gwindow(g, oh, ow);
      for (int32_t i = wn.i0; i < wn.i1; ++i) {
        for (int32_t j = wn.j0; j < wn.j1; ++j) {
          const int8_t *xp = xs + ((size_t)(wn.ih0 + i) * g->in_w + (wn.iw0 + j)) * n_ch + c_off;
          float *gp = gw + i * kw + j;
          for (int32_t c = 0; c < nc; ++c)
            gp[(size_t)c * kk] += gv * (float)((int32_t)xp[c] - x_zero);
        }
      }
    }
  }
  for (int32_t k = 0; k < nc * kk; ++k) gw[k] *= s;
  return MCT_OK;
}

/* ---- grad weight (several output channels) -------------------------------------------------- */

/* Rows r0 .. r0 + n_rows - 1 of a groups-1 conv, row k at gw + k * n_ch * kh * kw: by
 * definition the per-row function's floats (on the device a pixel-major kernel for 1x1 convs
 * sums the same products in the same order, converting each x once for all the rows). */
int mct_conv2d_grad_weight_rows_f32(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                                    int32_t x_zero, float x_scale, const float *gy, int32_t r0,
                                    int32_t n_rows, const float *w_scale, float *gw) {
  if (!mct__geom_ok(g) || !xs || !gy || !gw || !w_scale || n_ch <= 0 || g->groups != 1 ||
      r0 < 0 || n_rows < 0 || n_rows > g->out_c - r0)
    return MCT_E_ARG;
  if (n_rows == 0) return MCT_OK;
#if MCT_ARM_DSP && MCT_ARM_FPU
  if (mct__grad_weight_rows_f32_dsp(g, xs, n_ch, x_zero, x_scale, gy, r0, n_rows, w_scale, gw))
    return MCT_OK;
#endif
  const size_t L = (size_t)n_ch * g->k_h * g->k_w;
  for (int32_t k = 0; k < n_rows; ++k) {
    const int st = mct_conv2d_grad_weight_row_f32(g, xs, n_ch, x_zero, x_scale, gy, r0 + k, 0,
                                                  w_scale[r0 + k], gw + (size_t)k * L);
    if (st != MCT_OK) return st;
  }
  return MCT_OK;
}

/* ---- grad bias ------------------------------------------------------------------------------ */

int mct_bias_grad_f32(int32_t hw, int32_t c, const float *g, const float *b_scale, float *gb) {
  if (hw <= 0 || c <= 0 || !g || !gb) return MCT_E_ARG;
#if MCT_X86
  if (mct__bias_grad_avx2_run(hw, c, g, b_scale, gb)) return MCT_OK;
#endif
#if MCT_ARM_DSP && MCT_ARM_FPU /* grad_arm.c */
  if (mct__bias_grad_f32_dsp(hw, c, g, b_scale, gb)) return MCT_OK;
#endif
  for (int32_t o = 0; o < c; ++o) gb[o] = 0.0f;
  for (int32_t p = 0; p < hw; ++p) {
    const float *gp = g + (size_t)p * c;
    for (int32_t o = 0; o < c; ++o) gb[o] += gp[o];
  }
  if (b_scale)
    for (int32_t o = 0; o < c; ++o) gb[o] *= b_scale[o];
  return MCT_OK;
}
