"""Float forward and backward of every op against torch.autograd (float64).

Gradients come from each op's own gradient rule (the backward nodes it emits, run by the
interpreter), so the rule and the backward ops' references are both under test.
Relative error: max|ours - torch| / max|torch| <= 1e-5.
"""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.ir.graph import Value
from mcutrain.ops.registry import get_op

from .conftest import F32, I8, I32, QParams, assert_rel, inp, par, run_forward, run_with_grad

torch = pytest.importorskip("torch")
F = torch.nn.functional


def t64(a, grad=True):
    return torch.tensor(np.asarray(a, np.float64), requires_grad=grad)


def np64(t):
    return t.detach().numpy().astype(np.float64)


# ---- conv2d ----------------------------------------------------------------------------

# (N, C, H, W, O, kernel, stride, padding, groups)
CONV_CASES = [
    (2, 3, 7, 6, 4, 3, 1, 1, 1),            # plain 3x3, same padding
    (1, 4, 8, 8, 5, 3, 2, 1, 1),            # stride 2
    (2, 2, 5, 7, 3, 1, 1, 0, 1),            # pointwise
    (1, 3, 9, 9, 2, 5, 2, 2, 1),            # 5x5, padding 2, stride 2
    (2, 3, 6, 6, 4, 2, 2, 0, 1),            # even kernel, no padding
    (1, 2, 7, 6, 3, (3, 2), (2, 1), (1, 0), 1),  # non-square kernel, stride and padding
    (2, 4, 6, 6, 4, 3, 1, 1, 4),            # depthwise
    (1, 3, 7, 7, 3, 3, 2, 1, 3),            # depthwise stride 2
    (1, 5, 8, 8, 5, 5, 2, 2, 5),            # depthwise 5x5 padding 2
    (2, 4, 6, 6, 6, 3, 1, 1, 2),            # grouped, 2 groups
    (1, 8, 5, 5, 8, 3, 2, 1, 4),            # grouped, 4 groups, stride 2
    (1, 4, 6, 6, 8, 1, 1, 0, 2),            # grouped pointwise
    (2, 3, 6, 6, 6, 3, 1, 1, 3),            # depthwise, channel multiplier 2
    (1, 2, 7, 7, 6, 3, 2, 2, 2),            # depthwise, channel multiplier 3, stride 2
]


def random_conv_case(seed):
    """A seeded random geometry: plain, depthwise, grouped or depthwise with multiplier."""
    rng = np.random.default_rng(1000 + seed)
    kind = ["plain", "dw", "grouped", "dw_mult"][seed % 4]
    k = int(rng.choice([1, 2, 3, 5]))
    s = int(rng.integers(1, 3))
    p = int(rng.integers(0, 3))
    n = int(rng.integers(1, 3))
    h = int(rng.integers(max(k, 3), 9))
    w = int(rng.integers(max(k, 3), 9))
    if kind == "plain":
        c, g = int(rng.integers(1, 5)), 1
        o = int(rng.integers(1, 6))
    elif kind == "dw":
        c = g = int(rng.integers(2, 6))
        o = c
    elif kind == "grouped":
        g = int(rng.choice([2, 3]))
        c, o = g * int(rng.integers(2, 4)), g * int(rng.integers(1, 3))
    else:
        c = g = int(rng.integers(2, 4))
        o = c * int(rng.integers(2, 4))
    return (n, c, h, w, o, k, s, p, g)


ALL_CONV = CONV_CASES + [random_conv_case(i) for i in range(8)]


