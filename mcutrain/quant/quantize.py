"""Float Graph -> int8 Graph (post-training quantization). The scheme: docs/quantization.md.

    weights      per output channel o, symmetric:  s_w[o] = max|w[o]| / 127, z = 0,
                 q = clamp(round(w / s_w[o]), -127, 127)
    bias         int32, q = sat32(round(b / (s_x * s_w[o])))   QParams.channel(s_x * s_w)
    activations  per tensor, asymmetric, from the calibrated range widened to hold 0:
                 s = (max - min) / 255,  z = clamp(round(-128 - min / s), -128, 127)
    conv/linear  mult, shift = quantize_multiplier(s_x * s_w[o] / s_y)  (float64)
                 a following clamp (ReLU, ReLU6) is absorbed into act_min / act_max
    add          int_add_attrs (fixed-point rescale of both inputs); absorbs a clamp too
    pools, reshape, standalone clamp: same op on int8, the output keeps the input's qparams
round() is round-half-to-even (np.rint). The graph input becomes i8 with `input_q`, the
output stays int8 (the logits' own qparams tell how to read them).
"""
from __future__ import annotations

import numpy as np

from ..ir.dtype import I8, I32, QParams
from ..ir.graph import Graph
from ..ops.builder import GraphBuilder
from ..ops.elementwise import int_add_attrs
from ..ops import fixedpoint as fp
from ..errors import InputError

BIAS_LIMIT = 2**30  # |int32 bias| kept below this, leaving headroom for the accumulator


class QuantizeError(InputError):
    pass


# ---- scales and zero points ----------------------------------------------------------------

def act_qparams(lo: float, hi: float) -> QParams:
    """Per-tensor asymmetric int8 params covering [min(lo, 0), max(hi, 0)]."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0
    if not np.isfinite(scale) or scale <= 1e-12:  # a constant-zero tensor: any scale works
        scale = 1.0 / 255.0
    zero = int(np.clip(np.rint(-128.0 - lo / scale), -128, 127))
    return QParams.tensor(scale, zero)


def level(r: float, q: QParams) -> int:
    """The int8 level standing for real value r (clamped to [-128, 127])."""
    return int(np.clip(np.rint(r / q.s) + q.zero_point, -128, 127))


def weight_scales(w: np.ndarray, b: np.ndarray | None = None, s_x: float = 1.0) -> np.ndarray:
    """s_w[o] = max|w[o]| / 127 (float64); all-zero rows get 1.

    A row so small that its bias would not fit int32 (b / (s_x s_w) > 2^30: a channel that
    BatchNorm folding nearly switched off) gets the smallest scale that keeps the bias.
    """
    m = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).max(axis=1)
    s = np.where(m > 0, m / 127.0, 1.0)
    if b is not None:
        s = np.maximum(s, np.abs(b.astype(np.float64)) / (s_x * BIAS_LIMIT))
    return s


def quantize_weight(w: np.ndarray, scales: np.ndarray) -> np.ndarray:
    s = np.asarray(scales, np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    return np.clip(np.rint(w.astype(np.float64) / s), -127, 127).astype(np.int8)


def quantize_bias(b: np.ndarray, bias_scales: np.ndarray) -> np.ndarray:
    q = np.rint(b.astype(np.float64) / np.asarray(bias_scales, np.float64))
    return fp.saturate_int32(np.clip(q, -(2.0**40), 2.0**40)).astype(np.int32)


def float_to_int8_input(x_f32, q: QParams) -> np.ndarray:
    """q = clamp(round(x / s) + z, -128, 127) as int8."""
    x = np.asarray(x_f32, np.float64)
    return np.clip(np.rint(x / q.s) + q.zero_point, -128, 127).astype(np.int8)


def int8_to_float(x_i8, q: QParams) -> np.ndarray:
    """r = s * (q - z) as float32 (e.g. int8 logits -> float logits)."""
    return ((np.asarray(x_i8, np.float64) - q.zero_point) * q.s).astype(np.float32)


# ---- the conversion ------------------------------------------------------------------------

def _absorbed_clamp(g: Graph, i: int, cons: dict):
    """The clamp node index that node i's output feeds alone (and can absorb), or None."""
    out = g.nodes[i].outputs[0]
    users = cons.get(out, [])
    if out in g.outputs or len(users) != 1 or g.nodes[users[0]].op != "clamp":
        return None
    return users[0]


