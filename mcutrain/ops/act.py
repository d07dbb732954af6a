"""clamp: ReLU (lo=0), ReLU6 (lo=0, hi=6) in float; in int8 the same clamp on the integer
values (lo/hi are then int8 levels). Its gradient passes where lo < y < hi, which is also
the rule every int8 op applies to its own output clamp (clamp_grad).
"""
from __future__ import annotations

import numpy as np

from .common import check, f32, float_type
from .registry import OpDef, register


def _infer(ins, a):
    x = ins[0]
    return [(x.shape, x.dtype, x.q)]


def _ref(ins, a):
    x = ins[0]
    lo, hi = a.get("lo"), a.get("hi")
    lo = -np.inf if lo is None else lo
    hi = np.inf if hi is None else hi
    return [np.clip(x, lo, hi).astype(x.dtype)]


def _grad(gb, node, gys):
    if gys[0] is None:
        return [None]
    return [gb.emit1("clamp_grad", [gys[0], node.outputs[0]],
                     dict(lo=node.attr("lo"), hi=node.attr("hi")))]


def _emit_clamp(ctx, i, n):
    return [f"st |= mct_clamp_s8({ctx.n(n.inputs[0])}, {n.attrs['lo']}, {n.attrs['hi']}, "
            f"{ctx.ref(n.inputs[0])}, {ctx.ref(n.outputs[0])});"]


def _check_clamp(ctx, n):
    if ctx.values[n.inputs[0]].dtype != "i8":
        return "float clamp is not compiled to C (quantize the model first)"
    return None


register(OpDef("clamp", _infer, _ref, _grad, None, "y = min(max(x, lo), hi): ReLU, ReLU6",
               emit=_emit_clamp, c_check=_check_clamp))


def _g_infer(ins, a):
    gy, y = ins
    check(gy.shape == y.shape, f"clamp_grad: gradient {list(gy.shape)} vs value {list(y.shape)}")
    return [float_type(gy.shape)]


def _g_ref(ins, a):
    gy, y = ins
    mask = np.ones(y.shape, bool)
    if a.get("lo") is not None:
        mask &= y > a["lo"]
    if a.get("hi") is not None:
        mask &= y < a["hi"]
    return [f32(np.where(mask, gy, np.float32(0)))]


def copy_unless_inplace(ctx, i, src, dst) -> list:
    """Kernels that work in place on a float buffer: copy first when src lives on."""
    if ctx.mode(i) == "inplace":
        return []
    return [f"memcpy({ctx.ref(dst)}, {ctx.ref(src)}, {ctx.n(src) * 4});"]


def _emit_clamp_grad(ctx, i, n):
    gy, y = n.inputs
    a = n.attrs
    return copy_unless_inplace(ctx, i, gy, n.outputs[0]) + [
        f"st |= mct_clamp_grad_f32({ctx.n(gy)}, {a['lo']}, {a['hi']}, {ctx.ref(y)}, "
        f"{ctx.ref(n.outputs[0])});"]


def _check_clamp_grad(ctx, n):
    if n.attrs.get("lo") is None or n.attrs.get("hi") is None:
        return "clamp_grad of a float clamp is not compiled to C"
    return None


register(OpDef("clamp_grad", _g_infer, _g_ref, None, None,
               "gx = gy where lo < y < hi, else 0 (from the saved output y)",
               emit=_emit_clamp_grad, c_check=_check_clamp_grad))


# ---- bit masks: what clamp_grad needs of an int8 output, at 1 bit per element ---------------

def _bits(n: int) -> int:
    return (n + 7) // 8


def _m_infer(ins, a):
    y = ins[0]
    return [((y.shape[0], _bits(int(np.prod(y.shape[1:])))), "u8", None)]


def _m_ref(ins, a):
    y = ins[0]
    mask = (y > a["lo"]) & (y < a["hi"])
    return [np.packbits(mask.reshape(len(y), -1), axis=1, bitorder="little")]


def _emit_clamp_mask(ctx, i, n):
    y = n.inputs[0]
    return [f"st |= mct_clamp_mask_s8({ctx.n(y)}, {n.attrs['lo']}, {n.attrs['hi']}, "
            f"{ctx.ref(y)}, {ctx.ref(n.outputs[0])});"]


register(OpDef("clamp_mask", _m_infer, _m_ref, None, None,
               "bit i of sample n = (lo < y[n].flat[i] < hi), packed little-endian: the saved "
               "form of an output that backward needs only for its clamp mask",
               emit=_emit_clamp_mask))


def _gm_infer(ins, a):
    gy, m = ins
    check(m.shape == (gy.shape[0], _bits(int(np.prod(gy.shape[1:])))),
          f"clamp_grad_mask: mask {list(m.shape)} does not fit gradient {list(gy.shape)}")
    return [float_type(gy.shape)]


def _gm_ref(ins, a):
    gy, m = ins
    n = int(np.prod(gy.shape[1:]))
    mask = np.unpackbits(m, axis=1, count=n, bitorder="little").astype(bool).reshape(gy.shape)
    return [f32(np.where(mask, gy, np.float32(0)))]


def _emit_clamp_grad_mask(ctx, i, n):
    gy, m = n.inputs
    return copy_unless_inplace(ctx, i, gy, n.outputs[0]) + [
        f"st |= mct_clamp_grad_bits_f32({ctx.n(gy)}, {ctx.ref(m)}, {ctx.ref(n.outputs[0])});"]


register(OpDef("clamp_grad_mask", _gm_infer, _gm_ref, None, None,
               "gx = gy where the saved mask bit is set, else 0 (= clamp_grad)",
               emit=_emit_clamp_grad_mask))
