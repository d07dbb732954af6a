"""Element types and quantization parameters.

A quantized value q stands for the real number r = scale * (q - zero_point).
Weights are per-channel symmetric (zero_point 0, one scale per output channel, axis 0);
activations are per-tensor asymmetric (one scale, one zero point).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

I8 = "i8"
I32 = "i32"
F32 = "f32"
U8 = "u8"  # packed bit masks
NP_DTYPE = {I8: np.int8, I32: np.int32, F32: np.float32, U8: np.uint8}
DTYPES = tuple(NP_DTYPE)


@dataclass(frozen=True)
class QParams:
    """r = scale * (q - zero_point); per-channel when len(scale) > 1 (along `axis`)."""

    scale: tuple[float, ...]
    zero_point: int = 0
    axis: int | None = None

    def __post_init__(self):
        if not self.scale or any(not np.isfinite(s) or s <= 0 for s in self.scale):
            raise ValueError(f"quantization scales must be finite and > 0, got {self.scale[:4]}")

    @staticmethod
    def tensor(scale: float, zero_point: int = 0) -> "QParams":
        return QParams((float(scale),), int(zero_point), None)

    @staticmethod
    def channel(scales, axis: int = 0) -> "QParams":
        return QParams(tuple(float(s) for s in np.asarray(scales).ravel()), 0, axis)

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    @property
    def s(self) -> float:
        """The per-tensor scale (error for per-channel params)."""
        if self.per_channel:
            raise ValueError("per-channel QParams has no single scale")
        return self.scale[0]

    def scales(self) -> np.ndarray:
        return np.asarray(self.scale, dtype=np.float64)

    def __str__(self) -> str:
        if self.per_channel:
            return f"q(s=<{len(self.scale)}>,axis={self.axis})"
        return f"q(s={self.scale[0]:.6g},z={self.zero_point})"
