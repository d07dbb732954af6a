/* loss_mse.c: the mean squared error of a reconstruction and its gradient.
 * Specification: mcutrain/ops/loss.py (mse, mse_grad; float64 there, one rounding to float32).
 * The sum runs in double: n is up to a few thousand outputs, and float32 would lose the
 * small errors of a good reconstruction against the large ones. */
#include "mct.h"

float mct_mse_f32(int32_t n, const float *z, const float *t, float *dz) {
  if (n <= 0 || !z || !t) return 0.0f;
  double sum = 0.0;
  for (int32_t k = 0; k < n; ++k) {
    const double d = (double)z[k] - (double)t[k];
    sum += d * d;
    if (dz) dz[k] = (float)(2.0 * d / (double)n);
  }
  return (float)(sum / (double)n);
}
