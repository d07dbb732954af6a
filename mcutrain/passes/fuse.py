"""Fuse each weight gradient with its update: weight_grad_update computes the gradient of one
output channel (row) and applies the SGD step to it at once, so a layer's whole weight
gradient never exists (the paper's in-place update, taken to the row)."""
from __future__ import annotations

from ..ir.graph import Graph, Node, prune_values

GRAD_OPS = ("conv2d_grad_weight", "linear_grad_weight")


def fuse_weight_grad_update(g: Graph) -> Graph:
    cons = g.consumers()
    prod = g.producer()
    drop, replace_at = set(), {}
    for i, n in enumerate(g.nodes):
        if n.op != "sgd_update":
            continue
        grad = n.inputs[1]
        j = prod.get(grad)
        if j is None or g.nodes[j].op not in GRAD_OPS or cons[grad] != [i]:
            continue
        gn = g.nodes[j]
        fused = Node("weight_grad_update", tuple(gn.inputs) + (n.inputs[0],) + tuple(n.inputs[2:]),
                     n.outputs, dict(grad_op=gn.op, grad=dict(gn.attrs), sgd=dict(n.attrs)), "upd")
        # the fused node runs where the update ran (after every reader of the old weights)
        drop.add(j)
        replace_at[i] = fused
    nodes = tuple(replace_at.get(i, n) for i, n in enumerate(g.nodes) if i not in drop)
    return prune_values(g.replace(nodes=nodes))
