"""The in-place kernels (runtime/src/inplace*.c) against the NumPy reference.

Every kernel runs in ONE buffer laid out as the in-place contract of mct.h says (same base
address, or y `conv_rows_gap` bytes before x), framed by guard bytes, with scratch of exactly
the documented size (also guarded). Integer outputs must equal the reference op bit for bit,
float outputs within 1e-5 relative (max-norm). Arrays are NCHW for the references and HWC for
the kernels. The `lib` fixture runs every test on the host build (AVX2 paths) and on the
portable build (pure C); the shapes include channel counts that exercise the vector blocks,
their remainders and the geometries where the vector paths hand over to the C loops.
"""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.ops.common import pair
from mcutrain.passes.inplace import conv_rows_gap

from .conftest import (assert_exact, assert_rel, byref, conv_geom, ptr, ref, requant,
                       split_weights, to_hwc, to_nchw, wsplit)
from .inplace_helpers import Arena, bind, conv_case, random_sel

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def ilib(lib):
    return bind(lib)


def _ws(rng, w, depthwise, split):
    """(weights for the kernel, mct_wsplit or None); the reference keeps the whole w."""
    if not split:
        return w, None
    sel = random_sel(rng, w.shape[0] if depthwise else w.shape[1])
    frozen, wt = split_weights(w, sel, depthwise)
    return frozen, wsplit(wt, sel)


# ---- pointwise in place --------------------------------------------------------------------

# (in_c, out_c, (h, w)): shrink, expand, equal, odd and SIMD-sized channel counts
POINTWISE = [(24, 16, (5, 5)), (16, 24, (5, 5)), (8, 8, (3, 3)), (1, 7, (3, 4)), (3, 1, (6, 2)),
             (37, 13, (7, 3)), (13, 37, (4, 5)), (96, 64, (6, 6)), (64, 96, (4, 7)),
             (40, 41, (3, 3)), (41, 40, (3, 3)), (20, 264, (2, 3)), (264, 20, (2, 2))]


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", POINTWISE, ids=lambda s: f"{s[0]}to{s[1]}_{s[2][0]}x{s[2][1]}")
def test_pointwise_s8_inplace(ilib, shape, seed, split):
    c, o, hw = shape
    rng = np.random.default_rng(seed * 1000 + c * 37 + o)
    x, w, bias, attrs = conv_case(rng, c, o, hw, 1, 1, 0, 1)
    want = ref("conv2d", [x, w, bias], attrs)[0]
    wk, ws = _ws(rng, w, False, split)
    g, q = conv_geom(x.shape, w.shape, attrs), requant(attrs)
    h, w_ = hw
    buf = Arena(h * w_ * max(c, o), rng)
    buf.put(0, to_hwc(x))
    tmp = Arena(c, rng)
    rc = ilib.mct_pointwise_s8_inplace(byref(g), byref(q), buf.ptr(), ptr(wk), byref(ws),
                                       ptr(bias), tmp.ptr())
    assert rc == 0
    assert_exact(to_nchw(buf.view(0, np.int8, (h, w_, o))), want, "pointwise in place")
    assert buf.guards_intact() and tmp.guards_intact()


# ---- depthwise in place --------------------------------------------------------------------

# (channels, (h, w), kernel, stride, padding)
DEPTHWISE = [(12, (6, 6), 3, 1, 1), (7, (8, 8), 3, 2, 1), (7, (9, 9), 3, 2, 1),
             (5, (5, 6), 3, 1, 0), (4, (7, 6), 5, 1, 2), (6, (7, 7), 7, 1, 3),
             (3, (10, 9), 7, 2, 3), (5, (11, 13), 5, 2, 2), (2, (3, 3), 1, 1, 2),
             (3, (6, 7), (3, 1), (1, 2), (1, 0)), (8, (9, 9), (1, 3), (2, 1), (0, 1)),
             (16, (5, 70), 3, 1, 1), (9, (4, 133), 3, 2, 1),
             # channel blocks of the vectorized paths (16, 8, and a scalar remainder)
             (24, (9, 9), 3, 1, 1), (40, (8, 8), 3, 2, 1), (19, (7, 7), 5, 1, 2),
             (32, (6, 21), 7, 2, 3), (16, (3, 3), 1, 1, 2), (8, (6, 5), 3, 1, 0),
             (8, (8, 150), 7, 1, 3), (8, (9, 2), 2, 2, 2)]