def _pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def conv_data(case, seed):
    n, c, h, w, o, k, s, p, g = case
    rng = np.random.default_rng(seed)
    kh, kw = _pair(k)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = (rng.standard_normal((o, c // g, kh, kw)) * 0.5).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    attrs = dict(stride=s, padding=p, groups=g)
    return x, wt, b, attrs


def torch_conv(x, w, b, case):
    s, p, g = case[6], case[7], case[8]
    return F.conv2d(x, w, b, stride=_pair(s), padding=_pair(p), groups=g)


@pytest.mark.parametrize("case", ALL_CONV, ids=str)
def test_conv2d_forward_backward(case):
    x, w, b, attrs = conv_data(case, seed=ALL_CONV.index(case))
    (y,) = run_forward("conv2d", [inp("x", x), par("w", w), par("b", b)], attrs)
    xt, wt, bt = t64(x), t64(w), t64(b)
    yt = torch_conv(xt, wt, bt, case)
    assert_rel(y, np64(yt), what="conv2d y")
    gy = np.random.default_rng(7).standard_normal(y.shape).astype(np.float32)
    (y2,), (gx, gw, gb) = run_with_grad("conv2d", [inp("x", x), par("w", w), par("b", b)],
                                        attrs, gy)
    np.testing.assert_array_equal(y2, y)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(gx, np64(xt.grad), what="conv2d dx")
    assert_rel(gw, np64(wt.grad), what="conv2d dw")
    assert_rel(gb, np64(bt.grad), what="conv2d db")


# (case, trained input channels): groups=1 keeps weight columns, depthwise weight rows
SUBSET_CASES = [
    ((2, 4, 6, 6, 3, 3, 1, 1, 1), (0, 2)),
    ((1, 5, 7, 7, 4, 3, 2, 1, 1), (4,)),
    ((1, 3, 5, 5, 2, 1, 1, 0, 1), (2, 0, 1)),
    ((2, 4, 6, 6, 4, 3, 1, 1, 4), (1, 3)),
    ((1, 6, 7, 7, 6, 3, 2, 1, 6), (5, 0, 2)),
    ((1, 3, 6, 6, 3, 5, 1, 2, 3), (0, 1, 2)),
]


@pytest.mark.parametrize("case,chans", SUBSET_CASES, ids=str)
def test_conv2d_grad_weight_channel_subset(case, chans):
    x, w, b, attrs = conv_data(case, seed=11)
    gy_shape = run_forward("conv2d", [inp("x", x), par("w", w), par("b", b)], attrs)[0].shape
    gy = np.random.default_rng(3).standard_normal(gy_shape).astype(np.float32)
    _, (gx, gw, gb) = run_with_grad("conv2d", [inp("x", x), par("w", w), par("b", b)], attrs,
                                    gy, channels=chans)
    xt, wt, bt = t64(x), t64(w), t64(b)
    torch_conv(xt, wt, bt, case).backward(torch.tensor(gy, dtype=torch.float64))
    full = np64(wt.grad)
    want = full[list(chans)] if case[8] > 1 else full[:, list(chans)]
    assert_rel(gw, want, what="conv2d dw[channels]")
    assert_rel(gx, np64(xt.grad), what="conv2d dx")
    assert_rel(gb, np64(bt.grad), what="conv2d db")


@pytest.mark.parametrize("chans", [(0, 2), (1,)])
def test_linear_grad_weight_channel_subset(chans):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((5, 4)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    gy = rng.standard_normal((3, 5)).astype(np.float32)
    _, (gx, gw, gb) = run_with_grad("linear", [inp("x", x), par("w", w), par("b", b)], {},
                                    gy, channels=chans)
    xt, wt, bt = t64(x), t64(w), t64(b)
    F.linear(xt, wt, bt).backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(gw, np64(wt.grad)[:, list(chans)], what="linear dw[:, channels]")
    assert_rel(gx, np64(xt.grad), what="linear dx")
    assert_rel(gb, np64(bt.grad), what="linear db")


def test_conv2d_grad_ops_direct_refs():
    """The backward ops' references called directly (no rule), incl. explicit channels."""
    case = (2, 4, 6, 5, 6, 3, 2, 1, 2)
    x, w, b, attrs = conv_data(case, seed=21)
    xt, wt, bt = t64(x), t64(w), t64(b)
    yt = torch_conv(xt, wt, bt, case)
    gy = np.random.default_rng(4).standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    geo = dict(stride=2, padding=1, groups=2)
    (gx,) = get_op("conv2d_grad_input").ref([gy, w], dict(geo, in_hw=(6, 5), w_scale=None))
    (gw,) = get_op("conv2d_grad_weight").ref([x, gy], dict(geo, kernel=(3, 3), x_zero=0,
                                                            x_scale=1.0, w_scale=None))
    (gb,) = get_op("conv2d_grad_bias").ref([gy], dict(b_scale=None))
    assert_rel(gx, np64(xt.grad), what="dx")
    assert_rel(gw, np64(wt.grad), what="dw")
    assert_rel(gb, np64(bt.grad), what="db")


# ---- linear ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_linear_forward_backward(seed):
    rng = np.random.default_rng(seed)
    n, c, o = (int(v) for v in rng.integers(1, 9, size=3))
    x = rng.standard_normal((n, c)).astype(np.float32)
    w = rng.standard_normal((o, c)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    gy = rng.standard_normal((n, o)).astype(np.float32)
    (y,), (gx, gw, gb) = run_with_grad("linear", [inp("x", x), par("w", w), par("b", b)],
                                       {}, gy)
    xt, wt, bt = t64(x), t64(w), t64(b)
    yt = F.linear(xt, wt, bt)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, np64(yt), what="linear y")
    assert_rel(gx, np64(xt.grad), what="linear dx")
    assert_rel(gw, np64(wt.grad), what="linear dw")
    assert_rel(gb, np64(bt.grad), what="linear db")


# ---- elementwise, activations, pooling, reshape ------------------------------------------

def rand_shape(rng, ndim=4):
    return tuple(int(v) for v in rng.integers(1, 6, size=ndim))


@pytest.mark.parametrize("seed", range(4))
def test_add_forward_backward(seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng, 4 if seed % 2 == 0 else 2)
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    gy = rng.standard_normal(shape).astype(np.float32)
    (y,), (ga, gb) = run_with_grad("add", [inp("a", a), inp("b", b)], {}, gy)
    at, bt = t64(a), t64(b)
    yt = at + bt
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, np64(yt), what="add y")
    assert_rel(ga, np64(at.grad), what="add da")
    assert_rel(gb, np64(bt.grad), what="add db")


@pytest.mark.parametrize("kind", ["relu", "relu6"])
@pytest.mark.parametrize("seed", range(3))
def test_clamp_forward_backward(kind, seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng)
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    gy = rng.standard_normal(shape).astype(np.float32)
    attrs = dict(lo=0.0) if kind == "relu" else dict(lo=0.0, hi=6.0)
    (y,), (gx,) = run_with_grad("clamp", [inp("x", x)], attrs, gy)
    xt = t64(x)
    yt = F.relu(xt) if kind == "relu" else F.relu6(xt)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, np64(yt), what=f"{kind} y")
    assert_rel(gx, np64(xt.grad), what=f"{kind} dx")


@pytest.mark.parametrize("seed", range(3))
def test_global_avgpool_forward_backward(seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng)
    x = rng.standard_normal(shape).astype(np.float32)
    gy = rng.standard_normal(shape[:2] + (1, 1)).astype(np.float32)
    (y,), (gx,) = run_with_grad("global_avgpool", [inp("x", x)], {}, gy)
    xt = t64(x)
    yt = xt.mean(dim=(2, 3), keepdim=True)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, np64(yt), what="gap y")
    assert_rel(gx, np64(xt.grad), what="gap dx")


# (kernel, stride, padding); stride None means the default (= kernel)
POOL_CASES = [(2, None, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0), ((3, 2), (2, 1), (1, 0))]


@pytest.mark.parametrize("geo", POOL_CASES, ids=str)
@pytest.mark.parametrize("seed", range(2))
def test_maxpool2d_forward_backward(geo, seed):
    k, s, p = geo
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(4, 9)),
             int(rng.integers(4, 9)))
    x = rng.standard_normal(shape).astype(np.float32)
    attrs = dict(kernel=k, padding=p) if s is None else dict(kernel=k, stride=s, padding=p)
    y = run_forward("maxpool2d", [inp("x", x)], attrs)[0]
    gy = rng.standard_normal(y.shape).astype(np.float32)
    (y,), (gx,) = run_with_grad("maxpool2d", [inp("x", x)], attrs, gy)
    xt = t64(x)
    yt = F.max_pool2d(xt, _pair(k), stride=_pair(k if s is None else s), padding=_pair(p))
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, np64(yt), what="maxpool y")
    assert_rel(gx, np64(xt.grad), what="maxpool dx")


