/* optim.c: SGD with QAS, momentum, weight decay and stochastic rounding; rounding of float
 * master copies. Specification: mcutrain/ops/optim.py (sgd_reference, _rm_ref).
 *
 * Bit-exact with the reference: every step is one float32 operation in the reference's order
 * (compiled with -ffp-contract=off, so no fused multiply-add), per element:
 *     d = g * qas[row]            (qas != NULL)
 *     d = d + wd * w              (wd != 0: the reference skips the term when wd == 0)
 *     m = momentum * m + d; d = m (mom != NULL)
 *     delta = -(lr * d)
 *     float: w = w + delta
 *     int:   r = floor(delta + u), clamped to [-2^32, 2^32] as a float, then w = clamp(w + r)
 *            in 64 bits to [-127, 127] (int8) or the int32 range; u = mct_uniform01(key, i).
 * A NaN step (r = NaN) leaves an integer weight unchanged (the reference's float->int cast of
 * NaN is undefined).
 *
 * Pointers: w and mom point at the start of the trained slice (row 0), g at the gradient of
 * row row0 (n_rows * row_len floats, so one output channel's gradient row can be applied as
 * soon as it is computed); qas is indexed by the absolute row. The PRNG index of element k of
 * row r is its flat index r * row_len + k in the whole slice.
 */
#include "mct.h"
#include "mct_arm.h" /* Cortex-M4/M7: optim_arm.c (inlined floor), MCT_ARM_DSP */

#include <math.h>
#include <stddef.h>

/* x86 hosts: an AVX2 version of the int8 update (bit-exact, see optim_x86.c). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)
#define MCT_X86 1
int32_t mct__sgd_s8_avx2(const mct_sgd *p, int32_t row0, int32_t n_rows, int8_t *w,
                         const float *g, float *mom);
#else
#define MCT_X86 0
#endif

int mct__sgd_s32_dsp(const mct_sgd *p, int32_t row0, int32_t n_rows, int32_t *w,
                     const float *g, float *mom); /* optim_arm.c (Cortex-M4F/M7) */

static int mct__sgd_ok(const mct_sgd *p, int32_t row0, int32_t n_rows, const void *w,
                       const float *g) {
  return p && w && g && row0 >= 0 && n_rows >= 0 && p->row_len >= 0;
}

/* The float32 step of one element of row `row` (its momentum entry updated when m != NULL). */
static inline float mct__delta(const mct_sgd *p, int32_t row, float g, float wv, float *m) {
  float d = g;
  if (p->qas) d = d * p->qas[row];
  if (p->weight_decay != 0.0f) d = d + p->weight_decay * wv;
  if (m) {
    const float mm = p->momentum * *m + d;
    *m = mm;
    d = mm;
  }
  return -(p->lr * d);
}

/* floor(delta + u) as an integer, clamped as the reference does. */
static inline int64_t mct__stoch_round(float delta, float u) {
  float t = floorf(delta + u);
  if (t > 4294967296.0f)
    t = 4294967296.0f;
  else if (t < -4294967296.0f)
    t = -4294967296.0f;
  else if (t != t)
    t = 0.0f; /* NaN */
  return (int64_t)t;
}

int mct_sgd_s8(const mct_sgd *p, int32_t row0, int32_t n_rows, int8_t *w, const float *g,
               float *mom) {
  if (!mct__sgd_ok(p, row0, n_rows, w, g)) return MCT_E_ARG;
#if MCT_ARM_DSP && MCT_ARM_FPU
  if (mct__sgd_s8_dsp(p, row0, n_rows, w, g, mom)) return MCT_OK;
#endif
#if MCT_X86
  const int32_t done = mct__sgd_s8_avx2(p, row0, n_rows, w, g, mom); /* per row */
#else
  const int32_t done = 0;
#endif
  const uint32_t key = mct_sr_key(p->seed, p->param_id, p->step);
  const int32_t L = p->row_len;
  for (int32_t r = 0; r < n_rows; ++r) {
    const int32_t row = row0 + r;
    for (int32_t k = done; k < L; ++k) {
      const size_t i = (size_t)row * L + k;
      const float gk = g[(size_t)r * L + k];
      const float delta = mct__delta(p, row, gk, (float)w[i], mom ? mom + i : NULL);
      const int64_t nw = (int64_t)w[i] + mct__stoch_round(delta, mct_uniform01(key, (uint32_t)i));
      w[i] = (int8_t)(nw < -127 ? -127 : (nw > 127 ? 127 : nw));
    }
  }
  return MCT_OK;
}

int mct_sgd_s32(const mct_sgd *p, int32_t row0, int32_t n_rows, int32_t *w, const float *g,
                float *mom) {
  if (!mct__sgd_ok(p, row0, n_rows, w, g)) return MCT_E_ARG;
#if MCT_ARM_DSP && MCT_ARM_FPU
  if (mct__sgd_s32_dsp(p, row0, n_rows, w, g, mom)) return MCT_OK;
#endif
  const uint32_t key = mct_sr_key(p->seed, p->param_id, p->step);
  const int32_t L = p->row_len;
  for (int32_t r = 0; r < n_rows; ++r) {
    const int32_t row = row0 + r;
    for (int32_t k = 0; k < L; ++k) {
      const size_t i = (size_t)row * L + k;
      const float gk = g[(size_t)r * L + k];
      const float delta = mct__delta(p, row, gk, (float)w[i], mom ? mom + i : NULL);
      w[i] = mct_sat32((int64_t)w[i] + mct__stoch_round(delta, mct_uniform01(key, (uint32_t)i)));
    }
  }
  return MCT_OK;
}

int mct_sgd_f32(const mct_sgd *p, int32_t row0, int32_t n_rows, float *w, const float *g,
                float *mom) {
  if (!mct__sgd_ok(p, row0, n_rows, w, g)) return MCT_E_ARG;
  const int32_t L = p->row_len;
  for (int32_t r = 0; r < n_rows; ++r) {
    const int32_t row = row0 + r;
    for (int32_t k = 0; k < L; ++k) {
      const size_t i = (size_t)row * L + k;
      w[i] = w[i] + mct__delta(p, row, g[(size_t)r * L + k], w[i], mom ? mom + i : NULL);
    }
  }
  return MCT_OK;
}

/* clamp(rint(m), lo, hi): rintf rounds half to even in the default rounding mode. A NaN
 * master gives 0 (the reference's cast of NaN is undefined). */
int mct_round_master_s8(int32_t n, const float *m, int8_t *w) {
  if (n < 0 || !m || !w) return MCT_E_ARG;
  for (int32_t i = 0; i < n; ++i) {
    const float r = rintf(m[i]);
    w[i] = (int8_t)(r >= 127.0f ? 127 : (r <= -127.0f ? -127 : (r == r ? (int32_t)r : 0)));
  }
  return MCT_OK;
}

int mct_round_master_s32(int32_t n, const float *m, int32_t *w) {
  if (n < 0 || !m || !w) return MCT_E_ARG;
  for (int32_t i = 0; i < n; ++i) {
    const float r = rintf(m[i]);
    w[i] = r >= 2147483648.0f ? INT32_MAX
                              : (r <= -2147483648.0f ? INT32_MIN : (r == r ? (int32_t)r : 0));
  }
  return MCT_OK;
}
