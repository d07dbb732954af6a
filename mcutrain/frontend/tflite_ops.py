"""One mapping per TFLite builtin: (converter, op index, op name, operator) -> IR nodes.

Weights: int8 constants with zero point 0, one scale per output channel or one for all;
biases int32. Every requantizing node carries rounding="tflm" (TFLite Micro's arithmetic).
"""
from __future__ import annotations

import numpy as np

from ..ir.dtype import I8, I32, QParams
from .tflite_graph import SHORT, _f32, add_params, ir_shape, mean_attrs, multipliers, same_pads


def _ins(op) -> list:
    return [int(v) for v in op.inputs]


def _in_tensor(cv, op, k):
    ins = _ins(op)
    return cv.m.tensor(ins[k]) if len(ins) > k and ins[k] >= 0 else None


def _rank(cv, i, name, t, rank: int, what: str):
    if t is None or len(t.shape) != rank:
        cv.fail(i, name, f"{what} must be a rank-{rank} tensor, got "
                f"{None if t is None else list(t.shape)}")


def _weights(cv, i, name, t, axis: int, out_ch: int):
    """int8 constant weights: (data, per-channel scales of length out_ch)."""
    if t is None or t.data is None:
        cv.fail(i, name, "weights must be a constant tensor")
    if t.dtype != "int8":
        cv.fail(i, name, f"weights {t.name!r} are {t.dtype}; only int8 weights are supported")
    if len(t.scale) not in (1, out_ch) or (len(t.scale) > 1 and t.axis != axis):
        cv.fail(i, name, f"weights {t.name!r}: {len(t.scale)} scales along axis {t.axis}, "
                f"expected 1 or {out_ch} along axis {axis}")
    if any(z != 0 for z in t.zero):
        cv.fail(i, name, f"weights {t.name!r} have a nonzero zero point")
    return t.data, np.broadcast_to(np.asarray(t.scale, np.float64), (out_ch,))


def _bias(cv, i, name, t, out_ch: int) -> np.ndarray:
    if t is None:
        return np.zeros(out_ch, np.int32)
    if t.data is None or t.dtype != "int32" or t.data.shape != (out_ch,):
        cv.fail(i, name, f"bias {t.name!r} must be a constant int32 [{out_ch}], got {t.dtype} "
                f"{list(t.shape)}")
    return t.data


def _params(cv, i, name, op, base, w_ir, scales, x_t, out_ch, layout) -> tuple[str, str]:
    """The weight and bias params; meta records where each came from (for export):
    the tensor index, the file's weight layout, whether one scale served all channels."""
    w_t, b_t = _in_tensor(cv, op, 1), _in_tensor(cv, op, 2)
    wn = cv.gb.param(f"{base}.w", w_ir, I8, QParams.channel(scales))
    bn = cv.gb.param(f"{base}.b", _bias(cv, i, name, b_t, out_ch), I32,
                     QParams.channel(_f32(x_t.scale[0]) * scales))
    cv.params[wn] = dict(tensor=w_t.index, layout=layout, per_tensor=len(w_t.scale) == 1)
    cv.params[bn] = dict(tensor=None if b_t is None else b_t.index, layout="O")
    return wn, bn


def _requant_attrs(cv, i, name, op, x_t, w_scales, y_t) -> dict:
    mult, shift = multipliers(x_t.scale[0], w_scales, y_t.scale[0])
    lo, hi = cv.act_range(i, name, op.builtinOptions.fusedActivationFunction, y_t)
    return dict(x_zero=x_t.zero[0], y_scale=y_t.scale[0], y_zero=y_t.zero[0], mult=mult,
                shift=shift, act_min=lo, act_max=hi, rounding="tflm")


def _pad_node(cv, x: str, pads, value: int, base: str) -> tuple[str, tuple]:
    """Symmetric padding -> (x, (ph, pw)) for the op itself; else a pad node and (0, 0)."""
    t, b, l, r = pads
    if t == b and l == r:
        return x, (t, l)
    return cv.gb.emit1("pad", [x], dict(pads=(t, b, l, r), value=int(value)), name=f"{base}.pad"), (0, 0)