@pytest.mark.parametrize("seed", range(3))
def test_reshape_forward_backward(seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng)
    x = rng.standard_normal(shape).astype(np.float32)
    flat = (int(np.prod(shape[1:])),)
    gy = rng.standard_normal(shape[:1] + flat).astype(np.float32)
    (y,), (gx,) = run_with_grad("reshape", [inp("x", x)], dict(shape=flat), gy)
    xt = t64(x)
    yt = xt.reshape(shape[0], -1)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, np64(yt), what="reshape y")
    assert_rel(gx, np64(xt.grad), what="reshape dx")


@pytest.mark.parametrize("ndim", [4, 2])
@pytest.mark.parametrize("seed", range(2))
def test_batch_norm_forward_backward(ndim, seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng, ndim)
    c = shape[1]
    x = rng.standard_normal(shape).astype(np.float32)
    gamma = rng.uniform(0.5, 2.0, c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    mean = rng.standard_normal(c).astype(np.float32)
    var = rng.uniform(0.1, 3.0, c).astype(np.float32)
    eps = 1e-3
    gy = rng.standard_normal(shape).astype(np.float32)
    args = [inp("x", x), par("gamma", gamma), par("beta", beta), par("mean", mean),
            par("var", var)]
    (y,), grads = run_with_grad("batch_norm", args, dict(eps=eps), gy)
    gx, ggamma, gbeta, gmean, gvar = grads
    assert gmean is None and gvar is None
    xt, gt, bt = t64(x), t64(gamma), t64(beta)
    yt = F.batch_norm(xt, t64(mean, False), t64(var, False), gt, bt, training=False, eps=eps)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_rel(y, np64(yt), what="bn y")
    assert_rel(gx, np64(xt.grad), what="bn dx")
    assert_rel(ggamma, np64(gt.grad), what="bn dgamma")
    assert_rel(gbeta, np64(bt.grad), what="bn dbeta")


@pytest.mark.parametrize("seed", range(4))
def test_softmax_ce_forward_backward(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 7)), int(rng.integers(2, 8))
    z = (rng.standard_normal((n, k)) * 3).astype(np.float32)
    labels = rng.integers(0, k, n).astype(np.int32)
    (loss,), (gz, glab) = run_with_grad("softmax_ce", [inp("z", z), inp("y", labels, I32)], {},
                                        np.float32(1.0))
    assert glab is None
    zt = t64(z)
    lt = F.cross_entropy(zt, torch.tensor(labels, dtype=torch.long))
    lt.backward()
    assert loss.shape == ()
    assert_rel(loss, np64(lt), what="softmax_ce loss")
    assert_rel(gz, np64(zt.grad), what="softmax_ce dz")


