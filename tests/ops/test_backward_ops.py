"""Backward of the int8 ops, and the parameter updates (sgd_update, round_master).

int8 conv2d / linear / add: our gradient rule (clamp_grad + the backward ops) against torch
autograd on a float emulation of the same integer op with straight-through rounding:
    acc_real = conv(x_real, w_real) + b_real    x_real = s_x (x - z_x), w_real = s_w w,
                                                 b_real = s_x s_w b
    y_int    = clamp(STE_round(acc * M) + y_zero)
               acc = acc_real / (s_x s_w[o]),   M = mult * 2^(shift - 31)
    y_real   = s_y (y_int - y_zero)
with the gradient passing only where act_min < y_int < act_max. Expected gradients (conv.py):
    gx = dL/dx_real;  gw_int = s_w[o] dL/dw_real;  gb_int = s_x s_w[o] dL/db_real.
"""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.ops.elementwise import int_add_attrs
from mcutrain.ops.optim import uniform01
from mcutrain.ops import fixedpoint as fp

from .conftest import (F32, I8, I32, Arg, QParams, assert_rel, conv_args, inp, make_int_conv,
                       make_int_linear, par, rand_i8, run_forward, run_with_grad)

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def ste_round(v):
    return v + (torch.round(v) - v).detach()


def emulate_requant(acc_real, y_ref, attrs, sx, sw, ch_axis=1):
    """y_real of the int8 output from the float accumulator, gradient masked at the clamp."""
    shape = [1] * acc_real.ndim
    shape[ch_axis] = -1
    eff = fp.multiplier_value(attrs["mult"], attrs["shift"])
    per = torch.tensor((eff / (sx * np.asarray(sw))).reshape(shape))
    y_pre = ste_round(acc_real * per) + attrs["y_zero"]
    y_fix = torch.tensor(y_ref.astype(np.float64))
    mask = torch.tensor((y_ref > attrs["act_min"]) & (y_ref < attrs["act_max"]))
    y_int = torch.where(mask, y_pre, y_fix)
    # the emulation reproduces the integer forward up to ties / float rounding
    emul = torch.clamp(y_pre.detach(), attrs["act_min"], attrs["act_max"]).numpy()
    assert np.max(np.abs(emul - y_ref)) <= 1
    assert np.mean(emul == y_ref) > 0.95
    return attrs["y_scale"] * (y_int - attrs["y_zero"]), mask.numpy()


def leaves(x, w, b, xq, wq):
    sx, zx = xq.s, xq.zero_point
    sw = np.asarray(wq.scale)
    bshape = (-1,) + (1,) * (w.ndim - 1)
    xr = torch.tensor((x.astype(np.float64) - zx) * sx, requires_grad=True)
    wr = torch.tensor(w.astype(np.float64) * sw.reshape(bshape), requires_grad=True)
    br = torch.tensor(b.astype(np.float64) * sx * sw, requires_grad=True)
    return xr, wr, br, sx, sw


def expected_int_grads(xr, wr, br, sx, sw):
    bshape = (-1,) + (1,) * (wr.ndim - 1)
    gx = xr.grad.numpy()
    gw = sw.reshape(bshape) * wr.grad.numpy()
    gb = sx * sw * br.grad.numpy()
    return gx, gw, gb


INT_CONV_GEOS = [  # (N, C, H, W, O, kernel, stride, padding, groups), act range
    ((2, 3, 6, 5, 4, 3, 1, 1, 1), (-128, 127)),
    ((1, 4, 7, 7, 3, 3, 2, 1, 1), (-128, 30)),
    ((1, 3, 5, 5, 2, 1, 1, 0, 1), (-128, 127)),
    ((1, 2, 8, 8, 3, 5, 2, 2, 1), (-10, 127)),
    ((2, 4, 6, 6, 4, 3, 1, 1, 4), (-128, 40)),     # depthwise
    ((1, 3, 7, 7, 3, 3, 2, 1, 3), (-128, 127)),    # depthwise stride 2
    ((1, 4, 6, 6, 6, 3, 1, 1, 2), (-128, 127)),    # grouped
    ((1, 8, 5, 5, 8, 3, 2, 1, 4), (-50, 50)),      # grouped 4
    ((1, 3, 6, 6, 6, 3, 1, 1, 3), (-128, 127)),    # depthwise multiplier 2
    ((1, 2, 6, 6, 6, 3, 2, 2, 2), (-128, 60)),     # depthwise multiplier 3
]


