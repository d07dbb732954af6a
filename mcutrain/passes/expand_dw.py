"""Fuse an inverted-residual block's expansion (1x1 conv) into its depthwise conv.

When a frozen pointwise conv feeds only a frozen depthwise conv (nothing of it is saved for
backward), expand_depthwise computes the expansion one channel at a time straight into the
depthwise conv, so the expanded tensor (the largest activation of the high-resolution
blocks) never exists whole: memory x + y + one channel instead of x + expanded.
"""
from __future__ import annotations

from ..ir.graph import Graph, Node, prune_values
from .inplace import conv_inplace_form


def fuse_expand_depthwise(g: Graph) -> Graph:
    cons = g.consumers()
    frozen = {v for v, val in g.values.items() if val.role in ("param", "const")}
    trained = set()
    for n in g.nodes:
        if n.phase == "upd":
            trained.add(n.inputs[2] if n.op == "weight_grad_update" else n.inputs[0])
    nodes, drop = list(g.nodes), set()
    for i, a in enumerate(g.nodes):
        if a.op != "conv2d" or g.values[a.inputs[0]].dtype != "i8" or \
                conv_inplace_form(a, g) != "pointwise":
            continue
        e = a.outputs[0]
        if len(cons.get(e, [])) != 1 or e in g.outputs:
            continue
        j = cons[e][0]
        b = g.nodes[j]
        if b.op != "conv2d" or b.inputs[0] != e or conv_inplace_form(b, g) != "depthwise":
            continue
        params = [a.inputs[1], a.inputs[2], b.inputs[1], b.inputs[2]]
        if any(p not in frozen or p in trained for p in params):
            continue
        fused = Node("expand_depthwise", (a.inputs[0], *params), b.outputs,
                     dict(pw=dict(a.attrs), dw=dict(b.attrs)), "fwd")
        nodes[j] = fused
        drop.add(i)
    return prune_values(g.replace(nodes=tuple(n for i, n in enumerate(nodes) if i not in drop)))
