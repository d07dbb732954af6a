"""TFLite Micro's fixed-point arithmetic (gemmlowp style), for graphs read from a .tflite file.

ops/fixedpoint.py holds the project's own single-rounding requantization; TFLite Micro (the
package's reference kernels, measured bit for bit) rounds twice instead, so the two differ by
one on some outputs. Everything here works on int64 NumPy arrays holding int32 values.

    quantize_multiplier(M):  M = q * 2^(e - 31), q = round_half_away(frac(M) * 2^31)
    mbqm(x, q, e) = rdbpot(srdhm(x * 2^max(e, 0), q), max(-e, 0))    ("double rounding")
    srdhm(a, b)   = (a * b + nudge) / 2^31, truncated toward 0; nudge = +-2^30 (round half away)
    rdbpot(x, k)  = x / 2^k rounded half away from zero

`softmax_int8` is TFLite's int8 softmax: exp of the (<= 0) input differences in Q5.26, the sum
in Q12.19, its reciprocal by Newton-Raphson, the output in 1/256 steps from -128.
"""
from __future__ import annotations

import math

import numpy as np

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """real >= 0 -> (q, e) with real ~= q * 2^(e - 31), q in [2^30, 2^31); 0 if tiny.

    frexp gives real = f * 2^e, f in [0.5, 1); q = round(f * 2^31) half away from zero (C's
    std::round); a carry to 2^31 halves q. Below 2^-32 the multiplier is 0."""
    real = float(real)
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"requantization multiplier must be finite and >= 0, got {real}")
    if real == 0:
        return 0, 0
    f, e = math.frexp(real)
    q = math.floor(f * 2.0**31 + 0.5)  # f * 2^31 is exact in double: the +0.5 rounds it
    if q == 2**31:
        q //= 2
        e += 1
    if e < -31:
        return 0, 0
    if e > 30:
        raise ValueError(f"requantization multiplier too large: {real:g}")
    return int(q), int(e)


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _trunc_div(num: np.ndarray, den: int) -> np.ndarray:
    """C integer division (toward zero) of int64 values by a positive power of two."""
    q = np.abs(num) // den
    return np.where(num < 0, -q, q)


def srdhm(a, b) -> np.ndarray:
    """Saturating rounding doubling high multiply: round(a * b / 2^31), ties away from 0."""
    a, b = _i64(a), _i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    out = _trunc_div(ab + nudge, 1 << 31)
    return np.where((a == I32_MIN) & (b == I32_MIN), I32_MAX, out)


def rdbpot(x, exponent) -> np.ndarray:
    """x / 2^exponent rounded to nearest, ties away from zero (arithmetic shift + fix-up)."""
    x, e = _i64(x), _i64(exponent)
    mask = (np.int64(1) << e) - 1
    rem = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (rem > threshold)


