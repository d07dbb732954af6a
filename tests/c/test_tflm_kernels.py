"""The kernels of .tflite graphs (runtime/include/mct_tflm.h) against their NumPy reference ops,
on random geometries: TFLite Micro's requantization (conv2d, linear, add with
rounding="tflm", and the primitive itself), pad, avgpool2d, mean_hw, softmax_s8 (int8,
bit-exact) and the float gradients of pad and avgpool2d (1e-5 relative). Then every node of
the four MLPerf Tiny models that has one of these kernels, on the activations the reference
computes for a random input.
"""
from __future__ import annotations

import ctypes as C
from pathlib import Path

import numpy as np
import pytest

from mcutrain.frontend.tflite_graph import add_params as tflm_add_params
from mcutrain.ops import gemmlowp as gl
from mcutrain.ops.avgpool import mean_params, pool_out_hw
from mcutrain.ops.conv import out_hw
from mcutrain.ops.fixedpoint import quantize_multiplier
from mcutrain.targets.host import build_shared

from .conftest import (A, G, Q, W, add_params, arr, assert_exact, assert_rel, byref,
                       conv_requant, geom, ptr, ref, requant, split_weights, to_hwc, to_nchw,
                       wsplit)

i32, vp = C.c_int32, C.c_void_p
N_CASES = 120


class PadGeom(C.Structure):
    _fields_ = [(n, i32) for n in ("in_h", "in_w", "c", "top", "bottom", "left", "right")]


class PoolGeom(C.Structure):
    _fields_ = [(n, i32) for n in ("in_h", "in_w", "c", "out_h", "out_w", "k_h", "k_w",
                                   "stride_h", "stride_w", "top", "bottom", "left", "right")]


class SoftmaxParams(C.Structure):
    _fields_ = [(n, i32) for n in ("input_multiplier", "input_left_shift", "diff_min")]


PG, PL, SP = C.POINTER(PadGeom), C.POINTER(PoolGeom), C.POINTER(SoftmaxParams)
SIGNATURES = {
    "mct_conv2d_s8_tflm": [G, Q, vp, vp, W, vp, vp],
    "mct_linear_s8_tflm": [i32, i32, Q, vp, vp, W, vp, vp],
    "mct_add_s8_tflm": [A, i32, vp, vp, vp],
    "mct_pad_s8": [PG, i32, vp, vp],
    "mct_pad_grad_f32": [PG, vp, vp],
    "mct_avgpool2d_s8": [PL, i32, i32, vp, vp],
    "mct_avgpool2d_grad_f32": [PL, vp, vp],
    "mct_mean_hw_s8": [i32, i32, i32, i32, i32, i32, vp, vp],
    "mct_softmax_s8": [SP, i32, i32, vp, vp],
}


@pytest.fixture(scope="module")
def tl(lib):
    for name, args in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = i32, args
    return lib


def ok(rc):
    assert rc == 0, f"kernel returned {rc}"


# ---- the requantization primitive ------------------------------------------------------------

PRIM_C = """
#include "mct_gemmlowp.h"
int64_t t_srdhm(int64_t a, int64_t b) { return mct_srdhm(a, b); }
int64_t t_rdbpot(int64_t x, int32_t e) { return mct_rdbpot(x, e); }
int64_t t_mbqm(int32_t x, int32_t m, int32_t s) { return mct_mbqm_tflm(x, m, s); }
"""


@pytest.fixture(scope="module")
def prim(tmp_path_factory):
    d = tmp_path_factory.mktemp("prim")
    (d / "prim.c").write_text(PRIM_C)
    so = C.CDLL(str(build_shared([d / "prim.c"], d / "libprim.so")))
    i64 = C.c_int64
    for name, args in (("t_srdhm", [i64, i64]), ("t_rdbpot", [i64, i32]),
                       ("t_mbqm", [i32, i32, i32])):
        getattr(so, name).restype, getattr(so, name).argtypes = i64, args
    return so


