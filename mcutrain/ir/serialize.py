"""Save and load a Graph as one .npz file (no pickle anywhere).

The file holds
    __graph__   format_graph(g, full=True): the readable text form (parse_graph reads it)
    __meta__    g.meta as JSON (tuples come back as lists, numpy scalars as Python numbers)
    __consts__  JSON list of the const names, in order; array i is stored as c<i>
Writing goes to a temporary file in the same folder, then os.replace: a reader never sees a
half-written file.

`read_npz` is the one reader of .npz files a user hands us (saved graphs, datasets,
params.npz): whatever the bytes, it returns the arrays or raises our error naming the file.
"""
from __future__ import annotations

import json
import math
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError, McuError, UsageError
from .graph import Graph
from .printer import format_graph, parse_graph

FORMAT = "mcutrain-graph-1"
NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"save_graph: meta value of type {type(o).__name__} is not JSON-serializable")


def save_graph(g: Graph, path) -> Path:
    """Write g to `path` (.npz) atomically; returns the path."""
    path = Path(path)
    text = format_graph(g, full=True)
    why = ""
    try:  # refuse to write a file that would not load (e.g. numpy scalars in attrs)
        same = format_graph(parse_graph(text, g.consts), full=True) == text
    except (ValueError, SyntaxError) as e:
        same, why = False, f": {e}"
    if not same:
        raise ValueError("save_graph: the graph's text form does not parse back; attribute "
                         f"values must be Python literals (int, float, tuple, ...){why}")
    names = list(g.consts)
    arrays = {f"c{i}": np.ascontiguousarray(g.consts[n]) for i, n in enumerate(names)}
    arrays["__format__"] = np.array(FORMAT)
    arrays["__graph__"] = np.array(text)
    arrays["__meta__"] = np.array(json.dumps(g.meta, default=_json_default, sort_keys=True))
    arrays["__consts__"] = np.array(json.dumps(names))
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique name opened with "xb": unlike mkstemp (mode 0600), it honours the umask
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# ---- reading untrusted .npz files ----------------------------------------------------------

