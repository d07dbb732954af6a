"""The fixed-point arithmetic of the int8 graph: the ONLY Python copy.

runtime/include/mct_fixedpoint.h mirrors it line for line; both must agree bit for bit.

A real multiplier M > 0 is stored as an int32 `mult` in [2^30, 2^31) and an int `shift` with
    M ~= mult * 2^(shift - 31).
Requantization of an int32 accumulator `acc` (the CMSIS-NN single-rounding scheme):
    total = 31 - shift                    (1 <= total <= 62)
    out   = (acc * mult + 2^(total-1)) >> total      (64-bit product, round half up)
which is floor(acc * mult / 2^total + 1/2): exact integer math, the same on any CPU.
"""
from __future__ import annotations

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MIN_SHIFT = -31  # smaller multipliers become 0
MAX_SHIFT = 30

ADD_LEFT_SHIFT = 20  # residual add: inputs are scaled by 2^20 before rescaling (TFLite)


def quantize_multiplier(real) -> tuple[np.ndarray, np.ndarray]:
    """real (array, >= 0) -> (mult int32, shift int32) with real ~= mult * 2^(shift-31)."""
    real = np.asarray(real, dtype=np.float64)
    if np.any(~np.isfinite(real)) or np.any(real < 0):
        raise ValueError("requantization multipliers must be finite and >= 0")
    mant, exp = np.frexp(real)  # real = mant * 2^exp, mant in [0.5, 1)
    q = np.round(mant * 2.0**31).astype(np.int64)  # half-to-even; may reach 2^31
    carry = q == 2**31
    q = np.where(carry, q // 2, q)
    exp = np.where(carry, exp + 1, exp)
    tiny = (exp < MIN_SHIFT) | (real == 0)
    if np.any(exp > MAX_SHIFT):
        raise ValueError(f"requantization multiplier too large: {real.max():g}")
    mult = np.where(tiny, 0, q).astype(np.int32)
    shift = np.where(tiny, 0, exp).astype(np.int32)
    return mult, shift


def multiplier_value(mult, shift) -> np.ndarray:
    """The real number a (mult, shift) pair stands for."""
    return np.asarray(mult, np.float64) * 2.0 ** (np.asarray(shift, np.float64) - 31)


def saturate_int32(x) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=np.int64), INT32_MIN, INT32_MAX)


def requantize(acc, mult, shift) -> np.ndarray:
    """Round-half-up of acc * mult / 2^(31 - shift). acc must already be in int32 range.

    mult and shift broadcast against acc (per-channel: shape them along the channel axis).
    Returns int64.
    """
    acc = np.asarray(acc, dtype=np.int64)
    total = 31 - np.asarray(shift, dtype=np.int64)
    prod = acc * np.asarray(mult, dtype=np.int64)
    return (prod + (np.int64(1) << (total - 1))) >> total


def clamp(x, lo: int, hi: int) -> np.ndarray:
    return np.clip(x, lo, hi)


def div_round_half_even(total, count: int) -> np.ndarray:
    """round(total / count), ties to even, in integers (the zoo's average pooling)."""
    total = np.asarray(total, dtype=np.int64)
    q = total // count  # floor
    r = total - q * count  # 0 <= r < count
    up = (2 * r > count) | ((2 * r == count) & (q % 2 != 0))
    return q + up


def add_params(x_scale: float, y_scale: float, out_scale: float) -> dict:
    """Integer parameters of out = (x_real + y_real) / out_scale (TFLite's quantized add).

    Both inputs are shifted left by ADD_LEFT_SHIFT, each rescaled to the common scale
    2 * max(sx, sy) by a multiplier <= 1/2, summed, and the sum requantized to the output.
    """
    twice_max = 2.0 * max(x_scale, y_scale)
    m1, s1 = quantize_multiplier(x_scale / twice_max)
    m2, s2 = quantize_multiplier(y_scale / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * out_scale))
    return dict(left_shift=ADD_LEFT_SHIFT, x_mult=int(m1), x_shift=int(s1), y_mult=int(m2),
                y_shift=int(s2), out_mult=int(mo), out_shift=int(so))


def add_int8(x, y, x_zero: int, y_zero: int, out_zero: int, p: dict,
             lo: int = -128, hi: int = 127, rescale=None) -> np.ndarray:
    """The quantized residual add, in integers (int64 result before the int8 cast).
    rescale(acc, mult, shift): the requantization (default `requantize`; a .tflite graph
    passes TFLite Micro's, ops/gemmlowp.mbqm)."""
    rq = rescale or requantize
    xs = (np.asarray(x, np.int64) - x_zero) << p["left_shift"]
    ys = (np.asarray(y, np.int64) - y_zero) << p["left_shift"]
    total = rq(xs, p["x_mult"], p["x_shift"]) + rq(ys, p["y_mult"], p["y_shift"])
    out = rq(saturate_int32(total), p["out_mult"], p["out_shift"]) + out_zero
    return clamp(out, lo, hi)
