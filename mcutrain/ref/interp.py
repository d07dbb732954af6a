"""NumPy interpreter: runs any Graph node by node with each op's reference. The spec.

The batch dimension is free: a graph built for N=1 runs on any leading N (attributes never
name the batch), which the evaluation of many images uses.
"""
from __future__ import annotations

import numpy as np

from ..ir.dtype import NP_DTYPE
from ..ir.graph import Graph
from ..ops.registry import get_op


class InterpError(RuntimeError):
    pass


def needed_nodes(g: Graph, outputs) -> list[int]:
    """Indices of the nodes that the given outputs depend on, in order."""
    prod = g.producer()
    need, stack, seen = set(), list(outputs), set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        i = prod.get(v)
        if i is not None and i not in need:
            need.add(i)
            stack.extend(g.nodes[i].inputs)
    return sorted(need)


def run(g: Graph, feeds: dict, params: dict | None = None, outputs=None,
        keep_all: bool = False) -> dict:
    """Run graph g. feeds: input name -> array; params: overrides of const/param/state data.

    Returns {name: array} for `outputs` (default: the graph outputs), or every value
    computed when keep_all is set.
    """
    outputs = tuple(outputs) if outputs is not None else g.outputs
    env = dict(g.consts)
    if params:
        env.update(params)
    for name in g.inputs:
        if name not in feeds:
            if name in env:
                continue
            idx = needed_nodes(g, outputs)
            if any(name in g.nodes[i].inputs for i in idx):
                raise InterpError(f"missing feed for graph input %{name}")
            continue
        v = g.values[name]
        arr = np.asarray(feeds[name])
        want = np.dtype(NP_DTYPE[v.dtype])
        if arr.dtype != want:
            raise InterpError(f"input %{name}: expected {want}, got {arr.dtype}")
        if arr.shape[1:] != v.shape[1:]:
            raise InterpError(f"input %{name}: expected [N,{','.join(map(str, v.shape[1:]))}], "
                              f"got {list(arr.shape)}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise InterpError(f"input %{name} contains NaN or Inf")
        env[name] = arr
    for i in needed_nodes(g, outputs):
        n = g.nodes[i]
        try:
            res = get_op(n.op).ref([env[x] for x in n.inputs], n.attrs)
        except KeyError as e:
            raise InterpError(f"node {i} ({n.op}): missing value {e}") from None
        for name, arr in zip(n.outputs, res):
            env[name] = arr
    if keep_all:
        return env
    return {o: env[o] for o in outputs}
