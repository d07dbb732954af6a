"""BatchNorm folding: conv2d/linear followed by batch_norm becomes one conv2d/linear.

Inference BatchNorm is y = k * x + c per channel o, with
    k[o] = gamma[o] / sqrt(var[o] + eps),   c[o] = beta[o] - mean[o] * k[o].
Following y_pre = w * x + b, it folds into
    w'[o] = k[o] * w[o],   b'[o] = k[o] * b[o] + c[o]
(computed in float64, stored float32). The folded node takes over the BatchNorm's output
name, so the rest of the graph is unchanged.

A batch_norm is folded only when its input comes from a float conv2d or linear whose output
nothing else reads (and which is not a graph output), and whose weight and bias no other
node reads. Any other batch_norm is KEPT AS IS: the float graph stays correct, and
quant/quantize.py refuses it with an error naming it.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, prune_values


def _foldable(g: Graph, bn_index: int, prod: dict, cons: dict) -> int | None:
    """Index of the conv2d/linear node the batch_norm at bn_index folds into, or None."""
    x = g.nodes[bn_index].inputs[0]
    if any(p not in g.consts for p in g.nodes[bn_index].inputs[1:]):
        return None
    i = prod.get(x)
    if i is None or x in g.outputs or len(cons.get(x, ())) != 1:
        return None
    node = g.nodes[i]
    if node.op not in ("conv2d", "linear") or g.values[node.inputs[0]].dtype != "f32":
        return None
    if any(len(cons.get(p, ())) != 1 or p not in g.consts for p in node.inputs[1:]):
        return None
    return i


def fold_coefficients(gamma, beta, mean, var, eps):
    """(k, c) of the BatchNorm as y = k * x + c, in float64."""
    k = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    return k, beta.astype(np.float64) - mean.astype(np.float64) * k


def fold_batchnorm(g: Graph) -> Graph:
    """Return a graph with every foldable conv/linear + batch_norm pair merged."""
    prod, cons = g.producer(), g.consumers()
    nodes, consts, values = list(g.nodes), dict(g.consts), dict(g.values)
    drop = set()
    for j, bn in enumerate(g.nodes):
        if bn.op != "batch_norm":
            continue
        i = _foldable(g, j, prod, cons)
        if i is None:
            continue
        conv = nodes[i]
        x, w, b = conv.inputs
        gamma, beta, mean, var = (g.consts[p] for p in bn.inputs[1:])
        k, c = fold_coefficients(gamma, beta, mean, var, bn.attr("eps", 1e-5))
        wk = g.consts[w].astype(np.float64) * k.reshape((-1,) + (1,) * (g.consts[w].ndim - 1))
        consts[w] = wk.astype(np.float32)
        consts[b] = (g.consts[b].astype(np.float64) * k + c).astype(np.float32)
        nodes[i] = Node(conv.op, conv.inputs, bn.outputs, dict(conv.attrs), conv.phase)
        values.pop(conv.outputs[0])
        drop.add(j)
    nodes = tuple(n for j, n in enumerate(nodes) if j not in drop)
    return prune_values(g.replace(nodes=nodes, consts=consts, values=values))
