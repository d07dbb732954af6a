/* guard.c: the divergence guard of a training run (mct.h, "divergence guard").
 * One definition: the host trainer (host_train.py, through ctypes) and the device program
 * (device/main.c) both call these functions.
 *
 * Why a reference of ln(classes): a model predicting uniformly has exactly this loss, so a
 * window averaging ten times more is far outside anything a working run produces, while a
 * fresh head (loss ~ ln(classes)) or a pretrained model meeting new data (loss a few times
 * ln(classes)) stays well inside. After the first window the run's own level counts too.
 */
#include "mct.h"

#include <math.h>

void mct_guard_init(mct_guard *g, int32_t classes) {
  g->ref = classes > 0 ? logf((float)(classes > 2 ? classes : 2)) : 0.0f; /* 0: no prior */
  g->sum = 0.0f;
  g->n = 0;
  g->first = 1;
}

int mct_guard_step(mct_guard *g, float loss) {
  if (!isfinite(loss)) return MCT_GUARD_NONFINITE;
  g->sum += loss;
  g->n += 1;
  if (g->ref > 0.0f && g->sum > MCT_GUARD_FACTOR * g->ref * (float)MCT_GUARD_WINDOW)
    return MCT_GUARD_EXPLODED;
  if (g->n == MCT_GUARD_WINDOW) {
    const float mean = g->sum / (float)MCT_GUARD_WINDOW;
    if (g->first && mean > g->ref) g->ref = mean;
    if (g->first && g->ref <= 0.0f) g->ref = 1e-6f; /* a perfect first window */
    g->first = 0;
    g->sum = 0.0f;
    g->n = 0;
  }
  return MCT_GUARD_OK;
}

int mct_all_finite_f32(int32_t n, const float *x) {
  for (int32_t i = 0; i < n; ++i)
    if (!isfinite(x[i])) return 0;
  return 1;
}
