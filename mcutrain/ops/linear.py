"""linear: y [N, O] = x [N, C] @ w[O, C]^T + b, float or int8 (same requantization as conv2d).

Backward mirrors conv2d: G = clamp_grad(gy, y) (int only); gx = G @ (s_w * w);
gw_int[o, c] = s_w[o] * sum_n G[n, o] * x_real[n, c] over the selected input channels;
gb_int[o] = s_x * s_w[o] * sum_n G[n, o] (conv2d_grad_bias).
"""
from __future__ import annotations

import numpy as np

from .common import check, f32, float_type, is_int, out_q, requant_output
from .conv import _scale_along0
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


register(OpDef("linear", _infer, _ref, _grad, _macs, "fully connected layer, float or int8"))


def _gi_infer(ins, a):
    g, w = ins
    return [float_type((g.shape[0], w.shape[1]))]


def _gi_ref(ins, a):
    g, w = ins
    wr = _scale_along0(w.astype(np.float64), a.get("w_scale"), w.shape[0])
    return [f32(g.astype(np.float64) @ wr)]


register(OpDef("linear_grad_input", _gi_infer, _gi_ref, None,
               lambda ins, outs, a: int(np.prod(ins[0].shape)) * ins[1].shape[1],
               "gx = G @ (w * w_scale)"))


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


register(OpDef("linear_grad_weight", _gw_infer, _gw_ref, None,
               lambda ins, outs, a: ins[0].shape[0] * int(np.prod(outs[0].shape)),
               "gw[o, c] = w_scale[o] * sum_n G[n, o] x_real[n, c] (selected channels)"))
