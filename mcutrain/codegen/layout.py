"""How IR values become C buffers: storage classes, HWC dimensions, C names.

The IR is NCHW with batch 1; the C keeps activations and their gradients HWC
([H][W][C], element (h, w, c) at (h*W + w)*C + c) and parameters in the IR layout.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..ops.common import hwc  # noqa: F401  (re-exported: the layout rule)

CTYPE = {"i8": "int8_t", "i32": "int32_t", "f32": "float", "u8": "uint8_t"}
SIZEOF = {"i8": 1, "i32": 4, "f32": 4, "u8": 1}


def c_ident(name: str, prefix: str = "") -> str:
    s = re.sub(r"\W", "_", name)
    if s[:1].isdigit():
        s = "_" + s
    return prefix + s


def to_hwc(arr: np.ndarray) -> np.ndarray:
    """IR activation (N, C, H, W) or (N, C) -> HWC array(s) as the C sees them."""
    if arr.ndim == 4:
        return np.ascontiguousarray(arr.transpose(0, 2, 3, 1))
    return np.ascontiguousarray(arr)


def from_hwc(arr: np.ndarray, shape) -> np.ndarray:
    if len(shape) == 4:
        n, c, h, w = shape
        return np.ascontiguousarray(arr.reshape(-1, h, w, c).transpose(0, 3, 1, 2))
    return arr.reshape((-1,) + tuple(shape[1:]))


@dataclass
class Buf:
    """Where a value lives in C: kind arena | ram | flash | scalar, with a C expression."""

    kind: str
    expr: str
    dtype: str
    nbytes: int
    offset_name: str | None = None