def conv_int_grads_vs_torch(geo, act, seed, chans=None):
    x, w, b, attrs, xq, wq = make_int_conv(geo, seed=seed, act=act)
    rng = np.random.default_rng(seed + 100)
    y_ref = run_forward("conv2d", conv_args(x, w, b, xq, wq), attrs)[0]
    gy = rng.standard_normal(y_ref.shape).astype(np.float32)
    (y,), (gx, gw, gb) = run_with_grad("conv2d", conv_args(x, w, b, xq, wq), attrs, gy,
                                       channels=chans)
    np.testing.assert_array_equal(y, y_ref)
    xr, wr, br, sx, sw = leaves(x, w, b, xq, wq)
    acc_real = F.conv2d(xr, wr, br, stride=_pair(geo[6]), padding=_pair(geo[7]), groups=geo[8])
    y_real, mask = emulate_requant(acc_real, y_ref.astype(np.int64), attrs, sx, sw)
    (y_real * torch.tensor(gy, dtype=torch.float64)).sum().backward()
    egx, egw, egb = expected_int_grads(xr, wr, br, sx, sw)
    return (gx, gw, gb), (egx, egw, egb), mask


@pytest.mark.parametrize("geo,act", INT_CONV_GEOS, ids=str)
def test_conv2d_int8_backward(geo, act):
    (gx, gw, gb), (egx, egw, egb), mask = conv_int_grads_vs_torch(geo, act, seed=1)
    assert mask.any()
    assert_rel(gx, egx, what="int conv dx_real")
    assert_rel(gw, egw, what="int conv dw_int")
    assert_rel(gb, egb, what="int conv db_int")


def test_conv2d_int8_backward_masks_saturated_outputs():
    geo, act = (1, 4, 7, 7, 3, 3, 2, 1, 1), (-128, 10)
    (gx, gw, gb), (egx, egw, egb), mask = conv_int_grads_vs_torch(geo, act, seed=2)
    assert 0.2 < mask.mean() < 0.9, "both saturated and unsaturated outputs expected"
    assert_rel(gx, egx, what="dx")
    assert_rel(gw, egw, what="dw")
    assert_rel(gb, egb, what="db")


@pytest.mark.parametrize("geo,chans", [((2, 4, 6, 6, 3, 3, 1, 1, 1), (0, 3)),
                                       ((1, 3, 5, 5, 4, 3, 2, 1, 1), (1,)),
                                       ((2, 4, 6, 6, 4, 3, 1, 1, 4), (2, 0)),
                                       ((1, 5, 7, 7, 5, 3, 2, 1, 5), (1, 2, 4))], ids=str)
def test_conv2d_int8_backward_channel_subset(geo, chans):
    (gx, gw, gb), (egx, egw, egb), _ = conv_int_grads_vs_torch(geo, (-128, 127), 3, chans)
    want = egw[list(chans)] if geo[8] > 1 else egw[:, list(chans)]
    assert_rel(gw, want, what="int conv dw_int[channels]")
    assert_rel(gx, egx, what="dx")
    assert_rel(gb, egb, what="db")


def linear_int_grads_vs_torch(seed, n, c, o, act, chans=None):
    x, w, b, attrs, xq, wq = make_int_linear(seed, n, c, o, act=act)
    y_ref = run_forward("linear", conv_args(x, w, b, xq, wq), attrs)[0]
    gy = np.random.default_rng(seed).standard_normal(y_ref.shape).astype(np.float32)
    _, (gx, gw, gb) = run_with_grad("linear", conv_args(x, w, b, xq, wq), attrs, gy,
                                    channels=chans)
    xr, wr, br, sx, sw = leaves(x, w, b, xq, wq)
    y_real, mask = emulate_requant(F.linear(xr, wr, br), y_ref.astype(np.int64), attrs, sx, sw)
    (y_real * torch.tensor(gy, dtype=torch.float64)).sum().backward()
    return (gx, gw, gb), expected_int_grads(xr, wr, br, sx, sw), mask


@pytest.mark.parametrize("seed,n,c,o,act", [(0, 4, 16, 10, (-128, 127)),
                                            (1, 8, 7, 3, (-128, 20)),
                                            (2, 3, 1, 5, (-128, 127)),
                                            (3, 6, 20, 8, (-40, 40))])
