"""The memory-saving conv kernels' _tflm twins (mct_tflm.h: TFLite Micro's requantization in
the loops of inplace.c and stream.c) against the reference conv2d with rounding="tflm", on
random geometries, each in the one-buffer layout of its in-place contract with guarded
scratch of exactly the documented size (tests/c/inplace_helpers.Arena)."""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from mcutrain.passes.inplace import conv_rows_gap, expand_rows_gap

from .conftest import G, Q, W, assert_exact, byref, conv_geom, ptr, ref, requant, to_hwc, to_nchw
from .inplace_helpers import Arena, conv_case

vp = C.c_void_p
N_CASES = 60
SIGNATURES = {
    "mct_pointwise_s8_inplace_tflm": [G, Q, vp, vp, W, vp, vp],
    "mct_depthwise_s8_inplace_tflm": [G, Q, vp, vp, W, vp, vp],
    "mct_conv2d_s8_rows_tflm": [G, Q, vp, vp, W, vp, vp, vp],
    "mct_expand_dw_s8_tflm": [G, Q, vp, vp, G, Q, vp, vp, vp, vp, vp],
    "mct_expand_dw_s8_rows_tflm": [G, Q, vp, vp, G, Q, vp, vp, vp, vp, vp, vp],
}


@pytest.fixture(scope="module")
def tl(lib):
    for name, args in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = C.c_int32, args
    return lib


def tflm_case(rng, c, o, hw, k, s, p, groups):
    x, w, bias, attrs = conv_case(rng, c, o, hw, k, s, p, groups)
    return x, w, bias, dict(attrs, rounding="tflm")


def window(rng):
    """(hw, kernel, stride, padding): non-square kernels, strides 1-3, padding below the
    kernel, maps down to one pixel."""
    k = tuple(int(v) for v in rng.integers(1, 6, 2))
    s = tuple(int(v) for v in rng.integers(1, 4, 2))
    p = tuple(int(rng.integers(0, kk)) for kk in k)
    hw = tuple(int(rng.integers(max(1, kk - 2 * pp), 10)) for kk, pp in zip(k, p))
    return hw, k, s, p


def test_pointwise_inplace_tflm(tl):
    rng = np.random.default_rng(101)
    for _ in range(N_CASES):
        c, o = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        hw = tuple(int(v) for v in rng.integers(1, 8, 2))
        x, w, bias, attrs = tflm_case(rng, c, o, hw, 1, 1, 0, 1)
        want = ref("conv2d", [x, w, bias], attrs)[0]
        buf, tmp = Arena(hw[0] * hw[1] * max(c, o), rng), Arena(c, rng)
        buf.put(0, to_hwc(x))
        assert tl.mct_pointwise_s8_inplace_tflm(
            byref(conv_geom(x.shape, w.shape, attrs)), byref(requant(attrs)), buf.ptr(), ptr(w),
            None, ptr(bias), tmp.ptr()) == 0
        assert_exact(to_nchw(buf.view(0, np.int8, hw + (o,))), want, f"pointwise {c}->{o} {hw}")
        assert buf.guards_intact() and tmp.guards_intact()


def test_depthwise_inplace_tflm(tl):
    rng = np.random.default_rng(102)
    for _ in range(N_CASES):
        hw, k, s, p = window(rng)
        c = int(rng.integers(1, 20))
        x, w, bias, attrs = tflm_case(rng, c, c, hw, k, s, p, c)
        want = ref("conv2d", [x, w, bias], attrs)[0]
        g = conv_geom(x.shape, w.shape, attrs)
        buf = Arena(c * max(hw[0] * hw[1], g.out_h * g.out_w), rng)
        tmp = Arena(g.out_h * g.out_w, rng)
        buf.put(0, to_hwc(x))
        assert tl.mct_depthwise_s8_inplace_tflm(byref(g), byref(requant(attrs)), buf.ptr(),
                                                ptr(w), None, ptr(bias), tmp.ptr()) == 0
        assert_exact(to_nchw(buf.view(0, np.int8, (g.out_h, g.out_w, c))), want,
                     f"depthwise {c} {hw} k{k} s{s} p{p}")
        assert buf.guards_intact() and tmp.guards_intact()


