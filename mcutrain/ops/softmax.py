"""softmax_s8: TFLite's int8 softmax over the last axis (inference only: training reads the
logits before it, the loss has its own float softmax).

    y = clamp(round(256 * exp(beta * s_x * (x - max x)) / sum exp(...)) - 128, -128, 127)

computed in TFLite Micro's fixed point (ops/gemmlowp.softmax_int8): attrs input_multiplier,
input_left_shift, diff_min from gemmlowp.softmax_params(beta, s_x). Output scale 1/256,
zero point -128. No gradient.
"""
from __future__ import annotations

from ..ir.dtype import QParams
from . import gemmlowp as gl
from .common import check
from .registry import OpDef, register

OUT_Q = QParams.tensor(1 / 256, -128)


def _infer(ins, a):
    x = ins[0]
    check(x.dtype == "i8", f"softmax_s8 expects int8, got {x.dtype}")
    check(len(x.shape) >= 2, f"softmax_s8 expects [N, ..., K], got {list(x.shape)}")
    return [(x.shape, "i8", OUT_Q)]


def _ref(ins, a):
    return [gl.softmax_int8(ins[0], a["input_multiplier"], a["input_left_shift"], a["diff_min"])]


def _emit(ctx, i, n):
    a, x = n.attrs, ctx.values[n.inputs[0]]
    sym = ctx.struct(ctx.sym(n.outputs[0], "SM_"), "mct_softmax_params",
                     [a["input_multiplier"], a["input_left_shift"], a["diff_min"]])
    k = x.shape[-1]
    return [f"st |= mct_softmax_s8(&{sym}, {ctx.n(n.inputs[0]) // k}, {k}, "
            f"{ctx.ref(n.inputs[0])}, {ctx.ref(n.outputs[0])});"]


register(OpDef("softmax_s8", _infer, _ref, None,
               lambda ins, outs, a: 0,
               "int8 softmax (TFLite Micro's fixed point), inference only", emit=_emit))