@pytest.mark.parametrize("seed", range(3))
def test_mse_forward_backward(seed):
    rng = np.random.default_rng(seed)
    shape = (1, int(rng.integers(1, 700)))
    z, t = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    (loss,), (gz, gt) = run_with_grad("mse", [inp("z", z), inp("t", t)], {}, np.float32(1.0))
    assert gt is None and loss.shape == ()  # the target (the input) takes no gradient
    zt = t64(z)
    lt = F.mse_loss(zt, t64(t, False))
    lt.backward()
    assert_rel(loss, np64(lt), what="mse loss")
    assert_rel(gz, np64(zt.grad), what="mse dz")


@pytest.mark.parametrize("seed", range(3))
def test_dequantize_forward_backward(seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng)
    q = rng.integers(-128, 128, shape).astype(np.int8)
    scale, zero = float(rng.uniform(0.001, 0.2)), int(rng.integers(-128, 128))
    gy = rng.standard_normal(shape).astype(np.float32)
    (y,), (gq,) = run_with_grad("dequantize", [inp("q", q, I8, QParams.tensor(scale, zero))],
                                dict(scale=scale, zero=zero), gy)
    qt = t64(q)  # the integer levels as a float leaf
    yt = (qt - zero) * scale
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert y.dtype == np.float32
    assert_rel(y, np64(yt), what="dequantize y")
    # gradients between ops are taken w.r.t. the real value q stands for: d/dq / scale
    assert_rel(gq, np64(qt.grad) / scale, what="dequantize d(real q)")