def edge_int32(rng, n):
    """Random int32 values with the edges (0, +-1, +-2^k, INT32_MIN/MAX) mixed in."""
    edges = [0, 1, -1, 2**31 - 1, -(2**31), 2**30, -(2**30), 2**30 + 1, 12345, -12345]
    v = rng.integers(-(2**31), 2**31, n)
    v[: len(edges)] = edges
    small = rng.integers(-5000, 5000, n // 3)
    v[len(edges): len(edges) + len(small)] = small
    return v


def test_mbqm_primitive_matches_gemmlowp(prim):
    rng = np.random.default_rng(0)
    xs = edge_int32(rng, 3000)
    mults = np.concatenate([[0, 2**30, 2**31 - 1, -(2**31)], rng.integers(2**30, 2**31, 60)])
    for m in mults:
        got = [prim.t_srdhm(int(x), int(m)) for x in xs]
        assert_exact(np.array(got), gl.srdhm(xs, m), f"srdhm(., {m})")
    for e in range(0, 40):
        got = [prim.t_rdbpot(int(x), e) for x in xs]
        assert_exact(np.array(got), gl.rdbpot(xs, e), f"rdbpot(., {e})")
    for s in list(range(-31, 31)):
        m = int(rng.integers(2**30, 2**31))
        x = xs if s <= 0 else xs >> s  # TFLite's domain: x * 2^s fits int32
        got = [prim.t_mbqm(int(v), m, s) for v in x]
        assert_exact(np.array(got), gl.mbqm(x, m, s), f"mbqm(., {m}, {s})")
    # outside that domain the C still follows the int64 reference
    got = [prim.t_mbqm(int(v), 2**31 - 1, 30) for v in xs[:50]]
    assert_exact(np.array(got), gl.mbqm(xs[:50], 2**31 - 1, 30), "mbqm wide")


# ---- conv2d / linear / add with rounding="tflm" ---------------------------------------------

def random_conv(rng):
    """(x, w, attrs): random channels, groups (1, depthwise with multiplier 1-3, grouped),
    non-square kernels, strides, symmetric padding below the kernel, tiny maps."""
    kind = rng.choice(["g1", "dw", "grouped"], p=[0.45, 0.4, 0.15])
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    h = int(rng.integers(max(1, kh - 2 * ph), 10))
    w_ = int(rng.integers(max(1, kw - 2 * pw), 10))
    if kind == "g1":
        c, groups, o = int(rng.integers(1, 20)), 1, int(rng.integers(1, 20))
    elif kind == "dw":
        c = int(rng.integers(1, 12))
        groups, o = c, c * int(rng.integers(1, 4))
    else:
        groups = int(rng.integers(2, 4))
        c, o = groups * int(rng.integers(1, 5)), groups * int(rng.integers(1, 4))
    x = rng.integers(-128, 128, (1, c, h, w_)).astype(np.int8)
    w = rng.integers(-128, 128, (o, c // groups, kh, kw)).astype(np.int8)
    x_zero = int(rng.integers(-128, 128))
    bias, mult, shift = conv_requant(rng, x, w, x_zero, (sh, sw), (ph, pw), groups)
    if rng.random() < 0.2:  # per-tensor: one pair for every channel
        mult, shift = np.full_like(mult, mult[0]), np.full_like(shift, shift[0])
    lo = int(rng.integers(-128, 0)) if rng.random() < 0.3 else -128
    hi = int(rng.integers(0, 128)) if rng.random() < 0.3 else 127
    attrs = dict(stride=(sh, sw), padding=(ph, pw), groups=groups, x_zero=x_zero, y_scale=0.05,
                 y_zero=int(rng.integers(-128, 128)), mult=tuple(int(v) for v in mult),
                 shift=tuple(int(v) for v in shift), act_min=lo, act_max=hi, rounding="tflm")
    return x, w, bias, attrs


def run_conv(tl, x, w, bias, attrs, ws=None, fn="mct_conv2d_s8_tflm"):
    _, c, h, w_ = x.shape
    o, _, kh, kw = w.shape
    ho, wo = out_hw(h, w_, (kh, kw), attrs["stride"], attrs["padding"])
    g = geom((h, w_), c, (ho, wo), o, (kh, kw), attrs["stride"], attrs["padding"],
             attrs["groups"])
    y = np.zeros((ho, wo, o), np.int8)
    ok(getattr(tl, fn)(byref(g), byref(requant(attrs)), ptr(to_hwc(x)), ptr(arr(w, np.int8)),
                       byref(ws), ptr(arr(bias, np.int32)), ptr(y)))
    return to_nchw(y)


def test_conv2d_tflm_random_geometries(tl):
    rng = np.random.default_rng(23)
    differ = 0
    for case in range(N_CASES):
        x, w, bias, attrs = random_conv(rng)
        want = ref("conv2d", [x, w, bias], attrs)[0]
        assert_exact(run_conv(tl, x, w, bias, attrs), want, f"case {case} {attrs}")
        single = ref("conv2d", [x, w, bias], {**attrs, "rounding": None})[0]
        differ += int(np.sum(single != want))
    assert differ > 0, "the two roundings never differed: the test would not see a mix-up"


def test_conv2d_tflm_trained_slice(tl):
    """With a mct_wsplit (channel-fraction training) the trained slice adds its channels."""
    rng = np.random.default_rng(5)
    done = 0
    while done < 30:
        x, w, bias, attrs = random_conv(rng)
        dw = attrs["groups"] > 1 and attrs["groups"] == x.shape[1]
        if attrs["groups"] > 1 and not dw:
            continue
        n = w.shape[0] if dw else x.shape[1]
        sel = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
        frozen, wt = split_weights(w, sel, dw)
        want = ref("conv2d", [x, w, bias], attrs)[0]
        assert_exact(run_conv(tl, x, frozen, bias, attrs, wsplit(wt, sel)), want, f"{attrs}")
        done += 1


def test_conv2d_tflm_extremes(tl):
    """Saturating accumulators and biases, zero and the largest multipliers."""
    rng = np.random.default_rng(7)
    for case in range(20):
        x, w, bias, attrs = random_conv(rng)
        v = -128 if case % 2 else 127
        x, w = np.full_like(x, v), np.full_like(w, -128)
        o = w.shape[0]
        bias = rng.choice([2**31 - 1, -(2**31), 0], o).astype(np.int32)
        mult = rng.choice([0, 2**30, 2**31 - 1], o)
        shift = rng.choice([-31, -10, 0, 1, 5], o)
        attrs.update(mult=tuple(int(m) for m in mult), shift=tuple(int(s) for s in shift))
        want = ref("conv2d", [x, w, bias], attrs)[0]
        assert_exact(run_conv(tl, x, w, bias, attrs), want, f"extreme case {case}")


def test_linear_tflm_per_tensor_and_per_channel(tl):
    rng = np.random.default_rng(11)
    for case in range(N_CASES):
        c, o = int(rng.integers(1, 80)), int(rng.integers(1, 24))
        x = rng.integers(-128, 128, (1, c)).astype(np.int8)
        w = rng.integers(-128, 128, (o, c)).astype(np.int8)
        x_zero = int(rng.integers(-128, 128))
        bias = rng.integers(-40000, 40000, o).astype(np.int32)
        acc = (x.astype(np.float64) - x_zero) @ w.astype(np.float64).T
        m, s = quantize_multiplier(rng.uniform(0.3, 3.0, o) * 40.0 / (acc.std() + 1.0))
        if case % 2:  # per-tensor weights: one multiplier repeated
            m, s = np.full_like(m, m[0]), np.full_like(s, s[0])
        attrs = dict(x_zero=x_zero, y_scale=0.1, y_zero=int(rng.integers(-128, 128)),
                     mult=tuple(int(v) for v in m), shift=tuple(int(v) for v in s),
                     act_min=-128, act_max=int(rng.choice([127, 50])), rounding="tflm")
        y = np.zeros(o, np.int8)
        ok(tl.mct_linear_s8_tflm(c, o, byref(requant(attrs)), ptr(arr(x[0], np.int8)),
                                 ptr(arr(w, np.int8)), None, ptr(bias), ptr(y)))
        assert_exact(y[None], ref("linear", [x, w, bias], attrs)[0], f"linear case {case}")


def add_case(rng):
    n = int(rng.integers(1, 300))
    a = rng.integers(-128, 128, n).astype(np.int8)
    b = rng.integers(-128, 128, n).astype(np.int8)
    s1, s2 = (float(v) for v in np.exp(rng.uniform(-6, 0, 2)))
    so = float(np.exp(rng.uniform(-6, 0))) * max(s1, s2) * 2
    lo = int(rng.choice([-128, int(rng.integers(-128, 0))]))
    attrs = dict(x_zero=int(rng.integers(-128, 128)), y_zero_in=int(rng.integers(-128, 128)),
                 y_scale=so, y_zero=int(rng.integers(-128, 128)), act_min=lo, act_max=127,
                 params=tflm_add_params(s1, s2, so), rounding="tflm")
    return a, b, attrs


def test_add_tflm(tl):
    rng = np.random.default_rng(13)
    for case in range(N_CASES):
        a, b, attrs = add_case(rng)
        want = ref("add", [a, b], attrs)[0]
        y = np.zeros_like(a)
        ok(tl.mct_add_s8_tflm(byref(add_params(attrs)), len(a), ptr(a), ptr(b), ptr(y)))
        assert_exact(y, want, f"add case {case}")
        ok(tl.mct_add_s8_tflm(byref(add_params(attrs)), len(a), ptr(a), ptr(b), ptr(a)))
        assert_exact(a, want, f"add case {case} in place")


# ---- pad ---------------------------------------------------------------------------------------

def pad_case(rng):
    c, h, w_ = (int(v) for v in rng.integers(1, 9, 3))
    pads = tuple(int(v) for v in rng.integers(0, 4, 4))
    return c, h, w_, pads, PadGeom(h, w_, c, *pads)


def test_pad_s8(tl):
    rng = np.random.default_rng(17)
    for case in range(N_CASES):
        c, h, w_, pads, g = pad_case(rng)
        value = int(rng.integers(-128, 128))
        x = rng.integers(-128, 128, (1, c, h, w_)).astype(np.int8)
        want = ref("pad", [x], dict(pads=pads, value=value))[0]
        y = np.zeros((want.shape[2], want.shape[3], c), np.int8)
        ok(tl.mct_pad_s8(byref(g), value, ptr(to_hwc(x)), ptr(y)))
        assert_exact(to_nchw(y), want, f"pad {pads}")
        buf = np.zeros(y.size, np.int8)  # in place: x at the start of the padded buffer
        buf[: x.size] = to_hwc(x).ravel()
        ok(tl.mct_pad_s8(byref(g), value, ptr(buf), ptr(buf)))
        assert_exact(to_nchw(buf.reshape(y.shape)), want, f"pad {pads} in place")


def test_pad_grad_f32(tl):
    rng = np.random.default_rng(19)
    for case in range(N_CASES):
        c, h, w_, pads, g = pad_case(rng)
        t, b, l, r = pads
        gy = rng.standard_normal((1, c, h + t + b, w_ + l + r)).astype(np.float32)
        want = ref("pad_grad", [gy], dict(pads=pads))[0]
        gx = np.zeros((h, w_, c), np.float32)
        ok(tl.mct_pad_grad_f32(byref(g), ptr(to_hwc(gy)), ptr(gx)))
        assert_exact(to_nchw(gx), want, f"pad_grad {pads}")
        buf = to_hwc(gy).ravel().copy()
        ok(tl.mct_pad_grad_f32(byref(g), ptr(buf), ptr(buf)))
        assert_exact(to_nchw(buf[: gx.size].reshape(gx.shape)), want, f"pad_grad {pads} in place")


# ---- avgpool2d ---------------------------------------------------------------------------------

def pool_case(rng):
    """Random kernel, stride, per-side padding below the kernel, tiny maps."""
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    pads = (int(rng.integers(0, kh)), int(rng.integers(0, kh)), int(rng.integers(0, kw)),
            int(rng.integers(0, kw)))
    h = int(rng.integers(max(1, kh - pads[0] - pads[1]), 10))
    w_ = int(rng.integers(max(1, kw - pads[2] - pads[3]), 10))
    c = int(rng.integers(1, 12))
    a = dict(kernel=(kh, kw), stride=tuple(int(v) for v in rng.integers(1, 4, 2)), pads=pads)
    ho, wo = pool_out_hw(h, w_, a)
    g = PoolGeom(h, w_, c, ho, wo, kh, kw, *a["stride"], *pads)
    return c, h, w_, a, g


def test_avgpool2d_s8(tl):
    rng = np.random.default_rng(29)
    for case in range(N_CASES):
        c, h, w_, a, g = pool_case(rng)
        a.update(act_min=int(rng.choice([-128, -20])), act_max=int(rng.choice([127, 30])))
        x = rng.integers(-128, 128, (1, c, h, w_)).astype(np.int8)
        if case % 10 == 0:
            x[:] = rng.choice([-128, 127])
        want = ref("avgpool2d", [x], a)[0]
        y = np.zeros((g.out_h, g.out_w, c), np.int8)
        ok(tl.mct_avgpool2d_s8(byref(g), a["act_min"], a["act_max"], ptr(to_hwc(x)), ptr(y)))
        assert_exact(to_nchw(y), want, f"avgpool2d {a} on {h}x{w_}x{c}")


def test_avgpool2d_s8_rounds_half_away():
    """Ties go away from zero (TFLite), not to even (the zoo's global pool)."""
    x = np.array([1, 2, -1, -2, 3, 0], np.int8).reshape(1, 3, 1, 2)
    y = ref("avgpool2d", [x], dict(kernel=(1, 2), stride=(1, 1), pads=(0, 0, 0, 0)))[0]
    assert y.ravel().tolist() == [2, -2, 2]


def test_avgpool2d_grad_f32(tl):
    rng = np.random.default_rng(31)
    for case in range(N_CASES):
        c, h, w_, a, g = pool_case(rng)
        gy = rng.standard_normal((1, c, g.out_h, g.out_w)).astype(np.float32)
        want = ref("avgpool2d_grad", [gy], dict(a, in_hw=(h, w_)))[0]
        gx = np.full((h, w_, c), np.nan, np.float32)
        ok(tl.mct_avgpool2d_grad_f32(byref(g), ptr(to_hwc(gy)), ptr(gx)))
        assert_rel(to_nchw(gx), want, 1e-5, f"avgpool2d_grad {a} on {h}x{w_}x{c}")


def test_avgpool2d_rejects_bad_geometry(tl):
    g = PoolGeom(4, 4, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0)  # top == k_h: a window of padding
    buf = np.zeros(64, np.int8)
    assert tl.mct_avgpool2d_s8(byref(g), -128, 127, ptr(buf), ptr(buf)) != 0
    g = PoolGeom(4, 4, 2, 3, 2, 2, 2, 2, 2, 0, 0, 0, 0)  # wrong out_h
    assert tl.mct_avgpool2d_s8(byref(g), -128, 127, ptr(buf), ptr(buf)) != 0


def test_new_kernels_reject_bad_arguments(tl):
    buf = np.zeros(4096, np.int8)
    fbuf = np.zeros(1024, np.float32)
    bad_pad = PadGeom(2, 2, 1, -1, 0, 0, 0)
    assert tl.mct_pad_s8(byref(bad_pad), 0, ptr(buf), ptr(buf)) != 0
    assert tl.mct_pad_s8(byref(PadGeom(2, 2, 1, 0, 0, 0, 0)), 200, ptr(buf), ptr(buf)) != 0
    assert tl.mct_pad_s8(byref(PadGeom(2, 2, 1, 0, 0, 0, 0)), 0, None, ptr(buf)) != 0
    assert tl.mct_pad_grad_f32(byref(bad_pad), ptr(fbuf), ptr(fbuf)) != 0
    assert tl.mct_mean_hw_s8(0, 3, 0, 0, 2**30, -1, ptr(buf), ptr(buf)) != 0
    assert tl.mct_mean_hw_s8(4, 3, 0, 0, 2**30, -40, ptr(buf), ptr(buf)) != 0
    p = SoftmaxParams(2**30, 20, -100)
    assert tl.mct_softmax_s8(byref(p), 1, 0, ptr(buf), ptr(buf)) != 0
    assert tl.mct_softmax_s8(byref(p), 1, 4096, ptr(buf), ptr(buf)) != 0
    assert tl.mct_softmax_s8(byref(SoftmaxParams(2**30, 20, 5)), 1, 4, ptr(buf), ptr(buf)) != 0
    g = PoolGeom(4, 4, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0)
    assert tl.mct_avgpool2d_s8(byref(g), 10, -10, ptr(buf), ptr(buf)) != 0
    assert tl.mct_avgpool2d_grad_f32(byref(g), None, ptr(fbuf)) != 0
    assert tl.mct_add_s8_tflm(None, 4, ptr(buf), ptr(buf), ptr(buf)) != 0


# ---- mean_hw -----------------------------------------------------------------------------------

def test_mean_hw_s8(tl):
    rng = np.random.default_rng(37)
    for case in range(N_CASES):
        c, h, w_ = int(rng.integers(1, 40)), int(rng.integers(1, 12)), int(rng.integers(1, 12))
        if case % 7 == 0:
            h, w_ = int(rng.integers(30, 70)), int(rng.integers(30, 70))
        sx, sy = (float(v) for v in np.exp(rng.uniform(-5, 0, 2)))
        a = dict(x_zero=int(rng.integers(-128, 128)), y_scale=sy,
                 y_zero=int(rng.integers(-128, 128)), **mean_params(sx, sy, h * w_))
        x = rng.integers(-128, 128, (1, c, h, w_)).astype(np.int8)
        want = ref("mean_hw", [x], a)[0]
        y = np.zeros(c, np.int8)
        ok(tl.mct_mean_hw_s8(h * w_, c, a["x_zero"], a["y_zero"], a["mult"], a["shift"],
                             ptr(to_hwc(x)), ptr(y)))
        assert_exact(y.reshape(1, c, 1, 1), want, f"mean_hw {h}x{w_}x{c} {a}")


# ---- softmax_s8 --------------------------------------------------------------------------------

def test_softmax_s8(tl):
    rng = np.random.default_rng(41)
    for case in range(N_CASES):
        rows, k = int(rng.integers(1, 4)), int(rng.integers(1, 300 if case % 5 else 4000))
        beta, s = float(rng.choice([1.0, 0.5, 2.0])), float(np.exp(rng.uniform(-5, -0.5)))
        a = gl.softmax_params(beta, s)
        x = rng.integers(-128, 128, (rows, k)).astype(np.int8)
        if case % 6 == 1:
            x[:] = int(rng.integers(-128, 128))  # all equal
        elif case % 6 == 2:
            x = rng.integers(-128, -100, (rows, k)).astype(np.int8)
            x[:, 0] = 127  # one dominant logit: the others fall below diff_min
        want = ref("softmax_s8", [x], a)[0]
        p = SoftmaxParams(a["input_multiplier"], a["input_left_shift"], a["diff_min"])
        y = np.zeros_like(x)
        ok(tl.mct_softmax_s8(byref(p), rows, k, ptr(x), ptr(y)))
        assert_exact(y, want, f"softmax rows {rows} k {k} {a}")
        ok(tl.mct_softmax_s8(byref(p), rows, k, ptr(x), ptr(x)))
        assert_exact(x, want, f"softmax rows {rows} k {k} in place")


# ---- the MLPerf Tiny models: every node with a TFLite kernel -------------------------------

MODELS = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
MODEL_FILES = sorted(MODELS.glob("*.tflite")) if MODELS.is_dir() else []


def run_node(tl, node, ins, out_shape):
    """The C kernel of one graph node on its reference inputs (NCHW batch 1 in and out)."""
    a, op = node.attrs, node.op
    if op == "conv2d":
        return run_conv(tl, ins[0], ins[1], ins[2], a)
    if op == "linear":
        y = np.zeros(out_shape[1], np.int8)
        ok(tl.mct_linear_s8_tflm(ins[1].shape[1], ins[1].shape[0], byref(requant(a)),
                                 ptr(arr(ins[0][0], np.int8)), ptr(arr(ins[1], np.int8)), None,
                                 ptr(arr(ins[2], np.int32)), ptr(y)))
        return y[None]
    if op == "add":
        a_, b_ = (to_hwc(v) if v.ndim == 4 else arr(v, np.int8) for v in ins)
        y = np.zeros_like(a_)
        ok(tl.mct_add_s8_tflm(byref(add_params(a)), a_.size, ptr(a_), ptr(b_), ptr(y)))
        return to_nchw(y) if ins[0].ndim == 4 else y
    x = ins[0]
    if op == "pad":
        g = PadGeom(x.shape[2], x.shape[3], x.shape[1], *a["pads"])
        y = np.zeros((out_shape[2], out_shape[3], out_shape[1]), np.int8)
        ok(tl.mct_pad_s8(byref(g), a["value"], ptr(to_hwc(x)), ptr(y)))
        return to_nchw(y)
    if op == "avgpool2d":
        g = PoolGeom(x.shape[2], x.shape[3], x.shape[1], out_shape[2], out_shape[3],
                     *a["kernel"], *a["stride"], *a["pads"])
        y = np.zeros((out_shape[2], out_shape[3], out_shape[1]), np.int8)
        ok(tl.mct_avgpool2d_s8(byref(g), a.get("act_min", -128), a.get("act_max", 127),
                               ptr(to_hwc(x)), ptr(y)))
        return to_nchw(y)
    if op == "mean_hw":
        y = np.zeros(x.shape[1], np.int8)
        ok(tl.mct_mean_hw_s8(x.shape[2] * x.shape[3], x.shape[1], a["x_zero"], a["y_zero"],
                             a["mult"], a["shift"], ptr(to_hwc(x)), ptr(y)))
        return y.reshape(1, -1, 1, 1)
    if op == "softmax_s8":
        p = SoftmaxParams(a["input_multiplier"], a["input_left_shift"], a["diff_min"])
        y = np.zeros_like(arr(x, np.int8))
        ok(tl.mct_softmax_s8(byref(p), int(np.prod(x.shape[:-1])), x.shape[-1], ptr(arr(x, np.int8)),
                             ptr(y)))
        return y
    return None


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_mlperf_tiny_layers(tl, path):
    pytest.importorskip("tflite_micro")
    from mcutrain.frontend.tflite import load_tflite
    from mcutrain.ref.interp import run

    g = load_tflite(path)
    rng = np.random.default_rng(3)
    x0 = g.values[g.inputs[0]]
    env = dict(g.consts)
    feed = {g.inputs[0]: rng.integers(-128, 128, x0.shape).astype(np.int8)}
    env.update(run(g, feed, outputs=[o for n in g.nodes for o in n.outputs], keep_all=True))
    checked = set()
    for node in g.nodes:
        ins = [env[v] for v in node.inputs]
        if any(np.asarray(v).dtype != np.int8 for v in ins[:1]):
            continue
        want = env[node.outputs[0]]
        got = run_node(tl, node, ins, want.shape)
        if got is None:
            continue
        assert_exact(got, want, f"{path.stem}: {node.op} -> %{node.outputs[0]}")
        checked.add(node.op)
    kernels = {"conv2d", "linear", "add", "pad", "avgpool2d", "mean_hw", "softmax_s8"}
    assert checked == {n.op for n in g.nodes} & kernels, checked


if not MODEL_FILES:
    def test_mlperf_tiny_layers():  # noqa: F811
        pytest.skip(f"no MLPerf Tiny models in {MODELS}")
