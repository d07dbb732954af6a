/* conv_grad_x86.c: AVX2 versions of the float gradient loops of conv_grad.c and head.c,
 * for x86 hosts; chosen at run time when the CPU has AVX2 (see conv_x86.c; the helpers shared
 * with inplace_grad_x86.c, mct__gemv_t among them, are in mct_internal_x86.h).
 *
 * Same results as the pure C loops, bit for bit: the vectors run across independent
 * outputs (channels), every output receives the same float32 operations in the same order
 * (a multiply, then an add: no fused multiply-add, no reassociation), and int8 -> float
 * conversions are exact. The one liberty: a zero gradient that the C loop skips may here be
 * added as a product 0 * w, which can only turn a -0 result into +0.
 */
#include "mct.h"
#include "mct_internal_x86.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)

/* Depthwise, multiplier 1: gx[q][c] += (gy[p][c] * w_scale[c]) * w[c][t] over output pixels
 * p (ascending) and their taps t (gx zeroed by the caller). 8 channels at a time; the
 * remaining channels as in the C loop. */
MCT__AVX2 static void mct__gi_depthwise_avx2(const mct_conv_geom *g, const float *gy,
                                             const int8_t *w, const mct_wsplit *ws,
                                             const float *w_scale, float *gx) {
  const int32_t C = g->in_c, kw = g->k_w, kk = g->k_h * g->k_w;
  float wf[MCT__DW_MAX_TAPS][8];
  const int32_t c8 = C & ~7;
  for (int32_t cb = 0; cb < C; cb += 8) {
    const int32_t nc = cb < c8 ? 8 : C - cb;
    int32_t next = 0;
    while (ws && next < ws->n_sel && ws->sel[next] < cb) ++next;
    for (int32_t k = 0; k < nc; ++k) {
      const int8_t *row = w + (size_t)(cb + k) * kk;
      if (ws && next < ws->n_sel && ws->sel[next] == cb + k) row = ws->wt + (size_t)(next++) * kk;
      for (int32_t t = 0; t < kk; ++t) wf[t][k] = (float)row[t];
    }
    for (int32_t oh = 0; oh < g->out_h; ++oh) {
      const int32_t ih0 = oh * g->stride_h - g->pad_h;
      const int32_t i0 = ih0 < 0 ? -ih0 : 0, i1 = g->in_h - ih0 < g->k_h ? g->in_h - ih0 : g->k_h;
      for (int32_t ow = 0; ow < g->out_w; ++ow) {
        const int32_t iw0 = ow * g->stride_w - g->pad_w;
        const int32_t j0 = iw0 < 0 ? -iw0 : 0, j1 = g->in_w - iw0 < kw ? g->in_w - iw0 : kw;
        const float *gp = gy + ((size_t)oh * g->out_w + ow) * C + cb;
        if (nc == 8) {
          __m256 gv = _mm256_loadu_ps(gp);
          const __m256 nz = _mm256_cmp_ps(gv, _mm256_setzero_ps(), _CMP_NEQ_UQ);
          if (_mm256_movemask_ps(nz) == 0) continue; /* all eight zero: skipped, as in C */
          if (w_scale) gv = _mm256_mul_ps(gv, _mm256_loadu_ps(w_scale + cb));
          for (int32_t i = i0; i < i1; ++i) {
            for (int32_t j = j0; j < j1; ++j) {
              float *q = gx + ((size_t)(ih0 + i) * g->in_w + (iw0 + j)) * C + cb;
              const __m256 d = _mm256_mul_ps(gv, _mm256_loadu_ps(wf[i * kw + j]));
              _mm256_storeu_ps(q, _mm256_add_ps(_mm256_loadu_ps(q), d));
            }
          }
        } else {
          for (int32_t k = 0; k < nc; ++k) {
            float gv = gp[k];
            if (gv == 0.0f) continue;
            if (w_scale) gv *= w_scale[cb + k];
            for (int32_t i = i0; i < i1; ++i)
              for (int32_t j = j0; j < j1; ++j)
                gx[((size_t)(ih0 + i) * g->in_w + (iw0 + j)) * C + cb + k] +=
                    gv * wf[i * kw + j][k];
          }
        }
      }
    }
  }
}

