/* optim_arm.c: the int8 SGD update (mct_sgd_s8) for Cortex-M cores with an FPU, chosen by
 * optim.c. The same float32 operations in the same order as optim.c (one rounding each,
 * no fused multiply-add); only floor() of the stochastic rounding is inlined: for
 * |t| < 2^23, truncation toward zero (VCVT) minus one when that went up is floor(t) exactly,
 * and larger or non-finite t take optim.c's floorf path. */
#include "mct_arm.h"

#if MCT_ARM_DSP && MCT_ARM_FPU

#include <math.h>

/* floor(delta + u) as an integer, clamped to +-2^32 as a float, NaN -> 0 (optim.c). */
static inline int64_t mct__arm_stoch_round(float delta, float u) {
  const float t = delta + u;
  if (t > -8388608.0f && t < 8388608.0f) {
    int32_t i = (int32_t)t;
    if ((float)i > t) i -= 1;
    return i;
  }
  float f = floorf(t);
  if (f > 4294967296.0f)
    f = 4294967296.0f;
  else if (f < -4294967296.0f)
    f = -4294967296.0f;
  else if (f != f)
    f = 0.0f;
  return (int64_t)f;
}

int mct__sgd_s8_dsp(const mct_sgd *p, int32_t row0, int32_t n_rows, int8_t *w, const float *g,
                    float *mom) {
  const uint32_t key = mct_sr_key(p->seed, p->param_id, p->step);
  const int32_t L = p->row_len;
  const float lr = p->lr, wd = p->weight_decay, mo = p->momentum;
  for (int32_t r = 0; r < n_rows; ++r) {
    const int32_t row = row0 + r;
    const float q = p->qas ? p->qas[row] : 1.0f;
    const float *gr = g + (size_t)r * L;
    int8_t *wr = w + (size_t)row * L;
    float *mr = mom ? mom + (size_t)row * L : NULL;
    uint32_t i = (uint32_t)row * (uint32_t)L;
    for (int32_t k = 0; k < L; ++k, ++i) {
      float d = gr[k];
      if (p->qas) d = d * q;
      if (wd != 0.0f) d = d + wd * (float)wr[k];
      if (mr) {
        const float m = mo * mr[k] + d;
        mr[k] = m;
        d = m;
      }
      const float delta = -(lr * d);
      const int64_t nw = (int64_t)wr[k] + mct__arm_stoch_round(delta, mct_uniform01(key, i));
      wr[k] = (int8_t)(nw < -127 ? -127 : (nw > 127 ? 127 : nw));
    }
  }
  return 1;
}

#else
typedef int mct__optim_arm_unused; /* ISO C: a translation unit must not be empty */
#endif
