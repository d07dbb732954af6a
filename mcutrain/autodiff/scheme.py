"""Update schemes and channel selection (the contract in ARCHITECTURE.md).

Schemes: "full", "none", "bias-only:K", "last:K", or {"bias_last": K, "weights": {i: r}}
(a dict or a JSON file). Layer indices count conv2d and linear nodes in forward order from
0, the classifier head included (it is the last); bias_last counts from the end.
A ratio r trains the weights of max(1, int(r * C_in)) input channels of the layer (for a
depthwise conv: of its channels), those whose weight slice has the largest L2 norm.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, UsageError
from ..ir.graph import Graph
from ..ir.serialize import one_line

LAYER_OPS = ("conv2d", "linear")


@dataclass(frozen=True)
class Scheme:
    bias_last: int = 0
    weights: dict = field(default_factory=dict)  # layer index -> ratio in (0, 1]
    name: str = "custom"

    def to_json(self) -> dict:
        return {"bias_last": self.bias_last,
                "weights": {str(k): v for k, v in sorted(self.weights.items())}}


@dataclass(frozen=True)
class Layer:
    index: int
    node: int  # position in graph.nodes
    op: str
    weight: str
    bias: str
    groups: int
    in_channels: int
    out_channels: int

    @property
    def depthwise(self) -> bool:
        """One filter per channel (multiplier 1): the only grouped form with channel fractions."""
        return self.groups > 1 and self.groups == self.in_channels == self.out_channels


def find_layers(g: Graph) -> list[Layer]:
    out = []
    for i, n in enumerate(g.nodes):
        if n.phase == "fwd" and n.op in LAYER_OPS:
            x = g.values[n.inputs[0]]
            out.append(Layer(len(out), i, n.op, n.inputs[1], n.inputs[2], n.attr("groups", 1),
                             x.shape[1], g.values[n.inputs[1]].shape[0]))
    return out


SCHEME_FORMS = ('full, none, bias-only:K, last:K, or a JSON file {"bias_last": K, "weights": '
                '{"<layer index>": <ratio in [0, 1]>}}')
MAX_SCHEME_FILE = 1 << 20  # a scheme is a few lines; refuse to read a huge file whole


def parse_scheme(spec, n_layers: int) -> Scheme:
    """A scheme from its string form, a dict, or a path to a JSON file.

    What was typed or passed (a string, a dict, a Scheme) that is wrong raises UsageError; a
    scheme file whose contents are wrong raises InputError; both name the scheme."""
    if isinstance(spec, Scheme):
        where, err = f"scheme {spec.name!r}", UsageError
        s = _checked(spec.bias_last, spec.weights, spec.name, where, err)
    elif isinstance(spec, dict):
        where, err = "scheme", UsageError
        s = _from_dict(spec, "custom", where, err)
    elif isinstance(spec, (str, os.PathLike)):
        s, where, err = _from_text(os.fspath(spec), n_layers)
    else:
        raise UsageError(f"update scheme {one_line(repr(spec), 60)}: expected {SCHEME_FORMS}")
    for i in s.weights:
        if not 0 <= i < n_layers:
            raise err(f"{where} names layer {i}, but the model has layers 0..{n_layers - 1}")
    if s.bias_last > n_layers:
        raise err(f"{where}: bias_last {one_line(s.bias_last, 20)} is more than the model's "
                  f"{n_layers} layers")
    return s


def _from_text(text: str, n_layers: int):
    """(Scheme, where, error class) of a scheme string: a named form or a JSON file path."""
    t = text.strip()
    where = f"update scheme {one_line(t, 60)!r}"
    if t == "full":
        return Scheme(n_layers, {i: 1.0 for i in range(n_layers)}, "full"), where, UsageError
    if t == "none":
        return Scheme(0, {}, "none"), where, UsageError
    if t.startswith(("bias-only:", "last:")):
        m = re.fullmatch(r"(bias-only|last):([0-9]{1,9})", t)
        if not m:
            raise UsageError(f"{where}: K must be a non-negative integer (e.g. "
                             f"{t.split(':')[0]}:3)")
        kind, k = m[1], min(int(m[2]), n_layers)
        weights = {} if kind == "bias-only" else {i: 1.0 for i in range(n_layers - k, n_layers)}
        return Scheme(k, weights, t), where, UsageError
    if t == "auto":
        raise UsageError("update scheme 'auto' is planned on data: use mcutrain compile "
                         "--update auto --data DATA --ram SIZE (or mcutrain plan)")
    if os.path.isdir(t):
        raise UsageError(f"scheme file {t}: is a folder, not a JSON file")
    if not os.path.isfile(t):
        if t.lower().endswith(".json") or os.sep in t or "/" in t:
            raise UsageError(f"scheme file {t}: no such file")
        raise UsageError(f"unknown {where}: use {SCHEME_FORMS}")
    where = f"scheme file {t}"
    return _from_dict(_read_json(t, where), os.path.basename(t), where, InputError), where, \
        InputError


def _read_json(path: str, where: str):
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SCHEME_FILE + 1)
    except OSError as e:
        raise InputError(f"{where}: cannot read it ({one_line(e.strerror or e)})") from None
    if len(raw) > MAX_SCHEME_FILE:
        raise InputError(f"{where}: more than {MAX_SCHEME_FILE} bytes; not a scheme")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 text (a scheme is a JSON file)") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg} at line {e.lineno} column "
                         f"{e.colno})") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None


def _from_dict(d, name: str, where: str, err) -> Scheme:
    if not isinstance(d, dict):
        raise err(f'{where}: expected a JSON object {{"bias_last": K, "weights": {{...}}}}, '
                  f"got {type(d).__name__}")
    unknown = set(d) - {"bias_last", "weights"}
    if unknown:
        raise err(f"{where}: unknown keys {one_line(sorted(map(repr, unknown)), 60)} "
                  "(a scheme has bias_last and weights)")
    return _checked(d.get("bias_last", 0), d.get("weights", {}), name, where, err)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v) -> bool:
    return _is_int(v) or isinstance(v, (float, np.floating))


def _checked(bias_last, weights, name: str, where: str, err) -> Scheme:
    """A Scheme of validated parts: bias_last an integer >= 0, weights {layer index: ratio in
    [0, 1]} (ratio 0 trains nothing and is dropped)."""
    whole = _is_int(bias_last) or (_is_number(bias_last) and math.isfinite(bias_last)
                                   and float(bias_last).is_integer())
    if not whole or bias_last < 0:
        raise err(f"{where}: bias_last must be an integer >= 0 (layers from the end), got "
                  f"{one_line(repr(bias_last), 40)}")
    if not isinstance(weights, dict):
        raise err(f'{where}: weights must be an object {{"<layer index>": <ratio>}}, got '
                  f"{type(weights).__name__}")
    out = {}
    for k, v in weights.items():
        if isinstance(k, str) and re.fullmatch(r"[0-9]{1,9}", k.strip()):
            i = int(k)
        elif _is_int(k) and k >= 0:
            i = int(k)
        else:
            raise err(f"{where}: weights key {one_line(repr(k), 40)} is not a layer index "
                      "(an integer >= 0)")
        if i in out:
            raise err(f"{where}: layer {i} appears twice in weights")
        if not _is_number(v) or not 0 <= v <= 1:  # NaN fails the comparison too
            raise err(f"{where}: the ratio of layer {i} must be a number in [0, 1], got "
                      f"{one_line(repr(v), 40)}")
        out[i] = float(v)
    return Scheme(int(bias_last), {k: v for k, v in out.items() if v > 0}, name)


def select_channels(w: np.ndarray, ratio: float, depthwise: bool):
    """Indices (sorted tuple) of the input channels whose weights train, or None for all.

    w: [O, C/g, kh, kw] (conv) or [O, C] (linear). Channels ranked by the L2 norm of their
    weight slice, largest first; ties go to the lower index.
    """
    w = w.astype(np.float64)
    if depthwise:
        norms = np.sqrt((w.reshape(w.shape[0], -1) ** 2).sum(axis=1))
    else:
        norms = np.sqrt((np.moveaxis(w, 1, 0).reshape(w.shape[1], -1) ** 2).sum(axis=1))
    c = len(norms)
    n = max(1, int(ratio * c))
    if n >= c:
        return None
    order = np.argsort(-norms, kind="stable")[:n]
    return tuple(sorted(int(i) for i in order))


def resolve_scheme(scheme: Scheme, layers: list[Layer], g: Graph, always_full=()) -> dict:
    """layer index -> {"bias": bool, "ratio": r or 0, "channels": tuple or None}."""
    n = len(layers)
    plan = {}
    for L in layers:
        ratio = scheme.weights.get(L.index, 0.0)
        bias = L.index >= n - scheme.bias_last
        if L.weight in always_full:
            ratio, bias = 1.0, True
        if L.groups > 1 and not L.depthwise and 0 < ratio < 1:
            raise UsageError(f"scheme: layer {L.index} is a grouped conv; its channel fraction "
                             f"{ratio} needs groups=1 or a depthwise conv (use ratio 1)")
        channels = select_channels(g.consts[L.weight], ratio, L.depthwise) if ratio > 0 else None
        if ratio > 0 or bias:
            plan[L.index] = {"bias": bias, "ratio": ratio, "channels": channels}
    return plan
