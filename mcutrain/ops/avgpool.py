"""avgpool2d (windowed average, TFLite's AVERAGE_POOL_2D) and mean_hw (TFLite's MEAN over H, W).

avgpool2d: attrs kernel (kh, kw), stride (sh, sw), pads (top, bottom, left, right), act_min,
act_max. Each output averages the cells of its window that lie inside the input (padding is
not counted), n of them:
    int8:  y = clamp(round_half_away(sum x / n), act_min, act_max)   (C: (sum +- n/2) / n)
           the output keeps the input's scale and zero point
    float: y = sum x / n
Backward: each cell of a window receives gy / n (avgpool2d_grad).

mean_hw: x [N, C, H, W] -> [N, C, 1, 1], attrs x_zero, y_scale, y_zero, mult, shift:
    y = clamp(mbqm(sum (x - x_zero), mult, shift) + y_zero, -128, 127)
where (mult, shift) already hold s_x / (s_y * H * W) the way TFLite Micro folds the count
in (mean_params). Float: the mean. Backward: gy / (H * W) everywhere (global_avgpool_grad).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import gemmlowp as gl
from .common import check, f32, float_type, hwc, out_q, pair
from .pad import pads4
from .registry import OpDef, register


def pool_out_hw(h, w, a):
    (kh, kw), (sh, sw), (t, b, l, r) = pair(a["kernel"]), pair(a["stride"]), pads4(a)
    return (h + t + b - kh) // sh + 1, (w + l + r - kw) // sw + 1


def _window_sums(x, a):
    """(sum over each window's in-bounds cells, their count) as float64 / int64 arrays."""
    (kh, kw), (sh, sw), (t, b, l, r) = pair(a["kernel"]), pair(a["stride"]), pads4(a)
    ho, wo = pool_out_hw(x.shape[2], x.shape[3], a)
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    inside = np.pad(np.ones(x.shape[2:], np.int64), ((t, b), (l, r)))

    def windows(v):
        return sliding_window_view(v, (kh, kw), axis=(-2, -1))[..., ::sh, ::sw, :, :][
            ..., :ho, :wo, :, :].sum(axis=(-2, -1))
    return windows(xp), windows(inside)


def _ap_infer(ins, a):
    x = ins[0]
    check(len(x.shape) == 4, f"avgpool2d expects [N,C,H,W], got {list(x.shape)}")
    ho, wo = pool_out_hw(x.shape[2], x.shape[3], a)
    kh, kw = pair(a["kernel"])
    t, b, l, r = pads4(a)
    check(ho > 0 and wo > 0, f"avgpool2d: empty output {ho}x{wo}")
    check(max(t, b) < kh and max(l, r) < kw, "avgpool2d: a window lies wholly in the padding")
    return [((x.shape[0], x.shape[1], ho, wo), x.dtype, x.q)]


def _ap_ref(ins, a):
    x = ins[0]
    if x.dtype == np.int8:
        total, n = _window_sums(x.astype(np.int64), a)
        q = (np.abs(total) + n // 2) // n  # C: (total +- n/2) / n, truncated toward 0
        y = np.where(total > 0, q, -q)
        return [np.clip(y, a.get("act_min", -128), a.get("act_max", 127)).astype(np.int8)]
    total, n = _window_sums(x.astype(np.float64), a)
    return [f32(total / n)]


def _ap_grad(gb, node, gys):
    if gys[0] is None:
        return [None]
    g = gys[0]
    xv = gb.value(node.inputs[0])
    a = node.attrs
    if xv.dtype == "i8":
        g = gb.emit1("clamp_grad", [g, node.outputs[0]],
                     dict(lo=a.get("act_min", -128), hi=a.get("act_max", 127)))
    return [gb.emit1("avgpool2d_grad", [g], dict(
        kernel=pair(a["kernel"]), stride=pair(a["stride"]), pads=pads4(a),
        in_hw=tuple(xv.shape[2:])))]


def _pool_geom(ctx, n, x, y) -> str:
    """The mct_pool_geom of a pool (x: the input side, y: the output side)."""
    (ih, iw, c), (oh, ow, _) = hwc(ctx.values[x].shape), hwc(ctx.values[y].shape)
    a = n.attrs
    return ctx.struct(ctx.sym(n.outputs[0], "PL_"), "mct_pool_geom",
                      [ih, iw, c, oh, ow, *pair(a["kernel"]), *pair(a["stride"]), *pads4(a)])


def _ap_emit(ctx, i, n):
    x, y = n.inputs[0], n.outputs[0]
    a = n.attrs
    return [f"st |= mct_avgpool2d_s8(&{_pool_geom(ctx, n, x, y)}, {a.get('act_min', -128)}, "
            f"{a.get('act_max', 127)}, {ctx.ref(x)}, {ctx.ref(y)});"]


def _int_only(ctx, n):
    if ctx.values[n.inputs[0]].dtype != "i8":
        return f"float {n.op} is not compiled to C"
    return None


register(OpDef("avgpool2d", _ap_infer, _ap_ref, _ap_grad,
               lambda ins, outs, a: int(np.prod(outs[0].shape)) * int(np.prod(pair(a["kernel"]))),
               "average over the in-bounds cells of kh x kw windows (TFLite rounding in int8)",
               emit=_ap_emit, c_check=_int_only))


def _apg_infer(ins, a):
    g = ins[0]
    return [float_type((g.shape[0], g.shape[1]) + tuple(a["in_hw"]))]


def _apg_ref(ins, a):
    g = ins[0].astype(np.float64)
    (kh, kw), (sh, sw), (t, b, l, r) = pair(a["kernel"]), pair(a["stride"]), pads4(a)
    h, w = a["in_hw"]
    _, n = _window_sums(np.zeros((1, 1, h, w)), a)
    share = g / n  # what each in-bounds cell of a window receives
    n_, c, ho, wo = g.shape
    gxp = np.zeros((n_, c, h + t + b, w + l + r))
    for i in range(kh):
        for j in range(kw):
            gxp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] += share
    return [f32(gxp[:, :, t:t + h, l:l + w])]


def _apg_emit(ctx, i, n):
    gy, gx = n.inputs[0], n.outputs[0]
    return [f"st |= mct_avgpool2d_grad_f32(&{_pool_geom(ctx, n, gx, gy)}, {ctx.ref(gy)}, "
            f"{ctx.ref(gx)});"]


register(OpDef("avgpool2d_grad", _apg_infer, _apg_ref, None, None,
               "gx[cell] = sum over the windows holding it of gy / (in-bounds cells of the window)",
               emit=_apg_emit))


# ---- mean over H and W ---------------------------------------------------------------------

def mean_params(x_scale: float, y_scale: float, count: int) -> dict:
    """(mult, shift) of s_x / (s_y * count) as TFLite Micro builds it: quantize s_x / s_y, then
    fold 1/count in as mult * 2^k // count with 2^k <= count (k <= 32, shift - k >= -31)."""
    mult, shift = gl.quantize_multiplier(x_scale / y_scale)
    k = min(int(count).bit_length() - 1, 32, 31 + shift)
    return dict(mult=int((mult << k) // count), shift=shift - k)


def _mean_infer(ins, a):
    x = ins[0]
    check(len(x.shape) == 4, f"mean_hw expects [N,C,H,W], got {list(x.shape)}")
    shape = (x.shape[0], x.shape[1], 1, 1)
    if x.dtype == "i8":
        return [(shape, "i8", out_q(a))]
    return [float_type(shape)]


def _mean_ref(ins, a):
    x = ins[0]
    if x.dtype == np.int8:
        n = x.shape[2] * x.shape[3]
        total = x.astype(np.int64).sum(axis=(2, 3), keepdims=True) - a["x_zero"] * n
        y = gl.mbqm(total, a["mult"], a["shift"]) + a["y_zero"]
        return [np.clip(y, -128, 127).astype(np.int8)]
    return [f32(x.astype(np.float64).mean(axis=(2, 3), keepdims=True))]


def _mean_grad(gb, node, gys):
    if gys[0] is None:
        return [None]
    g = gys[0]
    if gb.value(node.inputs[0]).dtype == "i8":
        g = gb.emit1("clamp_grad", [g, node.outputs[0]], dict(lo=-128, hi=127))
    return [gb.emit1("global_avgpool_grad", [g],
                     dict(in_hw=tuple(gb.value(node.inputs[0]).shape[2:])))]


def _mean_emit(ctx, i, n):
    h, w, c = hwc(ctx.values[n.inputs[0]].shape)
    a = n.attrs
    return [f"st |= mct_mean_hw_s8({h * w}, {c}, {a['x_zero']}, {a['y_zero']}, {a['mult']}, "
            f"{a['shift']}, {ctx.ref(n.inputs[0])}, {ctx.ref(n.outputs[0])});"]


register(OpDef("mean_hw", _mean_infer, _mean_ref, _mean_grad,
               lambda ins, outs, a: int(np.prod(ins[0].shape)),
               "mean over H x W with requantization (TFLite Micro's MEAN)",
               emit=_mean_emit, c_check=_int_only))
