"""ctypes bindings of the runtime kernels (mcutrain/runtime/include/mct.h) for the C tests.

The `lib` fixture is the runtime built by targets.host.runtime_library() (and, as a second
parameter, the same sources built with -DMCT_PORTABLE) with every function's signature
declared. Structures come from mcutrain/ops/cabi.py (mct.h's structs, described once); the
arrays a structure points to are kept alive on the structure (`_keep`). Helpers convert
between the IR's NCHW (batch 1) and the kernels' HWC layout.
"""
from __future__ import annotations

import ctypes as C
import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pytest

from mcutrain.ops.cabi import STRUCTS
from mcutrain.ops.common import pair
from mcutrain.ops.conv import conv_nchw, out_hw
from mcutrain.ops.registry import get_op
from mcutrain.ops.fixedpoint import quantize_multiplier
from mcutrain.targets.host import INCLUDE, build_shared, runtime_library, runtime_sources

i32, u32, f32, vp = C.c_int32, C.c_uint32, C.c_float, C.c_void_p


CTYPES = {"int32_t": i32, "uint32_t": u32, "float": f32, "const int8_t *": C.POINTER(C.c_int8),
          "const int32_t *": C.POINTER(i32), "const float *": C.POINTER(f32)}


def struct_class(name: str):
    """A ctypes Structure of an mct.h parameter struct, from its one description
    (mcutrain/ops/cabi.py; tests/c/test_cabi.py checks that against mct.h)."""
    return type(name, (C.Structure,), {"_fields_": [(f, CTYPES[t]) for f, t in STRUCTS[name]]})


Geom, Requant, WSplit, AddParams, Sgd = (struct_class(n) for n in (
    "mct_conv_geom", "mct_requant", "mct_wsplit", "mct_add_params", "mct_sgd"))
G, Q, W, A, S = (C.POINTER(t) for t in (Geom, Requant, WSplit, AddParams, Sgd))

SIGNATURES = {
    "mct_conv2d_s8": (i32, [G, Q, vp, vp, W, vp, vp]),
    "mct_linear_s8": (i32, [i32, i32, Q, vp, vp, W, vp, vp]),
    "mct_add_s8": (i32, [A, i32, vp, vp, vp]),
    "mct_avgpool_global_s8": (i32, [i32, i32, vp, vp]),
    "mct_maxpool_s8": (i32, [G, vp, vp]),
    "mct_clamp_s8": (i32, [i32, i32, i32, vp, vp]),
    "mct_dequantize_s8": (i32, [i32, f32, i32, vp, vp]),
    "mct_gather_channels_s8": (i32, [i32, i32, vp, i32, vp, vp]),
    "mct_linear_f32": (i32, [i32, i32, vp, vp, vp, vp]),
    "mct_softmax_ce_f32": (f32, [i32, vp, i32, vp]),
    "mct_mse_f32": (f32, [i32, vp, vp, vp]),
    "mct_clamp_grad_f32": (i32, [i32, i32, i32, vp, vp]),
    "mct_conv2d_grad_input_f32": (i32, [G, vp, vp, W, vp, vp]),
    "mct_conv2d_grad_weight_row_f32": (i32, [G, vp, i32, i32, f32, vp, i32, i32, f32, vp]),
    "mct_bias_grad_f32": (i32, [i32, i32, vp, vp, vp]),
    "mct_avgpool_global_grad_f32": (i32, [i32, i32, vp, vp]),
    "mct_linear_grad_input_f32": (i32, [i32, i32, vp, vp, vp, vp, vp]),
    "mct_outer_f32": (i32, [i32, i32, vp, vp, vp]),
    "mct_accumulate_f32": (i32, [i32, vp, vp]),
    "mct_sgd_s8": (i32, [S, i32, i32, vp, vp, vp]),
    "mct_sgd_s32": (i32, [S, i32, i32, vp, vp, vp]),
    "mct_sgd_f32": (i32, [S, i32, i32, vp, vp, vp]),
    "mct_round_master_s8": (i32, [i32, vp, vp]),
    "mct_round_master_s32": (i32, [i32, vp, vp]),
}


def portable_library() -> C.CDLL:
    """The runtime built with -DMCT_PORTABLE: the pure C paths only (what a Cortex-M runs),
    cached by content like runtime_library()."""
    h = hashlib.sha256(b"MCT_PORTABLE")
    srcs = runtime_sources()
    for p in srcs + sorted(INCLUDE.glob("*.h")) + sorted(srcs[0].parent.glob("*.h")):
        h.update(p.read_bytes())
    name = f"libmct-portable-{h.hexdigest()[:16]}.so"
    out = Path(tempfile.gettempdir()) / "mcutrain-runtime" / name
    if not out.exists():
        build_shared(runtime_sources(), out, extra_flags=["-DMCT_PORTABLE"])
    return C.CDLL(str(out))


def _bind(so):
    for name, (res, args) in SIGNATURES.items():
        fn = getattr(so, name)
        fn.restype, fn.argtypes = res, args
    return so


@pytest.fixture(scope="session", params=["native", "portable"])
def lib(request):
    """Every kernel test runs on the host build (AVX2 paths where the CPU has AVX2) and on
    the portable build (pure C)."""
    return _bind(runtime_library() if request.param == "native" else portable_library())


@pytest.fixture(scope="session")
def both_libs():
    """(host build, portable build), to compare the two bit for bit."""
    return _bind(runtime_library()), _bind(portable_library())


# ---- arrays ------------------------------------------------------------------------------

def arr(a, dtype) -> np.ndarray:
    """A C-contiguous copy-if-needed of `a` with the kernel's element type."""
    return np.ascontiguousarray(a, dtype=dtype)


