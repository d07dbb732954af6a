"""OpDef: everything about one op in one place.

    infer(in_values, attrs) -> [(shape, dtype, qparams), ...]   shape/dtype rule
    ref(in_arrays, attrs)   -> [array, ...]                       NumPy reference (the spec)
    grad(gb, node, gys)     -> [grad name or None per input]      gradient rule: emits IR nodes
    macs(in_values, out_values, attrs) -> int                     multiply-accumulates
    emit(ctx, i, node)      -> [C line, ...]                      its kernel call (codegen)
    scratch(ctx, i, node)   -> bytes                              caller-owned scratch (plan)
    c_check(ctx, node)      -> None or why the C cannot run it    (plan: refused before any C)

The C slots take a context object from the layer that calls them, so ops never imports
schedule or codegen: `scratch` and `c_check` get the function's memory plan
(schedule/plan.py FunctionPlan: .g, .mode, .storage, .wg_block(node)), `emit` the code
generator's function (codegen/c.py FuncGen: ref, scratch, table, struct, geom, requant,
weights, ...). Step i is the node's index in that function. An op without `emit` has no C
(the plan refuses a graph holding it).

Gradient rules build backward nodes with `gb.emit(...)` (a GradBuilder, autodiff/grad.py).
Gradients flowing between ops are float32 and are taken with respect to the REAL value a
tensor stands for (r = s * (q - z)); only parameter gradients are expressed in the integer
domain of the parameter (int8 weight steps, int32 bias steps).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

_OPS: dict = {}


@dataclass(frozen=True)
class OpDef:
    name: str
    infer: Callable
    ref: Callable
    grad: Callable | None = None
    macs: Callable | None = None
    doc: str = ""
    emit: Callable | None = None
    scratch: Callable | None = None
    c_check: Callable | None = None

    def count_macs(self, ins, outs, attrs) -> int:
        return int(self.macs(ins, outs, attrs)) if self.macs else 0


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _OPS:
        raise ValueError(f"op {opdef.name} registered twice")
    _OPS[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    _load_all()
    try:
        return _OPS[name]
    except KeyError:
        raise KeyError(f"unsupported op {name!r} (known: {', '.join(sorted(_OPS))})") from None


def all_ops() -> dict:
    _load_all()
    return dict(_OPS)


_loaded = False
_loading = threading.RLock()  # two threads building graphs at once must both see every op


def _load_all():
    global _loaded
    if _loaded:
        return
    with _loading:  # re-entrant: an op module may look up ops while it is imported
        if not _loaded:
            from . import act, conv, elementwise, linear, loss, optim, pool, reshape  # noqa: F401
            from . import avgpool, pad, softmax  # noqa: F401  (the .tflite frontend's ops)
            _loaded = True
