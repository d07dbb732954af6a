"""reshape (flatten) and gather_channels (the saved input of a channel-fraction layer).

Shapes in attrs never include the batch dimension: reshape[shape=(C*H*W,)] maps
[N, C, H, W] -> [N, C*H*W] for any N.
"""
from __future__ import annotations

import numpy as np

from .common import check, hwc
from .registry import OpDef, register


def _rs_infer(ins, a):
    x = ins[0]
    shape = tuple(a["shape"])
    check(int(np.prod(shape)) == int(np.prod(x.shape[1:])),
          f"reshape: {list(x.shape[1:])} cannot become {list(shape)}")
    return [((x.shape[0],) + shape, x.dtype, x.q)]


def _rs_ref(ins, a):
    return [ins[0].reshape((ins[0].shape[0],) + tuple(a["shape"]))]


def _rs_grad(gb, node, gys):
    if gys[0] is None:
        return [None]
    return [gb.emit1("reshape", [gys[0]], dict(shape=tuple(gb.value(node.inputs[0]).shape[1:])))]


def _emit_reshape(ctx, i, n):
    return ["/* reshape: same buffer */"]


register(OpDef("reshape", _rs_infer, _rs_ref, _rs_grad, None, "reshape / flatten",
               emit=_emit_reshape))


def _gc_infer(ins, a):
    x = ins[0]
    ch = tuple(a["channels"])
    check(len(ch) > 0 and all(0 <= c < x.shape[1] for c in ch),
          f"gather_channels: channels out of range for {x.shape[1]}")
    return [((x.shape[0], len(ch)) + tuple(x.shape[2:]), x.dtype, x.q)]


def _gc_ref(ins, a):
    return [np.ascontiguousarray(ins[0][:, list(a["channels"])])]


def _emit_gather(ctx, i, n):
    h, w, c = hwc(ctx.values[n.inputs[0]].shape)
    ch = n.attrs["channels"]
    sel = ctx.table(f"{n.outputs[0]}.sel", "int32_t", ch)
    return [f"st |= mct_gather_channels_s8({h * w}, {c}, {sel}, {len(ch)}, "
            f"{ctx.ref(n.inputs[0])}, {ctx.ref(n.outputs[0])});"]


register(OpDef("gather_channels", _gc_infer, _gc_ref, None, None,
               "x[:, channels]: keeps only the input channels whose weights train",
               emit=_emit_gather))
