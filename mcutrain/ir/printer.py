"""Readable text form of a Graph, and a parser for it (test fixtures, golden files).

    input %x:i8[1,3,8,8] q(s=0.0078125,z=0)
    param %w0:i8[8,3,3,3] q(s=<8>,axis=0)
    %t0:i8[1,8,8,8] q(s=0.0235,z=-128) = conv2d[stride=(1, 1), padding=(1, 1)](%x, %w0, %b0)
    return %t0

`format_graph(g)` abbreviates long attribute tuples (`<16 values>`); `format_graph(g, full=True)`
writes everything, and `parse_graph` reads that form back (param data come from `consts`).
"""
from __future__ import annotations

import ast
import re

import numpy as np

from .dtype import QParams
from .graph import Graph, Node, Value

_ABBREV = 6
_PHASE_TITLE = {"fwd": "forward", "bwd": "backward", "upd": "update"}
_PHASE_OF = {v: k for k, v in _PHASE_TITLE.items()}


def _plain(v):
    """numpy scalars/arrays -> plain Python values (so repr parses back with literal_eval)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _fmt_attr(v, full: bool) -> str:
    v = _plain(v)
    if isinstance(v, float) and not np.isfinite(v):
        raise ValueError(f"attribute value {v} cannot be written")
    if isinstance(v, (tuple, list)) and len(v) > _ABBREV and not full:
        return f"<{len(v)} values>"
    if isinstance(v, float):
        return repr(v)
    return repr(v)


def _fmt_q(q: QParams | None, full: bool) -> str:
    if q is None:
        return ""
    if full:
        ax = "" if q.axis is None else f",axis={q.axis}"
        return f" q(s={list(q.scale)!r},z={q.zero_point}{ax})"
    return f" {q}"


def format_value(v: Value, full: bool = False) -> str:
    return f"%{v.name}:{v.type_str()}{_fmt_q(v.q, full)}"


def format_node(g: Graph, n: Node, full: bool = False) -> str:
    outs = ", ".join(format_value(g.values[o], full) for o in n.outputs)
    attrs = ", ".join(f"{k}={_fmt_attr(v, full)}" for k, v in n.attrs.items())
    attrs = f"[{attrs}]" if attrs else ""
    ins = ", ".join(f"%{i}" for i in n.inputs)
    return f"{outs} = {n.op}{attrs}({ins})"


def format_graph(g: Graph, full: bool = False) -> str:
    lines = []
    for name in g.inputs:
        lines.append(f"input {format_value(g.values[name], full)}")
    for v in g.values.values():
        if v.role in ("param", "const", "state"):
            lines.append(f"{v.role} {format_value(v, full)}")
    phase = "fwd"
    for n in g.nodes:
        if n.phase != phase:
            phase = n.phase
            lines.append(f"# {_PHASE_TITLE[phase]}")
        lines.append(format_node(g, n, full))
    lines.append("return " + ", ".join(f"%{o}" for o in g.outputs))
    return "\n".join(lines)


_VAL = re.compile(r"%(?P<name>[\w.\-]+):(?P<dt>\w+)\[(?P<shape>[\d,]*)\]"
                  r"(?: q\(s=(?P<s>\[[^\]]*\]),z=(?P<z>-?\d+)(?:,axis=(?P<ax>\d+))?\))?")


def _parse_value(text: str, role: str) -> Value:
    m = _VAL.fullmatch(text.strip())
    if not m:
        raise ValueError(f"cannot parse value {text!r}")
    shape = tuple(int(d) for d in m["shape"].split(",") if d)
    q = None
    if m["s"]:
        ax = int(m["ax"]) if m["ax"] is not None else None
        q = QParams(tuple(ast.literal_eval(m["s"])), int(m["z"]), ax)
    return Value(m["name"], shape, m["dt"], q, role)


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets/parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def parse_graph(text: str, consts: dict | None = None) -> Graph:
    """Inverse of format_graph(g, full=True). Missing const data become zeros."""
    values, nodes, inputs, outputs, data = {}, [], [], (), dict(consts or {})
    node_re = re.compile(r"(?P<outs>.+?) = (?P<op>\w+)(?:\[(?P<attrs>.*)\])?\((?P<ins>[^()]*)\)$")
    phase = "fwd"
    for raw in text.strip().splitlines():
        line = raw.strip()
        if line.startswith("#"):
            phase = _PHASE_OF.get(line[1:].strip(), phase)
            continue
        if not line:
            continue
        head = line.split(" ", 1)[0]
        if head in ("input", "param", "const", "state"):
            v = _parse_value(line.split(" ", 1)[1], head)
            values[v.name] = v
            if head == "input":
                inputs.append(v.name)
            else:
                from .dtype import NP_DTYPE
                data.setdefault(v.name, np.zeros(v.shape, NP_DTYPE[v.dtype]))
        elif head == "return":
            outputs = tuple(o.strip().lstrip("%") for o in line[6:].split(",") if o.strip())
        else:
            m = node_re.match(line)
            if not m:
                raise ValueError(f"cannot parse line {line!r}")
            outs = [_parse_value(t, "act") for t in _split_top(m["outs"])]
            for v in outs:
                values[v.name] = v
            attrs = {}
            if m["attrs"]:
                call = ast.parse(f"f({m['attrs']})", mode="eval").body
                attrs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
            ins = tuple(i.strip().lstrip("%") for i in m["ins"].split(",") if i.strip())
            nodes.append(Node(m["op"], ins, tuple(v.name for v in outs), attrs, phase))
    return Graph(values, tuple(nodes), tuple(inputs), outputs, data, {})