def test_linear_int8_backward(seed, n, c, o, act):
    (gx, gw, gb), (egx, egw, egb), mask = linear_int_grads_vs_torch(seed, n, c, o, act)
    assert mask.any()
    assert_rel(gx, egx, what="int linear dx_real")
    assert_rel(gw, egw, what="int linear dw_int")
    assert_rel(gb, egb, what="int linear db_int")


@pytest.mark.parametrize("chans", [(0, 5), (3,)])
def test_linear_int8_backward_channel_subset(chans):
    (gx, gw, gb), (egx, egw, egb), _ = linear_int_grads_vs_torch(4, 5, 6, 4, (-128, 50), chans)
    assert_rel(gw, egw[:, list(chans)], what="int linear dw_int[:, channels]")
    assert_rel(gx, egx, what="dx")
    assert_rel(gb, egb, what="db")


@pytest.mark.parametrize("case", [(0.02, -10, 0.07, 5, 0.08, -3, (-128, 127)),
                                  (0.03, 3, 0.03, -7, 0.01, -128, (-128, 60)),
                                  (0.05, 0, 0.02, 0, 0.03, 0, (-20, 20))], ids=str)
def test_add_int8_backward(case):
    sx, zx, sy, zy, so, zo, act = case
    rng = np.random.default_rng(0)
    shape = (2, 3, 4, 4)
    a, b = rand_i8(rng, shape), rand_i8(rng, shape)
    xq, yq, oq = QParams.tensor(sx, zx), QParams.tensor(sy, zy), QParams.tensor(so, zo)
    attrs = int_add_attrs(xq, yq, oq, act)
    gy = rng.standard_normal(shape).astype(np.float32)
    (y,), (ga, gb) = run_with_grad("add", [inp("a", a, I8, xq), inp("b", b, I8, yq)], attrs, gy)
    ar = torch.tensor(sx * (a.astype(np.float64) - zx), requires_grad=True)
    br = torch.tensor(sy * (b.astype(np.float64) - zy), requires_grad=True)
    y_pre = ste_round((ar + br) / so) + zo
    y_ref = y.astype(np.int64)
    mask = (y_ref > act[0]) & (y_ref < act[1])
    assert mask.any() and (case[-1] == (-128, 127) or not mask.all())
    emul = torch.clamp(y_pre.detach(), *act).numpy()
    assert np.max(np.abs(emul - y_ref)) <= 1
    y_int = torch.where(torch.tensor(mask), y_pre, torch.tensor(y_ref.astype(np.float64)))
    (so * (y_int - zo) * torch.tensor(gy, dtype=torch.float64)).sum().backward()
    assert_rel(ga, ar.grad.numpy(), what="int add da_real")
    assert_rel(gb, br.grad.numpy(), what="int add db_real")


# ---- other int8 gradient rules (straight-through / masks) ------------------------------------

def test_clamp_int8_backward_mask():
    rng = np.random.default_rng(0)
    x = rand_i8(rng, (2, 3, 4, 4))
    gy = rng.standard_normal(x.shape).astype(np.float32)
    (y,), (gx,) = run_with_grad("clamp", [inp("x", x, I8, QParams.tensor(0.1, -128))],
                                dict(lo=-128, hi=20), gy)
    np.testing.assert_array_equal(gx, np.where((y > -128) & (y < 20), gy, 0))


def test_global_avgpool_int8_backward_is_straight_through():
    rng = np.random.default_rng(0)
    x = rand_i8(rng, (2, 3, 3, 5))
    gy = rng.standard_normal((2, 3, 1, 1)).astype(np.float32)
    _, (gx,) = run_with_grad("global_avgpool", [inp("x", x, I8, QParams.tensor(0.1, 0))], {}, gy)
    assert_rel(gx, np.broadcast_to(gy / 15.0, x.shape), what="gap int dx")


def test_quantize_backward_is_straight_through():
    rng = np.random.default_rng(0)
    r = rng.standard_normal((2, 6)).astype(np.float32)
    gy = rng.standard_normal((2, 6)).astype(np.float32)
    _, (gr,) = run_with_grad("quantize", [inp("r", r)], dict(scale=0.05, zero=3), gy)
    np.testing.assert_array_equal(gr, gy)


