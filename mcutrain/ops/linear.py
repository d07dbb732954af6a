"""linear: y [N, O] = x [N, C] @ w[O, C]^T + b, float or int8 (same requantization as conv2d).

Backward mirrors conv2d: G = clamp_grad(gy, y) (int only); gx = G @ (s_w * w);
gw_int[o, c] = s_w[o] * sum_n G[n, o] * x_real[n, c] over the selected input channels;
gb_int[o] = s_x * s_w[o] * sum_n G[n, o] (conv2d_grad_bias).
"""
from __future__ import annotations

import numpy as np

from .common import check, f32, float_type, is_int, out_q, requant_output, tflm
from .conv import _scale_along0
from .conv_c import grad_weight_rows
from .registry import OpDef, register


def _infer(ins, a):
    x, w, b = ins
    check(len(x.shape) == 2 and len(w.shape) == 2, f"linear expects x [N,C], w [O,C]; got "
          f"{list(x.shape)}, {list(w.shape)}")
    check(x.shape[1] == w.shape[1], f"linear: x has {x.shape[1]} features, w expects {w.shape[1]}")
    check(b.shape == (w.shape[0],), f"linear: bias {list(b.shape)} != [{w.shape[0]}]")
    shape = (x.shape[0], w.shape[0])
    if is_int(ins):
        check(w.dtype == "i8" and b.dtype == "i32", "int8 linear needs i8 weights and i32 bias")
        return [(shape, "i8", out_q(a))]
    return [float_type(shape)]


def _ref(ins, a):
    x, w, b = ins
    if x.dtype == np.int8:
        acc = (x.astype(np.float64) - a["x_zero"]) @ w.astype(np.float64).T
        return [requant_output(np.rint(acc).astype(np.int64), b, a)]
    return [f32(x.astype(np.float64) @ w.astype(np.float64).T + b.astype(np.float64))]


def _grad(gb, node, gys):
    gy = gys[0]
    if gy is None:
        return [None, None, None]
    x, w, _ = node.inputs
    xv, wv = gb.value(x), gb.value(w)
    a = node.attrs
    if xv.dtype == "i8":
        g = gb.emit1("clamp_grad", [gy, node.outputs[0]], dict(lo=a["act_min"], hi=a["act_max"]))
        w_scale, x_zero, x_scale = wv.q.scale, xv.q.zero_point, xv.q.s
        b_scale = tuple(x_scale * s for s in w_scale)
    else:
        g, w_scale, x_zero, x_scale, b_scale = gy, None, 0, 1.0, None
    # bias gradient first: then G can die in the input gradient (computed in place)
    gbias = gb.emit1("conv2d_grad_bias", [g], dict(b_scale=b_scale))
    gx = gb.emit1("linear_grad_input", [g, w], dict(w_scale=w_scale))
    x_saved, chans = gb.saved_input(node, x, w)
    gw = gb.emit1("linear_grad_weight", [x_saved, g],
                  dict(x_zero=x_zero, x_scale=x_scale, w_scale=w_scale, channels=chans))
    return [gx, gw, gbias]


def _macs(ins, outs, a):
    return int(np.prod(outs[0].shape)) * ins[1].shape[1]


def _emit_linear(ctx, i, n):
    x, w, b = n.inputs
    xv, wv = ctx.values[x], ctx.values[w]
    y = n.outputs[0]
    if xv.dtype == "f32":
        return [f"st |= mct_linear_f32({wv.shape[1]}, {wv.shape[0]}, {ctx.ref(x)}, "
                f"{ctx.ref(w)}, {ctx.ref(b)}, {ctx.ref(y)});"]
    wexpr, pre, ws = ctx.weights(w)
    rq = ctx.requant(n.outputs[0], n.attrs)
    call = (f"mct_linear_s8{tflm(n.attrs)}({wv.shape[1]}, {wv.shape[0]}, &{rq}, {ctx.ref(x)}, "
            f"{wexpr}, {ws}, {ctx.ref(b)}, {ctx.ref(y)})")
    return ctx.block(pre, call)


register(OpDef("linear", _infer, _ref, _grad, _macs, "fully connected layer, float or int8",
               emit=_emit_linear))


def _gi_infer(ins, a):
    g, w = ins
    return [float_type((g.shape[0], w.shape[1]))]


def _gi_ref(ins, a):
    g, w = ins
    wr = _scale_along0(w.astype(np.float64), a.get("w_scale"), w.shape[0])
    return [f32(g.astype(np.float64) @ wr)]


def _emit_linear_grad_input(ctx, i, n):
    gy, w = n.inputs
    wv = ctx.values[w]
    if wv.dtype == "f32":
        return [f"st |= mct_linear_grad_input_f32({wv.shape[1]}, {wv.shape[0]}, {ctx.ref(gy)}, "
                f"NULL, {ctx.ref(w)}, NULL, {ctx.ref(n.outputs[0])});"]
    wexpr, _, _ = ctx.weights(w)
    sc = ctx.table(f"{w}.w_scale", "float", n.attrs["w_scale"])
    return [f"st |= mct_linear_grad_input_f32({wv.shape[1]}, {wv.shape[0]}, {ctx.ref(gy)}, "
            f"{wexpr}, NULL, {sc}, {ctx.ref(n.outputs[0])});"]


def _check_linear_grad_input(ctx, n):
    w = n.inputs[1]
    if ctx.values[w].dtype != "f32" and ctx.is_slice(w):
        return "channel-fraction training of an int8 linear layer is not compiled yet"
    return None


register(OpDef("linear_grad_input", _gi_infer, _gi_ref, None,
               lambda ins, outs, a: int(np.prod(ins[0].shape)) * ins[1].shape[1],
               "gx = G @ (w * w_scale)",
               emit=_emit_linear_grad_input, c_check=_check_linear_grad_input))


def _gw_infer(ins, a):
    x, g = ins
    return [float_type((g.shape[1], x.shape[1]))]


def _gw_ref(ins, a):
    x, g = ins
    xr = x.astype(np.float64)
    if x.dtype == np.int8:
        xr = (xr - a["x_zero"]) * a["x_scale"]
    gw = g.astype(np.float64).T @ xr
    return [f32(_scale_along0(gw, a.get("w_scale"), gw.shape[0]))]


def _emit_linear_grad_weight(ctx, i, n):
    xs, gy = n.inputs
    gw = n.outputs[0]
    o, c = ctx.values[gw].shape
    if n.attrs.get("w_scale") is None:
        return [f"st |= mct_outer_f32({o}, {c}, {ctx.ref(gy)}, {ctx.ref(xs)}, {ctx.ref(gw)});"]
    geo = ctx.struct(ctx.sym(gw, "G_"), "mct_conv_geom", [1, 1, c, 1, 1, o, 1, 1, 1, 1, 0, 0, 1])
    return grad_weight_rows(ctx, n, geo, xs, c, gy, gw, o, c, None, False)


register(OpDef("linear_grad_weight", _gw_infer, _gw_ref, None,
               lambda ins, outs, a: ins[0].shape[0] * int(np.prod(outs[0].shape)),
               "gw[o, c] = w_scale[o] * sum_n G[n, o] x_real[n, c] (selected channels)",
               emit=_emit_linear_grad_weight))