def test_conv2d_rows_tflm(tl):
    rng = np.random.default_rng(103)
    for case in range(N_CASES):
        hw, k, s, p = window(rng)
        c = int(rng.integers(1, 12))
        dw = case % 3 == 0
        o = c * int(rng.integers(1, 3)) if dw else int(rng.integers(1, 12))
        x, w, bias, attrs = tflm_case(rng, c, o, hw, k, s, p, c if dw else 1)
        want = ref("conv2d", [x, w, bias], attrs)[0]
        g = conv_geom(x.shape, w.shape, attrs)
        gap = conv_rows_gap((g.in_h, g.in_w, c), (g.out_h, g.out_w, o), g.stride_h, g.pad_h)
        buf = Arena(max(gap + x.size, g.out_h * g.out_w * o), rng)
        tmp = Arena(g.out_w * o, rng)
        buf.put(gap, to_hwc(x))
        assert tl.mct_conv2d_s8_rows_tflm(byref(g), byref(requant(attrs)), buf.ptr(gap), ptr(w),
                                          None, ptr(bias), buf.ptr(0), tmp.ptr()) == 0
        assert_exact(to_nchw(buf.view(0, np.int8, (g.out_h, g.out_w, o))), want,
                     f"rows {c}->{o} {hw} k{k} s{s} p{p} gap {gap}")
        assert buf.guards_intact() and tmp.guards_intact()


def expand_case(rng, m):
    """x, the expansion's and the depthwise conv's (w, b, attrs), the fused reference."""
    hw, k, s, p = window(rng)
    c, e = int(rng.integers(1, 10)), int(rng.integers(1, 14))
    x, w1, b1, a1 = tflm_case(rng, c, e, hw, 1, 1, 0, 1)
    _, w2, b2, a2 = tflm_case(rng, e, e * m, hw, k, s, p, e)
    a2 = dict(a2, x_zero=a1["y_zero"])  # the depthwise conv reads the expansion's output
    want = ref("expand_depthwise", [x, w1, b1, w2, b2], dict(pw=a1, dw=a2))[0]
    mid_shape = (1, e) + hw
    g1, g2 = conv_geom(x.shape, w1.shape, a1), conv_geom(mid_shape, w2.shape, a2)
    return x, (w1, b1, a1, g1), (w2, b2, a2, g2), want


def test_expand_dw_tflm(tl):
    rng = np.random.default_rng(104)
    for case in range(N_CASES):
        x, (w1, b1, a1, g1), (w2, b2, a2, g2), want = expand_case(rng, 1 + case % 3)
        y = Arena(g2.out_h * g2.out_w * g2.out_c, rng)
        tmp = Arena(g1.in_h * g1.in_w, rng)
        assert tl.mct_expand_dw_s8_tflm(byref(g1), byref(requant(a1)), ptr(w1), ptr(b1),
                                        byref(g2), byref(requant(a2)), ptr(w2), ptr(b2),
                                        ptr(to_hwc(x)), y.ptr(), tmp.ptr()) == 0
        assert_exact(to_nchw(y.view(0, np.int8, (g2.out_h, g2.out_w, g2.out_c))), want,
                     f"expand_dw case {case}")
        assert y.guards_intact() and tmp.guards_intact()


def test_expand_dw_rows_tflm(tl):
    rng = np.random.default_rng(105)
    for case in range(N_CASES):
        x, (w1, b1, a1, g1), (w2, b2, a2, g2), want = expand_case(rng, 1)
        e, kh, kw = g1.out_c, g2.k_h, g2.k_w
        gap = expand_rows_gap((g1.in_h, g1.in_w, g1.in_c), e, (g2.out_h, g2.out_w), kh,
                              g2.stride_h, g2.pad_h)
        buf = Arena(max(gap + x.size, g2.out_h * g2.out_w * e), rng)
        ring = Arena(kh * g1.in_w * e, rng)
        work = Arena((g2.out_w * e + kh * kw * e + 15) // 16 * 16 + 4 * e, rng)
        buf.put(gap, to_hwc(x))
        assert tl.mct_expand_dw_s8_rows_tflm(
            byref(g1), byref(requant(a1)), ptr(w1), ptr(b1), byref(g2), byref(requant(a2)),
            ptr(w2), ptr(b2), buf.ptr(gap), buf.ptr(0), ring.ptr(), work.ptr()) == 0
        assert_exact(to_nchw(buf.view(0, np.int8, (g2.out_h, g2.out_w, e))), want,
                     f"expand_dw rows case {case} gap {gap}")
        assert buf.guards_intact() and ring.guards_intact() and work.guards_intact()
