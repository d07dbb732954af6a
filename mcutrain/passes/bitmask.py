"""Save 1-bit clamp masks instead of int8 outputs that backward needs only for a mask.

clamp_grad(gy, y) needs of y only whether lo < y < hi. When y has no other backward reader
(it is not the saved input of a weight gradient), the forward pass now also emits
m = clamp_mask(y) (1 bit per element) right after y, and the backward pass reads m, so y
itself can die as soon as the forward pass is done with it: an 8x smaller saved tensor.
"""
from __future__ import annotations

from dataclasses import replace

from ..ir.graph import Graph, prune_values
from ..ops.builder import GraphBuilder


def use_bitmasks(g: Graph) -> Graph:
    cons = g.consumers()
    prod = g.producer()
    b = GraphBuilder(g)
    masks: dict = {}
    for i, n in enumerate(g.nodes):
        if n.op != "clamp_grad" or g.values[n.inputs[1]].dtype != "i8":
            continue
        y = n.inputs[1]
        other_bwd = [j for j in cons[y] if g.nodes[j].phase != "fwd" and g.nodes[j].op != "clamp_grad"]
        if other_bwd or y not in prod:
            continue
        key = (y, n.attrs["lo"], n.attrs["hi"])
        if key not in masks:
            at = b.nodes.index(g.nodes[prod[y]]) + 1
            masks[key] = b.emit1("clamp_mask", [y], dict(lo=n.attrs["lo"], hi=n.attrs["hi"]),
                                 name=f"{y}.mask", at=at, phase="fwd")
        j = b.nodes.index(n)
        b.nodes[j] = replace(n, op="clamp_grad_mask", inputs=(n.inputs[0], masks[key]))
    return prune_values(b.build(g.outputs).replace(meta=g.meta))
