"""mct_expand_dw_s8_rows (runtime/src/stream.c): expansion + depthwise streamed by rows, with
its output overlapping its consumed input by the compile-time gap, against the reference."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from mcutrain.passes.inplace import expand_rows_gap

from .conftest import assert_exact, byref, conv_geom, ptr, ref, requant, to_hwc, to_nchw
from .inplace_helpers import Arena, bind, conv_case
from .test_inplace import EXPAND

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def slib(lib):
    bind(lib)
    fn = lib.mct_expand_dw_s8_rows
    fn.restype = ctypes.c_int32
    fn.argtypes = [ctypes.c_void_p] * 12
    return lib


def work_bytes(ow, e, kh, kw):
    return (ow * e + kh * kw * e + 15) // 16 * 16 + 4 * e


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [s for s in EXPAND if s[6] == 1],
                         ids=lambda s: "_".join(map(str, s)))
def test_expand_dw_rows_over_its_input(slib, shape, seed):
    c, e, hw, k, s, p, _ = shape
    rng = np.random.default_rng(seed * 977 + EXPAND.index(shape))
    x, w1, b1, a1 = conv_case(rng, c, e, hw, 1, 1, 0, 1)
    mid = ref("conv2d", [x, w1, b1], a1)[0]
    _, w2, b2, a2 = conv_case(rng, e, e, hw, k, s, p, e)
    a2 = dict(a2, x_zero=a1["y_zero"])
    want = ref("expand_depthwise", [x, w1, b1, w2, b2], dict(pw=a1, dw=a2))[0]
    g1, g2 = conv_geom(x.shape, w1.shape, a1), conv_geom(mid.shape, w2.shape, a2)
    q1, q2 = requant(a1), requant(a2)
    gap = expand_rows_gap((hw[0], hw[1], c), e, (g2.out_h, g2.out_w), k, s, p)
    out_bytes = g2.out_h * g2.out_w * e
    buf = Arena(max(gap + x.size, out_bytes), rng)
    buf.put(gap, to_hwc(x))
    ring = Arena(k * hw[1] * e, rng)
    work = Arena(work_bytes(g2.out_w, e, k, k), rng)
    rc = slib.mct_expand_dw_s8_rows(byref(g1), byref(q1), ptr(w1), ptr(b1), byref(g2), byref(q2),
                                    ptr(w2), ptr(b2), buf.ptr(gap), buf.ptr(0), ring.ptr(), work.ptr())
    assert rc == 0
    assert_exact(to_nchw(buf.view(0, np.int8, (g2.out_h, g2.out_w, e))), want, "streamed expand_dw")
    assert buf.guards_intact() and ring.guards_intact() and work.guards_intact()