# ---- MAC counts ------------------------------------------------------------------------

def _macs(op, args, attrs):
    outs = run_forward(op, args, attrs)
    in_vals = [Value(a.name, a.data.shape, a.dtype, a.q, a.role) for a in args]
    out_vals = [Value(f"y{i}", o.shape, F32) for i, o in enumerate(outs)]
    return get_op(op).count_macs(in_vals, out_vals, attrs)


@pytest.mark.parametrize("case", CONV_CASES[:2] + CONV_CASES[6:8] + CONV_CASES[9:10]
                         + CONV_CASES[12:13], ids=str)
def test_conv2d_macs(case):
    n, c, h, w, o, k, s, p, g = case
    x, wt, b, attrs = conv_data(case, seed=0)
    (kh, kw), (sh, sw), (ph, pw) = _pair(k), _pair(s), _pair(p)
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    textbook = n * o * ho * wo * (c // g) * kh * kw
    assert _macs("conv2d", [inp("x", x), par("w", wt), par("b", b)], attrs) == textbook


@pytest.mark.parametrize("n,c,o", [(1, 16, 10), (4, 7, 3), (2, 1, 1)])
def test_linear_macs(n, c, o):
    rng = np.random.default_rng(0)
    args = [inp("x", rng.standard_normal((n, c)).astype(np.float32)),
            par("w", np.ones((o, c), np.float32)), par("b", np.zeros(o, np.float32))]
    assert _macs("linear", args, {}) == n * c * o


# ---- known gap: channel subsets of grouped / multiplier convs ------------------------------

@pytest.mark.parametrize("case,chans", [((1, 2, 6, 6, 4, 3, 1, 1, 2), (1,)),
                                        ((1, 4, 6, 6, 4, 3, 1, 1, 2), (0, 1))], ids=str)
def test_conv2d_channel_subset_grouped_or_multiplier_rejected_or_right(case, chans):
    """Either the gradient rule refuses the combination (ValueError) or, for a depthwise conv
    with multiplier m, returns the weight rows c*m .. c*m+m-1 of each trained channel c."""
    n, c, h, w_, o, k, s, p, g = case
    x, w, b, attrs = conv_data(case, seed=2)
    gy_shape = run_forward("conv2d", [inp("x", x), par("w", w), par("b", b)], attrs)[0].shape
    gy = np.random.default_rng(9).standard_normal(gy_shape).astype(np.float32)
    try:
        _, (_, gw, _) = run_with_grad("conv2d", [inp("x", x), par("w", w), par("b", b)],
                                      attrs, gy, channels=chans)
    except ValueError:
        return
    assert c == g, "a grouped conv (C/groups > 1) has no per-channel weight rows to train"
    m = o // g
    xt, wt, bt = t64(x), t64(w), t64(b)
    torch_conv(xt, wt, bt, case).backward(torch.tensor(gy, dtype=torch.float64))
    rows = [ch * m + j for ch in chans for j in range(m)]
    assert_rel(gw, np64(wt.grad)[rows], what="dw rows of the trained channels")
