"""Every runtime kernel (mcutrain/runtime/src) against its NumPy reference op.

Integer outputs must be bit-exact (np.array_equal), float outputs within 1e-5 relative
(max-norm, as tests/ops), SGD bit-exact in every storage type. Arrays are NCHW (batch 1)
for the references and HWC for the kernels.
"""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.ir.dtype import QParams
from mcutrain.ops.common import pair
from mcutrain.ops.conv import out_hw
from mcutrain.ops.elementwise import int_add_attrs
from mcutrain.ops.optim import put_slice, sgd_reference, take_slice
from mcutrain.ops.fixedpoint import quantize_multiplier
from mcutrain.targets.host import INCLUDE, runtime_sources

from .conftest import (add_params, arr, assert_exact, assert_rel, byref, conv_attrs, conv_geom,
                       conv_requant, geom, ptr, ref, requant, sgd, split_weights, to_hwc,
                       to_nchw, wsplit)

SEEDS = (0, 1, 2)
INT32_MAX = 2**31 - 1

# name: (in_c, out_c, (h, w), kernel, stride, padding, groups); groups "dw" = in_c
CONV = {
    "pw": (16, 24, (5, 5), 1, 1, 0, 1),
    "pw_c1": (1, 7, (3, 4), 1, 1, 0, 1),
    "pw_c3_o1": (3, 1, (6, 2), 1, 1, 0, 1),
    "pw_s2_odd": (8, 5, (7, 7), 1, 2, 0, 1),
    "pw_pad": (6, 4, (3, 3), 1, 1, 1, 1),
    "k3_stem": (3, 8, (8, 8), 3, 1, 1, 1),
    "k3_s2_even": (5, 6, (8, 8), 3, 2, 1, 1),
    "k3_s2_odd": (5, 6, (9, 7), 3, 2, 1, 1),
    "k3_nopad": (4, 3, (6, 5), 3, 1, 0, 1),
    "k5_p2": (3, 4, (7, 7), 5, 1, 2, 1),
    "k7_s2_p3": (2, 3, (9, 10), 7, 2, 3, 1),
    "rect": (3, 5, (6, 7), (3, 1), (1, 2), (1, 0), 1),
    "grouped": (6, 4, (5, 5), 3, 1, 1, 2),
    "dw3": (12, 12, (6, 6), 3, 1, 1, "dw"),
    "dw3_s2_even": (7, 7, (8, 8), 3, 2, 1, "dw"),
    "dw3_s2_odd": (7, 7, (9, 9), 3, 2, 1, "dw"),
    "dw3_nopad": (5, 5, (5, 6), 3, 1, 0, "dw"),
    "dw5": (4, 4, (7, 6), 5, 1, 2, "dw"),
    "dw7": (6, 6, (7, 7), 7, 1, 3, "dw"),
    "dw7_s2": (3, 3, (10, 9), 7, 2, 3, "dw"),
    "dw_mult2": (4, 8, (5, 5), 3, 1, 1, "dw"),
    "dw_mult3_s2": (3, 9, (6, 7), 3, 2, 1, "dw"),
    "dw_big_pad": (2, 2, (3, 3), 1, 1, 2, "dw"),
    # sizes for the vector paths (x86 AVX2): blocks of 8 outputs / 16 channels, tails, overlaps
    "pw_c29_o13": (29, 13, (3, 5), 1, 1, 0, 1),
    "pw_c70_o40": (70, 40, (2, 3), 1, 1, 0, 1),
    "pw_o8": (8, 8, (4, 4), 1, 1, 0, 1),
    "col_c1_k3": (1, 9, (7, 6), 3, 1, 1, 1),
    "col_c3_k3_s2": (3, 16, (9, 8), 3, 2, 1, 1),
    "col_c16_s2": (16, 12, (7, 7), 1, 2, 0, 1),
    "col_c32_k3": (32, 20, (5, 5), 3, 1, 1, 1),
    "col_too_big": (72, 9, (4, 4), 3, 1, 1, 1),
    "dw16": (16, 16, (6, 6), 3, 1, 1, "dw"),
    "dw20_k5_s2": (20, 20, (9, 8), 5, 2, 2, "dw"),
    "dw24_s2_odd": (24, 24, (7, 7), 3, 2, 1, "dw"),
    "dw40_k7": (40, 40, (7, 7), 7, 1, 3, "dw"),
    "dw16_k9": (16, 16, (9, 9), 9, 1, 4, "dw"),
    "dw16_big_pad": (16, 16, (3, 3), 1, 1, 2, "dw"),
    "col_big_pad": (16, 8, (3, 3), 1, 1, 2, 1),
}


