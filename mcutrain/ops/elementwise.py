"""Elementwise ops: add (float, or int8 with rescale: the residual add), quantize,
dequantize, batch_norm (inference form; folded away by quant/), and the float gradient sum.

int8 add:  out = clamp(round((s_a (a - z_a) + s_b (b - z_b)) / s_y) + z_y) computed with
fixed-point multipliers (ops/fixedpoint.add_int8). Backward: both inputs get the real
gradient gy masked where the output saturated.
"""
from __future__ import annotations

import numpy as np

from ..ir.dtype import QParams
from . import fixedpoint as fp
from .common import check, f32, float_type, is_int, out_q, tflm
from .registry import OpDef, register


def _add_infer(ins, a):
    x, y = ins
    check(x.shape == y.shape, f"add: shapes differ {list(x.shape)} vs {list(y.shape)}")
    check(x.dtype == y.dtype, f"add: dtypes differ {x.dtype} vs {y.dtype}")
    if is_int(ins):
        return [(x.shape, "i8", out_q(a))]
    return [float_type(x.shape)]


def _add_ref(ins, a):
    x, y = ins
    if x.dtype == np.int8:
        rescale = None
        if a.get("rounding") == "tflm":  # a .tflite graph: TFLite Micro's two roundings
            from .gemmlowp import mbqm as rescale
        out = fp.add_int8(x, y, a["x_zero"], a["y_zero_in"], a["y_zero"], a["params"],
                          a.get("act_min", -128), a.get("act_max", 127), rescale)
        return [out.astype(np.int8)]
    return [f32(x.astype(np.float32) + y.astype(np.float32))]


def _add_grad(gb, node, gys):
    gy = gys[0]
    if gy is None:
        return [None, None]
    if gb.value(node.inputs[0]).dtype == "i8":
        a = node.attrs
        gy = gb.emit1("clamp_grad", [gy, node.outputs[0]],
                      dict(lo=a.get("act_min", -128), hi=a.get("act_max", 127)))
    return [gy, gy]


def _emit_add(ctx, i, n):
    a, b = n.inputs
    y = n.outputs[0]
    if ctx.values[a].dtype == "f32":  # gradient sum
        mode = ctx.mode(i, "copy")
        cnt = ctx.n(y)
        if mode == "acc_a":
            return [f"st |= mct_accumulate_f32({cnt}, {ctx.ref(b)}, {ctx.ref(a)});"]
        if mode == "acc_b":
            return [f"st |= mct_accumulate_f32({cnt}, {ctx.ref(a)}, {ctx.ref(b)});"]
        return [f"memcpy({ctx.ref(y)}, {ctx.ref(a)}, {cnt * 4});",
                f"st |= mct_accumulate_f32({cnt}, {ctx.ref(b)}, {ctx.ref(y)});"]
    at = n.attrs
    p = at["params"]
    vals = [at["x_zero"], at["y_zero_in"], at["y_zero"], at.get("act_min", -128),
            at.get("act_max", 127), p["left_shift"], p["x_mult"], p["x_shift"],
            p["y_mult"], p["y_shift"], p["out_mult"], p["out_shift"]]
    sym = ctx.struct(ctx.sym(y, "A_"), "mct_add_params", vals)
    return [f"st |= mct_add_s8{tflm(at)}(&{sym}, {ctx.n(y)}, {ctx.ref(a)}, {ctx.ref(b)}, "
            f"{ctx.ref(y)});"]


register(OpDef("add", _add_infer, _add_ref, _add_grad,
               lambda ins, outs, a: int(np.prod(outs[0].shape)),
               "x + y; int8 form rescales both inputs to the output scale",
               emit=_emit_add))


def int_add_attrs(xq: QParams, yq: QParams, outq: QParams, act=(-128, 127)) -> dict:
    """Attributes of an int8 add from the quantization of its inputs and output."""
    return dict(x_zero=xq.zero_point, y_zero_in=yq.zero_point, y_scale=outq.s,
                y_zero=outq.zero_point, act_min=act[0], act_max=act[1],
                params=fp.add_params(xq.s, yq.s, outq.s))


def _deq_infer(ins, a):
    check(ins[0].dtype == "i8", "dequantize expects int8")
    return [float_type(ins[0].shape)]


def _deq_ref(ins, a):
    return [f32((ins[0].astype(np.float64) - a["zero"]) * a["scale"])]


def _emit_dequantize(ctx, i, n):
    a = n.attrs
    return [f"st |= mct_dequantize_s8({ctx.n(n.inputs[0])}, {ctx.c_float(a['scale'])}, "
            f"{a['zero']}, {ctx.ref(n.inputs[0])}, {ctx.ref(n.outputs[0])});"]


register(OpDef("dequantize", _deq_infer, _deq_ref, lambda gb, n, gys: [gys[0]], None,
               "r = scale * (q - zero) as float32",
               emit=_emit_dequantize))


def _q_infer(ins, a):
    return [(ins[0].shape, "i8", QParams.tensor(a["scale"], a["zero"]))]


def _q_ref(ins, a):
    q = np.rint(ins[0].astype(np.float64) / a["scale"]) + a["zero"]
    return [np.clip(q, -128, 127).astype(np.int8)]


register(OpDef("quantize", _q_infer, _q_ref, lambda gb, n, gys: [gys[0]], None,
               "q = clamp(round_half_even(r / scale) + zero); straight-through gradient"))


def _bn_infer(ins, a):
    x = ins[0]
    for p in ins[1:]:
        check(p.shape == (x.shape[1],), f"batch_norm: parameter {list(p.shape)} != [{x.shape[1]}]")
    return [float_type(x.shape)]


def _bn_coeffs(gamma, beta, mean, var, eps):
    inv = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    return inv, beta.astype(np.float64) - mean.astype(np.float64) * inv


def _bn_ref(ins, a):
    x, gamma, beta, mean, var = ins
    k, c = _bn_coeffs(gamma, beta, mean, var, a.get("eps", 1e-5))
    sh = (1, -1) + (1,) * (x.ndim - 2)
    return [f32(x.astype(np.float64) * k.reshape(sh) + c.reshape(sh))]


def _bn_grad(gb, node, gys):
    if gys[0] is None:
        return [None] * 5
    gx, ggamma, gbeta = gb.emit("batch_norm_grad", [gys[0]] + list(node.inputs),
                                dict(eps=node.attr("eps", 1e-5)))
    return [gx, ggamma, gbeta, None, None]


register(OpDef("batch_norm", _bn_infer, _bn_ref, _bn_grad,
               lambda ins, outs, a: int(np.prod(outs[0].shape)),
               "inference BatchNorm: y = gamma (x - mean) / sqrt(var + eps) + beta"))


def _bng_infer(ins, a):
    gy, x, gamma = ins[:3]
    return [float_type(x.shape), float_type(gamma.shape), float_type(gamma.shape)]


def _bng_ref(ins, a):
    gy, x, gamma, beta, mean, var = (t.astype(np.float64) for t in ins)
    eps = a.get("eps", 1e-5)
    sh = (1, -1) + (1,) * (x.ndim - 2)
    axes = tuple(i for i in range(x.ndim) if i != 1)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean.reshape(sh)) * inv_std.reshape(sh)
    gx = gy * (gamma * inv_std).reshape(sh)
    return [f32(gx), f32((gy * xhat).sum(axes)), f32(gy.sum(axes))]


register(OpDef("batch_norm_grad", _bng_infer, _bng_ref, None, None,
               "gradients of inference BatchNorm w.r.t. x, gamma, beta"))