def one_line(text, limit: int = 160) -> str:
    """A message part on one line and of bounded length (file contents may hold anything)."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not POSIX: a generous fixed bound
        return 16 << 30


def open_error(path, what: str, e: OSError) -> McuError:
    """Our error for a user's file that cannot be opened: a usage error when the path is wrong
    (it does not exist, or is a folder), a failure otherwise (permissions, I/O)."""
    if isinstance(e, FileNotFoundError):
        return UsageError(f"{what} {path}: no such file")
    if isinstance(e, IsADirectoryError) or Path(path).is_dir():
        return UsageError(f"{what} {path}: is a folder, not a file")
    return InputError(f"{what} {path}: cannot read it ({one_line(e.strerror or e)})")


def read_npz(path, what: str = "file", keys=None) -> dict:
    """{name: array} of the .npz file `path` (np.savez), members `keys` only when given.

    Never unpickles (object arrays are refused) and never allocates more than a member really
    holds: each .npy header is checked against the member's size before its data is read, so
    a tiny file claiming a huge array is reported, not attempted. Any corruption (not a zip,
    truncated, bad CRC, bad deflate stream, bad header) raises InputError naming the file."""
    shown = f"{what} {path}"
    try:
        zf = zipfile.ZipFile(path)
    except OSError as e:
        raise open_error(path, what, e) from None
    except Exception as e:  # BadZipFile, and whatever a mangled directory makes zipfile raise
        raise InputError(f"{shown}: not a .npz file, or a truncated one ({one_line(e)})") from None
    out, total, limit = {}, 0, _memory_bytes()
    with zf:
        for info in zf.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if keys is not None and key not in keys:
                continue
            if key in out:
                raise InputError(f"{shown}: member {one_line(key, 40)!r} appears twice")
            total += info.file_size
            if total > limit:
                raise InputError(f"{shown}: its arrays would take {total / 2**30:.1f} GiB, more "
                                 f"than this machine's memory ({limit / 2**30:.1f} GiB)")
            out[key] = _read_member(zf, info, shown, key)
    return out


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shown: str, key: str):
    name = one_line(key, 40)
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in NPY_HEADERS:
                raise InputError(f"{shown}: {name} is not a .npy array (format {version})")
            shape, fortran, dtype = NPY_HEADERS[version](f)
            if dtype.hasobject:
                raise InputError(f"{shown}: {name} holds Python objects ({dtype}); only plain "
                                 "numeric arrays are read (no pickle)")
            need = math.prod(shape) * dtype.itemsize
            have = info.file_size - f.tell()
            if need != have:
                raise InputError(f"{shown}: {name} is truncated or corrupt (its header "
                                 f"promises {need} bytes of data, the file holds {have})")
            buf = np.empty(need, np.uint8)
            got = 0
            while got < need:  # readinto may return less than asked
                n = f.readinto(memoryview(buf)[got:])
                if not n:
                    raise EOFError("member ends early")
                got += n
            if dtype.itemsize == 0:
                return np.zeros(shape, dtype)
            return buf.view(dtype).reshape(shape, order="F" if fortran else "C")
    except McuError:
        raise
    except MemoryError:
        raise InputError(f"{shown}: {name} does not fit in memory") from None
    except Exception as e:  # zlib.error, BadZipFile (CRC), EOFError, a bad header, ...
        raise InputError(f"{shown}: {name} is corrupt "
                         f"({type(e).__name__}: {one_line(e)})") from None


# ---- loading a saved graph -----------------------------------------------------------------

def _text(arrays: dict, key: str, shown: str) -> str:
    a = arrays.get(key)
    if a is None:
        raise InputError(f"{shown}: no {key} member: not a complete saved mcutrain graph")
    if a.shape != () or a.dtype.kind != "U":
        raise InputError(f"{shown}: {key} must be one string, got {a.dtype} {list(a.shape)}")
    return str(a)


def read_graph(path) -> Graph:
    """The graph a file written by save_graph holds, parsed but not checked against the ops
    (ops/verify.load_graph does that: what every reader of a user's file calls); any other
    file raises InputError naming it (a UsageError when the path is wrong)."""
    shown = f"saved graph {path}"
    arrays = read_npz(path, "saved graph")
    if "__format__" not in arrays:
        hint = " (it looks like a dataset: give it with --data)" if "x_train" in arrays else ""
        raise InputError(f"{shown}: not a saved mcutrain graph (no __format__ member){hint}")
    fmt = _text(arrays, "__format__", shown)
    if fmt != FORMAT:
        raise InputError(f"{shown}: format {one_line(fmt, 40)!r} is not {FORMAT!r} (saved by "
                         "another version of mcutrain?)")
    try:
        return _build_graph(arrays, shown)
    except McuError:
        raise
    except Exception as e:  # the text and JSON are the file's: any failure is a bad file
        raise InputError(f"{shown}: {one_line(e)}") from None


def _build_graph(arrays: dict, shown: str) -> Graph:
    names = json.loads(_text(arrays, "__consts__", shown))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) \
            or len(set(names)) != len(names):
        raise InputError(f"{shown}: __consts__ must be a list of distinct names")
    missing = [f"c{i}" for i in range(len(names)) if f"c{i}" not in arrays]
    if missing:
        raise InputError(f"{shown}: const arrays {missing[:4]} are missing (truncated file?)")
    consts = {n: arrays[f"c{i}"] for i, n in enumerate(names)}
    meta = json.loads(_text(arrays, "__meta__", shown))
    if not isinstance(meta, dict):
        raise InputError(f"{shown}: __meta__ must be a JSON object, got {type(meta).__name__}")
    g = parse_graph(_text(arrays, "__graph__", shown), consts).replace(meta=meta)
    held = {n for n, v in g.values.items() if v.role in ("param", "const", "state")}
    if held != set(names):  # parse_graph fills undeclared data with zeros: not from a file
        odd = sorted(held ^ set(names))[:4]
        raise InputError(f"{shown}: declared parameters and stored arrays differ ({odd})")
    if not g.inputs or not g.outputs:
        raise InputError(f"{shown}: a graph needs an input and an output")
    return g
