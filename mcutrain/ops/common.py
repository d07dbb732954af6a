"""Shared pieces of the op definitions: attribute access, requantization of accumulators."""
from __future__ import annotations

import numpy as np

from ..ir.dtype import F32, I8, QParams
from . import fixedpoint as fp


def pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def hwc(shape) -> tuple[int, int, int]:
    """(H, W, C) of an IR activation shape [1, C, H, W] or [1, C]: the C keeps activations
    and their gradients HWC, element (h, w, c) at (h*W + w)*C + c."""
    if len(shape) == 4:
        return int(shape[2]), int(shape[3]), int(shape[1])
    if len(shape) == 2:
        return 1, 1, int(shape[1])
    if len(shape) == 1:
        return 1, 1, int(shape[0])
    if len(shape) == 0:
        return 1, 1, 1
    raise ValueError(f"no HWC layout for shape {list(shape)}")


def out_q(attrs) -> QParams:
    """Output quantization of an int8-producing op, from its attrs y_scale / y_zero."""
    return QParams.tensor(attrs["y_scale"], attrs["y_zero"])


def is_int(values) -> bool:
    return values[0].dtype == I8


def requant_output(acc: np.ndarray, bias: np.ndarray, attrs: dict, axis: int = 1) -> np.ndarray:
    """int8 output of a conv/linear: clamp(requantize(sat32(acc + bias)) + y_zero).

    acc: exact integer accumulator (int64) with channels on `axis`; bias int32 per channel.
    attrs rounding="tflm" (a graph read from a .tflite file) requantizes as TFLite Micro
    does (ops/gemmlowp.mbqm: two roundings) instead of fixedpoint.requantize's one.
    """
    shape = [1] * acc.ndim
    shape[axis] = -1
    total = fp.saturate_int32(acc + bias.astype(np.int64).reshape(shape))
    mult = np.asarray(attrs["mult"], np.int64).reshape(shape)
    shift = np.asarray(attrs["shift"], np.int64).reshape(shape)
    if attrs.get("rounding") == "tflm":
        from .gemmlowp import mbqm

        y = mbqm(total, mult, shift) + attrs["y_zero"]
    else:
        y = fp.requantize(total, mult, shift) + attrs["y_zero"]
    return fp.clamp(y, attrs["act_min"], attrs["act_max"]).astype(np.int8)


def tflm(attrs) -> str:
    """The C kernel-name suffix of an int8 op's requantization: "_tflm" for TFLite Micro's
    (attrs rounding="tflm", a .tflite graph; the twins in runtime/include/mct_tflm.h take
    their originals' arguments), else ""."""
    return "_tflm" if attrs.get("rounding") == "tflm" else ""


def real_of(x: np.ndarray, zero: int, scale: float) -> np.ndarray:
    """r = s * (q - z) in float64."""
    return (x.astype(np.float64) - zero) * scale


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def float_type(shape):
    return (tuple(shape), F32, None)


def check(cond: bool, msg: str):
    if not cond:
        raise ValueError(msg)
