"""Backward pruning and dead-code elimination.

prune_backward: a backward node survives only if a parameter update (or a graph output)
needs one of its outputs, transitively. So bias-only training of the last layers computes no
gradient of any earlier layer, and no weight gradient at all.
dce: removes any node whose outputs nobody reads (e.g. a channel gather left unused).
"""
from __future__ import annotations

from ..ir.graph import Graph, prune_values


def _live_nodes(g: Graph, roots, keep) -> set:
    """Indices of nodes needed by `roots` (value names) plus nodes for which keep(node)."""
    prod = g.producer()
    live: set = set()
    stack = [prod[r] for r in roots if r in prod]
    stack += [i for i, n in enumerate(g.nodes) if keep(n)]
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        stack.extend(prod[v] for v in g.nodes[i].inputs if v in prod)
    return live


def prune_backward(g: Graph) -> Graph:
    """Drop backward nodes no update or output needs; forward and update nodes stay."""
    live = _live_nodes(g, g.outputs, lambda n: n.phase in ("fwd", "upd"))
    nodes = tuple(n for i, n in enumerate(g.nodes) if i in live or n.phase != "bwd")
    return prune_values(g.replace(nodes=nodes))


def dce(g: Graph) -> Graph:
    """Drop every node whose outputs are not needed by the graph outputs."""
    live = _live_nodes(g, g.outputs, lambda n: n.phase == "upd")
    return prune_values(g.replace(nodes=tuple(n for i, n in enumerate(g.nodes) if i in live)))
