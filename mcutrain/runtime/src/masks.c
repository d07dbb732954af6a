/* masks.c: 1-bit clamp masks (ops/act.py: clamp_mask, clamp_grad_mask). The reference packs
 * bits in NCHW order, the C in HWC memory order: each pair of ops only ever reads its own
 * packing, so the gradients agree bit for bit. */
#include "mct.h"
#include "mct_arm.h" /* Cortex-M4/M7: DSP versions (*_arm.c), MCT_ARM_DSP */

int mct_clamp_mask_s8(int32_t n, int32_t lo, int32_t hi, const int8_t *y, uint8_t *bits) {
  if (n < 0 || !y || !bits) return MCT_E_ARG;
#if MCT_ARM_DSP
  {
    const int r_ = mct__clamp_mask_s8_dsp(n, lo, hi, y, bits);
    if (r_ != MCT_ARM_PASS) return r_;
  }
#endif
  for (int32_t b = 0; b < (n + 7) / 8; ++b) {
    uint8_t v = 0;
    const int32_t end = (b + 1) * 8 < n ? (b + 1) * 8 : n;
    for (int32_t i = b * 8; i < end; ++i) v |= (uint8_t)((y[i] > lo && y[i] < hi) << (i - b * 8));
    bits[b] = v;
  }
  return MCT_OK;
}

int mct_clamp_grad_bits_f32(int32_t n, const uint8_t *bits, float *g) {
  if (n < 0 || !bits || !g) return MCT_E_ARG;
#if MCT_ARM_DSP
  {
    const int r_ = mct__clamp_grad_bits_f32_dsp(n, bits, g);
    if (r_ != MCT_ARM_PASS) return r_;
  }
#endif
  for (int32_t i = 0; i < n; ++i)
    if (!((bits[i >> 3] >> (i & 7)) & 1)) g[i] = 0.0f;
  return MCT_OK;
}