def ptr(a):
    """A `void *` to a contiguous array (None -> NULL). The pointer object holds a reference
    to the array, so a temporary such as ptr(to_hwc(x)) stays alive during the call."""
    if a is None:
        return None
    assert a.flags["C_CONTIGUOUS"], "kernels need contiguous arrays"
    return a.ctypes.data_as(C.c_void_p)


def typed_ptr(a, ctype):
    return C.cast(None, C.POINTER(ctype)) if a is None else a.ctypes.data_as(C.POINTER(ctype))


def to_hwc(x_nchw) -> np.ndarray:
    assert x_nchw.shape[0] == 1
    return np.ascontiguousarray(x_nchw[0].transpose(1, 2, 0))


def to_nchw(x_hwc) -> np.ndarray:
    return np.ascontiguousarray(x_hwc.transpose(2, 0, 1)[None])


# ---- structures --------------------------------------------------------------------------

def geom(in_hw, in_c, out_hw, out_c, kernel, stride, padding, groups=1) -> Geom:
    return Geom(in_hw[0], in_hw[1], in_c, out_hw[0], out_hw[1], out_c, kernel[0], kernel[1],
                stride[0], stride[1], padding[0], padding[1], groups)


def requant(a: dict) -> Requant:
    mult, shift = arr(a["mult"], np.int32), arr(a["shift"], np.int32)
    q = Requant(a["x_zero"], a["y_zero"], a["act_min"], a["act_max"], typed_ptr(mult, i32),
                typed_ptr(shift, i32))
    q._keep = (mult, shift)
    return q


def wsplit(wt, sel):
    wt, sel = arr(wt, np.int8), arr(sel, np.int32)
    s = WSplit(typed_ptr(wt, C.c_int8), typed_ptr(sel, i32), len(sel))
    s._keep = (wt, sel)
    return s


def add_params(a: dict) -> AddParams:
    p = a["params"]
    return AddParams(a["x_zero"], a["y_zero_in"], a["y_zero"], a.get("act_min", -128),
                     a.get("act_max", 127), p["left_shift"], p["x_mult"], p["x_shift"],
                     p["y_mult"], p["y_shift"], p["out_mult"], p["out_shift"])


def sgd(a: dict, lr, step, row_len) -> Sgd:
    qas = None if a.get("qas") is None else arr(a["qas"], np.float32)
    s = Sgd(np.float32(lr), np.float32(a.get("momentum", 0.0)),
            np.float32(a.get("weight_decay", 0.0)), typed_ptr(qas, f32), row_len,
            a.get("seed", 0) & 0xFFFFFFFF, a.get("param_id", 0) & 0xFFFFFFFF, step & 0xFFFFFFFF)
    s._keep = (qas,)
    return s


def byref(s):
    return None if s is None else C.byref(s)


# ---- int8 conv cases (test_kernels.py, inplace_helpers.py) -------------------------------

def conv_requant(rng, x, w, x_zero, stride, padding, groups):
    """Random bias (int32) and per-channel mult, shift (int64, room for edge values) that
    spread the output of the conv of x - x_zero with w over the int8 range."""
    o = w.shape[0]
    bias = rng.integers(-30000, 30000, o).astype(np.int32)
    acc = conv_nchw(x.astype(np.float64) - x_zero, w.astype(np.float64), pair(stride),
                    pair(padding), groups)
    spread = acc.std(axis=(0, 2, 3)) + 1.0
    mult, shift = quantize_multiplier(rng.uniform(0.3, 3.0, o) * 40.0 / spread)
    return bias, mult.astype(np.int64), shift.astype(np.int64)


def conv_attrs(stride, padding, groups, x_zero, y_zero, mult, shift, act):
    """The attrs of an int8 conv op (act: (act_min, act_max))."""
    return dict(stride=pair(stride), padding=pair(padding), groups=groups, x_zero=x_zero,
                y_scale=0.05, y_zero=y_zero, mult=tuple(int(v) for v in mult),
                shift=tuple(int(v) for v in shift), act_min=act[0], act_max=act[1])


def conv_geom(x_shape, w_shape, attrs):
    _, c, h, w_ = x_shape
    o, _, kh, kw = w_shape
    ho, wo = out_hw(h, w_, (kh, kw), attrs["stride"], attrs["padding"])
    return geom((h, w_), c, (ho, wo), o, (kh, kw), attrs["stride"], attrs["padding"],
                attrs["groups"])


def split_weights(w, sel, depthwise):
    """Frozen weights with zeros in the trained channels, and the trained slice."""
    frozen = w.copy()
    if depthwise:
        frozen[list(sel)] = 0
        return frozen, np.ascontiguousarray(w[list(sel)])
    frozen[:, list(sel)] = 0
    return frozen, np.ascontiguousarray(w[:, list(sel)])


# ---- references and error measure --------------------------------------------------------

def ref(name: str, arrays, attrs):
    return get_op(name).ref(list(arrays), attrs)


def rel_err(actual, expected) -> float:
    """max|a - b| / max|b| (the absolute error when b is all zero), as in tests/ops."""
    a, b = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != expected {b.shape}"
    if a.size == 0:
        return 0.0
    err, scale = float(np.max(np.abs(a - b))), float(np.max(np.abs(b)))
    return err / scale if scale > 0 else err


def assert_rel(actual, expected, tol=1e-5, what=""):
    e = rel_err(actual, expected)
    assert e <= tol, f"{what}: relative error {e:.3g} > {tol:g}"


def assert_exact(actual, expected, what=""):
    a, b = np.asarray(actual), np.asarray(expected)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    if not np.array_equal(a, b):
        bad = np.argwhere(a != b)
        i = tuple(bad[0])
        raise AssertionError(f"{what}: {len(bad)} of {a.size} differ, first at {i}: "
                             f"{a[i]!r} != {b[i]!r}")
