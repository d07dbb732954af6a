"""Split an inference graph at a single-tensor boundary: prefix (frozen) and suffix.

A fine-tuning run that trains nothing before layer i can compute the prefix once per image
(its int8 output is exactly what the full model would hold there) and train only the suffix,
whose input is that tensor. `cut_before_layer` picks the last boundary at or before layer i
where exactly one activation is alive (so a residual block is never split).
"""
from __future__ import annotations

from ..ir.graph import Graph, Value, prune_values
from ..autodiff.scheme import find_layers


def boundaries(g: Graph) -> list:
    """(node index k, value) such that after nodes[:k] only `value` is needed by the rest."""
    out = [(0, g.inputs[0])]
    prod = g.producer()
    for k in range(1, len(g.nodes) + 1):
        needed = set()
        for n in g.nodes[k:]:
            for v in n.inputs:
                if v in prod and prod[v] < k:
                    needed.add(v)
        needed |= {o for o in g.outputs if o in prod and prod[o] < k}
        if len(needed) == 1:
            out.append((k, needed.pop()))
    return out


def cut_before_layer(g: Graph, layer: int):
    """(prefix graph: input -> cut value, suffix graph: cut value -> outputs, cut value)."""
    layers = find_layers(g)
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer {layer} outside 0..{len(layers) - 1}")
    limit = layers[layer].node
    k, v = max((kv for kv in boundaries(g) if kv[0] <= limit), key=lambda kv: kv[0])
    prefix = prune_values(g.replace(nodes=g.nodes[:k], outputs=(v,)))
    val = g.values[v]
    values = {name: x for name, x in g.values.items() if name != v}
    values[v] = Value(v, val.shape, val.dtype, val.q, "input")
    suffix = g.replace(values=values, nodes=g.nodes[k:], inputs=(v,))
    suffix = prune_values(suffix)
    meta = dict(g.meta, cut=dict(value=v, node=k, layer_offset=len([L for L in layers if L.node < k])))
    return prefix, suffix.replace(meta=meta), v


