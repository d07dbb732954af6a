/* mct_fixedpoint.h: the fixed-point math of the int8 graph, mirroring
 * mcutrain/ops/fixedpoint.py line for line (that file is the specification).
 *
 * A real multiplier M is stored as mult (int32 in [2^30, 2^31), or 0) and shift, with
 * M ~= mult * 2^(shift - 31). Requantization of an int32 accumulator (CMSIS-NN single
 * rounding): total = 31 - shift (1..62); out = (acc * mult + 2^(total-1)) >> total.
 */
#ifndef MCT_FIXEDPOINT_H
#define MCT_FIXEDPOINT_H

#include <stdint.h>

#define MCT_ADD_LEFT_SHIFT 20

static inline int32_t mct_sat32(int64_t x) {
  return x > INT32_MAX ? INT32_MAX : (x < INT32_MIN ? INT32_MIN : (int32_t)x);
}

static inline int32_t mct_clamp(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* round-half-up of acc * mult / 2^(31 - shift); acc must be in int32 range. The result is
 * 64-bit, as in the Python (a multiplier >= 1, shift >= 1, can take it beyond int32). */
static inline int64_t mct_requantize(int32_t acc, int32_t mult, int32_t shift) {
  const int32_t total = 31 - shift;
  const int64_t prod = (int64_t)acc * (int64_t)mult;
  return (prod + ((int64_t)1 << (total - 1))) >> total;
}

/* round(total / count), ties to even (the zoo's average pooling). count > 0. */
static inline int32_t mct_div_round_half_even(int32_t total, int32_t count) {
  int32_t q = total / count, r = total % count;
  if (r < 0) { q -= 1; r += count; } /* floor division */
  if (2 * r > count || (2 * r == count && (q & 1))) q += 1;
  return q;
}

/* Counter-based PRNG of the stochastic rounding (ops/optim.py: mix32, uniform01). */
static inline uint32_t mct_mix32(uint32_t x) {
  x ^= x >> 16; x *= 0x7FEB352Du;
  x ^= x >> 15; x *= 0x846CA68Bu;
  x ^= x >> 16;
  return x;
}

static inline uint32_t mct_sr_key(uint32_t seed, uint32_t param_id, uint32_t step) {
  return mct_mix32(seed ^ mct_mix32(param_id ^ mct_mix32(step)));
}

/* u in [0, 1) with 24 bits, for element i of the update keyed by `key`. */
static inline float mct_uniform01(uint32_t key, uint32_t i) {
  return (float)(mct_mix32(key + i * 0x9E3779B9u) >> 8) * (1.0f / 16777216.0f);
}

#endif
