"""Graph verifier: SSA order, known ops, re-inferred types, quantization params, const data;
and load_graph, a saved graph read (ir/serialize.read_graph) and checked against the ops
before anything trusts it."""
from __future__ import annotations

import numpy as np

from ..errors import InputError, McuError
from ..ir.dtype import I8, NP_DTYPE
from ..ir.graph import Graph
from ..ir.serialize import one_line, read_graph
from .registry import get_op


class VerifyError(ValueError):
    pass


def verify(g: Graph) -> Graph:
    """Raise VerifyError naming the first problem; return g unchanged when it is sound."""
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


def load_graph(path) -> Graph:
    """Read a graph written by save_graph; any other file raises InputError naming it (a
    UsageError when the path is wrong). The graph is verified before it is returned."""
    g = read_graph(path)
    try:
        _check_int_attrs(g)
        return verify(g)
    except McuError:
        raise
    except Exception as e:  # the text and JSON are the file's: any failure is a bad file
        raise InputError(f"saved graph {path}: {one_line(e)}") from None


# ---- the integer attributes the generated C trusts -------------------------------------------

INT8_RANGE = (-128, 127)
SHIFT_RANGE = (-31, 30)  # ops/fixedpoint.py: MIN_SHIFT, MAX_SHIFT
MULT_RANGE = (0, 2**31 - 1)
ADD_PARAMS = dict(left_shift=(0, 30), x_mult=MULT_RANGE, x_shift=SHIFT_RANGE, y_mult=MULT_RANGE,
                  y_shift=SHIFT_RANGE, out_mult=MULT_RANGE, out_shift=SHIFT_RANGE)


def _check_int_attrs(g: Graph):
    """The integer attributes the generated C trusts (per-channel mult/shift tables, zero
    points, clamp bounds, window geometry) of the int8 forward ops: verify() checks shapes,
    not these, and a short table would be read past its end by the C."""
    for n in g.nodes:
        if not n.inputs or g.values[n.inputs[0]].dtype != "i8":
            continue
        where = f"node {n.op} -> %{n.outputs[0]}"
        a = n.attrs
        if n.op in ("conv2d", "linear"):
            _check_requant(a, g.values[n.inputs[1]].shape[0], where)
            if n.op == "conv2d":
                _check_geometry(a, ("stride", "padding"), where)
        elif n.op == "add":
            for k in ("x_zero", "y_zero_in", "y_zero", "act_min", "act_max"):
                _int_in(a.get(k), INT8_RANGE, f"{where}: {k}")
            p = a.get("params")
            if not isinstance(p, dict):
                raise InputError(f"{where}: params must be a dict of integers")
            for k, rng in ADD_PARAMS.items():
                _int_in(p.get(k), rng, f"{where}: params.{k}")
        elif n.op == "clamp":
            for k in ("lo", "hi"):
                if a.get(k) is not None:
                    _int_in(a[k], INT8_RANGE, f"{where}: {k}")
        elif n.op == "maxpool2d":
            _check_geometry(a, ("kernel", "stride", "padding"), where)


def _check_requant(a: dict, out_ch: int, where: str):
    for k in ("x_zero", "y_zero", "act_min", "act_max"):
        _int_in(a.get(k), INT8_RANGE, f"{where}: {k}")
    if a["act_min"] > a["act_max"]:
        raise InputError(f"{where}: act_min {a['act_min']} > act_max {a['act_max']}")
    for k, rng in (("mult", MULT_RANGE), ("shift", SHIFT_RANGE)):
        v = a.get(k)
        if not isinstance(v, (tuple, list)) or len(v) != out_ch:
            raise InputError(f"{where}: {k} must hold {out_ch} integers (one per channel)")
        for x in v:
            _int_in(x, rng, f"{where}: {k}")


def _check_geometry(a: dict, keys, where: str):
    for k in keys:
        if k not in a and k != "kernel":
            continue
        v = a.get(k)
        vs = v if isinstance(v, (tuple, list)) else (v,)
        lo = 0 if k == "padding" else 1
        if len(vs) not in (1, 2) or not all(
                isinstance(x, int) and not isinstance(x, bool) and lo <= x <= 64 for x in vs):
            raise InputError(f"{where}: {k} must be integers in {lo}..64, got "
                             f"{one_line(repr(v), 40)}")


def _int_in(v, rng, where):
    if isinstance(v, bool) or not isinstance(v, int) or not rng[0] <= v <= rng[1]:
        raise InputError(f"{where} must be an integer in {rng[0]}..{rng[1]}, got "
                         f"{one_line(repr(v), 40)}")
