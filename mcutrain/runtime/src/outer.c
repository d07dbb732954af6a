/* outer.c: weight gradient of the float head, gw[o][c] = gy[o] * x[c]. */
#include "mct.h"

int mct_outer_f32(int32_t out_c, int32_t in_c, const float *gy, const float *x, float *gw) {
  if (out_c <= 0 || in_c <= 0) return MCT_E_ARG;
  for (int32_t o = 0; o < out_c; ++o) {
    const float g = gy[o];
    float *row = gw + (int64_t)o * in_c;
    for (int32_t c = 0; c < in_c; ++c) row[c] = g * x[c];
  }
  return MCT_OK;
}
