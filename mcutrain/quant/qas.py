"""Quantization-Aware Scaling (QAS), the paper's SGDScale.

Gradients of int8 weights are in int8 steps: g_int = s_w * g_real. Multiplying by s_w^-2
gives g_real / s_w, so an SGD step on the integer weight moves the real weight exactly as
fp32 SGD would (w_real' = s_w (w_int - lr g_real / s_w) = w_real - lr g_real). The same for
the int32 bias, whose step is s_x * s_w. Factors are per output channel (row), float32.
"""
from __future__ import annotations

import numpy as np


def qas_factors(step_sizes, rows=None) -> tuple:
    """1 / s^2 per output channel; `rows` picks the trained rows (depthwise channel subset)."""
    s = np.asarray(step_sizes, np.float64)
    if rows is not None:
        s = s[list(rows)]
    return tuple(float(f) for f in (1.0 / (s * s)).astype(np.float32))


def weight_qas(w_scale, rows=None) -> tuple:
    """Factors of an int8 weight: s_w[o]^-2."""
    return qas_factors(w_scale, rows)


def bias_qas(w_scale, x_scale: float, rows=None) -> tuple:
    """Factors of an int32 bias: (s_w[o] * s_x)^-2."""
    return qas_factors(np.asarray(w_scale, np.float64) * x_scale, rows)