def _dw_id(s):
    c, hw, k, st, p = s
    return f"c{c}_{hw[0]}x{hw[1]}_k{k}_s{st}_p{p}".replace(" ", "")


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", DEPTHWISE, ids=_dw_id)
def test_depthwise_s8_inplace(ilib, shape, seed, split):
    c, hw, k, s, p = shape
    rng = np.random.default_rng(seed * 1000 + DEPTHWISE.index(shape))
    x, w, bias, attrs = conv_case(rng, c, c, hw, k, s, p, c)
    want = ref("conv2d", [x, w, bias], attrs)[0]
    wk, ws = _ws(rng, w, True, split)
    g, q = conv_geom(x.shape, w.shape, attrs), requant(attrs)
    h, w_ = hw
    buf = Arena(c * max(h * w_, g.out_h * g.out_w), rng)
    buf.put(0, to_hwc(x))
    tmp = Arena(g.out_h * g.out_w, rng)
    rc = ilib.mct_depthwise_s8_inplace(byref(g), byref(q), buf.ptr(), ptr(wk), byref(ws),
                                       ptr(bias), tmp.ptr())
    assert rc == 0
    assert_exact(to_nchw(buf.view(0, np.int8, (g.out_h, g.out_w, c))), want, "depthwise in place")
    assert buf.guards_intact() and tmp.guards_intact()


# ---- row by row ----------------------------------------------------------------------------

# (in_c, out_c, (h, w), kernel, stride, padding, groups); "dw" = depthwise (groups = in_c)
ROWS = [(3, 8, (8, 8), 3, 1, 1, 1), (5, 6, (8, 8), 3, 2, 1, 1), (5, 6, (9, 7), 3, 2, 1, 1),
        (4, 3, (6, 5), 3, 1, 0, 1), (3, 4, (7, 7), 5, 1, 2, 1), (2, 3, (9, 10), 7, 2, 3, 1),
        (3, 5, (6, 7), (3, 1), (1, 2), (1, 0), 1), (8, 5, (7, 7), 1, 2, 0, 1),
        (6, 4, (3, 3), 1, 1, 1, 1), (3, 4, (3, 3), 1, 1, 2, 1), (16, 32, (6, 6), 3, 1, 1, 1),
        (32, 8, (8, 8), 3, 1, 1, 1), (7, 9, (5, 5), 2, 2, 0, 1), (1, 9, (5, 5), 3, 1, 1, 1),
        (5, 13, (6, 6), 3, 1, 1, 1), (8, 16, (7, 7), 1, 2, 0, 1), (3, 264, (3, 3), 3, 1, 1, 1),
        (12, 12, (6, 6), 3, 1, 1, "dw"),
        (4, 8, (5, 5), 3, 1, 1, "dw"), (3, 3, (10, 9), 7, 2, 3, "dw")]


def _rows_id(s):
    c, o, hw, k, st, p, grp = s
    return f"{c}to{o}_{hw[0]}x{hw[1]}_k{k}_s{st}_p{p}_{grp}".replace(" ", "")