def conv(cv, i, name, op):
    o = op.builtinOptions
    ins = _ins(op)
    folded = cv.folded.get(ins[0])  # a PAD before it, done by the conv's own padding
    x = folded[0] if folded else cv.value(i, name, ins[0])
    x_t, w_t, y_t = cv.m.tensor(ins[0]), _in_tensor(cv, op, 1), cv.m.tensor(int(op.outputs[0]))
    _rank(cv, i, name, x_t, 4, "the input")
    _rank(cv, i, name, w_t, 4, "the weights")
    if (o.dilationHFactor, o.dilationWFactor) != (1, 1):
        cv.fail(i, name, "dilated convolutions are not supported")
    cin = x_t.shape[3]
    if name == "DEPTHWISE_CONV_2D":
        out_ch = w_t.shape[3]
        w, scales = _weights(cv, i, name, w_t, 3, out_ch)
        w_ir, groups = w[0].transpose(2, 0, 1)[:, None], cin  # [C*m, 1, kh, kw]
        if out_ch % cin:
            cv.fail(i, name, f"{out_ch} output channels for {cin} input channels")
    else:
        out_ch = w_t.shape[0]
        w, scales = _weights(cv, i, name, w_t, 0, out_ch)
        w_ir = w.transpose(0, 3, 1, 2)  # [O, I, kh, kw]
        if cin % w.shape[3]:
            cv.fail(i, name, f"{cin} input channels for filters of {w.shape[3]}")
        groups = cin // w.shape[3]
    kh, kw = w_ir.shape[2:]
    base = f"{SHORT[name]}{i}"
    pads = same_pads(x_t.shape[1], kh, o.strideH, o.padding) + same_pads(x_t.shape[2], kw,
                                                                         o.strideW, o.padding)
    if folded:  # VALID (no padding of its own): the PAD's becomes the conv's
        pads = folded[1]
    x, padding = _pad_node(cv, x, pads, x_t.zero[0], base)
    attrs = dict(stride=(int(o.strideH), int(o.strideW)), padding=padding, groups=int(groups),
                 **_requant_attrs(cv, i, name, op, x_t, scales, y_t))
    wn, bn = _params(cv, i, name, op, base, w_ir, scales, x_t, out_ch,
                     "1HWC" if name == "DEPTHWISE_CONV_2D" else "OHWI")
    cv.out(i, name, int(op.outputs[0]), cv.gb.emit1("conv2d", [x, wn, bn], attrs, name=base))


def _order_kept(shape) -> bool:
    """NHWC and NCHW list a rank-4 tensor's elements in the same order iff C == 1 or H*W == 1."""
    return len(shape) != 4 or shape[3] == 1 or shape[1] * shape[2] == 1


def _flat_check(cv, i, name, *shapes):
    for s in shapes:
        if not _order_kept(s):
            cv.fail(i, name, f"reshaping a {list(s)} tensor (NHWC, H*W > 1 and C > 1) would "
                    "reorder its elements against our NCHW layout: not supported yet")


def fully_connected(cv, i, name, op):
    o = op.builtinOptions
    ins = _ins(op)
    x = cv.value(i, name, ins[0])
    x_t, w_t, y_t = cv.m.tensor(ins[0]), _in_tensor(cv, op, 1), cv.m.tensor(int(op.outputs[0]))
    _rank(cv, i, name, w_t, 2, "the weights")
    if o.weightsFormat != 0:
        cv.fail(i, name, "shuffled weights are not supported")
    out_ch = w_t.shape[0]
    w, scales = _weights(cv, i, name, w_t, 0, out_ch)
    base = f"{SHORT[name]}{i}"
    if len(x_t.shape) != 2:
        _flat_check(cv, i, name, x_t.shape)
        x = cv.gb.emit1("reshape", [x], dict(shape=(int(np.prod(x_t.shape[1:])),)),
                        name=f"{base}.flat")
    if cv.gb.value(x).shape[1] != w.shape[1]:
        cv.fail(i, name, f"input of {cv.gb.value(x).shape[1]} features for weights {list(w.shape)}")
    wn, bn = _params(cv, i, name, op, base, w, scales, x_t, out_ch, "OI")
    attrs = _requant_attrs(cv, i, name, op, x_t, scales, y_t)
    cv.out(i, name, int(op.outputs[0]), cv.gb.emit1("linear", [x, wn, bn], attrs, name=base))


