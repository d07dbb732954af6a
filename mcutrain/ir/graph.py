"""Values, nodes and graphs: an ordered SSA list, immutable once built.

A Graph is a tuple of Nodes in execution order; each Node reads named Values and defines
new ones (each name is defined once). Parameters and constants are Values whose data sit in
`Graph.consts`. Passes never mutate a Graph: they build a new one (`Graph.replace`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .dtype import DTYPES, NP_DTYPE, QParams

ROLES = ("input", "param", "const", "state", "act")


@dataclass(frozen=True)
class Value:
    """A typed tensor. role: input (fed per step), param (trainable or frozen weight/bias),
    const (tables), state (optimizer state), act (computed by a node)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    q: QParams | None = None
    role: str = "act"

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"value {self.name}: unknown dtype {self.dtype!r}")
        if self.role not in ROLES:
            raise ValueError(f"value {self.name}: unknown role {self.role!r}")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(NP_DTYPE[self.dtype]).itemsize

    def type_str(self) -> str:
        return f"{self.dtype}[{','.join(map(str, self.shape))}]"


@dataclass(frozen=True)
class Node:
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict = field(default_factory=dict, hash=False, compare=True)
    phase: str = "fwd"  # "fwd" forward, "bwd" backward, "upd" parameter update

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


@dataclass(frozen=True)
class Graph:
    values: dict  # name -> Value
    nodes: tuple  # of Node, execution order
    inputs: tuple  # names fed per call (role "input")
    outputs: tuple  # names returned
    consts: dict = field(default_factory=dict)  # name -> np.ndarray for param/const/state
    meta: dict = field(default_factory=dict)  # free-form: layers, training config, ...

    def replace(self, **kw) -> "Graph":
        return replace(self, **kw)

    def __getitem__(self, name: str) -> Value:
        return self.values[name]

    def producer(self) -> dict:
        """name -> index of the node that defines it."""
        return {o: i for i, n in enumerate(self.nodes) for o in n.outputs}

    def consumers(self) -> dict:
        """name -> list of node indices that read it."""
        out: dict = {}
        for i, n in enumerate(self.nodes):
            for v in n.inputs:
                out.setdefault(v, []).append(i)
        return out

    def params(self) -> list[str]:
        return [v.name for v in self.values.values() if v.role == "param"]

    def __str__(self) -> str:
        from .printer import format_graph

        return format_graph(self)


def prune_values(g: Graph) -> Graph:
    """Drop values (and const data) that no node, input or output mentions."""
    used = set(g.inputs) | set(g.outputs)
    for n in g.nodes:
        used.update(n.inputs)
        used.update(n.outputs)
    values = {k: v for k, v in g.values.items() if k in used}
    consts = {k: a for k, a in g.consts.items() if k in used}
    return g.replace(values=values, consts=consts)
