"""conv2d (any stride, padding, groups: depthwise and pointwise too) and its gradients.

Layouts: x [N, C, H, W], w [O, C/groups, kh, kw], b [O], y [N, O, Ho, Wo],
Ho = (H + 2*ph - kh) // sh + 1.

int8 form (attrs x_zero, y_scale, y_zero, mult, shift, act_min, act_max):
    acc = sum (x - x_zero) * w      zero padding applied AFTER subtracting x_zero
    y   = clamp(requantize(sat32(acc + b), mult, shift) + y_zero, act_min, act_max)
float form: y = conv(x, w) + b.

Backward (real-valued gradients between ops, integer-domain parameter gradients):
    G      = gy * (act_min < y < act_max)                         (clamp_grad; int only)
    gx     = conv_transpose(G, s_w * w)                           real gradient of x
    gw_int = s_w[o] * sum G[o] * s_x * (x - x_zero)               per int8 weight step
    gb_int = s_x * s_w[o] * sum G[o]                              per int32 bias step
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .common import check, f32, float_type, is_int, out_q, pair, requant_output
from . import conv_c
from .registry import OpDef, register


def conv_kind(in_c: int, out_c: int, kernel, stride=1, padding=0, groups: int = 1) -> str:
    """What a conv is, decided here once (the reference below, passes/inplace.py, the plan,
    the C emission; runtime/src/conv.c dispatches on the same rule from mct_conv_geom):
        pointwise  1x1, stride 1, no padding, groups 1
        general    any other groups-1 conv
        depthwise  one input channel per group (groups == in_c; out_c = in_c * multiplier)
        grouped    in_c / groups > 1 input channels per group"""
    if groups == 1:
        one = pair(kernel) == (1, 1) and pair(stride) == (1, 1) and pair(padding) == (0, 0)
        return "pointwise" if one else "general"
    return "depthwise" if groups == in_c else "grouped"


def inplace_kind(kind: str, in_c: int, out_c: int) -> str:
    """The in-place form of a conv of that kind ("" if none): pointwise pixel by pixel,
    depthwise (multiplier 1) channel by channel, general row by row; grouped: none."""
    if kind == "depthwise":
        return "depthwise" if out_c == in_c else ""
    return {"pointwise": "pointwise", "general": "rows"}.get(kind, "")


def out_hw(h, w, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _pad(x, padding):
    ph, pw = pair(padding)
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _win(xp, i, j, stride, ho, wo):
    sh, sw = pair(stride)
    return xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]


def conv_nchw(x, w, stride, padding, groups):
    """Plain convolution in float64 (exact for integer inputs of int8 magnitude)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = out_hw(h, wd, (kh, kw), stride, padding)
    xp = _pad(x, padding)
    sh, sw = pair(stride)
    kind = conv_kind(c, o, (kh, kw), stride, padding, groups)
    if groups == 1:
        cols = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :ho, :wo]
        return np.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    if kind == "depthwise":
        xr = xp if o == groups else np.repeat(xp, o // groups, axis=1)
        y = np.zeros((n, o, ho, wo))
        for i in range(kh):
            for j in range(kw):
                y += _win(xr, i, j, stride, ho, wo) * w[:, 0, i, j][None, :, None, None]
        return y
    og = o // groups
    return np.concatenate([conv_nchw(x[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og],
                                     stride, padding, 1) for g in range(groups)], axis=1)


def conv_grad_input_nchw(gy, w, in_hw, stride, padding, groups):
    n, o, ho, wo = gy.shape
    _, cg, kh, kw = w.shape
    c = cg * groups
    ph, pw = pair(padding)
    h, wd = in_hw
    gxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    depthwise = conv_kind(c, o, (kh, kw), stride, padding, groups) == "depthwise"
    for i in range(kh):
        for j in range(kw):
            dst = _win(gxp, i, j, stride, ho, wo)
            if groups == 1:
                dst += np.tensordot(gy, w[:, :, i, j], axes=([1], [0])).transpose(0, 3, 1, 2)
            elif depthwise:
                contrib = gy * w[:, 0, i, j][None, :, None, None]
                dst += contrib.reshape(n, groups, o // groups, ho, wo).sum(axis=2)
            else:
                og = o // groups
                for g in range(groups):
                    dst[:, g * cg:(g + 1) * cg] += np.tensordot(
                        gy[:, g * og:(g + 1) * og], w[g * og:(g + 1) * og, :, i, j],
                        axes=([1], [0])).transpose(0, 3, 1, 2)
    return gxp[:, :, ph:ph + h, pw:pw + wd]


def conv_grad_weight_nchw(x, gy, kernel, stride, padding, groups, channels=None):
    """dL/dw (float64). x holds only the selected input channels when `channels` is given."""
    n, o, ho, wo = gy.shape
    kh, kw = pair(kernel)
    xp = _pad(x, padding)
    cs = x.shape[1]
    if groups == 1:
        gw = np.zeros((o, cs, kh, kw))
        for i in range(kh):
            for j in range(kw):
                gw[:, :, i, j] = np.tensordot(gy, _win(xp, i, j, stride, ho, wo),
                                              axes=([0, 2, 3], [0, 2, 3]))
        return gw
    if channels is not None or conv_kind(cs, o, kernel, stride, padding, groups) == "depthwise":
        # one input channel per group (a channel subset is only ever one of a depthwise conv)
        og = o // groups
        gsel = gy if channels is None else gy[:, list(channels)]
        xr = xp if og == 1 or channels is not None else np.repeat(xp, og, axis=1)
        gw = np.zeros((gsel.shape[1], 1, kh, kw))
        for i in range(kh):
            for j in range(kw):
                gw[:, 0, i, j] = (gsel * _win(xr, i, j, stride, ho, wo)).sum(axis=(0, 2, 3))
        return gw
    cg = cs // groups
    og = o // groups
    return np.concatenate([conv_grad_weight_nchw(x[:, g * cg:(g + 1) * cg],
                                                 gy[:, g * og:(g + 1) * og], kernel, stride,
                                                 padding, 1) for g in range(groups)], axis=0)


# ---- conv2d ----------------------------------------------------------------------------

def _conv_infer(ins, a):
    x, w, b = ins
    check(len(x.shape) == 4, f"conv2d expects x [N,C,H,W], got {list(x.shape)}")
    check(len(w.shape) == 4, f"conv2d expects w [O,C/g,kh,kw], got {list(w.shape)}")
    g = a.get("groups", 1)
    check(x.shape[1] == w.shape[1] * g, f"conv2d: C={x.shape[1]} != w C/g={w.shape[1]} * groups={g}")
    check(b.shape == (w.shape[0],), f"conv2d: bias {list(b.shape)} != [{w.shape[0]}]")
    check(w.shape[0] % g == 0, f"conv2d: out channels {w.shape[0]} not divisible by groups {g}")
    ho, wo = out_hw(x.shape[2], x.shape[3], w.shape[2:], a.get("stride", 1), a.get("padding", 0))
    check(ho > 0 and wo > 0, f"conv2d: empty output {ho}x{wo}")
    shape = (x.shape[0], w.shape[0], ho, wo)
    if is_int(ins):
        check(w.dtype == "i8" and b.dtype == "i32", "int8 conv2d needs i8 weights and i32 bias")
        return [(shape, "i8", out_q(a))]
    return [float_type(shape)]


def _conv_ref(ins, a):
    x, w, b = ins
    s, p, g = a.get("stride", 1), a.get("padding", 0), a.get("groups", 1)
    if x.dtype == np.int8:
        acc = conv_nchw(x.astype(np.float64) - a["x_zero"], w.astype(np.float64), s, p, g)
        return [requant_output(np.rint(acc).astype(np.int64), b, a)]
    y = conv_nchw(x.astype(np.float64), w.astype(np.float64), s, p, g)
    return [f32(y + b.astype(np.float64)[None, :, None, None])]


def _conv_grad(gb, node, gys):
    gy = gys[0]
    if gy is None:
        return [None, None, None]
    x, w, b = node.inputs
    a = node.attrs
    xv, wv = gb.value(x), gb.value(w)
    geo = dict(stride=a.get("stride", 1), padding=a.get("padding", 0), groups=a.get("groups", 1))
    if xv.dtype == "i8":
        g = gb.emit1("clamp_grad", [gy, node.outputs[0]], dict(lo=a["act_min"], hi=a["act_max"]))
        w_scale, x_zero, x_scale = wv.q.scale, xv.q.zero_point, xv.q.s
        b_scale = tuple(x_scale * s for s in w_scale)
    else:
        g, w_scale, x_zero, x_scale, b_scale = gy, None, 0, 1.0, None
    # bias gradient first: then G can die in the input gradient (computed in place)
    gbias = gb.emit1("conv2d_grad_bias", [g], dict(b_scale=b_scale))
    gx = gb.emit1("conv2d_grad_input", [g, w], dict(geo, in_hw=tuple(xv.shape[2:]), w_scale=w_scale))
    x_saved, chans = gb.saved_input(node, x, w)
    check(chans is None or geo["groups"] == 1 or (wv.shape[1] == 1 and wv.shape[0] == xv.shape[1]),
          "conv2d: a channel subset needs groups=1 or a depthwise conv with multiplier 1")
    gw = gb.emit1("conv2d_grad_weight", [x_saved, g],
                  dict(geo, kernel=tuple(wv.shape[2:]), x_zero=x_zero, x_scale=x_scale,
                       w_scale=w_scale, channels=chans))
    return [gx, gw, gbias]


def _conv_macs(ins, outs, a):
    w, y = ins[1], outs[0]
    return int(np.prod(y.shape)) * int(np.prod(w.shape[1:]))


register(OpDef("conv2d", _conv_infer, _conv_ref, _conv_grad, _conv_macs,
               "2-D convolution, float or int8 with per-channel requantization",
               emit=conv_c.emit_conv2d, scratch=conv_c.scratch_conv2d,
               c_check=conv_c.check_conv2d))


# ---- backward ops ----------------------------------------------------------------------

def _scale_along0(arr, scale, n):
    if scale is None:
        return arr
    return arr * np.asarray(scale, np.float64).reshape((n,) + (1,) * (arr.ndim - 1))


def _gi_infer(ins, a):
    g, w = ins
    c = w.shape[1] * a.get("groups", 1)
    return [float_type((g.shape[0], c) + tuple(a["in_hw"]))]


def _gi_ref(ins, a):
    g, w = ins
    wr = _scale_along0(w.astype(np.float64), a.get("w_scale"), w.shape[0])
    return [f32(conv_grad_input_nchw(g.astype(np.float64), wr, a["in_hw"], a.get("stride", 1),
                                     a.get("padding", 0), a.get("groups", 1)))]


def _gi_macs(ins, outs, a):
    g, w = ins
    return int(np.prod(g.shape)) * int(np.prod(w.shape[1:]))


register(OpDef("conv2d_grad_input", _gi_infer, _gi_ref, None, _gi_macs,
               "gx = conv_transpose(G, w * w_scale): real-valued input gradient",
               emit=conv_c.emit_grad_input, scratch=conv_c.scratch_grad_input,
               c_check=conv_c.check_backward))


def _gw_infer(ins, a):
    x, g = ins
    kh, kw = pair(a["kernel"])
    groups, ch = a.get("groups", 1), a.get("channels")
    if groups == 1:
        return [float_type((g.shape[1], x.shape[1], kh, kw))]
    if ch is not None:
        check(x.shape[1] == len(ch), "conv2d_grad_weight: saved x must hold exactly the channels")
        return [float_type((len(ch), 1, kh, kw))]
    return [float_type((g.shape[1], x.shape[1] // groups, kh, kw))]


def _gw_ref(ins, a):
    x, g = ins
    if x.dtype == np.int8:
        xr = (x.astype(np.float64) - a["x_zero"]) * a["x_scale"]
    else:
        xr = x.astype(np.float64)
    gw = conv_grad_weight_nchw(xr, g.astype(np.float64), a["kernel"], a.get("stride", 1),
                               a.get("padding", 0), a.get("groups", 1), a.get("channels"))
    ws = a.get("w_scale")
    if ws is not None and a.get("channels") is not None and a.get("groups", 1) > 1:
        ws = [ws[c] for c in a["channels"]]
    return [f32(_scale_along0(gw, ws, gw.shape[0]))]


def _gw_macs(ins, outs, a):
    x, g = ins
    gw = outs[0]
    return int(np.prod(g.shape[2:])) * g.shape[0] * int(np.prod(gw.shape))


register(OpDef("conv2d_grad_weight", _gw_infer, _gw_ref, None, _gw_macs,
               "gw[o,c] = w_scale[o] * sum G[o] * x_real[c]; only the listed input channels",
               emit=conv_c.emit_grad_weight, c_check=conv_c.check_backward))


def _gb_infer(ins, a):
    return [float_type((ins[0].shape[1],))]


def _gb_ref(ins, a):
    g = ins[0].astype(np.float64)
    s = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))
    if a.get("b_scale") is not None:
        s = s * np.asarray(a["b_scale"], np.float64)
    return [f32(s)]


register(OpDef("conv2d_grad_bias", _gb_infer, _gb_ref, None, None,
               "gb[o] = b_scale[o] * sum G[:, o]  (b_scale = s_x * s_w[o] for int32 bias)",
               emit=conv_c.emit_grad_bias))


# ---- expand_depthwise: fused 1x1 expansion + depthwise conv (passes/expand_dw.py) -----------

def _ed_parts(ins_or_vals, a):
    x, w1, b1, w2, b2 = ins_or_vals
    return (x, w1, b1), (w2, b2)


def _ed_infer(ins, a):
    x, w1, b1, w2, b2 = ins
    (shape, dt, q), = _conv_infer([x, w1, b1], a["pw"])
    from ..ir.graph import Value

    e = Value("e", shape, dt, q)
    return _conv_infer([e, w2, b2], a["dw"])


def _ed_ref(ins, a):
    x, w1, b1, w2, b2 = ins
    e = _conv_ref([x, w1, b1], a["pw"])[0]
    return _conv_ref([e, w2, b2], a["dw"])


def _ed_macs(ins, outs, a):
    x, w1, b1, w2, b2 = ins
    n, _, h, w = x.shape
    ho, wo = outs[0].shape[2:]
    return n * h * w * w1.shape[0] * w1.shape[1] + n * ho * wo * w2.shape[0] * int(np.prod(w2.shape[2:]))


register(OpDef("expand_depthwise", _ed_infer, _ed_ref, None, _ed_macs,
               "conv2d(conv2d(x, w1, b1)[pw], w2, b2)[dw]: a frozen expansion fused into its "
               "depthwise conv, computed one expanded channel at a time",
               emit=conv_c.emit_expand_depthwise, scratch=conv_c.scratch_expand_depthwise))
