"""Backward pruning and dead-code elimination.

prune_backward: a backward node survives only if a parameter update (or a graph output)
needs one of its outputs, transitively. So bias-only training of the last layers computes no
gradient of any earlier layer, and no weight gradient at all.
dce: removes any node whose outputs nobody reads (e.g. a channel gather left unused).
Both are the first passes of passes/pipeline.PIPELINE too; make_training_graph runs them
itself (TRAINING_PASSES), so the training graph it returns is what the reference trains.

run_passes applies a list of passes, printing the graph after each (MCT_DUMP_IR=1) and
verifying it between them (MCT_VERIFY=1).
"""
from __future__ import annotations

import os

from ..ir.graph import Graph, prune_values
from ..ops.verify import verify


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


TRAINING_PASSES = [prune_backward, dce]


def run_passes(g: Graph, passes) -> Graph:
    dump, check = os.environ.get("MCT_DUMP_IR") == "1", os.environ.get("MCT_VERIFY") == "1"
    for p in passes:
        g = p(g)
        if dump:
            print(f"==== after {p.__name__} ====\n{g}\n")
        if check:
            verify(g)
    return g
