"""Values, nodes and graphs: an ordered SSA list, immutable once built.

A Graph is a tuple of Nodes in execution order; each Node reads named Values and defines
new ones (each name is defined once). Parameters and constants are Values whose data sit in
`Graph.consts`. Passes never mutate a Graph: they build a new one (`Graph.replace`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

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


class GraphBuilder:
    """Builds a Graph node by node, inferring output types from the op registry."""

    def __init__(self, graph: Graph | None = None, prefix: str = "t"):
        self.values: dict = dict(graph.values) if graph else {}
        self.nodes: list = list(graph.nodes) if graph else []
        self.inputs: list = list(graph.inputs) if graph else []
        self.outputs: list = list(graph.outputs) if graph else []
        self.consts: dict = dict(graph.consts) if graph else {}
        self.meta: dict = dict(graph.meta) if graph else {}
        self._prefix = prefix
        self._counter = itertools.count()
        self.phase = "fwd"  # phase given to emitted nodes

    # -- names ---------------------------------------------------------------------------
    def fresh(self, hint: str | None = None) -> str:
        base = hint or self._prefix
        if base not in self.values:
            return base
        while True:
            name = f"{base}.{next(self._counter)}"
            if name not in self.values:
                return name

    def value(self, name: str) -> Value:
        return self.values[name]

    # -- values --------------------------------------------------------------------------
    def add_value(self, v: Value) -> str:
        if v.name in self.values:
            raise ValueError(f"value {v.name} defined twice")
        self.values[v.name] = v
        return v.name

    def input(self, name: str, shape, dtype: str, q: QParams | None = None) -> str:
        self.add_value(Value(name, tuple(shape), dtype, q, "input"))
        self.inputs.append(name)
        return name

    def param(self, name: str, data: np.ndarray, dtype: str, q: QParams | None = None,
              role: str = "param") -> str:
        arr = np.array(data, dtype=NP_DTYPE[dtype], order="C")  # keeps 0-d data 0-d
        name = self.fresh(name)
        self.add_value(Value(name, arr.shape, dtype, q, role))
        self.consts[name] = arr
        return name

    # -- nodes ---------------------------------------------------------------------------
    def emit(self, op: str, inputs: Iterable[str], attrs: dict | None = None,
             names: Iterable[str] | None = None, at: int | None = None,
             phase: str | None = None) -> tuple[str, ...]:
        """Append (or insert at index `at`) a node; returns its output names."""
        from ..ops.registry import get_op

        opdef = get_op(op)
        inputs = tuple(inputs)
        attrs = dict(attrs or {})
        in_vals = [self.values[i] for i in inputs]
        out_types = opdef.infer(in_vals, attrs)
        names = list(names) if names else [None] * len(out_types)
        outs = []
        for (shape, dtype, q), hint in zip(out_types, names):
            name = self.fresh(hint)
            self.add_value(Value(name, tuple(shape), dtype, q, "act"))
            outs.append(name)
        node = Node(op, inputs, tuple(outs), attrs, phase or self.phase)
        if at is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(at, node)
        return tuple(outs)

    def emit1(self, op: str, inputs: Iterable[str], attrs: dict | None = None,
              name: str | None = None, at: int | None = None, phase: str | None = None) -> str:
        return self.emit(op, inputs, attrs, [name] if name else None, at, phase)[0]

    def build(self, outputs: Iterable[str] | None = None) -> Graph:
        outs = tuple(outputs) if outputs is not None else tuple(self.outputs)
        return Graph(dict(self.values), tuple(self.nodes), tuple(self.inputs), outs,
                     dict(self.consts), dict(self.meta))


def prune_values(g: Graph) -> Graph:
    """Drop values (and const data) that no node, input or output mentions."""
    used = set(g.inputs) | set(g.outputs)
    for n in g.nodes:
        used.update(n.inputs)
        used.update(n.outputs)
    values = {k: v for k, v in g.values.items() if k in used}
    consts = {k: a for k, a in g.consts.items() if k in used}
    return g.replace(values=values, consts=consts)
