"""The ops of the .tflite frontend: pad, avgpool2d, mean_hw, softmax_s8, and TFLite Micro's
requantization (ops/gemmlowp.py; attrs rounding="tflm" of conv2d / linear / add).

Float forward and gradients against torch autograd; the integer forms against independent
computations in Python integers and fractions (and softmax against TFLite Micro itself)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from mcutrain.ops import gemmlowp as gl
from mcutrain.ops.avgpool import mean_params

from .conftest import (F32, I8, QParams, assert_rel, conv_args, inp, make_int_conv,
                       make_int_linear, par, rand_i8, run_forward, run_with_grad)

torch = pytest.importorskip("torch")
F = torch.nn.functional


# ---- TFLite Micro's fixed point, against its definition in exact arithmetic --------------------

def _half_up(fr: Fraction) -> int:
    return (fr + Fraction(1, 2)).__floor__()


def _half_away(fr: Fraction) -> int:
    return int(np.sign(fr)) * _half_up(abs(fr)) if fr else 0


def mbqm_exact(x: int, m: int, e: int) -> int:
    """round_half_up(x 2^max(e,0) m / 2^31), then round_half_away(. / 2^max(-e,0))."""
    hi = _half_up(Fraction(x * (1 << max(e, 0)) * m, 1 << 31))
    return _half_away(Fraction(hi, 1 << max(-e, 0)))


def test_mbqm_matches_exact_double_rounding():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.integers(-(1 << 24), 1 << 24, 3000), [0, 1, -1, 1 << 22, -(1 << 22)]])
    m = rng.integers(1 << 30, (1 << 31) - 1, x.size)
    e = rng.integers(-20, 3, x.size)
    got = gl.mbqm(x, m, e)
    want = [mbqm_exact(int(a), int(b), int(c)) for a, b, c in zip(x, m, e)]
    assert got.tolist() == want


def test_mbqm_ties():
    """Exact halves: the high multiply rounds up, the shift away from zero."""
    m = 1 << 30  # 0.5
    # 5 * 0.5 / 2 = 1.25: the high multiply gives 2.5 -> 3, the shift 1.5 -> 2 (rounding twice
    # moves it; once would give 1); -5: -2.5 -> -2 (half up), then -1
    assert gl.mbqm(np.array([3, -3, 5, -5]), m, -1).tolist() == [1, -1, 2, -1]
    assert gl.mbqm(np.array([1, -1]), m, 0).tolist() == [1, 0]  # srdhm: 0.5 -> 1, -0.5 -> 0
    assert gl.mbqm(np.array([2, -2]), m, -1).tolist() == [1, -1]  # 0.5 -> away from 0


def test_quantize_multiplier_rounds_half_away():
    q, e = gl.quantize_multiplier((2**30 + 0.5) / 2**31)
    assert (q, e) == (2**30 + 1, 0)  # NumPy's round would give 2^30 (half to even)
    for real in np.random.default_rng(1).uniform(1e-6, 3.0, 200):
        q, e = gl.quantize_multiplier(real)
        assert 1 << 30 <= q < 1 << 31
        assert abs(q * 2.0 ** (e - 31) - real) <= real * 2.0**-31
    assert gl.quantize_multiplier(2.0**-40) == (0, 0) and gl.quantize_multiplier(0.0) == (0, 0)


def test_int8_conv_linear_add_with_tflm_rounding():
    """rounding="tflm": the same accumulators, requantized by the exact double rounding."""
    x, w, b, attrs, xq, wq = make_int_conv((1, 4, 6, 6, 5, 3, 1, 1, 1), seed=3)
    y = run_forward("conv2d", conv_args(x, w, b, xq, wq), dict(attrs, rounding="tflm"))[0]
    xs = np.pad(x.astype(np.int64) - attrs["x_zero"], ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = np.zeros_like(y, dtype=np.int64)
    for o in range(5):
        for i in range(6):
            for j in range(6):
                a = int((xs[0, :, i:i + 3, j:j + 3] * w[o].astype(np.int64)).sum()) + int(b[o])
                r = mbqm_exact(a, attrs["mult"][o], attrs["shift"][o]) + attrs["y_zero"]
                want[0, o, i, j] = min(max(r, attrs["act_min"]), attrs["act_max"])
    assert np.array_equal(y, want)
    x, w, b, attrs, xq, wq = make_int_linear(4, 3, 16, 7)
    y = run_forward("linear", conv_args(x, w, b, xq, wq), dict(attrs, rounding="tflm"))[0]
    acc = (x.astype(np.int64) - attrs["x_zero"]) @ w.astype(np.int64).T + b
    want = [[min(max(mbqm_exact(int(acc[n, o]), attrs["mult"][o], attrs["shift"][o])
                     + attrs["y_zero"], -128), 127) for o in range(7)] for n in range(3)]
    assert y.tolist() == want


# ---- pad -----------------------------------------------------------------------------------------

def test_pad_forward_and_grad():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    gy = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    (y,), (gx,) = run_with_grad("pad", [inp("x", x)], dict(pads=(1, 2, 0, 1), value=0.0), gy)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = F.pad(xt, (0, 1, 1, 2))  # (left, right, top, bottom)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, yt.detach().numpy(), what="pad")
    assert_rel(gx, xt.grad.numpy(), what="pad grad")
    xi = rand_i8(rng, (1, 2, 3, 3))
    (yi,) = run_forward("pad", [inp("x", xi, I8, QParams.tensor(0.1, -5))],
                        dict(pads=(0, 1, 2, 0), value=-5))
    assert yi.dtype == np.int8 and yi.shape == (1, 2, 4, 5)
    assert (yi[:, :, 3] == -5).all() and (yi[:, :, :, :2] == -5).all()
    assert np.array_equal(yi[:, :, :3, 2:], xi)


# ---- avgpool2d -----------------------------------------------------------------------------------

POOLS = [((3, 3), (2, 2), (1, 1, 1, 1)), ((3, 3), (2, 2), (0, 1, 0, 1)), ((2, 3), (1, 2), (0, 1, 1, 1)),
         ((8, 8), (8, 8), (0, 0, 0, 0))]


def _torch_avgpool(x, k, s, pads):
    """Average over the in-bounds cells: window sums of the padded input / window counts."""
    t, b, l, r = pads
    xp = F.pad(x, (l, r, t, b))
    ones = F.pad(torch.ones_like(x[:1, :1]), (l, r, t, b))
    area = k[0] * k[1]
    return (F.avg_pool2d(xp, k, s) * area) / (F.avg_pool2d(ones, k, s) * area)


@pytest.mark.parametrize("k,s,pads", POOLS)
def test_avgpool2d_float_forward_and_grad(k, s, pads):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    attrs = dict(kernel=k, stride=s, pads=pads)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = _torch_avgpool(xt, k, s, pads)
    gy = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    (y,), (gx,) = run_with_grad("avgpool2d", [inp("x", x)], attrs, gy)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, yt.detach().numpy(), what="avgpool2d")
    assert_rel(gx, xt.grad.numpy(), what="avgpool2d grad")


@pytest.mark.parametrize("k,s,pads", POOLS)
def test_avgpool2d_int8_rounds_half_away(k, s, pads):
    rng = np.random.default_rng(6)
    x = rand_i8(rng, (1, 4, 8, 8))
    (y,) = run_forward("avgpool2d", [inp("x", x, I8, QParams.tensor(0.1, 3))],
                       dict(kernel=k, stride=s, pads=pads, act_min=-100, act_max=127))
    t, b, l, r = pads
    for c in range(4):
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                r0, c0 = i * s[0] - t, j * s[1] - l
                win = x[0, c, max(r0, 0):r0 + k[0], max(c0, 0):c0 + k[1]].astype(int)
                want = _half_away(Fraction(int(win.sum()), win.size))
                assert y[0, c, i, j] == max(want, -100), (c, i, j)


# ---- mean_hw -------------------------------------------------------------------------------------

def test_mean_hw_float_and_grad():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    gy = rng.standard_normal((2, 3, 1, 1)).astype(np.float32)
    (y,), (gx,) = run_with_grad("mean_hw", [inp("x", x)], {}, gy)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = xt.mean(dim=(2, 3), keepdim=True)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, yt.detach().numpy(), what="mean")
    assert_rel(gx, xt.grad.numpy(), what="mean grad")


@pytest.mark.parametrize("hw,sx,sy", [((5, 7), 0.1, 0.037), ((8, 8), 0.02, 0.02), ((1, 3), 1.0, 0.5)])
def test_mean_hw_int8_is_the_requantized_mean(hw, sx, sy):
    """Within one step of round(s_x / s_y * mean(x - z_x)) + z_y (TFLite Micro's own folding
    of 1/count is checked bit for bit in tests/frontend/test_tflite_ops.py)."""
    rng = np.random.default_rng(8)
    x = rand_i8(rng, (3, 6) + hw)
    attrs = dict(x_zero=-4, y_scale=sy, y_zero=7, **mean_params(sx, sy, hw[0] * hw[1]))
    (y,) = run_forward("mean_hw", [inp("x", x, I8, QParams.tensor(sx, -4))], attrs)
    real = sx / sy * (x.astype(np.float64) + 4).mean(axis=(2, 3), keepdims=True) + 7
    assert np.abs(y - np.clip(np.round(real), -128, 127)).max() <= 1


# ---- softmax_s8 ----------------------------------------------------------------------------------

def test_softmax_s8_close_to_float_softmax():
    rng = np.random.default_rng(9)
    x = rand_i8(rng, (20, 10))
    for scale in (0.02, 0.1, 0.5):
        attrs = gl.softmax_params(1.0, scale)
        (y,) = run_forward("softmax_s8", [inp("x", x, I8, QParams.tensor(scale, 0))], attrs)
        p = torch.softmax(torch.tensor(x, dtype=torch.float64) * scale, dim=-1).numpy()
        assert np.abs(y.astype(np.float64) - np.clip(np.round(p * 256 - 128), -128, 127)).max() <= 1


def test_softmax_s8_equals_tflite_micro():
    pytest.importorskip("tflite_micro")
    from tests.frontend.tflite_models import run_tflm, softmax_model

    rng = np.random.default_rng(10)
    for k, scale, zero, beta in [(10, 0.1, 3, 1.0), (12, 0.0625, -128, 1.0), (2, 0.5, 0, 1.0),
                                 (40, 0.25, -5, 0.5), (5, 1.0, 0, 1.0), (7, 0.004, 9, 1.0)]:
        model = softmax_model(k, scale, zero, beta)
        attrs = gl.softmax_params(beta, float(np.float32(scale)))
        x = rand_i8(rng, (40, k))
        x[0] = 5  # all equal
        x[1, :] = -128
        x[1, 0] = 127  # one dominant value: the others below diff_min
        want = np.concatenate([run_tflm(model, xi[None]) for xi in x])
        (y,) = run_forward("softmax_s8", [inp("x", x, I8, QParams.tensor(scale, zero))], attrs)
        assert np.array_equal(y, want), (k, scale)
