"""New task, new head: replace the classifier by a fresh float32 linear layer of N outputs.

The classifier is the last conv2d/linear layer; its input (pooled int8 features) is
dequantized, flattened and fed to linear(f32). Initialization is seeded (uniform in
+-1/sqrt(C), as PyTorch's nn.Linear), so a head is reproducible from (seed, shapes).
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, prune_values
from ..ops.builder import GraphBuilder
from .scheme import find_layers


def replace_head(g: Graph, classes: int, seed: int = 0) -> Graph:
    if classes < 2:
        raise ValueError(f"a classification head needs at least 2 classes, got {classes}")
    layers = find_layers(g)
    if not layers:
        raise ValueError("model has no conv2d/linear layer to replace by a new head")
    last = layers[-1]
    feat = g.nodes[last.node].inputs[0]
    fv = g.values[feat]
    c = int(np.prod(fv.shape[1:]))
    if len(fv.shape) == 4 and fv.shape[2:] != (1, 1):
        raise ValueError(f"classifier input {fv.type_str()} is not pooled to 1x1")
    b = GraphBuilder(g.replace(nodes=g.nodes[:last.node], outputs=()))
    x = feat
    if fv.dtype == "i8":
        x = b.emit1("dequantize", [x], dict(scale=fv.q.s, zero=fv.q.zero_point), name="head.in")
    if len(fv.shape) != 2:
        x = b.emit1("reshape", [x], dict(shape=(c,)), name="head.flat")
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(c)
    w = b.param("head.w", rng.uniform(-bound, bound, (classes, c)), "f32")
    bias = b.param("head.b", rng.uniform(-bound, bound, classes), "f32")
    logits = b.emit1("linear", [x, w, bias], name="logits")
    out = b.build([logits])
    meta = dict(out.meta, fresh_head=w, classes=classes)
    return prune_values(out.replace(meta=meta))
