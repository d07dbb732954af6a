"""Update schemes and channel selection (the contract in ARCHITECTURE.md).

Schemes: "full", "none", "bias-only:K", "last:K", or {"bias_last": K, "weights": {i: r}}
(a dict or a JSON file). Layer indices count conv2d and linear nodes in forward order from
0, the classifier head included (it is the last); bias_last counts from the end.
A ratio r trains the weights of max(1, int(r * C_in)) input channels of the layer (for a
depthwise conv: of its channels), those whose weight slice has the largest L2 norm.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..ir.graph import Graph

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


def parse_scheme(spec, n_layers: int) -> Scheme:
    """A scheme from its string form, a dict, or a path to a JSON file."""
    if isinstance(spec, Scheme):
        s = spec
    elif isinstance(spec, dict):
        s = _from_dict(spec, "custom")
    elif isinstance(spec, str) and spec == "full":
        s = Scheme(n_layers, {i: 1.0 for i in range(n_layers)}, "full")
    elif isinstance(spec, str) and spec == "none":
        s = Scheme(0, {}, "none")
    elif isinstance(spec, str) and spec.startswith(("bias-only:", "last:")):
        kind, _, k = spec.partition(":")
        if not k.isdigit() or int(k) < 0:
            raise ValueError(f"scheme {spec!r}: K must be a non-negative integer")
        k = min(int(k), n_layers)
        weights = {} if kind == "bias-only" else {i: 1.0 for i in range(n_layers - k, n_layers)}
        s = Scheme(k, weights, spec)
    elif isinstance(spec, (str, os.PathLike)) and os.path.isfile(spec):
        try:
            with open(spec) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"scheme file {spec}: {e}") from None
        s = _from_dict(data, os.path.basename(str(spec)))
    else:
        raise ValueError(f"unknown update scheme {spec!r}: use full, none, bias-only:K, last:K "
                         "or a JSON file {\"bias_last\": K, \"weights\": {\"i\": r}}")
    for i, r in s.weights.items():
        if not 0 <= i < n_layers:
            raise ValueError(f"scheme names layer {i}, but the model has layers 0..{n_layers - 1}")
        if not 0 <= r <= 1:
            raise ValueError(f"scheme: ratio {r} of layer {i} is outside [0, 1]")
    if not 0 <= s.bias_last <= n_layers:
        raise ValueError(f"scheme: bias_last {s.bias_last} outside 0..{n_layers}")
    return s


def _from_dict(d: dict, name: str) -> Scheme:
    unknown = set(d) - {"bias_last", "weights"}
    if unknown:
        raise ValueError(f"scheme: unknown keys {sorted(unknown)}")
    try:
        weights = {int(k): float(v) for k, v in d.get("weights", {}).items()}
        return Scheme(int(d.get("bias_last", 0)), {k: v for k, v in weights.items() if v > 0}, name)
    except (TypeError, ValueError) as e:
        raise ValueError(f"scheme: malformed entry ({e})") from None


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
            raise ValueError(f"layer {L.index}: channel fractions need groups=1 or depthwise")
        channels = select_channels(g.consts[L.weight], ratio, L.depthwise) if ratio > 0 else None
        if ratio > 0 or bias:
            plan[L.index] = {"bias": bias, "ratio": ratio, "channels": channels}
    return plan
