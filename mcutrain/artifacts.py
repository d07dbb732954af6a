"""The files of a compile output: report.json and params.npz read back (and params.npz written).

Everything that reads them (targets/host.py CompiledModel, train/, targets/qemu.py,
targets/cortex_m.py) goes through `read_report` and `read_params`, which check every field
those readers use and raise our errors naming the file: a UsageError when OUT is not a
compile output at all, an InputError when a file in it is damaged or from another version.
Nothing damaged reaches ctypes or the C build, where a wrong size would be a memory error.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from .errors import DivergedError, InputError
from .ir.serialize import one_line, read_npz
from .outdir import atomic_write

REPORT_VERSIONS = (1,)  # compile.REPORT_VERSION must be one of these
MAX_REPORT_BYTES = 256 << 20  # the per-buffer plan of a big model is a few MB
DTYPE_BYTES = {"i8": 1, "i32": 4, "f32": 4}
NP_DTYPES = {"i8": np.dtype(np.int8), "i32": np.dtype(np.int32), "f32": np.dtype(np.float32)}
MAX_DIM = 1 << 16
IR_NAME = re.compile(r"[\w.\-]+")  # ir/printer.py: what a value name may hold
C_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a symbol goes into generated C as is
HEADER_DEFINE = re.compile(r"^#define (MCT_\w+) (\d+)\s*$", re.M)
PARAMS_FILE = "params.npz"  # a compile output's trained parameters (train writes it)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _bad(shown: str, what: str) -> InputError:
    return InputError(f"{shown}: {what} (damaged or from another version of mcutrain: "
                      "compile again)")


def read_report(out_dir, lean: bool = False) -> dict:
    """The report.json of the compile output `out_dir`, checked; returns the whole dict.
    lean: what CompiledModel needs only (the planner's run libraries write a lean report
    without version and memory figures; a field that is there is checked all the same)."""
    from .outdir import check_our_output

    out = check_our_output(out_dir)
    path = out / "report.json"
    shown = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_REPORT_BYTES + 1)
    except OSError as e:
        raise InputError(f"{shown}: cannot read it ({one_line(e.strerror or e)})") from None
    if len(raw) > MAX_REPORT_BYTES:
        raise _bad(shown, f"more than {MAX_REPORT_BYTES} bytes")
    try:
        rep = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad(shown, "not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise _bad(shown, f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise _bad(shown, "JSON nested too deeply") from None
    check_report(rep, shown, lean)
    check_header(rep, out / "model.h")
    return rep


def check_report(rep, shown: str = "report.json", lean: bool = False) -> dict:
    """Raise InputError unless `rep` has every field the readers of a report use."""
    if not isinstance(rep, dict):
        raise _bad(shown, f"expected a JSON object, got {type(rep).__name__}")
    if (not lean or "version" in rep) and (
            rep.get("version") not in REPORT_VERSIONS or not _is_int(rep.get("version"))):
        raise _bad(shown, f"version {one_line(repr(rep.get('version')), 20)} is not "
                          f"{' or '.join(map(str, REPORT_VERSIONS))}")
    for key in ("runtime_abi",):
        if key in rep and not (_is_int(rep[key]) and rep[key] >= 1):
            raise _bad(shown, f"{key} must be an integer >= 1")
    _count(rep, "classes", shown, lo=1, hi=MAX_DIM)
    for key in ("ram_bytes", "flash_bytes"):
        if not lean or key in rep:
            _count(rep, key, shown, lo=0, hi=1 << 40)
    for key in ("ram_budget", "flash_budget"):
        if rep.get(key) is not None:
            _count(rep, key, shown, lo=1, hi=1 << 40)
    m = rep.get("macs_per_step", 0)
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < 1e18:
        raise _bad(shown, "macs_per_step must be a number >= 0")
    _check_input(rep.get("input"), shown)
    _check_params(rep.get("params"), shown)
    cfg = rep.get("config", {})
    if not isinstance(cfg, dict):
        raise _bad(shown, "config must be an object")
    lr = cfg.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))
                           or not 0 < lr < float("inf")):
        raise _bad(shown, f"config.lr must be a number > 0, got {one_line(repr(lr), 20)}")
    dev = rep.get("device", {})
    if not isinstance(dev, dict) or not all(isinstance(v, dict) for v in dev.values()):
        raise _bad(shown, "device must be an object of objects (one per CPU)")
    return rep


def _count(rep: dict, key: str, shown: str, lo: int, hi: int) -> int:
    v = rep.get(key)
    if not _is_int(v) or not lo <= v <= hi:
        raise _bad(shown, f"{key} must be an integer in {lo}..{hi}, got {one_line(repr(v), 20)}")
    return v


def _check_input(inp, shown: str):
    shape = inp.get("shape") if isinstance(inp, dict) else None
    if (not isinstance(shape, list) or len(shape) not in (2, 4)
            or not all(_is_int(d) and 1 <= d <= MAX_DIM for d in shape) or shape[0] != 1):
        raise _bad(shown, f"input.shape must be [1, C] or [1, C, H, W] of positive integers, "
                          f"got {one_line(repr(shape), 40)}")
    if "scale" in inp or "zero_point" in inp:  # the input quantization (float datasets)
        s, z = inp.get("scale"), inp.get("zero_point")
        if not (isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s)
                and s > 0 and _is_int(z) and -128 <= z <= 127):
            raise _bad(shown, f"input.scale must be a positive number and input.zero_point an "
                              f"integer in -128..127, got {one_line(repr((s, z)), 40)}")


def _check_params(params, shown: str):
    if not isinstance(params, list):
        raise _bad(shown, "params must be a list")
    names, symbols, total = set(), set(), 0
    for i, p in enumerate(params):
        where = f"params[{i}]"
        if not isinstance(p, dict):
            raise _bad(shown, f"{where} must be an object")
        name, sym, dt, shape = (p.get(k) for k in ("name", "symbol", "dtype", "shape"))
        if not isinstance(name, str) or not IR_NAME.fullmatch(name) or name in names:
            raise _bad(shown, f"{where}.name {one_line(repr(name), 40)} is not a distinct "
                              "value name")
        if not isinstance(sym, str) or not C_IDENT.fullmatch(sym) or sym in symbols:
            raise _bad(shown, f"{where}.symbol {one_line(repr(sym), 40)} is not a distinct C "
                              "identifier")
        if not isinstance(dt, str) or dt not in DTYPE_BYTES:
            raise _bad(shown, f"{where}.dtype {one_line(repr(dt), 20)} is not i8, i32 or f32")
        if not isinstance(shape, list) or len(shape) > 8 or not all(
                _is_int(d) and 0 <= d <= 1 << 31 for d in shape):
            raise _bad(shown, f"{where}.shape {one_line(repr(shape), 40)} is not a list of "
                              "sizes")
        names.add(name)
        symbols.add(sym)
        total += int(np.prod(shape, dtype=object)) * DTYPE_BYTES[dt]
        if total > 1 << 32:
            raise _bad(shown, "params add up to more than 4 GB")


def input_q(rep: dict):
    """(scale, zero_point) of the model's int8 input, or None (outputs of older versions)."""
    inp = rep["input"]
    return (inp["scale"], inp["zero_point"]) if "scale" in inp else None