/* Returns 1 when it handled the call (arguments checked by conv_grad.c; gx not yet zeroed). */
int mct__grad_input_avx2(const mct_conv_geom *g, const float *gy, const int8_t *w,
                         const mct_wsplit *ws, const float *w_scale, float *gx) {
  if (!mct__has_avx2()) return 0;
  if (g->groups == 1 && g->k_h == 1 && g->k_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
      g->pad_h == 0 && g->pad_w == 0) {
    const int32_t npix = g->in_h * g->in_w, C = g->in_c, O = g->out_c;
    for (int32_t p = 0; p < npix; ++p) {
      mct__gemv_t(C, O, gy + (size_t)p * O, w, w_scale, gx + (size_t)p * C);
      if (ws) mct__gemv_t_slice(O, gy + (size_t)p * O, ws, w_scale, gx + (size_t)p * C);
    }
    return 1;
  }
  if (g->groups == g->in_c && g->out_c == g->in_c && g->k_h * g->k_w <= MCT__DW_MAX_TAPS) {
    const size_t n = (size_t)g->in_h * g->in_w * g->in_c;
    for (size_t i = 0; i < n; ++i) gx[i] = 0.0f;
    mct__gi_depthwise_avx2(g, gy, w, ws, w_scale, gx);
    return 1;
  }
  return 0;
}

int mct__linear_grad_input_avx2(int32_t in_c, int32_t out_c, const float *gy, const int8_t *w,
                                const float *w_scale, float *gx) {
  if (!mct__has_avx2()) return 0;
  mct__gemv_t(in_c, out_c, gy, w, w_scale, gx);
  return 1;
}

/* Pointwise weight gradient row: gw[c] = s * sum_p G[p] * (xs[p][c] - x_zero), p ascending. */
MCT__AVX2 static void mct__gw_pointwise_avx2(int32_t npix, int32_t n_ch, const int8_t *xs,
                                             int32_t xz, const float *gy, int32_t O, int32_t gy_c,
                                             float s, float *gw) {
  const __m256i vz = _mm256_set1_epi32(xz);
  int32_t cb = 0;
  for (; cb + 8 <= n_ch; cb += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int32_t p = 0; p < npix; ++p) {
      const float gv = gy[(size_t)p * O + gy_c];
      if (gv == 0.0f) continue;
      const __m128i xb = _mm_loadl_epi64((const __m128i *)(xs + (size_t)p * n_ch + cb));
      const __m256 xv = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepi8_epi32(xb), vz));
      a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(gv), xv));
    }
    _mm256_storeu_ps(gw + cb, _mm256_mul_ps(a, _mm256_set1_ps(s)));
  }
  for (; cb < n_ch; ++cb) {
    float a = 0.0f;
    for (int32_t p = 0; p < npix; ++p) {
      const float gv = gy[(size_t)p * O + gy_c];
      if (gv == 0.0f) continue;
      a += gv * (float)((int32_t)xs[(size_t)p * n_ch + cb] - xz);
    }
    gw[cb] = a * s;
  }
}

int mct__grad_weight_row_avx2(const mct_conv_geom *g, const int8_t *xs, int32_t n_ch,
                              int32_t x_zero, const float *gy, int32_t gy_c, float s, float *gw) {
  if (!mct__has_avx2() || g->groups != 1 || g->k_h != 1 || g->k_w != 1 || g->stride_h != 1 ||
      g->stride_w != 1 || g->pad_h != 0 || g->pad_w != 0)
    return 0;
  mct__gw_pointwise_avx2(g->in_h * g->in_w, n_ch, xs, x_zero, gy, g->out_c, gy_c, s, gw);
  return 1;
}

MCT__AVX2 static void mct__bias_grad_avx2(int32_t hw, int32_t c, const float *g,
                                          const float *b_scale, float *gb) {
  int32_t k = 0;
  for (; k + 8 <= c; k += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int32_t p = 0; p < hw; ++p) a = _mm256_add_ps(a, _mm256_loadu_ps(g + (size_t)p * c + k));
    if (b_scale) a = _mm256_mul_ps(a, _mm256_loadu_ps(b_scale + k));
    _mm256_storeu_ps(gb + k, a);
  }
  for (; k < c; ++k) {
    float a = 0.0f;
    for (int32_t p = 0; p < hw; ++p) a += g[(size_t)p * c + k];
    gb[k] = b_scale ? a * b_scale[k] : a;
  }
}

int mct__bias_grad_avx2_run(int32_t hw, int32_t c, const float *g, const float *b_scale,
                            float *gb) {
  if (!mct__has_avx2()) return 0;
  mct__bias_grad_avx2(hw, c, g, b_scale, gb);
  return 1;
}

#else
typedef int mct__conv_grad_x86_unused; /* ISO C: a translation unit must not be empty */
#endif