def run_rows(ilib, x, w, bias, attrs, gap, ws=None, rng=None):
    """Run mct_conv2d_s8_rows with y at offset 0 and x at offset `gap` of one buffer; return
    the output (NCHW) and whether the guards held."""
    g, q = conv_geom(x.shape, w.shape, attrs), requant(attrs)
    xh = to_hwc(x)
    out_bytes = g.out_h * g.out_w * g.out_c
    buf = Arena(max(gap + xh.size, out_bytes), rng)
    buf.put(gap, xh)
    tmp = Arena(g.out_w * g.out_c, rng)
    rc = ilib.mct_conv2d_s8_rows(byref(g), byref(q), buf.ptr(gap), ptr(w), byref(ws),
                                 ptr(bias), buf.ptr(0), tmp.ptr())
    assert rc == 0
    y = to_nchw(buf.view(0, np.int8, (g.out_h, g.out_w, g.out_c)))
    return y, buf.guards_intact() and tmp.guards_intact()


def _rows_case(shape, seed):
    c, o, hw, k, s, p, grp = shape
    grp = c if grp == "dw" else grp
    rng = np.random.default_rng(seed * 1000 + ROWS.index(shape))
    x, w, bias, attrs = conv_case(rng, c, o, hw, k, s, p, grp)
    g = conv_geom(x.shape, w.shape, attrs)
    gap = conv_rows_gap((g.in_h, g.in_w, g.in_c), (g.out_h, g.out_w, g.out_c), g.stride_h, g.pad_h)
    return rng, x, w, bias, attrs, gap


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", ROWS, ids=_rows_id)
def test_conv2d_s8_rows(ilib, shape, seed, split):
    rng, x, w, bias, attrs, gap = _rows_case(shape, seed)
    want = ref("conv2d", [x, w, bias], attrs)[0]
    wk, ws = _ws(rng, w, attrs["groups"] > 1, split)
    got, guards = run_rows(ilib, x, wk, bias, attrs, gap, ws, rng)
    assert_exact(got, want, f"rows (gap {gap})")
    assert guards
    if seed == 0 and not split:  # more room than needed is fine too, and so is no overlap
        for extra in (3, x.size):
            got, guards = run_rows(ilib, x, wk, bias, attrs, gap + extra, ws, rng)
            assert_exact(got, want, f"rows (gap {gap} + {extra})")
            assert guards


def min_safe_gap(in_hwc, out_hwc, kernel, stride, padding) -> int:
    """The smallest gap for which no output row r overwrites an input byte that a later output
    row reads, found by listing what each row reads (the brute-force form of the rule)."""
    (ih, iw, ic), (oh, ow, oc) = in_hwc, out_hwc
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    cols = [ow_ * sw - pw + j for ow_ in range(ow) for j in range(kw)]
    cols = [cc for cc in cols if 0 <= cc < iw]
    first = []  # first input byte each output row reads (None: only padding)
    for r in range(oh):
        rows = [r * sh - ph + i for i in range(kh) if 0 <= r * sh - ph + i < ih]
        first.append(min(rows) * iw * ic + min(cols) * ic if rows and cols else None)
    gap = 0
    for r in range(oh - 1):
        later = [f for f in first[r + 1:] if f is not None]
        if later:
            gap = max(gap, (r + 1) * ow * oc - min(later))
    return gap


@pytest.mark.parametrize("seed", range(4))
def test_conv_rows_gap_is_safe(seed):
    """conv_rows_gap >= the brute-force minimum on random geometries; equal unless some
    output rows read only padding (then the formula is conservative, never unsafe)."""
    rng = np.random.default_rng(seed)
    for _ in range(300):
        k, s = (int(v) for v in rng.integers(1, 8, 2))
        p = int(rng.integers(0, k + 1))
        h, w_ = (int(v) for v in rng.integers(1, 12, 2))
        if h + 2 * p < k or w_ + 2 * p < k:
            continue
        ic, oc = (int(v) for v in rng.integers(1, 20, 2))
        oh, ow = (h + 2 * p - k) // s + 1, (w_ + 2 * p - k) // s + 1
        formula = conv_rows_gap((h, w_, ic), (oh, ow, oc), s, p)
        brute = min_safe_gap((h, w_, ic), (oh, ow, oc), k, s, p)
        assert formula >= brute, (h, w_, ic, oc, k, s, p)
        if p < k and (oh - 1) * s - p < h:  # every output row reads some input
            assert formula == brute, (h, w_, ic, oc, k, s, p)


