"""In-place execution: a layer whose input dies at it writes its output over that input.

mark_inplace sets attrs["inplace"] on nodes whose kernels have an in-place form (the math
and so the reference are unchanged; codegen aliases the buffers and calls the in-place
kernel):
- "pointwise": 1x1 conv; pixel by pixel, forward or backward by channel counts;
- "depthwise": depthwise conv, one channel at a time through a one-channel scratch;
- "rows": any other conv, row by row, the output placed `conv_rows_gap` bytes before the
  input so that no row is overwritten before the last output row that reads it;
- conv2d_grad_input, pointwise or depthwise, over its output gradient;
- expand_depthwise "rows": streamed by output rows through a ring of k_h expanded rows, the
  output placed `expand_rows_gap` bytes before the input.
In HWC layout each of these overwrites only input bytes that are already consumed.
"""
from __future__ import annotations

from dataclasses import replace

from ..ir.graph import Graph
from ..ops.conv import conv_kind, inplace_kind

ALIASES = ("reshape",)  # ops whose output is the same buffer as their input


def last_uses(g: Graph) -> dict:
    """value -> index of the last node reading it or any alias of it (graph outputs: inf)."""
    root = {}
    for n in g.nodes:
        if n.op in ALIASES:
            root[n.outputs[0]] = root.get(n.inputs[0], n.inputs[0])
    last: dict = {}
    for i, n in enumerate(g.nodes):
        for v in n.inputs:
            r = root.get(v, v)
            last[r] = i
    for o in g.outputs:
        last[root.get(o, o)] = float("inf")
    return {v: last.get(root.get(v, v), -1) for v in g.values}


def conv_inplace_form(n, g: Graph) -> str:
    """The in-place form of conv node n ("" if none), by ops/conv.py's one rule."""
    x, w = g.values[n.inputs[0]], g.values[n.inputs[1]]
    a = n.attrs
    in_c, out_c = x.shape[1], w.shape[0]
    kind = conv_kind(in_c, out_c, tuple(w.shape[2:]), a.get("stride", (1, 1)),
                         a.get("padding", (0, 0)), a.get("groups", 1))
    return inplace_kind(kind, in_c, out_c)


def conv_rows_gap(in_hwc, out_hwc, stride_h: int, pad_h: int) -> int:
    """Bytes the output of an in-place "rows" conv must start before its input."""
    (ih, iw, ic), (oh, ow, oc) = in_hwc, out_hwc
    gap = 0
    for r in range(oh - 1):
        first = max(0, stride_h * (r + 1) - pad_h)  # first input row a later output row reads
        if first >= ih:
            break  # later output rows read only padding
        gap = max(gap, (r + 1) * ow * oc - first * iw * ic)
    return gap


def expand_rows_gap(in_hwc, e: int, out_hw, k_h: int, stride_h: int, pad_h: int) -> int:
    """Bytes the output of a streamed expand_depthwise must start before its input."""
    (ih, iw, ic), (oh, ow) = in_hwc, out_hw
    gap = 0
    for r in range(oh - 1):
        gap = max(gap, (r + 1) * ow * e - max(0, min(ih, stride_h * r - pad_h + k_h)) * iw * ic)
    return gap


def mark_inplace(g: Graph) -> Graph:
    last = last_uses(g)
    nodes = list(g.nodes)
    for i, n in enumerate(nodes):
        if n.op == "expand_depthwise":
            x, kind = n.inputs[0], "rows"
        elif n.op == "conv2d" and g.values[n.inputs[0]].dtype == "i8":
            x = n.inputs[0]
            kind = conv_inplace_form(n, g)
        elif n.op == "conv2d_grad_input" and n.attrs.get("w_scale") is not None:
            x = n.inputs[0]
            probe = replace(n, inputs=(n.outputs[0], n.inputs[1], n.inputs[1]))
            kind = conv_inplace_form(probe, g)
            kind = kind if kind in ("pointwise", "depthwise") else ""
        else:
            continue
        if kind and g.values[x].role in ("act", "input") and last[x] == i:
            nodes[i] = replace(n, attrs=dict(n.attrs, inplace=kind))
    return g.replace(nodes=tuple(nodes))
