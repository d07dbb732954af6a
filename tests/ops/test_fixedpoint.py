"""ops/fixedpoint.py against exact rational arithmetic with Python integers."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from mcutrain.ops import fixedpoint as fp


def test_quantize_multiplier_is_accurate_and_normalized():
    rng = np.random.default_rng(0)
    reals = np.concatenate([rng.uniform(1e-6, 1.0, 500), rng.uniform(1.0, 100.0, 50), [0.5, 1.0, 2.0**-20]])
    m, s = fp.quantize_multiplier(reals)
    assert np.all((m >= 2**30) & (m < 2**31))
    rel = np.abs(fp.multiplier_value(m, s) - reals) / reals
    assert rel.max() <= 2.0**-31
    m0, s0 = fp.quantize_multiplier([0.0, 1e-12])
    assert list(m0) == [0, 0]


def test_requantize_rounds_half_up_exactly():
    rng = np.random.default_rng(1)
    acc = rng.integers(-(2**31), 2**31, 2000)
    m, s = fp.quantize_multiplier(rng.uniform(1e-5, 3.0, 2000))
    out = fp.requantize(acc, m, s)
    for a, mm, ss, o in zip(acc[:300], m[:300], s[:300], out[:300]):
        exact = Fraction(int(a) * int(mm), 2 ** (31 - int(ss)))
        assert o == (exact + Fraction(1, 2)).__floor__()
    # ties go up (toward +infinity)
    half = fp.quantize_multiplier(0.5)
    assert list(fp.requantize(np.array([1, -1, 3, -3]), *half)) == [1, 0, 2, -1]


def test_div_round_half_even_matches_numpy_round():
    totals = np.arange(-300, 300)
    for n in (1, 2, 4, 16, 49):
        assert np.array_equal(fp.div_round_half_even(totals, n), np.round(totals / n).astype(np.int64))


def test_int8_add_is_close_to_the_real_formula():
    rng = np.random.default_rng(2)
    x, y = rng.integers(-128, 128, 5000), rng.integers(-128, 128, 5000)
    sx, sy, so = 0.031, 0.017, 0.045
    p = fp.add_params(sx, sy, so)
    out = fp.add_int8(x, y, -5, 7, -3, p)
    real = np.clip(np.round((sx * (x + 5) + sy * (y - 7)) / so) - 3, -128, 127)
    assert np.abs(out - real).max() <= 1
    assert np.mean(out == real) > 0.97
