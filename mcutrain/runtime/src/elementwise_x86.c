/* elementwise_x86.c: AVX2 version of the int8 residual add (mct_add_s8) for x86 hosts, chosen
 * at run time when the CPU has AVX2 (see conv_x86.c). Bit-exact with elementwise.c: the same
 * integer formula on 8 lanes,
 *     a' = (a - x_zero) * 2^left_shift                            (int32)
 *     t  = requantize(a', x_mult, x_shift) + requantize(b', y_mult, y_shift)
 *     y  = clamp(requantize(sat32(t), out_mult, out_shift) + y_zero, act_min, act_max)
 * with requantize(v, m, s) = (v * m + 2^(n-1)) >> n, n = 31 - s, done on 64-bit products as a
 * logical shift of v * m + 2^(n-1) + 2^62 minus 2^(62-n) (see mct__rq8 in mct_internal_x86.h,
 * which also holds the clamp and the int8 store used here). It runs when the two input
 * multipliers are below 1 (x_shift, y_shift <= 0, as fixedpoint.add_params makes them): then
 * each rescaled term stays below 2^30 in magnitude and t needs no saturation.
 */
#include "mct.h"
#include "mct_internal_x86.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(MCT_PORTABLE)

typedef struct {
  __m256i mult, add, sub;
  __m128i cnt;
} mct__rqu; /* one (mult, shift) for every lane */

MCT__AVX2 static mct__rqu mct__rqu_of(int32_t mult, int32_t shift) {
  mct__rqu k;
  const int32_t n = 31 - shift;
  k.mult = _mm256_set1_epi64x(mult);
  k.add = _mm256_set1_epi64x((int64_t)(((uint64_t)1 << (n - 1)) + ((uint64_t)1 << 62)));
  k.sub = _mm256_set1_epi64x((int64_t)((uint64_t)1 << (62 - n)));
  k.cnt = _mm_cvtsi32_si128(n);
  return k;
}

/* requantize of 8 int32 lanes -> 64-bit results of the even and odd lanes. */
MCT__AVX2 static inline void mct__rqu8(__m256i v, const mct__rqu *k, __m256i *even, __m256i *odd) {
  const __m256i pe = _mm256_mul_epi32(v, k->mult);
  const __m256i po = _mm256_mul_epi32(_mm256_srli_epi64(v, 32), k->mult);
  *even = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_add_epi64(pe, k->add), k->cnt), k->sub);
  *odd = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_add_epi64(po, k->add), k->cnt), k->sub);
}

/* 64-bit lanes known to fit int32 -> 8 int32 lanes. */
MCT__AVX2 static inline __m256i mct__join(__m256i even, __m256i odd) {
  return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

MCT__AVX2 static int32_t mct__add_s8_avx2_run(const mct_add_params *p, int32_t n, const int8_t *a,
                                              const int8_t *b, int8_t *y) {
  const mct__rqu kx = mct__rqu_of(p->x_mult, p->x_shift), ky = mct__rqu_of(p->y_mult, p->y_shift);
  const mct__rqu ko = mct__rqu_of(p->out_mult, p->out_shift);
  const __m256i xz = _mm256_set1_epi32(p->x_zero), yzi = _mm256_set1_epi32(p->y_zero_in);
  const __m256i yz = _mm256_set1_epi64x(p->y_zero);
  const __m256i lo = _mm256_set1_epi64x(p->act_min), hi = _mm256_set1_epi64x(p->act_max);
  const __m128i ls = _mm_cvtsi32_si128(p->left_shift);
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i va = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(a + i)));
    const __m256i vb = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + i)));
    /* (a - z) * 2^ls: a left shift of the two's complement value is the same product */
    const __m256i sa = _mm256_sll_epi32(_mm256_sub_epi32(va, xz), ls);
    const __m256i sb = _mm256_sll_epi32(_mm256_sub_epi32(vb, yzi), ls);
    __m256i ae, ao, be, bo, oe, oo;
    mct__rqu8(sa, &kx, &ae, &ao);
    mct__rqu8(sb, &ky, &be, &bo);
    const __m256i t = mct__join(_mm256_add_epi64(ae, be), _mm256_add_epi64(ao, bo));
    mct__rqu8(t, &ko, &oe, &oo);
    oe = mct__clamp64(_mm256_add_epi64(oe, yz), lo, hi);
    oo = mct__clamp64(_mm256_add_epi64(oo, yz), lo, hi);
    mct__store8(y + i, mct__join(oe, oo));
  }
  return i;
}

/* Elements done (a multiple of 8; 0 when not applicable). Arguments checked by the caller. */
int32_t mct__add_s8_avx2(const mct_add_params *p, int32_t n, const int8_t *a, const int8_t *b,
                         int8_t *y) {
  if (p->x_shift > 0 || p->y_shift > 0 || !mct__has_avx2()) return 0;
  return mct__add_s8_avx2_run(p, n, a, b, y);
}

#else
typedef int mct__elementwise_x86_unused; /* ISO C: a translation unit must not be empty */
#endif