def maxpool_grad_loops(x, gy, k, s, p):
    """gy of each window to the first maximum (row-major) among the window's REAL inputs."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = _pair(k), _pair(s), _pair(p)
    gx = np.zeros(x.shape, np.float64)
    for b, ch, i, j in np.ndindex(gy.shape):
        cells = [(r, q) for r in range(i * sh - ph, i * sh - ph + kh)
                 for q in range(j * sw - pw, j * sw - pw + kw) if 0 <= r < h and 0 <= q < w]
        best = max(int(x[b, ch, r, q]) for r, q in cells)
        r, q = next(cell for cell in cells if x[(b, ch) + cell] == best)
        gx[b, ch, r, q] += gy[b, ch, i, j]
    return gx


@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 0), (3, 1, 0), (2, 1, 0)], ids=str)
def test_maxpool2d_int8_backward_first_max(k, s, p):
    rng = np.random.default_rng(1)
    x = rand_i8(rng, (2, 2, 6, 7), -3, 3)  # many ties
    attrs = dict(kernel=k, stride=s, padding=p)
    y = run_forward("maxpool2d", [inp("x", x, I8, QParams.tensor(0.1, 0))], attrs)[0]
    gy = rng.standard_normal(y.shape).astype(np.float32)
    _, (gx,) = run_with_grad("maxpool2d", [inp("x", x, I8, QParams.tensor(0.1, 0))], attrs, gy)
    assert_rel(gx, maxpool_grad_loops(x, gy, k, s, p), what="maxpool int dx")


def test_maxpool2d_int8_backward_padding_never_takes_the_gradient():
    x = np.full((1, 1, 4, 4), -128, np.int8)
    x[0, 0, 2:, 2:] = 5
    attrs = dict(kernel=3, stride=2, padding=1)
    q = QParams.tensor(0.1, -128)
    y = run_forward("maxpool2d", [inp("x", x, I8, q)], attrs)[0]
    gy = np.ones(y.shape, np.float32)
    _, (gx,) = run_with_grad("maxpool2d", [inp("x", x, I8, q)], attrs, gy)
    assert gx.sum() == gy.sum(), "every window's gradient must reach one real input"
    assert_rel(gx, maxpool_grad_loops(x, gy, 3, 2, 1), what="maxpool int dx with padding")


# ---- sgd_update and round_master ---------------------------------------------------------

M32 = 0xFFFFFFFF


def mix32_py(x: int) -> int:
    x &= M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    x ^= x >> 16
    return x


def uniform_py(seed, param_id, step, i) -> np.float32:
    """u_i of optim.py's docstring, in plain Python integers."""
    key = mix32_py((seed & M32) ^ mix32_py((param_id & M32) ^ mix32_py(step & M32)))
    return np.float32((mix32_py((key + i * 0x9E3779B9) & M32) >> 8) * 2.0**-24)


INT_LIMITS = {np.dtype(np.int8): (-127, 127), np.dtype(np.int32): (-(2**31), 2**31 - 1)}


def sgd_plain(param, grad, lr, step, mom, a):
    """optim.py's update rule, element by element in float32 scalars and Python ints."""
    ch, axis = a.get("channels"), a.get("axis", 0)
    new = param.copy()
    new_m = None if mom is None else np.zeros(grad.shape, np.float32)
    f = np.float32
    for i, idx in enumerate(np.ndindex(grad.shape)):
        pidx = list(idx)
        if ch is not None:
            pidx[axis] = ch[idx[axis]]
        pidx = tuple(pidx)
        w = param[pidx]
        d = f(grad[idx])
        if a.get("qas") is not None:
            d = f(d * f(a["qas"][idx[0]]))
        if a.get("weight_decay", 0.0):
            d = f(d + f(f(a["weight_decay"]) * f(w)))
        if mom is not None:
            d = f(f(f(a["momentum"]) * f(mom[idx])) + d)
            new_m[idx] = d
        delta = f(-f(f(lr) * d))
        if param.dtype == np.float32:
            new[pidx] = f(f(w) + delta)
        else:
            u = uniform_py(a.get("seed", 0), a.get("param_id", 0), int(step), i)
            r = int(np.floor(f(delta + u)))
            lo, hi = INT_LIMITS[param.dtype]
            new[pidx] = min(max(int(w) + r, lo), hi)
    return new, new_m