def add(cv, i, name, op):
    ins = _ins(op)
    a, b = cv.value(i, name, ins[0]), cv.value(i, name, ins[1])
    a_t, b_t, y_t = cv.m.tensor(ins[0]), cv.m.tensor(ins[1]), cv.m.tensor(int(op.outputs[0]))
    if a_t.shape != b_t.shape:
        cv.fail(i, name, f"broadcasting {list(a_t.shape)} + {list(b_t.shape)} is not supported")
    lo, hi = cv.act_range(i, name, op.builtinOptions.fusedActivationFunction, y_t)
    attrs = dict(x_zero=a_t.zero[0], y_zero_in=b_t.zero[0], y_scale=y_t.scale[0],
                 y_zero=y_t.zero[0], act_min=lo, act_max=hi,
                 params=add_params(a_t.scale[0], b_t.scale[0], y_t.scale[0]), rounding="tflm")
    cv.out(i, name, int(op.outputs[0]), cv.gb.emit1("add", [a, b], attrs, name=f"add{i}"))


def _same_q(cv, i, name, x_t, y_t):
    if (_f32(x_t.scale[0]), x_t.zero[0]) != (_f32(y_t.scale[0]), y_t.zero[0]):
        cv.fail(i, name, f"input and output quantization differ ({x_t.scale[0]:.6g}, "
                f"{x_t.zero[0]} vs {y_t.scale[0]:.6g}, {y_t.zero[0]}): not supported")


def pool(cv, i, name, op):
    o = op.builtinOptions
    ins = _ins(op)
    x = cv.value(i, name, ins[0])
    x_t, y_t = cv.m.tensor(ins[0]), cv.m.tensor(int(op.outputs[0]))
    _same_q(cv, i, name, x_t, y_t)
    _rank(cv, i, name, x_t, 4, "the input")
    k, s = (int(o.filterHeight), int(o.filterWidth)), (int(o.strideH), int(o.strideW))
    pads = same_pads(x_t.shape[1], k[0], s[0], o.padding) + same_pads(x_t.shape[2], k[1], s[1],
                                                                      o.padding)
    lo, hi = cv.act_range(i, name, o.fusedActivationFunction, y_t)
    base, gb = f"{SHORT[name]}{i}", cv.gb
    if name == "AVERAGE_POOL_2D":
        y = gb.emit1("avgpool2d", [x], dict(kernel=k, stride=s, pads=pads, act_min=lo,
                                             act_max=hi), name=base)
    else:  # max: padded cells hold -128, which never beats an in-bounds cell
        x, padding = _pad_node(cv, x, pads, -128, base)
        y = gb.emit1("maxpool2d", [x], dict(kernel=k, stride=s, padding=padding), name=base)
        if (lo, hi) != (-128, 127):
            y = gb.emit1("clamp", [y], dict(lo=lo, hi=hi), name=f"{base}.act")
    cv.out(i, name, int(op.outputs[0]), y)


def mean(cv, i, name, op):
    ins = _ins(op)
    x = cv.value(i, name, ins[0])
    x_t, ax_t, y_t = cv.m.tensor(ins[0]), cv.m.tensor(ins[1]), cv.m.tensor(int(op.outputs[0]))
    if ax_t.data is None:
        cv.fail(i, name, "the axes must be a constant tensor")
    rank = len(x_t.shape)
    axes = sorted({int(a) % rank for a in np.ravel(ax_t.data)}) if rank else []
    if rank != 4 or axes != [1, 2]:
        cv.fail(i, name, f"only the mean over H and W of a rank-4 tensor is supported (axes "
                f"{np.ravel(ax_t.data).tolist()} of rank {rank})")
    base = f"{SHORT[name]}{i}"
    attrs = mean_attrs(x_t, y_t, x_t.shape[1] * x_t.shape[2])
    y = cv.gb.emit1("mean_hw", [x], attrs, name=base)
    if len(y_t.shape) != 4:
        y = cv.gb.emit1("reshape", [y], dict(shape=(x_t.shape[3],)), name=f"{base}.flat")
    cv.out(i, name, int(op.outputs[0]), y)


