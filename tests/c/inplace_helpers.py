"""Helpers of tests/c/test_inplace.py: ctypes signatures of the in-place kernels, random int8
conv cases, and single-buffer arenas with guard bytes (so a kernel writing outside what the
in-place contract gives it is caught)."""
from __future__ import annotations

import numpy as np

from mcutrain.ops.common import pair

from .conftest import G, Q, W, conv_attrs, conv_requant, i32, vp

INT32_MAX = 2**31 - 1
GUARD = 64  # guard bytes on each side of every buffer handed to a kernel
SENTINEL = 0x5A

SIGNATURES = {
    "mct_pointwise_s8_inplace": (i32, [G, Q, vp, vp, W, vp, vp]),
    "mct_depthwise_s8_inplace": (i32, [G, Q, vp, vp, W, vp, vp]),
    "mct_conv2d_s8_rows": (i32, [G, Q, vp, vp, W, vp, vp, vp]),
    "mct_expand_dw_s8": (i32, [G, Q, vp, vp, G, Q, vp, vp, vp, vp, vp]),
    "mct_pointwise_grad_input_f32_inplace": (i32, [G, vp, vp, W, vp, vp]),
    "mct_depthwise_grad_input_f32_inplace": (i32, [G, vp, vp, W, vp, vp]),
}


def bind(lib):
    for name, (res, args) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


# ---- cases -------------------------------------------------------------------------------

def conv_case(rng, c, o, hw, k, s, p, groups, spread_out=True):
    """Random int8 conv (x, w, bias, attrs) whose output spreads over the int8 range, with
    one edge channel (saturating bias, zero or maximal multiplier) mixed in."""
    h, w_ = hw
    kh, kw = pair(k)
    x = rng.integers(-128, 128, (1, c, h, w_)).astype(np.int8)
    w = rng.integers(-127, 128, (o, c // groups, kh, kw)).astype(np.int8)
    x_zero = int(rng.integers(-128, 128))
    bias, mult, shift = conv_requant(rng, x, w, x_zero, s, p, groups)
    if spread_out and o > 1:
        ch = int(rng.integers(o))
        edge = int(rng.integers(4))
        if edge == 0:
            bias[ch] = INT32_MAX
        elif edge == 1:
            bias[ch] = -(2**31)
        elif edge == 2:
            mult[ch], shift[ch] = 0, 0
        else:
            mult[ch], shift[ch] = INT32_MAX, 30
    y_zero = int(rng.integers(-128, 128))
    act = [(-128, 127), (y_zero, 127), (-20, 30)][int(rng.integers(3))]
    return x, w, bias, conv_attrs(s, p, groups, x_zero, y_zero, mult, shift, act)


def random_sel(rng, n):
    k = int(rng.integers(1, max(2, n // 2 + 1)))
    return np.sort(rng.choice(n, k, replace=False)).astype(np.int32)


# ---- guarded buffers ---------------------------------------------------------------------

class Arena:
    """`nbytes` usable bytes (view .mem) between two guard zones of SENTINEL bytes; the
    usable part starts filled with junk so that stale data is never mistaken for a result."""

    def __init__(self, nbytes, rng=None):
        self.nbytes = int(nbytes)
        self.raw = np.full(self.nbytes + 2 * GUARD, SENTINEL, np.uint8)
        junk = (rng or np.random.default_rng(12345)).integers(0, 256, self.nbytes)
        self.raw[GUARD:GUARD + self.nbytes] = junk.astype(np.uint8)

    @property
    def mem(self):
        return self.raw[GUARD:GUARD + self.nbytes]

    def view(self, offset, dtype, shape):
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        assert 0 <= offset and offset + n <= self.nbytes, "view outside the arena"
        return self.mem[offset:offset + n].view(dtype).reshape(shape)

    def put(self, offset, a):
        a = np.ascontiguousarray(a)
        self.view(offset, a.dtype, a.shape)[...] = a

    def ptr(self, offset=0):
        return self.raw.ctypes.data + GUARD + offset

    def guards_intact(self) -> bool:
        head, tail = self.raw[:GUARD], self.raw[GUARD + self.nbytes:]
        return bool(np.all(head == SENTINEL) and np.all(tail == SENTINEL))
