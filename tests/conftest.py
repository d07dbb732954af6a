"""Shared fixtures: small int8 models built directly in the IR (no frontend needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcutrain.ir import QParams
from mcutrain.ops.builder import GraphBuilder
from mcutrain.ops.elementwise import int_add_attrs
from mcutrain.ops.fixedpoint import quantize_multiplier

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent")
    return p


def _conv(b, rng, x, cout, k, stride=1, groups=1, relu=True, name="c"):
    xv = b.value(x)
    cin = xv.shape[1]
    w_scale = rng.uniform(0.002, 0.02, cout)
    w = b.param(f"{name}.w", rng.integers(-127, 128, (cout, cin // groups, k, k)), "i8",
                QParams.channel(w_scale))
    bias = b.param(f"{name}.b", rng.integers(-2000, 2000, cout), "i32",
                   QParams.channel(w_scale * xv.q.s))
    y_scale = float(rng.uniform(0.02, 0.06))
    y_zero = -128 if relu else int(rng.integers(-20, 20))
    m, s = quantize_multiplier(xv.q.s * w_scale / y_scale)
    return b.emit1("conv2d", [x, w, bias], dict(
        stride=(stride, stride), padding=((k - 1) // 2, (k - 1) // 2), groups=groups,
        x_zero=xv.q.zero_point, y_scale=y_scale, y_zero=y_zero, mult=tuple(int(v) for v in m),
        shift=tuple(int(v) for v in s), act_min=-128, act_max=127), name=name)


def tiny_int8_model(seed=0, hw=8, cin=3, classes=5, linear_head=False, down_groups=1):
    """conv3x3 -> inverted residual (pw expand, dw3x3, pw project, residual add) ->
    conv3x3 s2 (grouped with down_groups 2 or 4) -> global pool -> classifier (1x1 conv, or
    linear on the flattened pool)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input("x", (1, cin, hw, hw), "i8", QParams.tensor(1 / 127.5, 0))
    h = _conv(b, rng, x, 8, 3, name="stem")
    e = _conv(b, rng, h, 16, 1, name="blk.pw1")
    d = _conv(b, rng, e, 16, 3, groups=16, name="blk.dw")
    p = _conv(b, rng, d, 8, 1, relu=False, name="blk.pw2")
    out_q = QParams.tensor(0.05, -10)
    r = b.emit1("add", [h, p], int_add_attrs(b.value(h).q, b.value(p).q, out_q), name="blk.add")
    c = _conv(b, rng, r, 12, 3, stride=2, groups=down_groups, name="down")
    g = b.emit1("global_avgpool", [c], name="pool")
    if linear_head:
        f = b.emit1("reshape", [g], dict(shape=(12,)), name="flat")
        fv = b.value(f)
        w_scale = rng.uniform(0.002, 0.02, classes)
        w = b.param("fc.w", rng.integers(-127, 128, (classes, 12)), "i8", QParams.channel(w_scale))
        bias = b.param("fc.b", rng.integers(-500, 500, classes), "i32", QParams.channel(w_scale * fv.q.s))
        m, s = quantize_multiplier(fv.q.s * w_scale / 0.1)
        logits = b.emit1("linear", [f, w, bias], dict(
            x_zero=fv.q.zero_point, y_scale=0.1, y_zero=0, mult=tuple(int(v) for v in m),
            shift=tuple(int(v) for v in s), act_min=-128, act_max=127), name="logits")
    else:
        cl = _conv(b, rng, g, classes, 1, relu=False, name="cls")
        logits = b.emit1("reshape", [cl], dict(shape=(classes,)), name="logits")
    return b.build([logits])


@pytest.fixture
def tiny_model():
    return tiny_int8_model()
