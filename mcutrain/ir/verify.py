"""Graph verifier: SSA order, known ops, re-inferred types, quantization params, const data."""
from __future__ import annotations

import numpy as np

from .dtype import I8, NP_DTYPE
from .graph import Graph


class VerifyError(ValueError):
    pass


def verify(g: Graph) -> Graph:
    """Raise VerifyError naming the first problem; return g unchanged when it is sound."""
    from ..ops.registry import get_op

    defined = set(g.inputs)
    for name in g.inputs:
        if name not in g.values or g.values[name].role != "input":
            raise VerifyError(f"graph input %{name} is not a declared input value")
    for name, v in g.values.items():
        if name != v.name:
            raise VerifyError(f"value key {name} != value name {v.name}")
        if v.role in ("param", "const", "state"):
            if name not in g.consts:
                raise VerifyError(f"{v.role} %{name} has no data")
            arr = g.consts[name]
            if arr.shape != v.shape or arr.dtype != np.dtype(NP_DTYPE[v.dtype]):
                raise VerifyError(f"{v.role} %{name}: data {arr.dtype}{list(arr.shape)} "
                                  f"!= declared {v.type_str()}")
            defined.add(name)
        if v.dtype == I8 and v.q is None:
            raise VerifyError(f"int8 value %{name} has no quantization params")
    for i, n in enumerate(g.nodes):
        where = f"node {i} ({n.op} -> {', '.join(n.outputs)})"
        try:
            opdef = get_op(n.op)
        except KeyError as e:
            raise VerifyError(f"{where}: {e}") from None
        for name in n.inputs:
            if name not in defined:
                raise VerifyError(f"{where}: input %{name} used before it is defined")
        for name in n.outputs:
            if name in defined:
                raise VerifyError(f"{where}: %{name} defined twice (not SSA)")
            if name not in g.values:
                raise VerifyError(f"{where}: output %{name} has no Value")
            defined.add(name)
        try:
            types = opdef.infer([g.values[x] for x in n.inputs], n.attrs)
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise VerifyError(f"{where}: {e}") from None
        if len(types) != len(n.outputs):
            raise VerifyError(f"{where}: op gives {len(types)} outputs, node names {len(n.outputs)}")
        for (shape, dtype, _q), name in zip(types, n.outputs):
            v = g.values[name]
            if tuple(shape) != v.shape or dtype != v.dtype:
                raise VerifyError(f"{where}: %{name} declared {v.type_str()}, op infers "
                                  f"{dtype}[{','.join(map(str, shape))}]")
    for name in g.outputs:
        if name not in defined:
            raise VerifyError(f"graph output %{name} is never defined")
    return g