def _tight(shape) -> bool:
    """Cases where some gap is needed and conv_rows_gap is the exact minimum."""
    c, o, (h, w_), k, s, p, _ = shape
    (kh, kw), (sh, sw), (ph, pw) = pair(k), pair(s), pair(p)
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w_ + 2 * pw - kw) // sw + 1
    gap = conv_rows_gap((h, w_, c), (oh, ow, o), sh, ph)
    return gap > 0 and gap == min_safe_gap((h, w_, c), (oh, ow, o), k, s, p)


GAP_CASES = [s for s in ROWS if _tight(s)]


@pytest.mark.parametrize("shape", GAP_CASES, ids=_rows_id)
def test_conv2d_s8_rows_smaller_gap_is_wrong(ilib, shape):
    """conv_rows_gap is tight here: one byte less lets an output row overwrite an input byte a
    later output row still reads, which shows in the result for at least one seed."""
    wrong = 0
    for seed in range(4):
        _, x, w, bias, attrs, gap = _rows_case(shape, seed)
        assert gap > 0, "the case must need a gap"
        want = ref("conv2d", [x, w, bias], attrs)[0]
        got, _ = run_rows(ilib, x, w, bias, attrs, gap - 1)
        wrong += not np.array_equal(got, want)
    assert wrong > 0, f"gap {gap} - 1 still gave the right result for every seed"


def test_conv_rows_gap_formula():
    """The formula of mct.h on a few hand-checked geometries."""
    # 3x3 s1 p1, 3 -> 8 channels, 8x8: output row 0 (64 B) must not reach input row 0
    assert conv_rows_gap((8, 8, 3), (8, 8, 8), 1, 1) == max(
        (r + 1) * 64 - max(0, r) * 24 for r in range(7))
    # stride 2 shrink: every output row lands on input rows already consumed
    assert conv_rows_gap((8, 8, 8), (4, 4, 8), 2, 1) == 0
    assert conv_rows_gap((1, 5, 4), (1, 5, 4), 1, 0) == 0  # one output row: nothing to protect


# ---- expansion fused into the depthwise conv -------------------------------------------------