def sgd_run(param, grad, lr, step, mom, attrs, q=None):
    """sgd_update through a verified graph and the interpreter."""
    dt = {np.dtype(np.float32): F32, np.dtype(np.int8): I8, np.dtype(np.int32): I32}[param.dtype]
    args = [par("p", param, dt, q), inp("g", grad), par("lr", np.float32(lr)),
            inp("step", np.int32(step), I32)]
    if mom is not None:
        args.append(par("m", mom))
    outs = run_forward("sgd_update", args, attrs)
    return outs[0], (outs[1] if mom is not None else None)


SGD_CASES = {  # name: (param dtype, param shape, attrs, with momentum)
    "f32": ("f32", (4, 3, 3, 3), dict(), False),
    "f32_mom_wd": ("f32", (4, 3, 3, 3), dict(momentum=0.9, weight_decay=1e-2), True),
    "f32_qas": ("f32", (5, 6), dict(qas=[1.0, 2.0, 0.5, 4.0, 3.0]), False),
    "i8_qas": ("i8", (4, 3, 3, 3), dict(qas=[4e4, 1e4, 9e4, 2.5e4], seed=7, param_id=3), False),
    "i8_mom_wd": ("i8", (6, 5), dict(momentum=0.8, weight_decay=1e-3, seed=1, param_id=9), True),
    "i32_bias": ("i32", (8,), dict(qas=[1e6] * 8, seed=2, param_id=4), False),
    "i32_mom": ("i32", (8,), dict(momentum=0.5, seed=3, param_id=5), True),
    "f32_axis1": ("f32", (4, 6, 3, 3), dict(channels=(0, 2, 5), axis=1), False),
    "i8_axis1": ("i8", (4, 6, 3, 3), dict(channels=(1, 4), axis=1, qas=[3e4, 1e4, 2e4, 5e4],
                                         seed=5, param_id=1), False),
    "i8_axis0_dw": ("i8", (6, 1, 3, 3), dict(channels=(5, 0, 2), axis=0, qas=[2e4, 1e4, 4e4],
                                             momentum=0.9, seed=4, param_id=2), True),
    "i32_axis0": ("i32", (6,), dict(channels=(1, 3), axis=0, weight_decay=1e-2), False),
}