def conv_case(name, seed, extreme=False):
    """Random int8 conv: x, w, bias and attrs whose output spreads over the int8 range, with
    edge channels (bias +-(2^31-1), zero and maximal multipliers) mixed in."""
    c, o, (h, w_), k, s, p, grp = CONV[name]
    grp = c if grp == "dw" else grp
    kh, kw = pair(k)
    rng = np.random.default_rng(seed + 100 * list(CONV).index(name))
    if extreme:
        x = np.full((1, c, h, w_), -128 if seed % 2 == 0 else 127, np.int8)
        w = np.full((o, c // grp, kh, kw), -128 if seed % 2 == 0 else 127, np.int8)
        x_zero = 127 if seed % 2 == 0 else -128
    else:
        x = rng.integers(-128, 128, (1, c, h, w_)).astype(np.int8)
        w = rng.integers(-127, 128, (o, c // grp, kh, kw)).astype(np.int8)
        x_zero = int(rng.integers(-128, 128))
    bias, mult, shift = conv_requant(rng, x, w, x_zero, s, p, grp)
    edges = [(INT32_MAX, None), (-INT32_MAX, None), (-(2**31), None), (None, (0, 0)),
             (None, (INT32_MAX, 30)), (None, (2**30, -31))]
    for ch, (bv, ms) in zip(rng.permutation(o), edges[seed % 3::3] if o > 2 else edges[:1]):
        if bv is not None:
            bias[ch] = bv
        if ms is not None:
            mult[ch], shift[ch] = ms
    y_zero = int(rng.integers(-128, 128))
    act = [(-128, 127), (y_zero, 127), (-20, 30)][seed % 3]
    return x, w, bias, conv_attrs(s, p, grp, x_zero, y_zero, mult, shift, act)


def run_conv_s8(lib, x, w, bias, attrs, ws=None):
    g = conv_geom(x.shape, w.shape, attrs)
    q = requant(attrs)
    y = np.full((g.out_h, g.out_w, g.out_c), 99, np.int8)
    rc = lib.mct_conv2d_s8(byref(g), byref(q), ptr(to_hwc(x)), ptr(arr(w, np.int8)), byref(ws),
                           ptr(arr(bias, np.int32)), ptr(y))
    assert rc == 0
    return to_nchw(y)


# ---- conv2d forward ----------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(CONV))
def test_conv2d_s8(lib, name, seed):
    x, w, bias, attrs = conv_case(name, seed)
    want = ref("conv2d", [x, w, bias], attrs)[0]
    assert_exact(run_conv_s8(lib, x, w, bias, attrs), want, name)


@pytest.mark.parametrize("seed", (0, 1))
@pytest.mark.parametrize("name", ["pw", "k3_stem", "k7_s2_p3", "dw3", "dw7", "dw_mult2",
                                  "pw_c70_o40", "col_c3_k3_s2", "col_c32_k3", "dw40_k7"])
def test_conv2d_s8_extreme_inputs(lib, name, seed):
    x, w, bias, attrs = conv_case(name, seed, extreme=True)
    want = ref("conv2d", [x, w, bias], attrs)[0]
    assert_exact(run_conv_s8(lib, x, w, bias, attrs), want, name)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["pw", "pw_c3_o1", "k3_stem", "k3_s2_odd", "rect", "dw3",
                                  "dw7_s2", "dw_mult2", "pw_c29_o13", "col_c1_k3", "col_c32_k3",
                                  "dw20_k5_s2", "dw40_k7"])
def test_conv2d_s8_wsplit(lib, name, seed):
    x, w, bias, attrs = conv_case(name, seed)
    depthwise = attrs["groups"] > 1
    n = w.shape[0] if depthwise else w.shape[1]
    rng = np.random.default_rng(seed)
    sel = np.sort(rng.choice(n, max(1, n // 3 + seed % 2), replace=False))
    frozen, wt = split_weights(w, sel, depthwise)
    want = ref("conv2d", [x, w, bias], attrs)[0]
    got = run_conv_s8(lib, x, frozen, bias, attrs, wsplit(wt, sel))
    assert_exact(got, want, name)


def test_conv2d_s8_rejects_bad_args(lib):
    x, w, bias, attrs = conv_case("k3_stem", 0)
    g = conv_geom(x.shape, w.shape, attrs)
    q = requant(attrs)
    y = np.empty((g.out_h, g.out_w, g.out_c), np.int8)
    args = (ptr(to_hwc(x)), ptr(w), None, ptr(bias), ptr(y))
    g.out_h += 1
    assert lib.mct_conv2d_s8(byref(g), byref(q), *args) == -1
    g.out_h -= 1
    g.groups = 2  # 3 input channels
    assert lib.mct_conv2d_s8(byref(g), byref(q), *args) == -1
    g.groups = 1
    assert lib.mct_conv2d_s8(byref(g), byref(q), *args) == 0
    bad_sel = wsplit(w[:, [1, 0]], [1, 0])  # not ascending
    assert lib.mct_conv2d_s8(byref(g), byref(q), args[0], args[1], byref(bad_sel), args[3],
                             args[4]) == -1


# ---- linear ------------------------------------------------------------------------------

@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_linear_s8(lib, seed, split):
    rng = np.random.default_rng(seed)
    c, o = [(64, 10), (3, 1), (37, 13), (160, 1000)][seed]
    x = rng.integers(-128, 128, (1, c)).astype(np.int8)
    w = rng.integers(-127, 128, (o, c)).astype(np.int8)
    bias = rng.integers(-5000, 5000, o).astype(np.int32)
    bias[0] = [INT32_MAX, -INT32_MAX, -(2**31), INT32_MAX][seed]
    x_zero = int(rng.integers(-128, 128))
    spread = np.sqrt(c) * 75 * 73
    m, s = quantize_multiplier(rng.uniform(0.3, 3, o) * 40 / spread)
    attrs = dict(x_zero=x_zero, y_scale=0.1, y_zero=int(rng.integers(-50, 50)), act_min=-128,
                 act_max=127, mult=tuple(int(v) for v in m), shift=tuple(int(v) for v in s))
    want = ref("linear", [x, w, bias], attrs)[0][0]
    q = requant(attrs)
    y = np.empty(o, np.int8)
    ws, wc = None, w
    if split:
        sel = np.sort(rng.choice(c, max(1, c // 4), replace=False))
        wc, wt = split_weights(w, sel, False)
        ws = wsplit(wt, sel)
    assert lib.mct_linear_s8(c, o, byref(q), ptr(x[0].copy()), ptr(wc), byref(ws), ptr(bias),
                             ptr(y)) == 0
    assert_exact(y, want, "linear_s8")


# ---- add, clamp, dequantize, gather --------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_add_s8(lib, seed):
    rng = np.random.default_rng(seed)
    shape = (1, 5, 3, 7)
    a = rng.integers(-128, 128, shape).astype(np.int8)
    b = rng.integers(-128, 128, shape).astype(np.int8)
    if seed == 5:  # extremes
        a[..., :3], b[..., :3] = -128, 127
        a[..., 3:], b[..., 3:] = 127, 127
    sa, sb = rng.uniform(0.005, 0.1, 2) if seed != 1 else (0.03, 0.03)
    so = float(rng.uniform(0.3, 1.5) * (sa + sb))
    za, zb, zo = (int(v) for v in rng.integers(-128, 128, 3))
    act = [(-128, 127), (zo, 127), (-60, 60)][seed % 3]
    attrs = int_add_attrs(QParams.tensor(sa, za), QParams.tensor(sb, zb), QParams.tensor(so, zo),
                          act)
    want = ref("add", [a, b], attrs)[0]
    p = add_params(attrs)
    ah, bh = to_hwc(a), to_hwc(b)
    y = np.empty_like(ah)
    assert lib.mct_add_s8(byref(p), ah.size, ptr(ah), ptr(bh), ptr(y)) == 0
    assert_exact(to_nchw(y), want, "add_s8")
    assert lib.mct_add_s8(byref(p), ah.size, ptr(ah), ptr(bh), ptr(ah)) == 0  # y aliases a
    assert_exact(to_nchw(ah), want, "add_s8 in place")


@pytest.mark.parametrize("scales", [(0.02, 0.03, 0.04), (0.05, 0.001, 0.0002), (0.01, 0.01, 0.5),
                                    (1.0, 0.5, 1e-7)])
def test_add_s8_all_pairs(lib, scales):
    """Every (a, b) pair of int8 values; the last case has an output multiplier > 1."""
    grid = np.arange(-128, 128)
    a, b = (v.astype(np.int8).reshape(1, 1, 256, 256) for v in np.meshgrid(grid, grid))
    attrs = int_add_attrs(QParams.tensor(scales[0], 5), QParams.tensor(scales[1], -7),
                          QParams.tensor(scales[2], 3), (-100, 120))
    want = ref("add", [a, b], attrs)[0]
    p = add_params(attrs)
    y = np.empty(a.size, np.int8)
    assert lib.mct_add_s8(byref(p), a.size, ptr(a.ravel().copy()), ptr(b.ravel().copy()),
                          ptr(y)) == 0
    assert_exact(y.reshape(want.shape), want, "add all pairs")


@pytest.mark.parametrize("lo,hi", [(0, 127), (0, 6), (-128, 127), (-5, 5), (-200, 300)])
def test_clamp_s8(lib, lo, hi):
    x = np.arange(-128, 128, dtype=np.int8)
    want = ref("clamp", [x], dict(lo=lo, hi=hi))[0]
    y = np.empty_like(x)
    assert lib.mct_clamp_s8(x.size, lo, hi, ptr(x), ptr(y)) == 0
    assert_exact(y, want, "clamp")
    assert lib.mct_clamp_s8(x.size, lo, hi, ptr(x), ptr(x)) == 0
    assert_exact(x, want, "clamp in place")


@pytest.mark.parametrize("scale,zero", [(0.0235, -128), (1 / 255, 5), (3.7, 127), (1e-4, 0)])
def test_dequantize_s8(lib, scale, zero):
    x = np.arange(-128, 128, dtype=np.int8)
    want = ref("dequantize", [x], dict(scale=scale, zero=zero))[0]
    y = np.empty(x.size, np.float32)
    assert lib.mct_dequantize_s8(x.size, scale, zero, ptr(x), ptr(y)) == 0
    assert_rel(y, want, 1e-6, "dequantize")
    np.testing.assert_allclose(y, want, rtol=1.2e-7, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_gather_channels_s8(lib, seed):
    rng = np.random.default_rng(seed)
    c, h, w = 9, 4, 3
    x = rng.integers(-128, 128, (1, c, h, w)).astype(np.int8)
    sel = np.sort(rng.choice(c, 1 + seed * 3, replace=False)).astype(np.int32)
    want = ref("gather_channels", [x], dict(channels=tuple(int(v) for v in sel)))[0]
    y = np.empty((h, w, len(sel)), np.int8)
    assert lib.mct_gather_channels_s8(h * w, c, ptr(sel), len(sel), ptr(to_hwc(x)), ptr(y)) == 0
    assert_exact(to_nchw(y), want, "gather")


# ---- pooling -----------------------------------------------------------------------------

@pytest.mark.parametrize("c,h,w", [(8, 4, 4), (3, 1, 1), (5, 7, 3), (16, 2, 2), (1, 3, 2)])
def test_avgpool_global_s8(lib, c, h, w):
    rng = np.random.default_rng(c * h * w)
    x = rng.integers(-128, 128, (1, c, h, w)).astype(np.int8)
    half = h * w // 2
    if h * w % 2 == 0 and 3 * half <= 128:  # exact ties: mean +0.5 -> 0, mean -1.5 -> -2
        x[0, 0] = 0
        x[0, 0, 0, 0] = half
        if c > 1:
            x[0, 1] = 0
            x[0, 1, 0, 0] = -3 * half
    if c > 2:
        x[0, 2] = -128
    want = ref("global_avgpool", [x], {})[0]
    y = np.empty(c, np.int8)
    assert lib.mct_avgpool_global_s8(h * w, c, ptr(to_hwc(x)), ptr(y)) == 0
    assert_exact(y.reshape(1, c, 1, 1), want, "avgpool")


def test_avgpool_global_s8_all_ties(lib):
    """Every total t of a 2-pixel window: round(t / 2) half to even."""
    a = np.arange(-128, 128)
    pairs = np.stack(np.meshgrid(a, a), -1).reshape(-1, 2)[::7]
    x = pairs.reshape(1, -1, 1, 2).astype(np.int8)  # channel k holds the pixels pairs[k]
    c = x.shape[1]
    want = ref("global_avgpool", [x], {})[0]
    y = np.empty(c, np.int8)
    assert lib.mct_avgpool_global_s8(2, c, ptr(to_hwc(x)), ptr(y)) == 0
    assert_exact(y.reshape(1, c, 1, 1), want, "avgpool ties")


MAXPOOL = [((6, 6), 2, 2, 0), ((7, 7), 2, 2, 0), ((7, 5), 3, 2, 1), ((5, 5), 3, 1, 1),
           ((8, 8), 3, 2, 1), ((4, 6), (2, 3), (1, 2), (1, 0)), ((3, 3), 1, 1, 1)]


@pytest.mark.parametrize("case", range(len(MAXPOOL)))
def test_maxpool_s8(lib, case):
    (h, w), k, s, p = MAXPOOL[case]
    rng = np.random.default_rng(case)
    c = 5
    x = rng.integers(-128, 128, (1, c, h, w)).astype(np.int8)
    x[0, 0] = -128  # all-minimum channel: padding must not win (it holds -128 too)
    attrs = dict(kernel=pair(k), stride=pair(s), padding=pair(p))
    want = ref("maxpool2d", [x], attrs)[0]
    ho, wo = want.shape[2:]
    g = geom((h, w), c, (ho, wo), c, pair(k), pair(s), pair(p))
    y = np.empty((ho, wo, c), np.int8)
    assert lib.mct_maxpool_s8(byref(g), ptr(to_hwc(x)), ptr(y)) == 0
    assert_exact(to_nchw(y), want, "maxpool")


def test_avgpool_global_grad_f32(lib):
    rng = np.random.default_rng(0)
    for c, h, w in [(8, 4, 4), (3, 7, 3), (1, 1, 1), (6, 3, 5)]:
        gy = rng.standard_normal((1, c, 1, 1)).astype(np.float32)
        want = ref("global_avgpool_grad", [gy], dict(in_hw=(h, w)))[0]
        gx = np.empty((h, w, c), np.float32)
        assert lib.mct_avgpool_global_grad_f32(h * w, c, ptr(gy.reshape(c).copy()), ptr(gx)) == 0
        assert_exact(to_nchw(gx), want, "avgpool grad")  # one float division: exact


# ---- float head and loss ------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_linear_f32(lib, seed):
    rng = np.random.default_rng(seed)
    c, o = [(64, 10), (1, 3), (200, 7)][seed]
    x = rng.standard_normal((1, c)).astype(np.float32)
    w = rng.uniform(-1, 1, (o, c)).astype(np.float32) / np.float32(np.sqrt(c))
    b = rng.uniform(-1, 1, o).astype(np.float32)
    want = ref("linear", [x, w, b], {})[0][0]
    y = np.empty(o, np.float32)
    assert lib.mct_linear_f32(c, o, ptr(x[0].copy()), ptr(w), ptr(b), ptr(y)) == 0
    assert_rel(y, want, 1e-5, "linear_f32")


LOGITS = {
    "random": lambda r: r.standard_normal(10) * 3,
    "confident_right": lambda r: np.r_[30.0, np.zeros(9)],
    "confident_wrong": lambda r: np.r_[np.zeros(9), 30.0],
    "flat": lambda r: np.zeros(10),
    "ties_at_max": lambda r: np.r_[5.0, 5.0, r.standard_normal(3)],
    "two_classes": lambda r: np.array([0.3, -1.2]),
    "large": lambda r: r.standard_normal(10) * 40 + 200,
}


@pytest.mark.parametrize("case", list(LOGITS))
def test_softmax_ce_f32(lib, case):
    rng = np.random.default_rng(len(case))
    z = LOGITS[case](rng).astype(np.float32)[None]
    n = z.shape[1]
    for label in sorted({0, 1, n - 1}):
        y = np.array([label], np.int32)
        loss_ref = ref("softmax_ce", [z, y], {})[0]
        dz_ref = ref("softmax_ce_grad", [z, y], {})[0][0]
        dz = np.empty(n, np.float32)
        loss = lib.mct_softmax_ce_f32(n, ptr(z[0].copy()), label, ptr(dz))
        # atol: the float64 reference takes log(1 + tiny) and p - 1, exact to ~1e-16 only
        assert abs(loss - float(loss_ref)) <= 1e-5 * abs(float(loss_ref)) + 1e-15, (loss, loss_ref)
        assert np.max(np.abs(dz - dz_ref)) <= 1e-5 * np.max(np.abs(dz_ref)) + 1e-15, case
        # against cancellation-free float64 formulas, every entry keeps relative accuracy
        zz = z[0].astype(np.float64)
        e = np.exp(zz - zz.max())
        want = e / e.sum()
        want[label] = -np.delete(e, label).sum() / e.sum()
        k = int(np.argmax(zz))
        want_loss = zz[k] - zz[label] + np.log1p(np.delete(e, k).sum())
        np.testing.assert_allclose(dz, want, rtol=1e-5, atol=1e-36)  # float32 subnormals
        assert abs(loss - want_loss) <= 1e-5 * want_loss + 1e-30, (loss, want_loss)
        assert lib.mct_softmax_ce_f32(n, ptr(z[0].copy()), label, None) == loss
    assert lib.mct_softmax_ce_f32(n, ptr(z[0].copy()), n, None) == -1.0


@pytest.mark.parametrize("n", [1, 7, 640])
def test_mse_f32(lib, n):
    rng = np.random.default_rng(n)
    z, t = (rng.standard_normal((1, n)).astype(np.float32) * 20 for _ in range(2))
    loss_ref = float(ref("mse", [z, t], {})[0])
    dz_ref = ref("mse_grad", [z, t], {})[0][0]
    dz = np.empty(n, np.float32)
    loss = lib.mct_mse_f32(n, ptr(z[0].copy()), ptr(t[0].copy()), ptr(dz))
    assert abs(loss - loss_ref) <= 1e-6 * loss_ref
    np.testing.assert_array_equal(dz, dz_ref)  # one rounding of the float64 value, both
    assert lib.mct_mse_f32(n, ptr(z[0].copy()), ptr(t[0].copy()), None) == loss


@pytest.mark.parametrize("kind", ["int8", "int8_noscale", "float"])
@pytest.mark.parametrize("seed", (0, 1, 2))
def test_linear_grad_input_f32(lib, kind, seed):
    rng = np.random.default_rng(seed)
    c, o = [(48, 10), (5, 3), (70, 9)][seed]
    gy = rng.standard_normal((1, o)).astype(np.float32)
    gy[0, 0] = 0.0
    gx = np.empty(c, np.float32)
    if kind == "float":
        w = rng.standard_normal((o, c)).astype(np.float32)
        want = ref("linear_grad_input", [gy, w], dict(w_scale=None))[0][0]
        rc = lib.mct_linear_grad_input_f32(c, o, ptr(gy[0].copy()), None, ptr(w), None, ptr(gx))
    else:
        w = rng.integers(-127, 128, (o, c)).astype(np.int8)
        ws = None if kind == "int8_noscale" else rng.uniform(0.001, 0.02, o)
        want = ref("linear_grad_input", [gy, w],
                   dict(w_scale=None if ws is None else tuple(ws)))[0][0]
        rc = lib.mct_linear_grad_input_f32(c, o, ptr(gy[0].copy()), ptr(w), None,
                                           ptr(None if ws is None else arr(ws, np.float32)),
                                           ptr(gx))
    assert rc == 0
    assert_rel(gx, want, 1e-5, f"linear grad input {kind}")


# ---- backward: clamp, bias, accumulate ------------------------------------------------------

@pytest.mark.parametrize("lo,hi", [(-128, 127), (0, 127), (-10, 6), (-129, 128)])
def test_clamp_grad_f32(lib, lo, hi):
    rng = np.random.default_rng(lo + 1000)
    y = np.arange(-128, 128, dtype=np.int8)
    gy = rng.standard_normal(y.size).astype(np.float32)
    want = ref("clamp_grad", [gy, y], dict(lo=lo, hi=hi))[0]
    g = gy.copy()
    assert lib.mct_clamp_grad_f32(y.size, lo, hi, ptr(y), ptr(g)) == 0
    assert_exact(g, want, "clamp_grad")


@pytest.mark.parametrize("scaled", [False, True])
def test_bias_grad_f32(lib, scaled):
    rng = np.random.default_rng(int(scaled))
    for c, h, w in [(8, 6, 6), (3, 1, 1), (17, 5, 3)]:
        g = rng.standard_normal((1, c, h, w)).astype(np.float32)
        bs = rng.uniform(1e-5, 1e-3, c) if scaled else None
        want = ref("conv2d_grad_bias", [g], dict(b_scale=None if bs is None else tuple(bs)))[0]
        gb = np.empty(c, np.float32)
        assert lib.mct_bias_grad_f32(h * w, c, ptr(to_hwc(g)),
                                     ptr(None if bs is None else arr(bs, np.float32)), ptr(gb)) == 0
        assert_rel(gb, want, 1e-5, "bias grad")


def test_accumulate_f32(lib):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 37)).astype(np.float32)
    want = ref("add", [y, x], {})[0]
    assert lib.mct_accumulate_f32(x.size, ptr(x), ptr(y)) == 0
    assert_exact(y, want, "accumulate")


# ---- conv backward ----------------------------------------------------------------------------

GRAD_CASES = ["pw", "pw_c1", "pw_s2_odd", "pw_pad", "k3_stem", "k3_s2_even", "k3_s2_odd",
              "k5_p2", "k7_s2_p3", "rect", "grouped", "dw3", "dw3_s2_even", "dw3_s2_odd",
              "dw5", "dw7", "dw7_s2", "dw_mult2", "dw_mult3_s2", "dw_big_pad", "pw_c29_o13",
              "pw_c70_o40", "col_c32_k3", "dw16", "dw20_k5_s2", "dw40_k7", "dw16_k9",
              "dw16_big_pad", "col_big_pad"]


def grad_case(name, seed):
    x, w, _, attrs = conv_case(name, seed)
    rng = np.random.default_rng(seed + 7)
    o = w.shape[0]
    ho, wo = out_hw(x.shape[2], x.shape[3], w.shape[2:], attrs["stride"], attrs["padding"])
    gy = rng.standard_normal((1, o, ho, wo)).astype(np.float32)
    gy[rng.random(gy.shape) < 0.3] = 0.0  # as after a ReLU's clamp_grad
    w_scale = rng.uniform(0.002, 0.02, o)
    return x, w, gy, w_scale, attrs


def run_grad_input(lib, gy, w, w_scale, x_shape, attrs, ws=None):
    g = conv_geom(x_shape, w.shape, attrs)
    gx = np.full((g.in_h, g.in_w, g.in_c), np.nan, np.float32)
    rc = lib.mct_conv2d_grad_input_f32(byref(g), ptr(to_hwc(gy)), ptr(arr(w, np.int8)), byref(ws),
                                       ptr(None if w_scale is None else arr(w_scale, np.float32)),
                                       ptr(gx))
    assert rc == 0
    return to_nchw(gx)


@pytest.mark.parametrize("scaled", [True, False])
@pytest.mark.parametrize("seed", (0, 1))
@pytest.mark.parametrize("name", GRAD_CASES)
def test_conv2d_grad_input_f32(lib, name, seed, scaled):
    x, w, gy, w_scale, attrs = grad_case(name, seed)
    w_scale = w_scale if scaled else None
    want = ref("conv2d_grad_input", [gy, w], dict(
        in_hw=x.shape[2:], stride=attrs["stride"], padding=attrs["padding"],
        groups=attrs["groups"], w_scale=None if w_scale is None else tuple(w_scale)))[0]
    assert_rel(run_grad_input(lib, gy, w, w_scale, x.shape, attrs), want, 1e-5, name)


@pytest.mark.parametrize("seed", (0, 1))
@pytest.mark.parametrize("name", ["pw", "k3_stem", "k3_s2_odd", "k7_s2_p3", "rect", "dw3",
                                  "dw7_s2", "dw_mult2", "pw_c70_o40", "dw20_k5_s2"])
def test_conv2d_grad_input_f32_wsplit(lib, name, seed):
    x, w, gy, w_scale, attrs = grad_case(name, seed)
    depthwise = attrs["groups"] > 1
    n = w.shape[0] if depthwise else w.shape[1]
    sel = np.sort(np.random.default_rng(seed).choice(n, max(1, n // 2), replace=False))
    frozen, wt = split_weights(w, sel, depthwise)
    want = ref("conv2d_grad_input", [gy, w], dict(
        in_hw=x.shape[2:], stride=attrs["stride"], padding=attrs["padding"],
        groups=attrs["groups"], w_scale=tuple(w_scale)))[0]
    got = run_grad_input(lib, gy, frozen, w_scale, x.shape, attrs, wsplit(wt, sel))
    assert_rel(got, want, 1e-5, name)


def grad_weight_rows(lib, xs, gy, w_shape, attrs, in_c, x_zero, x_scale, w_scale, sel=None):
    """The whole weight gradient from one mct_conv2d_grad_weight_row_f32 call per row.

    xs holds the saved input channels (all in_c of the layer, or the selected ones)."""
    g = conv_geom((1, in_c) + xs.shape[2:], w_shape, attrs)
    depthwise = attrs["groups"] > 1
    o, _, kh, kw = w_shape
    m = o // in_c if depthwise else 1
    n_ch = xs.shape[1]
    xh, gyh = to_hwc(xs), to_hwc(gy)
    rows = range(len(sel)) if (depthwise and sel is not None) else range(o)
    out = np.full((len(rows), 1 if depthwise else n_ch, kh, kw), np.nan, np.float32)
    for r in rows:
        gy_c, xs_c = (int(sel[r]), r) if (depthwise and sel is not None) else (r, r // m)
        row = np.empty(out.shape[1:], np.float32)
        rc = lib.mct_conv2d_grad_weight_row_f32(byref(g), ptr(xh), n_ch, x_zero, x_scale,
                                                ptr(gyh), gy_c, xs_c, float(w_scale[gy_c]),
                                                ptr(row))
        assert rc == 0
        out[r] = row
    return out


@pytest.mark.parametrize("seed", (0, 1))
@pytest.mark.parametrize("name", GRAD_CASES)
def test_conv2d_grad_weight_row_f32(lib, name, seed):
    x, w, gy, w_scale, attrs = grad_case(name, seed)
    if attrs["groups"] not in (1, x.shape[1]):
        pytest.skip("the row kernel covers groups 1 and depthwise")
    x_scale = 0.0123
    a = dict(kernel=w.shape[2:], stride=attrs["stride"], padding=attrs["padding"],
             groups=attrs["groups"], x_zero=attrs["x_zero"], x_scale=x_scale,
             w_scale=tuple(w_scale), channels=None)
    want = ref("conv2d_grad_weight", [x, gy], a)[0]
    got = grad_weight_rows(lib, x, gy, w.shape, attrs, x.shape[1], attrs["x_zero"], x_scale,
                           w_scale)
    assert_rel(got, want, 1e-5, name)


@pytest.mark.parametrize("seed", (0, 1))
@pytest.mark.parametrize("name", ["pw", "k3_stem", "k3_s2_even", "k7_s2_p3", "rect", "dw3",
                                  "dw3_s2_odd", "dw7", "dw7_s2", "pw_c70_o40", "dw20_k5_s2"])
def test_conv2d_grad_weight_row_f32_channels(lib, name, seed):
    x, w, gy, w_scale, attrs = grad_case(name, seed)
    depthwise = attrs["groups"] > 1
    c = x.shape[1]
    sel = np.sort(np.random.default_rng(seed).choice(c, max(1, c // 2), replace=False))
    xs = np.ascontiguousarray(x[:, sel])  # gather_channels
    a = dict(kernel=w.shape[2:], stride=attrs["stride"], padding=attrs["padding"],
             groups=attrs["groups"], x_zero=attrs["x_zero"], x_scale=0.02,
             w_scale=tuple(w_scale), channels=tuple(int(v) for v in sel))
    want = ref("conv2d_grad_weight", [xs, gy], a)[0]
    got = grad_weight_rows(lib, xs, gy, w.shape, attrs, c, attrs["x_zero"], 0.02, w_scale,
                           sel=sel)
    if depthwise:
        assert got.shape == (len(sel), 1) + w.shape[2:]
    assert_rel(got, want, 1e-5, name)


def test_outer_f32(lib):
    """The float head's weight gradient: one float32 product per entry, bit-exact."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 33)).astype(np.float32)
    gy = rng.standard_normal((1, 7)).astype(np.float32)
    want = ref("linear_grad_weight", [x, gy], dict(w_scale=None))[0]
    gw = np.empty((7, 33), np.float32)
    assert lib.mct_outer_f32(7, 33, ptr(gy[0].copy()), ptr(x[0].copy()), ptr(gw)) == 0
    assert_exact(gw, want, "outer")


def test_linear_grad_weight_as_1x1_rows(lib):
    """A linear layer's weight gradient is the row kernel on a 1x1 map."""
    rng = np.random.default_rng(3)
    c, o = 24, 6
    x = rng.integers(-128, 128, (1, c)).astype(np.int8)
    gy = rng.standard_normal((1, o)).astype(np.float32)
    ws = rng.uniform(0.002, 0.02, o)
    want = ref("linear_grad_weight", [x, gy], dict(x_zero=-3, x_scale=0.05, w_scale=tuple(ws)))[0]
    g = geom((1, 1), c, (1, 1), o, (1, 1), (1, 1), (0, 0))
    got = np.empty((o, c), np.float32)
    for r in range(o):
        assert lib.mct_conv2d_grad_weight_row_f32(byref(g), ptr(x[0].copy()), c, -3, 0.05,
                                                  ptr(gy[0].copy()), r, 0, float(ws[r]),
                                                  ptr(got[r])) == 0
    assert_rel(got, want, 1e-5, "linear grad weight")


# ---- SGD and master rounding ----------------------------------------------------------------

def sgd_case(dtype, seed, rows=6, row_len=10):
    rng = np.random.default_rng(seed)
    if dtype == np.int8:
        w = rng.integers(-127, 128, (rows, row_len)).astype(np.int8)
        w[0, :3] = (127, -127, 0)
    elif dtype == np.int32:
        w = rng.integers(-50000, 50000, (rows, row_len)).astype(np.int32)
        w[0, :3] = (INT32_MAX - 2, -(2**31) + 1, 0)
    else:
        w = rng.standard_normal((rows, row_len)).astype(np.float32)
    g = (rng.standard_normal((rows, row_len)) * 0.02).astype(np.float32)
    g[1, :4] = (1e9, -1e9, 3e30, -3e30)  # huge steps: clamp of floor(delta + u) and of w
    g[2, 0] = 0.0
    qas = rng.uniform(1e3, 1e5, rows).astype(np.float32)
    mom = (rng.standard_normal((rows, row_len)) * 0.5).astype(np.float32)
    return w, g, qas, mom


SGD_OPTS = {
    "plain": dict(qas=False, momentum=None, weight_decay=0.0),
    "qas": dict(qas=True, momentum=None, weight_decay=0.0),
    "qas_mom": dict(qas=True, momentum=0.9, weight_decay=0.0),
    "qas_mom_wd": dict(qas=True, momentum=0.9, weight_decay=1e-3),
    "wd": dict(qas=False, momentum=None, weight_decay=5e-4),
    "mom0": dict(qas=False, momentum=0.0, weight_decay=0.0),
}


def bits(a):
    a = np.asarray(a)
    return a.view(np.int32) if a.dtype == np.float32 else a


@pytest.mark.parametrize("seed", (0, 1, 2))
@pytest.mark.parametrize("opts", list(SGD_OPTS))
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.float32], ids=["s8", "s32", "f32"])
def test_sgd_bit_exact(lib, dtype, opts, seed):
    o = SGD_OPTS[opts]
    w, g, qas, mom = sgd_case(dtype, seed, *[(6, 10), (6, 10), (5, 53)][seed])
    rows, row_len = w.shape
    lr = np.float32(0.05 if dtype != np.float32 else 0.1)
    step = [3, 2**31 + 17, 2**32 - 1][seed]
    a = dict(qas=tuple(float(v) for v in qas) if o["qas"] else None,
             momentum=0.0 if o["momentum"] is None else o["momentum"],
             weight_decay=o["weight_decay"], seed=[0, 12345, 2**32 - 7][seed], param_id=4 + seed)
    use_mom = o["momentum"] is not None
    want_w, want_m = sgd_reference(w, g, lr, step, mom if use_mom else None, a)
    fn = {np.int8: lib.mct_sgd_s8, np.int32: lib.mct_sgd_s32, np.float32: lib.mct_sgd_f32}[dtype]
    p = sgd(a, lr, step, row_len)
    # whole slice in one call
    wc, mc = w.copy(), mom.copy()
    assert fn(byref(p), 0, rows, ptr(wc), ptr(g), ptr(mc) if use_mom else None) == 0
    assert_exact(bits(wc), bits(want_w), "sgd whole")
    if use_mom:
        assert_exact(bits(mc), bits(want_m), "momentum whole")
    # row by row (one output channel's gradient as soon as it exists), and in two blocks
    wr, mr = w.copy(), mom.copy()
    for r in range(rows):
        assert fn(byref(p), r, 1, ptr(wr), ptr(g[r].copy()),
                  ptr(mr) if use_mom else None) == 0
    assert_exact(bits(wr), bits(want_w), "sgd per row")
    wb, mb = w.copy(), mom.copy()
    for r0, n in ((0, 2), (2, rows - 2)):
        assert fn(byref(p), r0, n, ptr(wb), ptr(g[r0:r0 + n].copy()),
                  ptr(mb) if use_mom else None) == 0
    assert_exact(bits(wb), bits(want_w), "sgd blocks")
    if use_mom:
        assert_exact(bits(mr), bits(want_m), "momentum per row")


def test_sgd_stochastic_rounding_is_used(lib):
    """Sub-step updates move int8 weights on average (not always rounded away)."""
    w = np.zeros((1, 4000), np.int8)
    g = np.full((1, 4000), -1.0, np.float32)  # delta = +0.3
    a = dict(qas=None, momentum=0.0, weight_decay=0.0, seed=7, param_id=1)
    want, _ = sgd_reference(w, g, np.float32(0.3), 5, None, a)
    p = sgd(a, np.float32(0.3), 5, 4000)
    assert lib.mct_sgd_s8(byref(p), 0, 1, ptr(w), ptr(g), None) == 0
    assert_exact(w, want, "sr")
    assert 0.25 < w.mean() < 0.35


def test_sgd_channel_slice(lib):
    """Groups-1 channel fraction: the trained slice w[:, sel] (rows = output channels) is what
    the kernel updates; the reference's take/put of the slice agrees."""
    rng = np.random.default_rng(5)
    full = rng.integers(-127, 128, (4, 6, 3, 3)).astype(np.int8)
    sel = (1, 4)
    wt = np.ascontiguousarray(take_slice(full, sel, 1))
    g = (rng.standard_normal(wt.shape) * 30).astype(np.float32)
    qas = rng.uniform(0.5, 2.0, 4)
    a = dict(qas=tuple(qas), momentum=0.0, weight_decay=0.0, seed=3, param_id=2, channels=sel,
             axis=1)
    want_full, _ = sgd_reference(full, g, np.float32(0.01), 9, None, a)
    p = sgd(a, np.float32(0.01), 9, wt[0].size)
    for o in range(4):
        assert lib.mct_sgd_s8(byref(p), o, 1, ptr(wt), ptr(g[o].copy()), None) == 0
    assert_exact(put_slice(full, sel, 1, wt), want_full, "sgd slice")


MASTERS = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 126.5, 127.5, -127.5, -128.7,
                    300.0, -1e9, 1e9, 2147483520.0, 2147483648.0, -2147483648.0, 3e38, -3e38,
                    0.0, -0.0, 7.25, -7.75], np.float32)


@pytest.mark.parametrize("dtype", [np.int8, np.int32], ids=["s8", "s32"])
def test_round_master(lib, dtype):
    rng = np.random.default_rng(0)
    m = np.concatenate([MASTERS, (rng.standard_normal(50) * 100).astype(np.float32)])
    frozen = np.zeros(m.size, dtype)
    want = ref("round_master", [frozen, m], dict(channels=None))[0]
    w = np.empty(m.size, dtype)
    fn = lib.mct_round_master_s8 if dtype == np.int8 else lib.mct_round_master_s32
    assert fn(m.size, ptr(m), ptr(w)) == 0
    assert_exact(w, want, "round_master")


# ---- host build == portable build, floats included ---------------------------------------

@pytest.mark.parametrize("name", ["pw_c70_o40", "pw_c29_o13", "dw20_k5_s2", "dw40_k7", "dw16",
                                  "col_c32_k3", "k3_stem"])
def test_float_kernels_same_bits_in_both_builds(both_libs, name):
    """The vector paths only vectorize across independent outputs, so the host build (the
    simulation) and the portable build (the device) give the same float results."""
    x, w, gy, w_scale, attrs = grad_case(name, 0)
    depthwise = attrs["groups"] > 1
    sel = np.array([0, 2])
    frozen, wt = split_weights(w, sel, depthwise)
    outs = []
    for lib in both_libs:
        gx = run_grad_input(lib, gy, w, w_scale, x.shape, attrs)
        gx_split = run_grad_input(lib, gy, frozen, w_scale, x.shape, attrs, wsplit(wt, sel))
        gw = grad_weight_rows(lib, x, gy, w.shape, attrs, x.shape[1], attrs["x_zero"], 0.01,
                              w_scale)
        g = to_hwc(gy)
        gb = np.empty(gy.shape[1], np.float32)
        assert lib.mct_bias_grad_f32(g.shape[0] * g.shape[1], g.shape[2], ptr(g),
                                     ptr(arr(w_scale, np.float32)), ptr(gb)) == 0
        outs.append((gx, gx_split, gw, gb))
    for a, b in zip(*outs):
        assert np.array_equal(a, b)  # equal values (a -0 may read +0)


def test_linear_grad_input_same_bits_in_both_builds(both_libs):
    rng = np.random.default_rng(9)
    gy = rng.standard_normal(37).astype(np.float32)
    gy[::5] = 0
    w = rng.integers(-127, 128, (37, 75)).astype(np.int8)
    ws = rng.uniform(0.001, 0.02, 37).astype(np.float32)
    res = []
    for lib in both_libs:
        gx = np.empty(75, np.float32)
        assert lib.mct_linear_grad_input_f32(75, 37, ptr(gy), ptr(w), None, ptr(ws), ptr(gx)) == 0
        res.append(gx)
    assert np.array_equal(res[0], res[1])


def test_runtime_builds_without_warnings(tmp_path):
    """Every runtime source compiles warning-free with the host flags, host and portable."""
    import subprocess

    from mcutrain.targets.host import CFLAGS, cc

    procs = []
    for name, extra in (("host", []), ("portable", ["-DMCT_PORTABLE"])):
        (tmp_path / name).mkdir()
        cmd = [cc(), *CFLAGS, *extra, f"-I{INCLUDE}", "-c", *map(str, runtime_sources())]
        procs.append(subprocess.Popen(cmd, cwd=tmp_path / name, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    for proc in procs:
        out, err = proc.communicate()
        assert proc.returncode == 0 and not (out + err).strip(), out + err
