"""Host target: build C sources into a shared library with the system C compiler, load it
with ctypes. The generated training code runs here exactly as it will on the device."""
from __future__ import annotations

import ctypes
import tempfile
from pathlib import Path

from .toolchain import (HOST_CFLAGS as CFLAGS, INCLUDE, RUNTIME, RUNTIME_ABI, BuildError,  # noqa: F401
                        build_shared, cc, host_runtime_key, output_headers, output_sources,
                        runtime_sources)


def runtime_library(cache_dir: Path | str | None = None, opt: str | None = None) -> ctypes.CDLL:
    """The runtime kernels alone as a shared library (for kernel tests), cached by content
    (toolchain.host_runtime_key: sources, flags, compiler, package version)."""
    cache = Path(cache_dir or Path(tempfile.gettempdir()) / "mcutrain-runtime")
    lib = cache / f"libmct-{host_runtime_key(opt)}.so"
    if not lib.exists():
        build_shared(runtime_sources(), lib, opt=opt)
    return ctypes.CDLL(str(lib))


SIZES = {"i8": 1, "i32": 4, "f32": 4}
NPT = {"i8": "int8", "i32": "int32", "f32": "float32"}


class CompiledModel:
    """A compiled output directory, built for the host and loaded through ctypes."""

    def __init__(self, out_dir, opt: str | None = None, rebuild: bool = False):
        import numpy as np

        from ..artifacts import input_hwc, read_report

        self.dir = Path(out_dir)
        self.report = read_report(self.dir, lean=True)  # the planner's libraries: lean
        lib = self.dir / "libmodel.so"
        srcs = output_sources(self.dir)
        newest = max(p.stat().st_mtime for p in srcs + output_headers(self.dir))
        if rebuild or not lib.exists() or lib.stat().st_mtime < newest:
            build_shared(srcs, lib, include_dirs=[self.dir / "runtime" / "include", self.dir], opt=opt)
        self.lib = ctypes.CDLL(str(lib.resolve()))
        L = self.lib
        i8p = ctypes.POINTER(ctypes.c_int8)
        fp = ctypes.POINTER(ctypes.c_float)
        L.mct_train_step.restype = ctypes.c_float
        L.mct_train_step.argtypes = [i8p, ctypes.c_int32]
        L.mct_forward.restype = ctypes.c_int
        L.mct_forward.argtypes = [i8p, fp]
        L.mct_logits.restype = fp
        L.mct_set_lr.argtypes = [ctypes.c_float]
        L.mct_get_lr.restype = ctypes.c_float
        L.mct_get_step.restype = ctypes.c_uint32
        L.mct_set_step.argtypes = [ctypes.c_uint32]
        L.mct_get_params.argtypes = [ctypes.c_void_p]
        L.mct_set_params.argtypes = [ctypes.c_void_p]
        self.classes = int(self.report["classes"])
        self.input_hwc = input_hwc(self.report)
        self._np = np
        self.params_layout = [(p["name"], p["dtype"], tuple(p["shape"])) for p in self.report["params"]]
        self.params_bytes = sum(int(np.prod(s)) * SIZES[d] for _, d, s in self.params_layout)
        L.mct_init()

    def _input(self, x):
        np = self._np
        x = np.ascontiguousarray(x, dtype=np.int8)
        if x.shape != self.input_hwc:
            raise ValueError(f"input must be int8 HWC {self.input_hwc}, got {x.shape}")
        return x, x.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))

    def _check(self, what):
        st = self.lib.mct_status()
        if st != 0:
            raise RuntimeError(f"{what}: kernel status {st}")

    def forward(self, x_hwc):
        np = self._np
        x, p = self._input(x_hwc)
        out = np.zeros(self.classes, np.float32)
        self.lib.mct_forward(p, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        self._check("forward")
        return out

    def train_step(self, x_hwc, label: int) -> float:
        x, p = self._input(x_hwc)
        loss = float(self.lib.mct_train_step(p, int(label)))
        self._check("train step")
        return loss

    def guard(self) -> "Guard":
        """The divergence guard of a training run (runtime guard.c) for this model."""
        classes = 0 if self.report.get("loss") == "mse" else self.classes  # 0: no prior level
        return Guard(self.lib if hasattr(self.lib, "mct_guard_step") else runtime_library(),
                     classes)

    def logits(self):
        np = self._np
        return np.ctypeslib.as_array(self.lib.mct_logits(), (self.classes,)).copy()

    @property
    def lr(self) -> float:
        return float(self.lib.mct_get_lr())

    @lr.setter
    def lr(self, v: float):
        self.lib.mct_set_lr(float(v))

    @property
    def step(self) -> int:
        return int(self.lib.mct_get_step())

    @step.setter
    def step(self, v: int):
        self.lib.mct_set_step(int(v))

    def get_params(self) -> dict:
        """Trained parameters (and optimizer state) by IR name, as stored (slices for
        channel-fraction layers)."""
        np = self._np
        buf = np.zeros(self.params_bytes, np.uint8)
        self.lib.mct_get_params(buf.ctypes.data_as(ctypes.c_void_p))
        out, off = {}, 0
        for name, d, shape in self.params_layout:
            n = int(np.prod(shape)) * SIZES[d]
            out[name] = buf[off:off + n].view(NPT[d]).reshape(shape).copy()
            off += n
        return out

    def set_params(self, params: dict):
        np = self._np
        parts = []
        for name, d, shape in self.params_layout:
            a = np.ascontiguousarray(params[name], dtype=NPT[d])
            if a.shape != shape:
                raise ValueError(f"parameter {name}: shape {a.shape} != {shape}")
            parts.append(a.view(np.uint8).ravel())
        buf = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        self.lib.mct_set_params(buf.ctypes.data_as(ctypes.c_void_p))


class _GuardState(ctypes.Structure):
    _fields_ = [("ref", ctypes.c_float), ("sum", ctypes.c_float), ("n", ctypes.c_int32),
                ("first", ctypes.c_int32)]  # mct_guard (mct.h)


class Guard:
    """mct_guard through ctypes: step(loss) -> None, "non-finite" or "exploded"."""

    REASONS = {1: "non-finite", 2: "exploded"}

    def __init__(self, lib: ctypes.CDLL, classes: int):
        self._lib, self._g = lib, _GuardState()
        lib.mct_guard_init.argtypes = [ctypes.POINTER(_GuardState), ctypes.c_int32]
        lib.mct_guard_step.argtypes = [ctypes.POINTER(_GuardState), ctypes.c_float]
        lib.mct_guard_step.restype = ctypes.c_int
        lib.mct_guard_init(ctypes.byref(self._g), int(classes))

    def step(self, loss: float) -> str | None:
        return self.REASONS.get(self._lib.mct_guard_step(ctypes.byref(self._g), float(loss)))
