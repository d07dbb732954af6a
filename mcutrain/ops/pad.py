"""pad: constant padding of H and W of x [N, C, H, W] (TFLite's PAD / PADV2, and the
asymmetric SAME padding of a TFLite conv or pool, which conv2d's symmetric padding cannot hold).

attrs pads = (top, bottom, left, right), value: the level written (int8: usually the input's
zero point, so the padded cells stand for real 0; float: a real number). Output qparams = input's.
Backward: pad_grad crops the gradient back to H x W (padded cells have no input to reach).
"""
from __future__ import annotations

import numpy as np

from .common import check, f32, float_type, hwc
from .registry import OpDef, register


def pads4(a) -> tuple[int, int, int, int]:
    p = tuple(int(v) for v in a["pads"])
    check(len(p) == 4 and min(p) >= 0, f"pad: pads must be 4 integers >= 0, got {a['pads']}")
    return p


def _infer(ins, a):
    x = ins[0]
    check(len(x.shape) == 4, f"pad expects [N,C,H,W], got {list(x.shape)}")
    t, b, l, r = pads4(a)
    if x.dtype == "i8":
        check(-128 <= int(a.get("value", 0)) <= 127, f"pad: int8 value {a.get('value')} out of range")
    return [((x.shape[0], x.shape[1], x.shape[2] + t + b, x.shape[3] + l + r), x.dtype, x.q)]


def _ref(ins, a):
    x = ins[0]
    t, b, l, r = pads4(a)
    return [np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)),
                   constant_values=np.asarray(a.get("value", 0)).astype(x.dtype))]


def _grad(gb, node, gys):
    if gys[0] is None:
        return [None]
    return [gb.emit1("pad_grad", [gys[0]], dict(pads=tuple(node.attrs["pads"])))]


def pad_geom(ctx, n, x) -> str:
    """The mct_pad_geom of a pad (x: the unpadded side, the input of pad, the output of
    pad_grad)."""
    h, w, c = hwc(ctx.values[x].shape)
    return ctx.struct(ctx.sym(n.outputs[0], "P_"), "mct_pad_geom", [h, w, c, *pads4(n.attrs)])


def _emit(ctx, i, n):
    x, y = n.inputs[0], n.outputs[0]
    return [f"st |= mct_pad_s8(&{pad_geom(ctx, n, x)}, {int(n.attrs.get('value', 0))}, "
            f"{ctx.ref(x)}, {ctx.ref(y)});"]


def _check(ctx, n):
    if ctx.values[n.inputs[0]].dtype != "i8":
        return "float pad is not compiled to C"
    return None


register(OpDef("pad", _infer, _ref, _grad, None,
               "constant padding of H and W: pads=(top, bottom, left, right), value",
               emit=_emit, c_check=_check))


def _g_infer(ins, a):
    g = ins[0]
    t, b, l, r = pads4(a)
    return [float_type((g.shape[0], g.shape[1], g.shape[2] - t - b, g.shape[3] - l - r))]


def _g_ref(ins, a):
    g = ins[0]
    t, b, l, r = pads4(a)
    return [f32(g[:, :, t:g.shape[2] - b, l:g.shape[3] - r])]


def _g_emit(ctx, i, n):
    gy, gx = n.inputs[0], n.outputs[0]
    return [f"st |= mct_pad_grad_f32(&{pad_geom(ctx, n, gx)}, {ctx.ref(gy)}, {ctx.ref(gx)});"]


register(OpDef("pad_grad", _g_infer, _g_ref, None, None,
               "gx = gy without the padded border", emit=_g_emit))
