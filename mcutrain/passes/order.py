"""Operator order of the training step.

reorder_updates: each parameter update runs as soon as its gradient exists and every reader
of the parameter's old value (its forward layer, its input-gradient node) has run. Then a
parameter's gradient lives only from its producer to the update right after it, so at most
one parameter gradient is alive at a time (the paper's in-place update / operator
reordering), instead of all of them until the end of the backward pass.
"""
from __future__ import annotations

from ..ir.graph import Graph


def _update_deps(g: Graph, i: int, prod: dict, cons: dict) -> set:
    n = g.nodes[i]
    deps = {prod[v] for v in n.inputs if v in prod}
    param = n.inputs[2] if n.op == "weight_grad_update" else n.inputs[0]
    deps |= {j for j in cons.get(param, []) if j != i}
    return deps


def reorder_updates(g: Graph) -> Graph:
    prod, cons = g.producer(), g.consumers()
    upd = [i for i, n in enumerate(g.nodes) if n.phase == "upd"]
    deps = {i: _update_deps(g, i, prod, cons) for i in upd}
    if any(d in upd for ds in deps.values() for d in ds):
        raise ValueError("an update depends on another update")
    order, done, pending = [], set(), list(upd)
    for i, n in enumerate(g.nodes):
        if n.phase == "upd":
            continue
        order.append(i)
        done.add(i)
        for u in [u for u in pending if deps[u] <= done]:
            order.append(u)
            done.add(u)
            pending.remove(u)
    order += pending
    return g.replace(nodes=tuple(g.nodes[i] for i in order))
