"""GraphBuilder: builds a Graph node by node, each node's output types inferred by its op's
shape rule (ops/registry.py). It sits above the ops (ir/ only knows values and nodes)."""
from __future__ import annotations

import itertools
from typing import Iterable

import numpy as np

from ..ir.dtype import NP_DTYPE, QParams
from ..ir.graph import Graph, Node, Value
from .registry import get_op


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
