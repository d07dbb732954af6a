/* optim_x86.c: AVX2 version of the int8 SGD update (mct_sgd_s8) for x86 hosts, chosen at run
 * time when the CPU has AVX2 (see conv_x86.c). Bit-exact with optim.c and the reference: each
 * lane does the same float32 operations in the same order (multiply, then add; no fused
 * multiply-add), the counter hash in 32-bit integer lanes (mullo keeps the low 32 bits, as
 * uint32 arithmetic does), u = (h >> 8) * 2^-24 exactly, floor exactly. For the int8 result
 * the step is clamped to [-255, 255] before the conversion to int32: w is in [-127, 127], so
 * any step beyond that range saturates w the same way as the 64-bit step does.
 */
#include "mct.h"
#include "mct_internal_x86.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)

MCT__AVX2 static inline __m256i mct__mix32_8(__m256i x) {
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int32_t)0x7FEB352Du));
  x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
  x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int32_t)0x846CA68Bu));
  return _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
}

/* Elements [k0, k0 + 8) of row `row` (absolute), gradient gr (this row's), weights/momentum
 * of the row wr / mr (mr NULL: no momentum). */
MCT__AVX2 static inline void mct__sgd8(const mct_sgd *p, uint32_t key, uint32_t idx0, float qv,
                                       const float *gr, int8_t *wr, float *mr) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i wi = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)wr));
  __m256 d = _mm256_loadu_ps(gr);
  if (p->qas) d = _mm256_mul_ps(d, _mm256_set1_ps(qv));
  if (p->weight_decay != 0.0f)
    d = _mm256_add_ps(d, _mm256_mul_ps(_mm256_set1_ps(p->weight_decay), _mm256_cvtepi32_ps(wi)));
  if (mr) {
    d = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(p->momentum), _mm256_loadu_ps(mr)), d);
    _mm256_storeu_ps(mr, d);
  }
  const __m256 lr_d = _mm256_mul_ps(_mm256_set1_ps(p->lr), d);
  const __m256 delta = _mm256_xor_ps(lr_d, _mm256_set1_ps(-0.0f)); /* -(lr * d) */
  /* u_i = (mix32(key + i * 0x9E3779B9) >> 8) * 2^-24, i = idx0 + lane (uint32 wrap-around) */
  const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int32_t)idx0), lane);
  const __m256i golden = _mm256_set1_epi32((int32_t)0x9E3779B9u);
  const __m256i h = mct__mix32_8(
      _mm256_add_epi32(_mm256_set1_epi32((int32_t)key), _mm256_mullo_epi32(idx, golden)));
  const __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(h, 8)),
                                 _mm256_set1_ps(1.0f / 16777216.0f));
  __m256 t = _mm256_floor_ps(_mm256_add_ps(delta, u));
  t = _mm256_and_ps(t, _mm256_cmp_ps(t, t, _CMP_ORD_Q)); /* NaN -> 0 */
  t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-255.0f)), _mm256_set1_ps(255.0f));
  __m256i nw = _mm256_add_epi32(wi, _mm256_cvtps_epi32(t)); /* t is an integer: exact */
  nw = _mm256_min_epi32(_mm256_max_epi32(nw, _mm256_set1_epi32(-127)), _mm256_set1_epi32(127));
  mct__store8(wr, nw);
}

/* Elements done in every row: the first (row_len & ~7) of each; the caller does the rest. */
MCT__AVX2 static int32_t mct__sgd_s8_avx2_run(const mct_sgd *p, int32_t row0, int32_t n_rows,
                                              int8_t *w, const float *g, float *mom) {
  const uint32_t key = mct_sr_key(p->seed, p->param_id, p->step);
  const int32_t L = p->row_len, L8 = L & ~7;
  for (int32_t r = 0; r < n_rows; ++r) {
    const int32_t row = row0 + r;
    const size_t base = (size_t)row * L;
    const float qv = p->qas ? p->qas[row] : 1.0f;
    for (int32_t k = 0; k < L8; k += 8)
      mct__sgd8(p, key, (uint32_t)(base + k), qv, g + (size_t)r * L + k, w + base + k,
                mom ? mom + base + k : NULL);
  }
  return L8;
}

int32_t mct__sgd_s8_avx2(const mct_sgd *p, int32_t row0, int32_t n_rows, int8_t *w,
                         const float *g, float *mom) {
  if (!mct__has_avx2()) return 0;
  return mct__sgd_s8_avx2_run(p, row0, n_rows, w, g, mom);
}

#else
typedef int mct__optim_x86_unused; /* ISO C: a translation unit must not be empty */
#endif