def _out_q(g, ranges, name, clamp) -> tuple[QParams, tuple[int, int]]:
    """Output qparams and (act_min, act_max) of a conv/linear/add writing `name`."""
    if name not in ranges:
        raise QuantizeError(f"quantize: no calibrated range for %{name}")
    q = act_qparams(*ranges[name])
    lo, hi = (clamp.attr("lo"), clamp.attr("hi")) if clamp is not None else (None, None)
    act_min = -128 if lo is None else max(-128, level(lo, q))
    act_max = 127 if hi is None else min(127, level(hi, q))
    return q, (act_min, act_max)


def _weighted(gb, g, n, ranges, out, clamp):
    """int8 conv2d / linear: per-channel weights, int32 bias, requantization."""
    x, w, b = n.inputs
    xq = gb.value(x).q
    wf, bf = g.consts[w], g.consts[b]
    sw = weight_scales(wf, bf, xq.s)
    wname = gb.param(w, quantize_weight(wf, sw), I8, QParams.channel(sw))
    bname = gb.param(b, quantize_bias(bf, xq.s * sw), I32, QParams.channel(xq.s * sw))
    yq, (act_min, act_max) = _out_q(g, ranges, out, clamp)
    mult, shift = fp.quantize_multiplier(xq.s * sw / yq.s)
    attrs = dict(n.attrs)
    attrs.update(x_zero=int(xq.zero_point), y_scale=float(yq.s), y_zero=int(yq.zero_point),
                 mult=tuple(int(m) for m in mult), shift=tuple(int(s) for s in shift),
                 act_min=int(act_min), act_max=int(act_max))
    gb.emit1(n.op, [x, wname, bname], attrs, name=out)


def _node(gb, g, i, ranges, cons, skip):
    n = g.nodes[i]
    if n.op in ("conv2d", "linear", "add"):
        c = _absorbed_clamp(g, i, cons)
        clamp = g.nodes[c] if c is not None else None
        out = clamp.outputs[0] if clamp is not None else n.outputs[0]
        if c is not None:
            skip.add(c)
        if n.op != "add":
            return _weighted(gb, g, n, ranges, out, clamp)
        yq, act = _out_q(g, ranges, out, clamp)
        aq, bq = (gb.value(v).q for v in n.inputs)
        return gb.emit1("add", n.inputs, int_add_attrs(aq, bq, yq, act), name=out)
    if n.op == "clamp":  # not after a conv/linear/add: clamp the int8 levels directly
        xq = gb.value(n.inputs[0]).q
        lo, hi = n.attr("lo"), n.attr("hi")
        attrs = dict(lo=-128 if lo is None else max(-128, level(lo, xq)),
                     hi=127 if hi is None else min(127, level(hi, xq)))
        return gb.emit1("clamp", n.inputs, attrs, name=n.outputs[0])
    if n.op in ("global_avgpool", "maxpool2d", "reshape"):
        return gb.emit1(n.op, n.inputs, dict(n.attrs), name=n.outputs[0])
    if n.op == "batch_norm":
        raise QuantizeError(f"quantize: batch_norm -> %{n.outputs[0]} could not be folded (it "
                            "must directly follow a conv2d/linear whose output nothing else "
                            "reads); run quant.fold.fold_batchnorm first")
    raise QuantizeError(f"quantize: op {n.op} (-> %{n.outputs[0]}) has no int8 form")


def quantize(float_graph: Graph, ranges: dict, input_q: QParams) -> Graph:
    """Convert a float forward graph (BatchNorm folded) to int8, using calibrated ranges."""
    g = float_graph
    if len(g.inputs) != 1 or g[g.inputs[0]].dtype != "f32":
        raise QuantizeError("quantize: expected a float graph with one f32 input")
    if any(n.phase != "fwd" for n in g.nodes):
        raise QuantizeError("quantize: the graph has backward/update nodes; quantize the "
                            "forward graph before adding training")
    gb = GraphBuilder()
    gb.meta = dict(g.meta)
    gb.input(g.inputs[0], g[g.inputs[0]].shape, I8, input_q)
    cons, skip = g.consumers(), set()
    for i in range(len(g.nodes)):
        if i not in skip:
            _node(gb, g, i, ranges, cons, skip)
    return gb.build(g.outputs)


def quantize_model(float_graph: Graph, calib_samples_f32, input_q: QParams,
                   batch: int = 64) -> Graph:
    """fold_batchnorm + calibrate + quantize."""
    from .calibrate import calibrate
    from .fold import fold_batchnorm

    folded = fold_batchnorm(float_graph)
    return quantize(folded, calibrate(folded, calib_samples_f32, batch), input_q)