def mbqm(x, mult, shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplier as TFLite Micro runs it: x * 2^left, high-multiply, then a
    rounding right shift. x must fit int32 (also after the left shift)."""
    shift = _i64(shift)
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    return rdbpot(srdhm(_i64(x) << left, mult), right)


def sat_shift(x, exponent: int) -> np.ndarray:
    """x * 2^exponent saturated to int32 (exponent > 0), or rdbpot (exponent < 0)."""
    x = _i64(x)
    if exponent < 0:
        return rdbpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, I32_MAX, np.where(x < -threshold, I32_MIN, x << exponent))


# ---- exp and reciprocal in fixed point (Qm.n: raw = value * 2^(31 - m)) ---------------------

def _c(v: float) -> int:
    return int(round(v * 2**31))


EXP_MINUS_1_8 = _c(math.exp(-1 / 8))  # 1895147668
ONE_THIRD = _c(1 / 3)  # 715827883
# exp(-2^k) for k = -2 .. 4, Q0.31: the barrel shifter of exp_on_negative_values
EXP_POT = {k: _c(math.exp(-(2.0**k))) for k in range(-2, 5)}


def _exp_quarter(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8."""
    x = a + (1 << 28)  # x = a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_4 = rdbpot(x4, 2)
    poly = rdbpot(srdhm(x4_4 + x3, ONE_THIRD) + x2, 1)  # x^4/24 + x^3/6 + x^2/2
    return EXP_MINUS_1_8 + srdhm(EXP_MINUS_1_8, x + poly)


def exp_on_negative(a, int_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 given in Q(int_bits).(31-int_bits); result in Q0.31."""
    a = _i64(a)
    frac = 31 - int_bits
    quarter = 1 << (frac - 2)
    a_mod = (a & (quarter - 1)) - quarter  # a mod 1/4, minus 1/4: in [-1/4, 0)
    result = _exp_quarter(sat_shift(a_mod, int_bits))  # rescaled to Q0.31
    remainder = a_mod - a  # the multiple of 1/4 still to apply: exp(-2^k) per set bit
    for k, m in EXP_POT.items():
        if int_bits > k:
            bit = (remainder >> (frac + k)) & 1
            result = np.where(bit != 0, srdhm(result, m), result)
    if int_bits > 5:  # below -32 the result is 0
        result = np.where(a < -(32 << frac), 0, result)
    return np.where(a == 0, I32_MAX, result)


def one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29."""
    half_den = _trunc_div(a + I32_MAX + np.where(a + I32_MAX >= 0, 1, -1), 2)  # (1 + a) / 2
    x = _c(48 / 17 / 4) + srdhm(half_den, -_c(32 / 17 / 4))  # Q2.29 constants
    for _ in range(3):
        one_minus = (1 << 29) - srdhm(half_den, x)
        x = x + sat_shift(srdhm(x, one_minus), 2)
    return sat_shift(x, 1)  # x / 2 in Q1.30 read as Q0.31


def _clz32(x: np.ndarray) -> np.ndarray:
    """Leading zeros of x as a uint32 (x < 2^32): 32 - bit length, from frexp (exact)."""
    x = _i64(x) & 0xFFFFFFFF
    return 32 - np.frexp(x.astype(np.float64))[1].astype(np.int64)


def reciprocal(x, int_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(1 / x scaled, bits over unit) for x > 0 in Q(int_bits): GetReciprocal of TFLite."""
    x = _i64(x)
    headroom = _clz32(x)
    over = int_bits - headroom
    shifted_minus_one = ((x << headroom) & 0xFFFFFFFF) - (1 << 31)
    return one_over_one_plus_x(shifted_minus_one), over


# ---- softmax (int8 in, int8 out with scale 1/256, zero point -128) ------------------------

SOFTMAX_DIFF_BITS = 5  # input differences in Q5.26
SOFTMAX_ACC_BITS = 12  # sum of exps in Q12.19


def softmax_params(beta: float, in_scale: float) -> dict:
    """input_multiplier, input_left_shift, diff_min of TFLite's int8 softmax."""
    real = min(beta * in_scale * (1 << (31 - SOFTMAX_DIFF_BITS)), (1 << 31) - 1.0)
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError(f"softmax: beta * input scale {beta * in_scale:g} is too small")
    radius = math.floor(((1 << SOFTMAX_DIFF_BITS) - 1) * (1 << (31 - SOFTMAX_DIFF_BITS))
                        / (1 << shift))
    return dict(input_multiplier=mult, input_left_shift=shift, diff_min=-radius)


def softmax_int8(x, input_multiplier: int, input_left_shift: int, diff_min: int) -> np.ndarray:
    """Softmax over the last axis of int8 x -> int8 with scale 1/256, zero point -128."""
    x = _i64(x)
    diff = x - x.max(axis=-1, keepdims=True)  # <= 0
    keep = diff >= diff_min
    scaled = srdhm(np.where(keep, diff, 0) << input_left_shift, input_multiplier)  # Q5.26
    e = exp_on_negative(scaled, SOFTMAX_DIFF_BITS)  # Q0.31
    e = np.where(keep, e, 0)
    total = rdbpot(e, SOFTMAX_ACC_BITS).sum(axis=-1, keepdims=True)  # Q12.19
    scale, over = reciprocal(total, SOFTMAX_ACC_BITS)
    out = rdbpot(srdhm(scale, e), over + 31 - 8) - 128
    return np.where(keep, np.clip(out, -128, 127), -128).astype(np.int8)
