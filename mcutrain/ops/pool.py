"""Pooling: global average pool (float mean; int8: round-half-to-even of the integer mean,
no requantization, so the output keeps the input's scale and zero point) and max pool.

Gradients: global_avgpool spreads gy / (H*W) over the window (straight-through rounding);
maxpool2d routes gy to the first maximum of each window.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .fixedpoint import div_round_half_even
from .common import check, f32, float_type, hwc, pair
from .conv import out_hw
from .registry import OpDef, register


def _gap_infer(ins, a):
    x = ins[0]
    check(len(x.shape) == 4, f"global_avgpool expects [N,C,H,W], got {list(x.shape)}")
    return [((x.shape[0], x.shape[1], 1, 1), x.dtype, x.q)]


def _gap_ref(ins, a):
    x = ins[0]
    n, c, h, w = x.shape
    if x.dtype == np.int8:
        total = x.astype(np.int64).sum(axis=(2, 3), keepdims=True)
        return [div_round_half_even(total, h * w).astype(np.int8)]
    return [f32(x.astype(np.float64).mean(axis=(2, 3), keepdims=True))]


def _gap_grad(gb, node, gys):
    if gys[0] is None:
        return [None]
    return [gb.emit1("global_avgpool_grad", [gys[0]],
                     dict(in_hw=tuple(gb.value(node.inputs[0]).shape[2:])))]


def _emit_avgpool(ctx, i, n):
    h, w, c = hwc(ctx.values[n.inputs[0]].shape)
    return [f"st |= mct_avgpool_global_s8({h * w}, {c}, {ctx.ref(n.inputs[0])}, "
            f"{ctx.ref(n.outputs[0])});"]


register(OpDef("global_avgpool", _gap_infer, _gap_ref, _gap_grad,
               lambda ins, outs, a: int(np.prod(ins[0].shape)),
               "mean over H x W; int8: integer mean rounded half to even",
               emit=_emit_avgpool))


def _gapg_infer(ins, a):
    g = ins[0]
    return [float_type((g.shape[0], g.shape[1]) + tuple(a["in_hw"]))]


def _gapg_ref(ins, a):
    g = ins[0].astype(np.float32)
    h, w = a["in_hw"]
    return [f32(np.broadcast_to(g / np.float32(h * w), g.shape[:2] + (h, w)))]


def _emit_avgpool_grad(ctx, i, n):
    h, w = n.attrs["in_hw"]
    c = ctx.values[n.inputs[0]].shape[1]
    return [f"st |= mct_avgpool_global_grad_f32({h * w}, {c}, {ctx.ref(n.inputs[0])}, "
            f"{ctx.ref(n.outputs[0])});"]


register(OpDef("global_avgpool_grad", _gapg_infer, _gapg_ref, None, None,
               "gx = broadcast(gy) / (H*W)",
               emit=_emit_avgpool_grad))


def _windows(x, a, fill):
    k, s, p = pair(a["kernel"]), pair(a.get("stride", a["kernel"])), pair(a.get("padding", 0))
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    ho, wo = out_hw(x.shape[2], x.shape[3], k, s, p)
    win = sliding_window_view(xp, k, axis=(2, 3))[:, :, ::s[0], ::s[1]][:, :, :ho, :wo]
    return win, k, s, p, ho, wo


def _mp_infer(ins, a):
    x = ins[0]
    check(len(x.shape) == 4, f"maxpool2d expects [N,C,H,W], got {list(x.shape)}")
    ho, wo = out_hw(x.shape[2], x.shape[3], a["kernel"], a.get("stride", a["kernel"]),
                    a.get("padding", 0))
    return [((x.shape[0], x.shape[1], ho, wo), x.dtype, x.q)]


def _fill(dtype):
    return -128 if dtype == np.int8 else -np.inf


def _mp_ref(ins, a):
    x = ins[0]
    win = _windows(x, a, _fill(x.dtype))[0]
    return [win.max(axis=(4, 5)).astype(x.dtype)]


def _mp_grad(gb, node, gys):
    if gys[0] is None:
        return [None]
    return [gb.emit1("maxpool2d_grad", [gys[0], node.inputs[0]], dict(node.attrs))]


def _emit_maxpool(ctx, i, n):
    geo = ctx.geom(n, n.inputs[0], n.outputs[0])
    return [f"st |= mct_maxpool_s8(&{geo}, {ctx.ref(n.inputs[0])}, {ctx.ref(n.outputs[0])});"]


register(OpDef("maxpool2d", _mp_infer, _mp_ref, _mp_grad,
               lambda ins, outs, a: int(np.prod(outs[0].shape)) * int(np.prod(pair(a["kernel"]))),
               "max over kh x kw windows (same quantization in and out)",
               emit=_emit_maxpool))


def _mpg_infer(ins, a):
    return [float_type(ins[1].shape)]


def _mpg_ref(ins, a):
    gy, x = ins
    # pad with -inf in float so a padded cell never takes the gradient, even when every
    # real value of an int8 window is -128
    win, (kh, kw), (sh, sw), (ph, pw), ho, wo = _windows(x.astype(np.float64), a, -np.inf)
    n, c = x.shape[:2]
    flat = win.reshape(n, c, ho, wo, kh * kw).argmax(axis=-1)
    di, dj = np.divmod(flat, kw)
    rows = np.arange(ho)[None, None, :, None] * sh + di
    cols = np.arange(wo)[None, None, None, :] * sw + dj
    gxp = np.zeros((n, c, x.shape[2] + 2 * ph, x.shape[3] + 2 * pw), np.float32)
    nn_, cc = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
    np.add.at(gxp, (nn_[:, :, None, None], cc[:, :, None, None], rows, cols), gy.astype(np.float32))
    return [gxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]].copy()]


register(OpDef("maxpool2d_grad", _mpg_infer, _mpg_ref, None, None,
               "gy routed to the first maximum of each window"))
