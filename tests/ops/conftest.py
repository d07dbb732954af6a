"""Helpers of the per-op tests: an error measure, a gradient-rule shim, graph runners.

Every op is run the way the compiler runs it: a Graph built with GraphBuilder (so the op's
shape/dtype rule and the verifier see it) and executed by the NumPy interpreter. Gradients go
through the op's own gradient rule (`OpDef.grad`), which emits backward nodes into a
`GradShim`, the small part of autodiff's GradBuilder a rule needs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcutrain.ir.dtype import F32, I8, I32, QParams
from mcutrain.ops.builder import GraphBuilder
from mcutrain.ops.verify import verify
from mcutrain.ops.registry import get_op
from mcutrain.ops import fixedpoint as fp
from mcutrain.ref.interp import run

RTOL = 1e-5


# ---- error measure ---------------------------------------------------------------------

def rel_err(actual, expected) -> float:
    """max|a - b| / max|b|; the absolute error when b is all zero."""
    a = np.asarray(actual, np.float64)
    b = np.asarray(expected, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != expected {b.shape}"
    if a.size == 0:
        return 0.0
    err = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(b)))
    return err / scale if scale > 0 else err


def assert_rel(actual, expected, tol: float = RTOL, what: str = ""):
    e = rel_err(actual, expected)
    assert e <= tol, f"{what}: relative error {e:.3g} > {tol:g}"


# ---- graph building --------------------------------------------------------------------

@dataclass
class Arg:
    """One input of the node under test. role "input" is fed per run; "param", "const" and
    "state" hold their data in the graph."""

    name: str
    data: np.ndarray
    dtype: str
    q: QParams | None = None
    role: str = "input"


def inp(name, data, dtype=F32, q=None) -> Arg:
    return Arg(name, np.asarray(data), dtype, q, "input")


def par(name, data, dtype=F32, q=None) -> Arg:
    return Arg(name, np.asarray(data), dtype, q, "param")


class GradShim(GraphBuilder):
    """GraphBuilder plus `saved_input`, as autodiff's GradBuilder offers it to gradient rules.

    channels=None keeps the whole input for the weight gradient; a tuple of channel indices
    saves only those channels (gather_channels), the channel-fraction path.
    """

    def __init__(self, channels=None):
        super().__init__(prefix="t")
        self.channels = None if channels is None else tuple(int(c) for c in channels)

    def saved_input(self, node, x, w):
        if self.channels is None:
            return x, None
        xs = self.emit1("gather_channels", [x], dict(channels=self.channels), name="x_saved")
        return xs, self.channels


def _declare(gb: GraphBuilder, args) -> tuple[list, dict]:
    names, feeds = [], {}
    for a in args:
        if a.role == "input":
            names.append(gb.input(a.name, a.data.shape, a.dtype, a.q))
            feeds[a.name] = a.data
        else:
            names.append(gb.param(a.name, a.data, a.dtype, a.q, role=a.role))
    return names, feeds


def run_forward(op: str, args, attrs: dict | None = None) -> list:
    """Outputs of one node `op(args)` computed through a verified graph and the interpreter."""
    gb = GraphBuilder()
    names, feeds = _declare(gb, args)
    outs = gb.emit(op, names, attrs or {})
    g = verify(gb.build(outputs=outs))
    res = run(g, feeds)
    return [res[o] for o in outs]


def run_with_grad(op: str, args, attrs: dict | None, gy: np.ndarray, channels=None):
    """Forward node, then its gradient rule fed with `gy`; returns (outputs, grads).

    grads has one entry per node input: the interpreter's array, or None where the rule
    gives no gradient. The graph built is verified before it runs.
    """
    gb = GradShim(channels)
    names, feeds = _declare(gb, args)
    outs = gb.emit(op, names, attrs or {})
    node = gb.nodes[-1]
    gy = np.asarray(gy, np.float32)
    gy_name = gb.input("gy", gb.value(outs[0]).shape, F32)
    feeds["gy"] = gy
    gb.phase = "bwd"
    grads = get_op(op).grad(gb, node, [gy_name] + [None] * (len(outs) - 1))
    assert len(grads) == len(names), f"{op}: rule gave {len(grads)} grads for {len(names)} inputs"
    wanted = list(outs) + [x for x in grads if x is not None]
    g = verify(gb.build(outputs=wanted))
    res = run(g, feeds)
    return [res[o] for o in outs], [None if x is None else res[x] for x in grads]


# ---- int8 helpers ----------------------------------------------------------------------

def int_requant_attrs(x_scale, w_scale, y_scale, x_zero=0, y_zero=0, act=(-128, 127)) -> dict:
    """Attributes of an int8 conv2d/linear whose effective multiplier is s_x s_w[o] / s_y."""
    eff = np.asarray(w_scale, np.float64) * x_scale / y_scale
    mult, shift = fp.quantize_multiplier(eff)
    return dict(x_zero=int(x_zero), y_scale=float(y_scale), y_zero=int(y_zero),
                mult=tuple(int(m) for m in mult), shift=tuple(int(s) for s in shift),
                act_min=int(act[0]), act_max=int(act[1]))


def rand_i8(rng, shape, lo=-128, hi=127) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=shape).astype(np.int8)


def _pair(v):
    return tuple(int(t) for t in v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def make_int_conv(geo, seed, act=(-128, 127), x_zero=None, y_zero=None):
    """Random int8 conv data with scales that put the outputs across the int8 range."""
    n, c, h, w, o, k, s, p, g = geo
    rng = np.random.default_rng(seed)
    kh, kw = _pair(k)
    x = rand_i8(rng, (n, c, h, w))
    wt = rand_i8(rng, (o, c // g, kh, kw), -127, 127)
    xz = int(rng.integers(-30, 30)) if x_zero is None else x_zero
    yz = int(rng.integers(-20, 20)) if y_zero is None else y_zero
    x_scale = float(rng.uniform(0.01, 0.05))
    w_scale = rng.uniform(0.002, 0.02, o)
    kvol = (c // g) * kh * kw
    typical = 75.0 * 73.0 * np.sqrt(kvol)  # rough std of the accumulator
    b = rng.integers(-int(typical), int(typical) + 1, o).astype(np.int32)
    y_scale = float(x_scale * w_scale.mean() * typical / 60.0)
    attrs = dict(stride=s, padding=p, groups=g, **int_requant_attrs(
        x_scale, w_scale, y_scale, xz, yz, act))
    xq = QParams.tensor(x_scale, xz)
    return x, wt, b, attrs, xq, QParams.channel(w_scale)


def conv_args(x, w, b, xq, wq):
    bq = QParams.channel(np.asarray(wq.scale) * xq.s)
    return [inp("x", x, I8, xq), par("w", w, I8, wq), par("b", b, I32, bq)]


def make_int_linear(seed, n, c, o, act=(-128, 127), x_zero=None):
    rng = np.random.default_rng(seed)
    x = rand_i8(rng, (n, c))
    w = rand_i8(rng, (o, c), -127, 127)
    xz = int(rng.integers(-30, 30)) if x_zero is None else x_zero
    x_scale = float(rng.uniform(0.01, 0.05))
    w_scale = rng.uniform(0.002, 0.02, o)
    typical = 75.0 * 73.0 * np.sqrt(c)
    b = rng.integers(-int(typical), int(typical) + 1, o).astype(np.int32)
    y_scale = float(x_scale * w_scale.mean() * typical / 60.0)
    attrs = int_requant_attrs(x_scale, w_scale, y_scale, xz, int(rng.integers(-20, 20)), act)
    return x, w, b, attrs, QParams.tensor(x_scale, xz), QParams.channel(w_scale)


__all__ = ["RTOL", "rel_err", "assert_rel", "Arg", "inp", "par", "GradShim", "run_forward",
           "run_with_grad", "int_requant_attrs", "rand_i8", "make_int_conv", "make_int_linear",
           "conv_args", "F32", "I8", "I32", "QParams"]