def input_hwc(rep: dict) -> tuple:
    """The model input as the generated C takes it: (H, W, C) of report.json's NCHW shape
    ([N, C] for a vector input: (1, 1, C))."""
    shp = rep["input"]["shape"]
    return (shp[2], shp[3], shp[1]) if len(shp) == 4 else (1, 1, shp[1])


def params_bytes(rep: dict) -> int:
    """Bytes of the trained parameters (and optimizer state), packed as the C packs them."""
    return sum(int(np.prod(p["shape"], dtype=object)) * DTYPE_BYTES[p["dtype"]]
               for p in rep["params"])


def check_header(rep: dict, header: Path):
    """report.json must describe the C beside it (model.h): its input, classes and the size
    of the parameter block the C copies in and out (mct_get_params / mct_set_params)."""
    try:
        text = header.read_text(errors="replace")
    except FileNotFoundError:
        raise InputError(f"{header.parent}: not a complete compile output (no model.h): "
                         "compile again") from None
    except OSError as e:
        raise InputError(f"{header}: cannot read it ({one_line(e.strerror or e)})") from None
    defs = {k: int(v) for k, v in HEADER_DEFINE.findall(text)}
    shape = rep["input"]["shape"]
    want = dict(MCT_INPUT_BYTES=int(np.prod(shape[1:])), MCT_NUM_CLASSES=rep["classes"],
                MCT_PARAMS_BYTES=params_bytes(rep))
    inp = rep.get("io", {}).get("input") if isinstance(rep.get("io"), dict) else None
    if isinstance(inp, dict):  # the arena positions the device driver writes samples to
        want.update(MCT_TRAIN_INPUT_OFFSET=inp.get("train_offset"),
                    MCT_FORWARD_INPUT_OFFSET=inp.get("forward_offset"))
    for key, v in want.items():
        if defs.get(key) != v:
            raise InputError(f"{header.parent}: report.json and model.h disagree ({key}: "
                             f"{v} in report.json, {defs.get(key)} in model.h): compile again")


def read_params(path, layout) -> tuple[dict, int]:
    """(parameters by name, step) from a params.npz written by train; `layout` is the
    [(name, dtype, shape)] of report.json. Every entry must be there with its exact dtype and
    shape, floats finite, __step__ an integer in 0..2^32-1; nothing else."""
    shown = f"parameters {path}"
    hint = f"delete {Path(path).name} to start again from the compiled parameters"
    arrays = read_npz(path, "parameters")
    step = arrays.pop("__step__", None)
    if step is None:
        raise InputError(f"{shown}: no __step__ (a partial file?): {hint}")
    if step.shape not in ((), (1,)) or step.dtype.kind not in "iu" \
            or not 0 <= int(step.reshape(-1)[0]) < 2**32:
        raise InputError(f"{shown}: __step__ must be one integer in 0..2^32-1, got "
                         f"{step.dtype} {list(step.shape)}: {hint}")
    names = [n for n, _, _ in layout]
    missing = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if missing or extra:
        what = f"no {missing[:3]}" if missing else f"unknown {one_line(extra[:3], 60)}"
        raise InputError(f"{shown}: {what}: it does not belong to this compile output: {hint}")
    params = {}
    for name, dt, shape in layout:
        a = arrays[name]
        if a.dtype != NP_DTYPES[dt] or a.shape != tuple(shape):
            raise InputError(f"{shown}: {name} is {a.dtype} {list(a.shape)}, this model "
                             f"needs {NP_DTYPES[dt]} {list(shape)}: {hint}")
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise InputError(f"{shown}: {name} holds NaN or Inf: {hint}")
        params[name] = a
    return params, int(step.reshape(-1)[0])


def write_params(out_dir, params: dict, step: int) -> Path:
    """params.npz, written only when every value is finite (a diverged set never replaces
    good parameters), to a temporary name renamed into place."""
    bad = [k for k, v in params.items() if v.dtype.kind == "f" and not np.all(np.isfinite(v))]
    if bad:
        raise DivergedError(f"not saving parameters with non-finite values ({', '.join(bad[:3])})")
    path = Path(out_dir) / PARAMS_FILE
    data = dict(params, __step__=np.asarray(step))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **data)

    atomic_write(path, write)
    return path