# (in_c, expanded, (h, w), dw kernel, stride, padding, multiplier)
EXPAND = [(8, 24, (6, 6), 3, 1, 1, 1), (16, 48, (9, 9), 3, 2, 1, 1), (3, 5, (7, 6), 5, 1, 2, 1),
          (5, 7, (10, 9), 7, 2, 3, 1), (4, 12, (6, 70), 3, 1, 1, 1), (17, 9, (5, 5), 3, 2, 0, 1),
          (4, 6, (5, 5), 3, 1, 1, 2), (1, 3, (3, 3), 1, 1, 1, 1), (6, 16, (5, 7), 3, 1, 1, 1),
          (7, 19, (6, 6), 5, 2, 2, 1), (24, 40, (4, 4), 7, 1, 3, 1), (3, 8, (2, 9), 3, 2, 1, 1)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", EXPAND, ids=lambda s: "_".join(map(str, s)).replace(" ", ""))
def test_expand_dw_s8(ilib, shape, seed):
    c, e, hw, k, s, p, m = shape
    rng = np.random.default_rng(seed * 1000 + EXPAND.index(shape))
    x, w1, b1, a1 = conv_case(rng, c, e, hw, 1, 1, 0, 1)
    mid = ref("conv2d", [x, w1, b1], a1)[0]
    _, w2, b2, a2 = conv_case(rng, e, e * m, hw, k, s, p, e)
    a2 = dict(a2, x_zero=a1["y_zero"])  # the depthwise conv reads the expansion's output
    want = ref("expand_depthwise", [x, w1, b1, w2, b2], dict(pw=a1, dw=a2))[0]
    assert_exact(want, ref("conv2d", [mid, w2, b2], a2)[0], "fused reference")
    g1, g2 = conv_geom(x.shape, w1.shape, a1), conv_geom(mid.shape, w2.shape, a2)
    q1, q2 = requant(a1), requant(a2)
    xa = Arena(x.size, rng)
    xa.put(0, to_hwc(x))
    y = Arena(g2.out_h * g2.out_w * g2.out_c, rng)
    tmp = Arena(hw[0] * hw[1], rng)
    rc = ilib.mct_expand_dw_s8(byref(g1), byref(q1), ptr(w1), ptr(b1), byref(g2), byref(q2),
                               ptr(w2), ptr(b2), xa.ptr(), y.ptr(), tmp.ptr())
    assert rc == 0
    assert_exact(to_nchw(y.view(0, np.int8, (g2.out_h, g2.out_w, g2.out_c))), want, "expand_dw")
    assert_exact(to_nchw(xa.view(0, np.int8, to_hwc(x).shape)), x, "x left alone")
    assert xa.guards_intact() and y.guards_intact() and tmp.guards_intact()


# ---- in-place input gradients ----------------------------------------------------------------

def _grad_case(rng, c_in, c_out, hw_out, kshape, depthwise, scaled):
    """Output gradient (NCHW float32, a third zeros as after a ReLU mask), int8 weights and
    per-output-channel w_scale (or None)."""
    gy = rng.standard_normal((1, c_out) + hw_out).astype(np.float32)
    gy[rng.random(gy.shape) < 0.3] = 0.0
    w = rng.integers(-127, 128, (c_out, 1 if depthwise else c_in) + kshape).astype(np.int8)
    w_scale = tuple(float(v) for v in rng.uniform(1e-3, 2e-2, c_out)) if scaled else None
    return gy, w, w_scale


@pytest.mark.parametrize("scaled", [True, False])
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("seed", (0, 1))
@pytest.mark.parametrize("shape", POINTWISE, ids=lambda s: f"{s[0]}to{s[1]}_{s[2][0]}x{s[2][1]}")
def test_pointwise_grad_input_f32_inplace(ilib, shape, seed, split, scaled):
    c, o, hw = shape
    rng = np.random.default_rng(seed * 1000 + c * 37 + o)
    gy, w, w_scale = _grad_case(rng, c, o, hw, (1, 1), False, scaled)
    attrs = dict(stride=(1, 1), padding=(0, 0), groups=1, in_hw=hw, w_scale=w_scale)
    want = ref("conv2d_grad_input", [gy, w], attrs)[0]
    wk, ws = _ws(rng, w, False, split)
    g = conv_geom((1, c) + hw, w.shape, dict(stride=(1, 1), padding=(0, 0), groups=1))
    h, w_ = hw
    buf = Arena(4 * h * w_ * max(c, o), rng)
    buf.put(0, to_hwc(gy))
    tmp = Arena(4 * o, rng)
    sc = None if w_scale is None else np.asarray(w_scale, np.float32)
    rc = ilib.mct_pointwise_grad_input_f32_inplace(byref(g), buf.ptr(), ptr(wk), byref(ws),
                                                   ptr(sc), tmp.ptr())
    assert rc == 0
    assert_rel(to_nchw(buf.view(0, np.float32, (h, w_, c))), want, 1e-5, "pointwise grad in place")
    assert buf.guards_intact() and tmp.guards_intact()


@pytest.mark.parametrize("scaled", [True, False])
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("seed", (0, 1))
@pytest.mark.parametrize("shape", DEPTHWISE, ids=_dw_id)
def test_depthwise_grad_input_f32_inplace(ilib, shape, seed, split, scaled):
    c, hw, k, s, p = shape
    rng = np.random.default_rng(seed * 1000 + DEPTHWISE.index(shape))
    geo = dict(stride=pair(s), padding=pair(p), groups=c)
    g = conv_geom((1, c) + hw, (c, 1) + pair(k), geo)
    gy, w, w_scale = _grad_case(rng, c, c, (g.out_h, g.out_w), pair(k), True, scaled)
    want = ref("conv2d_grad_input", [gy, w], dict(geo, in_hw=hw, w_scale=w_scale))[0]
    wk, ws = _ws(rng, w, True, split)
    nin, nout = hw[0] * hw[1], g.out_h * g.out_w
    buf = Arena(4 * c * max(nin, nout), rng)
    buf.put(0, to_hwc(gy))
    tmp = Arena(4 * (nout + nin), rng)
    sc = None if w_scale is None else np.asarray(w_scale, np.float32)
    rc = ilib.mct_depthwise_grad_input_f32_inplace(byref(g), buf.ptr(), ptr(wk), byref(ws),
                                                   ptr(sc), tmp.ptr())
    assert rc == 0
    assert_rel(to_nchw(buf.view(0, np.float32, hw + (c,))), want, 1e-5, "depthwise grad in place")
    assert buf.guards_intact() and tmp.guards_intact()


def _random_dw_geometry(rng):
    while True:
        k = int(rng.integers(1, 8))
        s, p = int(rng.integers(1, 4)), int(rng.integers(0, k + 1))
        h, w_ = (int(v) for v in rng.integers(1, 13, 2))
        if h + 2 * p >= k and w_ + 2 * p >= k:
            return int(rng.choice([8, 16, 19, 24])), (h, w_), k, s, p


@pytest.mark.parametrize("seed", range(3))
def test_depthwise_inplace_random_geometries(ilib, seed):
    """Forward and input gradient in place on random geometries (outputs larger or smaller
    than the inputs included): whichever order the kernels choose must stay correct."""
    rng = np.random.default_rng(seed + 77)
    for _ in range(60):
        c, hw, k, s, p = _random_dw_geometry(rng)
        x, w, bias, attrs = conv_case(rng, c, c, hw, k, s, p, c)
        g, q = conv_geom(x.shape, w.shape, attrs), requant(attrs)
        nin, nout = hw[0] * hw[1], g.out_h * g.out_w
        buf, tmp = Arena(c * max(nin, nout), rng), Arena(nout, rng)
        buf.put(0, to_hwc(x))
        assert ilib.mct_depthwise_s8_inplace(byref(g), byref(q), buf.ptr(), ptr(w), None,
                                             ptr(bias), tmp.ptr()) == 0
        what = f"depthwise c{c} {hw} k{k} s{s} p{p}"
        assert_exact(to_nchw(buf.view(0, np.int8, (g.out_h, g.out_w, c))),
                     ref("conv2d", [x, w, bias], attrs)[0], what)
        assert buf.guards_intact() and tmp.guards_intact(), what
        gy = rng.standard_normal((1, c, g.out_h, g.out_w)).astype(np.float32)
        sc = rng.uniform(1e-3, 2e-2, c)
        want = ref("conv2d_grad_input", [gy, w], dict(stride=(s, s), padding=(p, p), groups=c,
                                                      in_hw=hw, w_scale=tuple(sc)))[0]
        gbuf, gtmp = Arena(4 * c * max(nin, nout), rng), Arena(4 * (nin + nout), rng)
        gbuf.put(0, to_hwc(gy))
        assert ilib.mct_depthwise_grad_input_f32_inplace(
            byref(g), gbuf.ptr(), ptr(w), None, ptr(sc.astype(np.float32)), gtmp.ptr()) == 0
        assert_rel(to_nchw(gbuf.view(0, np.float32, hw + (c,))), want, 1e-5, "grad " + what)
        assert gbuf.guards_intact() and gtmp.guards_intact(), what


@pytest.mark.parametrize("kind", ["pointwise", "depthwise"])
def test_grad_inplace_same_floats_as_out_of_place(both_libs, kind):
    """The pure C in-place gradients sum in the order of mct_conv2d_grad_input_f32, so they
    give its floats exactly (and so does the AVX2 pointwise path)."""
    native, portable = (bind(lb) for lb in both_libs)
    rng = np.random.default_rng(5)
    cases = POINTWISE if kind == "pointwise" else DEPTHWISE
    for shape in cases[::2]:
        if kind == "pointwise":
            c, o, hw = shape
            geo = dict(stride=(1, 1), padding=(0, 0), groups=1)
            kshape = (1, 1)
        else:
            c, hw, k, st, pd = shape
            o, kshape = c, pair(k)
            geo = dict(stride=pair(st), padding=pair(pd), groups=c)
        g = conv_geom((1, c) + hw, (o, c if kind == "pointwise" else 1) + kshape, geo)
        gy, w, w_scale = _grad_case(rng, c, o, (g.out_h, g.out_w), kshape, kind == "depthwise",
                                    True)
        sc = np.asarray(w_scale, np.float32)
        gyh = to_hwc(gy)
        want = np.zeros(hw + (c,), np.float32)
        assert portable.mct_conv2d_grad_input_f32(byref(g), ptr(gyh), ptr(w), None, ptr(sc),
                                                  ptr(want)) == 0
        for lb in ((portable, native) if kind == "pointwise" else (portable,)):
            buf = np.zeros(max(gyh.size, want.size), np.float32)
            buf[:gyh.size] = gyh.ravel()
            n_tmp = o if kind == "pointwise" else g.out_h * g.out_w + hw[0] * hw[1]
            fn = getattr(lb, f"mct_{kind}_grad_input_f32_inplace")
            tmp = np.zeros(n_tmp, np.float32)
            assert fn(byref(g), ptr(buf), ptr(w), None, ptr(sc), ptr(tmp)) == 0
            assert np.array_equal(buf[:want.size].reshape(want.shape), want), (kind, shape)


# ---- argument checks -------------------------------------------------------------------------

def test_inplace_kernels_reject_bad_args(ilib):
    rng = np.random.default_rng(0)
    x, w, bias, attrs = conv_case(rng, 4, 4, (5, 5), 3, 1, 1, 1)
    g, q = conv_geom(x.shape, w.shape, attrs), requant(attrs)
    buf, tmp = Arena(4 * 100 * 4, rng), Arena(4 * 100, rng)
    args = (buf.ptr(), ptr(w), None, ptr(bias), tmp.ptr())
    assert ilib.mct_pointwise_s8_inplace(byref(g), byref(q), *args) == -1  # 3x3
    assert ilib.mct_depthwise_s8_inplace(byref(g), byref(q), *args) == -1  # groups 1
    assert ilib.mct_pointwise_grad_input_f32_inplace(byref(g), buf.ptr(), ptr(w), None, None,
                                                     tmp.ptr()) == -1
    g.groups = 2
    assert ilib.mct_conv2d_s8_rows(byref(g), byref(q), buf.ptr(), ptr(w), None, ptr(bias),
                                   buf.ptr(), tmp.ptr()) == -1  # grouped, not depthwise
    g.groups = 1
    g.out_h += 1
    assert ilib.mct_conv2d_s8_rows(byref(g), byref(q), buf.ptr(), ptr(w), None, ptr(bias),
                                   buf.ptr(), tmp.ptr()) == -1
    gd = conv_geom((1, 4, 5, 5), (8, 1, 3, 3), dict(stride=(1, 1), padding=(1, 1), groups=4))
    assert ilib.mct_depthwise_s8_inplace(byref(gd), byref(q), *args) == -1  # multiplier 2
    assert ilib.mct_depthwise_grad_input_f32_inplace(byref(gd), buf.ptr(), ptr(w), None, None,
                                                     tmp.ptr()) == -1
    gp = conv_geom((1, 4, 5, 5), (4, 4, 1, 1), dict(stride=(1, 1), padding=(0, 0), groups=1))
    bad = wsplit(w[:, [2, 1]], [2, 1])  # not ascending
    assert ilib.mct_pointwise_s8_inplace(byref(gp), byref(q), buf.ptr(), ptr(w), byref(bad),
                                         ptr(bias), tmp.ptr()) == -1
    assert buf.guards_intact() and tmp.guards_intact()
