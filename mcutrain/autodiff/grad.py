"""Reverse walk over the forward nodes, calling each OpDef.grad to emit backward nodes.

Gradients are float32 and flow as gradients of the REAL values (r = s (q - z)); the rules
turn them into integer-domain parameter gradients at the parameters (see ops/conv.py).
Every differentiable value gets a gradient here, needed or not: autodiff/prune.py removes the
backward nodes that no trained parameter needs.
"""
from __future__ import annotations

from ..ir.graph import Graph
from ..ops.builder import GraphBuilder
from ..ops.registry import get_op

LOSS_OPS = ("softmax_ce", "mse")


class GradBuilder(GraphBuilder):
    """GraphBuilder for gradient rules: emits in phase "bwd"; knows the channel subsets."""

    def __init__(self, graph: Graph, channel_subsets: dict | None = None):
        super().__init__(graph, prefix="g")
        self.phase = "bwd"
        self.channel_subsets = dict(channel_subsets or {})
        self._saved: dict = {}

    def saved_input(self, node, x: str, w: str):
        """The value the weight gradient of `node` reads: x itself, or, when only some input
        channels of weight w train, x[:, channels] gathered right before the forward node
        (so only those channels need to stay alive until the backward pass)."""
        ch = self.channel_subsets.get(w)
        if ch is None:
            return x, None
        key = (x, tuple(ch))
        if key not in self._saved:
            at = self.nodes.index(node)
            self._saved[key] = self.emit1("gather_channels", [x], dict(channels=tuple(ch)),
                                          name=f"{x}.saved", at=at, phase="fwd")
        return self._saved[key], tuple(ch)


def append_backward(g: Graph, loss: str, channel_subsets: dict | None = None):
    """Append the backward pass of scalar `loss` to g.

    Returns (graph, grads) with grads: value name -> name of its gradient (for every param
    and activation the loss depends on; graph inputs get none).
    """
    gb = GradBuilder(g, channel_subsets)
    forward = [n for n in g.nodes if n.phase == "fwd"]
    grads: dict = {}
    seen_loss = False
    for node in reversed(forward):
        if loss in node.outputs:
            if node.op not in LOSS_OPS:
                raise ValueError(f"loss %{loss} must come from one of {LOSS_OPS}, not {node.op}")
            gys = [loss]
            seen_loss = True
        else:
            gys = [grads.get(o) for o in node.outputs]
        if all(gy is None for gy in gys):
            continue
        gb._prefix = f"d.{node.outputs[0]}"  # backward values read as d.<forward value>
        gins = get_op(node.op).grad(gb, node, gys) if get_op(node.op).grad else None
        if gins is None:
            raise ValueError(f"op {node.op} has no gradient rule")
        for inp, gi in zip(node.inputs, gins):
            if gi is None or gb.value(inp).role in ("input", "const", "state"):
                continue
            grads[inp] = gb.emit1("add", [grads[inp], gi], name=f"{inp}.gsum") if inp in grads else gi
    if not seen_loss:
        raise ValueError(f"loss %{loss} is not produced by a forward node")
    return gb.build(), grads