def pad(cv, i, name, op):
    ins = _ins(op)
    x = cv.value(i, name, ins[0])
    x_t, p_t, y_t = cv.m.tensor(ins[0]), cv.m.tensor(ins[1]), cv.m.tensor(int(op.outputs[0]))
    _same_q(cv, i, name, x_t, y_t)
    if p_t.data is None or len(x_t.shape) != 4 or p_t.data.shape != (4, 2):
        cv.fail(i, name, "only constant paddings of a rank-4 tensor are supported")
    p = p_t.data.astype(np.int64)
    if p[0].any() or p[3].any() or (p < 0).any():
        cv.fail(i, name, "padding the batch or channel axis is not supported")
    value = y_t.zero[0]
    c_t = _in_tensor(cv, op, 2)
    if name == "PADV2" and c_t is not None:
        if c_t.data is None or c_t.dtype != "int8" or c_t.data.size != 1:
            cv.fail(i, name, "the pad value must be a constant int8 scalar")
        value = int(c_t.data.ravel()[0])
    pads = (int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1]))
    if value == x_t.zero[0] and _folds_into_conv(cv, int(op.outputs[0]), pads):
        cv.folded[int(op.outputs[0])] = (x, pads)  # the conv pads with x_zero itself
        cv.trace.append([i, name, None])
        return
    y = cv.gb.emit1("pad", [x], dict(pads=pads, value=int(value)), name=f"{SHORT[name]}{i}")
    cv.out(i, name, int(op.outputs[0]), y)


def _folds_into_conv(cv, ti: int, pads) -> bool:
    """Zero-point padding read only by one VALID conv, the same on both sides of each axis:
    the conv's own padding (after subtracting x_zero, zeros) does the same."""
    users = cv.consumers.get(ti, [])
    if len(users) != 1 or ti in cv.m.outputs or pads[0] != pads[1] or pads[2] != pads[3]:
        return False
    op = cv.m.ops[users[0]]
    return (cv.m.op_name(op) in ("CONV_2D", "DEPTHWISE_CONV_2D") and int(op.inputs[0]) == ti
            and op.builtinOptions.padding == 1)


def reshape(cv, i, name, op):
    ins = _ins(op)
    x = cv.value(i, name, ins[0])
    x_t, y_t = cv.m.tensor(ins[0]), cv.m.tensor(int(op.outputs[0]))
    _same_q(cv, i, name, x_t, y_t)
    _flat_check(cv, i, name, x_t.shape, y_t.shape)
    y = cv.gb.emit1("reshape", [x], dict(shape=ir_shape(y_t.shape)[1:]), name=f"{SHORT[name]}{i}")
    cv.out(i, name, int(op.outputs[0]), y)


def softmax(cv, i, name, op):
    from ..ops import gemmlowp as gl

    ins = _ins(op)
    x = cv.value(i, name, ins[0])
    x_t, y_t = cv.m.tensor(ins[0]), cv.m.tensor(int(op.outputs[0]))
    final = cv.m.outputs[0]
    last = int(op.outputs[0]) == final or any(
        cv.m.op_name(o2) == "DEQUANTIZE" and int(o2.inputs[0]) == int(op.outputs[0])
        and int(o2.outputs[0]) == final for o2 in cv.m.ops)
    if not last:
        cv.fail(i, name, "SOFTMAX is supported only as the model's last operator (training "
                "uses the logits before it)")
    if len(x_t.shape) != 2:
        cv.fail(i, name, f"SOFTMAX of a rank-{len(x_t.shape)} tensor: only [N, K] is supported")
    if (_f32(y_t.scale[0]), y_t.zero[0]) != (_f32(1 / 256), -128):
        cv.fail(i, name, f"output quantization ({y_t.scale[0]:.6g}, {y_t.zero[0]}) is not "
                "TFLite's int8 softmax output (1/256, -128)")
    beta = float(op.builtinOptions.beta)
    attrs = gl.softmax_params(beta, _f32(x_t.scale[0]))
    y = cv.gb.emit1("softmax_s8", [x], attrs, name="probs")
    cv.softmax = dict(input=x, op=i, beta=beta, **attrs)
    cv.out(i, name, int(op.outputs[0]), y)


MAPPERS = {"CONV_2D": conv, "DEPTHWISE_CONV_2D": conv, "FULLY_CONNECTED": fully_connected,
           "ADD": add, "AVERAGE_POOL_2D": pool, "MAX_POOL_2D": pool, "MEAN": mean, "PAD": pad,
           "PADV2": pad, "RESHAPE": reshape, "SQUEEZE": reshape, "SOFTMAX": softmax}
