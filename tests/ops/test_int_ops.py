"""int8 forward of every op against an independent, plainly written integer computation.

The expected values below are computed with Python integers (unbounded, so no overflow can
hide), explicit loops over output positions, and the formulas of the op docstrings:
    acc   = sum (x - x_zero) * w          (zero padding after subtracting x_zero)
    acc   = sat32(acc + bias)
    out   = floor((acc * mult + 2^(total-1)) / 2^total),  total = 31 - shift
    y     = clamp(out + y_zero, act_min, act_max)
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from mcutrain.ops.elementwise import int_add_attrs
from mcutrain.ops import fixedpoint as fp

from .conftest import (I8, QParams, conv_args, inp, int_requant_attrs, make_int_conv,
                       make_int_linear, rand_i8, run_forward)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# ---- independent integer formulas ------------------------------------------------------

def clamp_py(v, lo, hi):
    return min(max(v, lo), hi)


def requant_py(acc: int, mult: int, shift: int) -> int:
    total = 31 - shift
    return (acc * mult + 2 ** (total - 1)) // 2**total


def output_py(acc: int, bias: int, mult: int, shift: int, y_zero: int, lo: int, hi: int) -> int:
    acc = clamp_py(int(acc) + int(bias), INT32_MIN, INT32_MAX)
    return clamp_py(requant_py(acc, int(mult), int(shift)) + y_zero, lo, hi)


def _pair(v):
    return tuple(int(t) for t in v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def conv2d_int_loops(x, w, b, a):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), groups = _pair(a["stride"]), _pair(a["padding"]), a["groups"]
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), np.int64)
    xp[:, :, ph:ph + h, pw:pw + wd] = x.astype(np.int64) - a["x_zero"]  # pad AFTER x_zero
    og = o // groups
    y = np.zeros((n, o, ho, wo), np.int64)
    for bi in range(n):
        for oc in range(o):
            g = oc // og
            wk = w[oc].astype(np.int64)
            for i in range(ho):
                for j in range(wo):
                    patch = xp[bi, g * cg:(g + 1) * cg, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    acc = int((patch * wk).sum())
                    y[bi, oc, i, j] = output_py(acc, b[oc], a["mult"][oc], a["shift"][oc],
                                                a["y_zero"], a["act_min"], a["act_max"])
    return y


def linear_int_loops(x, w, b, a):
    n, o = x.shape[0], w.shape[0]
    y = np.zeros((n, o), np.int64)
    for i in range(n):
        for oc in range(o):
            acc = sum((int(xv) - a["x_zero"]) * int(wv) for xv, wv in zip(x[i], w[oc]))
            y[i, oc] = output_py(acc, b[oc], a["mult"][oc], a["shift"][oc], a["y_zero"],
                                 a["act_min"], a["act_max"])
    return y


def add_int_loops(x, y, a):
    """fixedpoint.add_int8's docstring: inputs << left_shift, each rescaled to the common
    scale, summed, saturated to int32, requantized to the output, + zero, clamped."""
    p = a["params"]
    out = np.zeros(x.shape, np.int64)
    for idx in np.ndindex(x.shape):
        xs = (int(x[idx]) - a["x_zero"]) * 2 ** p["left_shift"]
        ys = (int(y[idx]) - a["y_zero_in"]) * 2 ** p["left_shift"]
        total = requant_py(xs, p["x_mult"], p["x_shift"]) + requant_py(ys, p["y_mult"],
                                                                         p["y_shift"])
        total = clamp_py(total, INT32_MIN, INT32_MAX)
        v = requant_py(total, p["out_mult"], p["out_shift"]) + a["y_zero"]
        out[idx] = clamp_py(v, a.get("act_min", -128), a.get("act_max", 127))
    return out


# ---- conv2d ----------------------------------------------------------------------------

# (N, C, H, W, O, kernel, stride, padding, groups)
CONV_GEOS = [
    (2, 3, 6, 5, 4, 3, 1, 1, 1),
    (1, 4, 7, 7, 3, 3, 2, 1, 1),
    (1, 3, 5, 5, 2, 1, 1, 0, 1),
    (1, 2, 8, 8, 3, 5, 2, 2, 1),
    (1, 2, 6, 5, 3, (3, 2), (2, 1), (1, 0), 1),
    (2, 4, 6, 6, 4, 3, 1, 1, 4),       # depthwise
    (1, 3, 7, 7, 3, 3, 2, 1, 3),       # depthwise stride 2
    (1, 3, 6, 6, 3, 5, 1, 2, 3),       # depthwise 5x5 padding 2
    (1, 4, 6, 6, 6, 3, 1, 1, 2),       # grouped 2
    (1, 8, 5, 5, 8, 3, 2, 1, 4),       # grouped 4
    (1, 3, 6, 6, 6, 3, 1, 1, 3),       # depthwise multiplier 2
    (1, 2, 6, 6, 6, 3, 2, 2, 2),       # depthwise multiplier 3
]


def check_conv(x, w, b, attrs, xq, wq):
    (y,) = run_forward("conv2d", conv_args(x, w, b, xq, wq), attrs)
    assert y.dtype == np.int8
    want = conv2d_int_loops(x, w, b, attrs)
    np.testing.assert_array_equal(y.astype(np.int64), want)
    return y


@pytest.mark.parametrize("geo", CONV_GEOS, ids=str)
def test_conv2d_int8(geo):
    y = check_conv(*make_int_conv(geo, seed=CONV_GEOS.index(geo)))
    assert len(np.unique(y)) > 3, "test data should exercise more than a few output levels"


@pytest.mark.parametrize("act", [(-128, 127), (-128, 20), (-5, 127), (-128, -128)], ids=str)
@pytest.mark.parametrize("geo", [CONV_GEOS[0], CONV_GEOS[5], CONV_GEOS[8]], ids=str)
def test_conv2d_int8_activation_ranges(geo, act):
    x, w, b, attrs, xq, wq = make_int_conv(geo, seed=3, act=act, y_zero=act[0] if
                                           act[0] > -128 else None)
    y = check_conv(x, w, b, attrs, xq, wq)
    assert y.min() >= act[0] and y.max() <= act[1]


@pytest.mark.parametrize("bias", [INT32_MAX, -INT32_MAX, INT32_MIN], ids=str)
def test_conv2d_int8_extreme_bias_saturates(bias):
    geo = CONV_GEOS[1]
    x, w, b, attrs, xq, wq = make_int_conv(geo, seed=4)
    b = np.full_like(b, bias)
    b[0] = 17  # one ordinary channel next to the saturated ones
    y = check_conv(x, w, b, attrs, xq, wq)
    assert np.all(y[:, 1:] == (127 if bias > 0 else -128))


@pytest.mark.parametrize("xval,x_zero", [(-128, 127), (127, -128), (-128, -128), (127, 0)])
@pytest.mark.parametrize("wval", [-128, 127])
def test_conv2d_int8_extreme_inputs(xval, x_zero, wval):
    geo = (1, 3, 5, 5, 2, 3, 1, 1, 1)  # padding: borders see x_zero-subtracted zeros
    x, w, b, attrs, xq, wq = make_int_conv(geo, seed=5, x_zero=x_zero)
    x = np.full_like(x, xval)
    w = np.full_like(w, wval)
    b[:] = 0
    # multipliers that keep the largest |acc| = 255*128*27 inside int8 on channel 0
    attrs.update(int_requant_attrs(1.0, [100.0 / (255 * 128 * 27), 1e-6], 1.0, x_zero, 0))
    attrs.update(stride=1, padding=1, groups=1)
    y = check_conv(x, w, b, attrs, xq, wq)
    if xval != x_zero:
        assert len(np.unique(y[0, 0])) > 1, "border and interior should differ"


MULT_REALS = [
    [1e-10, 4e-10],          # 0 (below 2^-32) and the smallest shift (-31)
    [2.0**-20, 1.7e-6],
    [0.3, 0.7],
    [1.0, 0.5],              # exact powers of two
    [3.7, 1234.5],           # > 1
    [1.0 - 2.0**-40, 2.0**29 * 1.5],  # rounding carry into the next power; largest shift
]


@pytest.mark.parametrize("reals", MULT_REALS, ids=str)
def test_conv2d_int8_multipliers(reals):
    geo = (1, 2, 4, 4, 2, 3, 1, 1, 1)
    x, w, b, attrs, xq, wq = make_int_conv(geo, seed=6)
    mult, shift = fp.quantize_multiplier(np.asarray(reals))
    attrs.update(mult=tuple(int(m) for m in mult), shift=tuple(int(s) for s in shift))
    b[:] = [5, -3]
    check_conv(x, w, b, attrs, xq, wq)
    # small accumulators meet tiny multipliers exactly at the rounding points
    x2 = rand_i8(np.random.default_rng(1), x.shape, -2, 2)
    check_conv(x2, np.sign(w).astype(np.int8), b, dict(attrs, x_zero=0), xq, wq)


@pytest.mark.parametrize("real", [1e-10, 4e-10, 2.0**-31, 0.3, 0.5, 1.0, 3.7, 1234.5,
                                  1.0 - 2.0**-40, 1.5 * 2.0**29])
def test_quantize_multiplier_representation(real):
    m, s = (int(v) for v in fp.quantize_multiplier(real))
    if real < 2.0**-32:
        assert m == 0
        return
    assert 2**30 <= m < 2**31 and -31 <= s <= 30
    assert abs(m * 2.0 ** (s - 31) - real) <= real * 2.0**-31


def test_requantize_round_half_up_ties():
    """requantize: exact ties go up (towards +inf), for both signs."""
    m, s = 2**30, 0  # multiplier 1/2
    acc = np.array([-5, -3, -1, 1, 3, 5, INT32_MAX, INT32_MIN], np.int64)
    want = [requant_py(int(a), m, s) for a in acc]
    assert want[:6] == [-2, -1, 0, 1, 2, 3]
    np.testing.assert_array_equal(fp.requantize(acc, m, s), want)


# ---- linear ----------------------------------------------------------------------------

def check_linear(x, w, b, attrs, xq, wq):
    (y,) = run_forward("linear", conv_args(x, w, b, xq, wq), attrs)
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y.astype(np.int64), linear_int_loops(x, w, b, attrs))
    return y


@pytest.mark.parametrize("seed,n,c,o", [(0, 1, 16, 10), (1, 4, 7, 3), (2, 3, 1, 5),
                                        (3, 2, 33, 8)])
def test_linear_int8(seed, n, c, o):
    check_linear(*make_int_linear(seed, n, c, o))


@pytest.mark.parametrize("act", [(-128, 127), (-128, 10), (0, 127)], ids=str)
def test_linear_int8_activation_ranges(act):
    y = check_linear(*make_int_linear(7, 4, 12, 6, act=act))
    assert y.min() >= act[0] and y.max() <= act[1]


def test_linear_int8_extremes():
    x, w, b, attrs, xq, wq = make_int_linear(8, 2, 9, 4, x_zero=127)
    x[0] = -128
    x[1] = 127
    w[:] = -128
    b[:] = [INT32_MAX, -INT32_MAX, INT32_MIN, 0]
    mult, shift = fp.quantize_multiplier([0.5, 0.5, 0.5, 3.7])
    attrs.update(mult=tuple(int(m) for m in mult), shift=tuple(int(s) for s in shift))
    y = check_linear(x, w, b, attrs, xq, wq)
    assert list(y[:, 0]) == [127, 127] and list(y[:, 1]) == [-128, -128]


# ---- add -------------------------------------------------------------------------------

ADD_CASES = [  # (x scale, x zero, y scale, y zero, out scale, out zero, act)
    (0.05, 0, 0.05, 0, 0.1, 0, (-128, 127)),
    (0.02, -10, 0.07, 5, 0.08, -3, (-128, 127)),
    (0.1, 127, 0.001, -128, 0.05, 20, (-128, 127)),
    (0.03, 3, 0.03, -7, 0.01, -128, (-128, 60)),   # ReLU-style range, output saturates
    (0.5, 0, 0.25, 0, 0.002, 0, (-128, 127)),     # output much finer: heavy clipping
    (1e-4, 0, 2e-4, 0, 0.5, 0, (-128, 127)),      # tiny output multiplier
]


@pytest.mark.parametrize("case", ADD_CASES, ids=str)
def test_add_int8(case):
    sx, zx, sy, zy, so, zo, act = case
    rng = np.random.default_rng(ADD_CASES.index(case))
    shape = (2, 3, 4, 5)
    x, y = rand_i8(rng, shape), rand_i8(rng, shape)
    x.flat[:4] = [-128, 127, -128, 127]
    y.flat[:4] = [-128, -128, 127, 127]
    xq, yq, oq = QParams.tensor(sx, zx), QParams.tensor(sy, zy), QParams.tensor(so, zo)
    attrs = int_add_attrs(xq, yq, oq, act)
    (out,) = run_forward("add", [inp("a", x, I8, xq), inp("b", y, I8, yq)], attrs)
    assert out.dtype == np.int8
    want = add_int_loops(x, y, attrs)
    np.testing.assert_array_equal(out.astype(np.int64), want)
    # and the integer formula is the real sum to within one output level
    real = (sx * (x.astype(np.float64) - zx) + sy * (y.astype(np.float64) - zy)) / so + zo
    assert np.max(np.abs(want - np.clip(np.round(real), *act))) <= 1


# ---- clamp, pooling, reshape, quantize, dequantize ---------------------------------------

@pytest.mark.parametrize("lo,hi", [(-128, 127), (-128, 20), (-5, 127), (0, 6), (3, 3),
                                   (-20, None), (None, 50)])
def test_clamp_int8(lo, hi):
    rng = np.random.default_rng(0)
    x = rand_i8(rng, (2, 3, 4, 4))
    x.flat[:2] = [-128, 127]
    q = QParams.tensor(0.05, -3)
    attrs = {k: v for k, v in (("lo", lo), ("hi", hi)) if v is not None}
    (y,) = run_forward("clamp", [inp("x", x, I8, q)], attrs)
    assert y.dtype == np.int8
    want = np.array([clamp_py(int(v), -128 if lo is None else lo, 127 if hi is None else hi)
                     for v in x.ravel()]).reshape(x.shape)
    np.testing.assert_array_equal(y, want)


def test_global_avgpool_int8_rounds_half_to_even():
    # 2x2 windows: sums 2, 6, 10, -2, -6, -10, 5, -5, 508, -512 -> ties at x.5 go to even
    sums = [2, 6, 10, -2, -6, -10, 5, -5, 508, -512]
    x = np.zeros((1, len(sums), 2, 2), np.int8)
    for ch, s in enumerate(sums):
        q, r = divmod(s, 4)
        x[0, ch] = np.array([[q, q], [q, q + r]]) if s not in (508, -512) else s // 4
    assert [int(v) for v in x.astype(np.int64).sum(axis=(2, 3)).ravel()] == sums
    (y,) = run_forward("global_avgpool", [inp("x", x, I8, QParams.tensor(0.1, 0))])
    assert list(y.ravel()) == [0, 2, 2, 0, -2, -2, 1, -1, 127, -128]


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (1, 5, 3, 7), (3, 2, 1, 1), (1, 1, 5, 5)])
def test_global_avgpool_int8(shape):
    rng = np.random.default_rng(sum(shape))
    x = rand_i8(rng, shape)
    (y,) = run_forward("global_avgpool", [inp("x", x, I8, QParams.tensor(0.1, 4))])
    assert y.dtype == np.int8 and y.shape == shape[:2] + (1, 1)
    n, c, h, w = shape
    for i in range(n):
        for ch in range(c):
            total = sum(int(v) for v in x[i, ch].ravel())
            assert y[i, ch, 0, 0] == round(Fraction(total, h * w))  # Fraction rounds half-even


def maxpool_int_loops(x, k, s, p):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = _pair(k), _pair(s), _pair(p)
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, ho, wo), np.int64)
    for idx in np.ndindex(n, c, ho, wo):
        b, ch, i, j = idx
        vals = [int(x[b, ch, r, q]) for r in range(i * sh - ph, i * sh - ph + kh)
                for q in range(j * sw - pw, j * sw - pw + kw) if 0 <= r < h and 0 <= q < w]
        y[idx] = max(vals)  # padding never wins
    return y


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0),
                                   ((3, 2), (2, 1), (1, 0))], ids=str)
def test_maxpool2d_int8(k, s, p):
    rng = np.random.default_rng(0)
    x = rand_i8(rng, (2, 3, 7, 6))
    x[0, 0] = -128  # a channel of minimum values: padding must not change the result
    x[1, 1, :2, :2] = 127
    (y,) = run_forward("maxpool2d", [inp("x", x, I8, QParams.tensor(0.1, -2))],
                       dict(kernel=k, stride=s, padding=p))
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, maxpool_int_loops(x, k, s, p))


def test_reshape_int8():
    rng = np.random.default_rng(0)
    x = rand_i8(rng, (2, 3, 2, 4))
    q = QParams.tensor(0.1, 7)
    (y,) = run_forward("reshape", [inp("x", x, I8, q)], dict(shape=(24,)))
    assert y.dtype == np.int8 and y.shape == (2, 24)
    for n, c, h, w in np.ndindex(x.shape):
        assert y[n, (c * 2 + h) * 4 + w] == x[n, c, h, w]


@pytest.mark.parametrize("scale,zero", [(0.1, 0), (0.0625, -128), (0.02, 127), (1.0, 5),
                                        (3e-4, -17)])
def test_quantize(scale, zero):
    rng = np.random.default_rng(1)
    r = (rng.standard_normal((2, 3, 4)) * 100 * scale).astype(np.float32)
    # exact ties k + 1/2 (power-of-two scales make r / scale exact), saturation, zero
    r.flat[:8] = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1e4, -1e4]) * scale
    (q,) = run_forward("quantize", [inp("r", r)], dict(scale=scale, zero=zero))
    assert q.dtype == np.int8
    want = [clamp_py(round(float(v) / scale) + zero, -128, 127) for v in r.ravel()]
    np.testing.assert_array_equal(q.ravel(), want)
    if (scale, zero) == (1.0, 5):
        assert list(q.ravel()[:6].astype(int) - zero) == [0, 2, 2, 0, -2, -2]


@pytest.mark.parametrize("scale,zero", [(0.1, 0), (0.0625, -128), (0.02, 127), (3e-4, -17)])
def test_dequantize_int8(scale, zero):
    rng = np.random.default_rng(2)
    q = rand_i8(rng, (2, 5, 3))
    q.flat[:2] = [-128, 127]
    (r,) = run_forward("dequantize", [inp("q", q, I8, QParams.tensor(scale, zero))],
                       dict(scale=scale, zero=zero))
    assert r.dtype == np.float32
    want = np.array([np.float32((int(v) - zero) * scale) for v in q.ravel()]).reshape(q.shape)
    np.testing.assert_array_equal(r, want)


@pytest.mark.parametrize("sign", [1, -1])
def test_linear_int8_accumulator_saturation_is_observable(sign):
    """acc + bias beyond int32 must saturate BEFORE requantization; a multiplier near
    250 / 2^31 and y_zero = -128 * sign keep the result inside int8, so an unsaturated sum
    would land on a different level."""
    c = 256
    x = np.full((1, c), 127, np.int8)
    w = np.full((2, c), 127 * sign, np.int8)
    xq, wq = QParams.tensor(0.02, -128), QParams.channel([0.01, 0.01])
    b = np.array([sign * (2**31 - 1000), 0], np.int64)
    b = np.clip(b, INT32_MIN, INT32_MAX).astype(np.int32)
    mult, shift = fp.quantize_multiplier([250.0 / 2**31, 1e-6])
    attrs = dict(x_zero=-128, y_scale=0.1, y_zero=-128 if sign > 0 else 127,
                 mult=tuple(int(m) for m in mult), shift=tuple(int(s) for s in shift),
                 act_min=-128, act_max=127)
    (y,) = run_forward("linear", conv_args(x, w, b, xq, wq), attrs)
    np.testing.assert_array_equal(y.astype(np.int64), linear_int_loops(x, w, b, attrs))
    acc = c * 255 * 127 * sign + int(b[0])
    unsaturated = requant_py(acc, int(mult[0]), int(shift[0])) + attrs["y_zero"]
    assert -128 <= unsaturated <= 127 and y[0, 0] != unsaturated