def sgd_data(dtype, shape, attrs, with_mom, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "f32":
        param = rng.standard_normal(shape).astype(np.float32)
    elif dtype == "i8":
        param = rng.integers(-127, 128, shape).astype(np.int8)
        param.flat[:2] = [127, -127]
    else:
        param = rng.integers(-50000, 50000, shape).astype(np.int32)
    gshape = list(shape)
    if attrs.get("channels") is not None:
        gshape[attrs.get("axis", 0)] = len(attrs["channels"])
    # steps of about 1e-3 (float) or about 1.5 integer levels (int), lr = 0.05
    qas = np.mean(attrs["qas"]) if attrs.get("qas") is not None else 1.0
    std = 0.02 if dtype == "f32" else 30.0 / qas
    grad = (rng.standard_normal(gshape) * std).astype(np.float32)
    if dtype == "i8":
        grad.flat[:2] = [-1e3 * std, 1e3 * std]  # pushes the extremes out: clamped to +-127
    mom = (rng.standard_normal(gshape) * std).astype(np.float32) if with_mom else None
    return param, grad, mom


@pytest.mark.parametrize("name", list(SGD_CASES))
def test_sgd_update_matches_plain_rule(name):
    dtype, shape, attrs, with_mom = SGD_CASES[name]
    param, grad, mom = sgd_data(dtype, shape, attrs, with_mom)
    q = QParams.channel(np.full(shape[0], 0.01)) if dtype == "i8" else None
    lr, step = 0.05, 11
    new, new_m = sgd_run(param, grad, lr, step, mom, attrs, q)
    want, want_m = sgd_plain(param, grad, lr, step, mom, attrs)
    assert new.dtype == param.dtype and new.shape == param.shape
    np.testing.assert_array_equal(new, want)
    if with_mom:
        np.testing.assert_array_equal(new_m, want_m)
    if attrs.get("channels") is not None:  # untouched outside the trained slice
        axis = attrs.get("axis", 0)
        rest = [c for c in range(shape[axis]) if c not in attrs["channels"]]
        np.testing.assert_array_equal(np.take(new, rest, axis), np.take(param, rest, axis))
    if dtype != "f32":
        assert not np.array_equal(new, param), "the update should move some integer values"


def test_sgd_update_int_saturates():
    p8 = np.array([127, -127, 126, -128], np.int8)
    new, _ = sgd_run(p8, np.array([-50.0, 50.0, -0.5, 0.0], np.float32), 1.0, 0, None, {},
                     QParams.channel([0.1] * 4))
    assert list(new[:2]) == [127, -127]
    assert new[2] == 126 + int(np.floor(np.float32(0.5) + uniform_py(0, 0, 0, 2)))
    assert new[3] == -127  # int8 weights are kept in the symmetric range
    p32 = np.array([2**31 - 10, -(2**31) + 10], np.int32)
    new, _ = sgd_run(p32, np.array([-1e3, 1e3], np.float32), 1.0, 0, None, {})
    assert list(new) == [2**31 - 1, -(2**31)]


def test_sgd_update_stochastic_rounding_reproducible():
    param = np.zeros((64, 64), np.int8)
    grad = np.full((64, 64), -0.3, np.float32)  # delta = +0.3 per element
    q = QParams.channel(np.full(64, 0.01))
    base = dict(seed=123, param_id=4)
    a1, _ = sgd_run(param, grad, 1.0, 17, None, base, q)
    a2, _ = sgd_run(param, grad, 1.0, 17, None, base, q)
    np.testing.assert_array_equal(a1, a2)
    assert set(np.unique(a1)) == {0, 1}
    assert abs(a1.mean() - 0.3) < 0.03, "floor(delta + u) has mean delta"
    for other in [(dict(base), 18), (dict(base, param_id=5), 17), (dict(base, seed=124), 17)]:
        b, _ = sgd_run(param, grad, 1.0, other[1], None, other[0], q)
        assert not np.array_equal(a1, b), f"draws should change with {other}"
    # the reference's draws are the documented counter hash
    np.testing.assert_array_equal(uniform01(123, 4, 17, 10),
                                  [uniform_py(123, 4, 17, i) for i in range(10)])


def test_sgd_update_with_step_as_state():
    param = np.zeros(4, np.int32)
    grad = np.full(4, -0.3, np.float32)
    args = [par("p", param, I32), inp("g", grad), par("lr", np.float32(1.0)),
            Arg("step", np.asarray(np.int32(17)), I32, None, "state")]
    new = run_forward("sgd_update", args, dict(seed=1))[0]
    want, _ = sgd_plain(param, grad, 1.0, 17, None, dict(seed=1))
    np.testing.assert_array_equal(new, want)


def round_master_plain(frozen, master, channels, axis):
    out = frozen.copy()
    lo, hi = INT_LIMITS[frozen.dtype]
    for idx in np.ndindex(master.shape):
        pidx = list(idx)
        if channels is not None:
            pidx[axis] = channels[idx[axis]]
        out[tuple(pidx)] = min(max(round(float(master[idx])), lo), hi)  # half to even
    return out


@pytest.mark.parametrize("dtype,shape,channels,axis", [
    ("i8", (4, 3, 2, 2), None, 0),
    ("i8", (4, 3, 2, 2), (0, 2), 1),
    ("i8", (5, 1, 3, 3), (4, 1), 0),
    ("i32", (6,), None, 0),
    ("i32", (6,), (1, 4, 5), 0),
])
def test_round_master(dtype, shape, channels, axis):
    rng = np.random.default_rng(0)
    frozen = rng.integers(-100, 100, shape).astype(np.int8 if dtype == "i8" else np.int32)
    mshape = list(shape)
    if channels is not None:
        mshape[axis] = len(channels)
    master = (rng.standard_normal(mshape) * 50).astype(np.float32)
    big = 3e9 if dtype == "i32" else 300.0
    master.flat[:8] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, big, -big][:master.size]
    q = QParams.channel(np.full(shape[0], 0.01)) if dtype == "i8" else None
    dt = I8 if dtype == "i8" else I32
    attrs = dict(channels=channels, axis=axis)
    gy = rng.standard_normal(shape).astype(np.float32)
    (out,), (gf, gm) = run_with_grad("round_master", [par("w", frozen, dt, q),
                                                      par("master", master)], attrs, gy)
    np.testing.assert_array_equal(out, round_master_plain(frozen, master, channels, axis))
    assert gf is None
    np.testing.assert_array_equal(gm, gy)  # straight-through to the master copy
