"""Valid files of every kind mcutrain reads, and ways to damage them (shared by the bad-input
corpus in tests/cli/test_bad_inputs.py and the fuzz tests here)."""
from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np

from ..conftest import tiny_int8_model

HW, CLASSES = 8, 3


def _savez(f, arrays: dict) -> None:
    """np.savez, written member by member: a random array name such as "file" would collide
    with np.savez's own parameter."""
    with zipfile.ZipFile(f, "w") as z:
        for name, a in arrays.items():
            with z.open(f"{name}.npy", "w") as m:
                np.lib.format.write_array(m, np.asanyarray(a), allow_pickle=True)


def write_npz(path, **arrays) -> Path:
    """An .npz at `path` exactly (np.savez would add .npz to a name without it)."""
    with open(path, "wb") as f:
        _savez(f, arrays)
    return Path(path)


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    _savez(buf, arrays)
    return buf.getvalue()


def saved_graph(path) -> Path:
    from mcutrain.ir.serialize import save_graph

    return save_graph(tiny_int8_model(hw=HW), path)


def float_graph(path) -> Path:
    """The built-in digits CNN in float (not quantized): not a model compile takes."""
    from mcutrain.data.default_model import MODEL_PATH

    shutil.copy2(MODEL_PATH, path)
    return Path(path)


def zoo_file(path) -> Path:
    from ..frontend.test_zoo import tiny_model, write_zoo

    return write_zoo(path, tiny_model())


def dataset_arrays(n: int = 12, hw: int = HW, classes: int = CLASSES, test: bool = True) -> dict:
    """A small learnable task: the class is the bright quadrant (uint8 N x H x W x 3)."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % classes
    x = rng.integers(0, 60, (n, hw, hw, 3)).astype(np.uint8)
    half = hw // 2
    for i, c in enumerate(y):
        r0, c0 = [(0, 0), (0, half), (half, 0)][c % 3]
        x[i, r0:r0 + half, c0:c0 + half] += 150
    d = dict(x_train=x, y_train=y)
    if test:
        d.update(x_test=x[:6].copy(), y_test=y[:6].copy())
    return d


def dataset(path, **kw) -> Path:
    return write_npz(path, **dataset_arrays(**kw))


def compiled_output(out) -> Path:
    """The tiny model compiled with a fresh 3-class head (last 2 layers training), its host
    library built (copies with copy2 keep the mtimes, so they do not rebuild it)."""
    from mcutrain.compile import compile_model
    from mcutrain.targets.host import CompiledModel

    compile_model(tiny_int8_model(hw=HW), out, update="last:2", classes=CLASSES)
    CompiledModel(out)
    return Path(out)


def copy_output(src, dst) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cortex-m*"))
    return Path(dst)


def npz_claiming(path, name: str, shape, dtype="<u1", data: bytes = b"\0" * 16) -> Path:
    """An .npz whose member `name` has a .npy header promising `shape` but holding `data`:
    a decompression bomb's little sibling (a tiny file claiming a huge array)."""
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}.npy", buf.getvalue() + data)
    return Path(path)


# ---- damage --------------------------------------------------------------------------------

def cut(src, dst, frac: float) -> Path:
    """`src` truncated to `frac` of its length."""
    b = Path(src).read_bytes()
    Path(dst).write_bytes(b[:int(len(b) * frac)])
    return Path(dst)


def flip(src, dst, frac: float, mask: int = 0xFF) -> Path:
    """`src` with the byte at `frac` of its length xor-ed by `mask`."""
    b = bytearray(Path(src).read_bytes())
    b[min(int(len(b) * frac), len(b) - 1)] ^= mask
    Path(dst).write_bytes(bytes(b))
    return Path(dst)


def garbage(dst, n: int = 200, seed: int = 0) -> Path:
    Path(dst).write_bytes(np.random.default_rng(seed).integers(0, 256, n, np.uint8).tobytes())
    return Path(dst)


def replace_member(src, dst, member: str, data: bytes | None) -> Path:
    """A zip copy of `src` with `member` replaced by `data` (dropped when None)."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            if info.filename != member:
                zo.writestr(info.filename, zi.read(info))
        if data is not None:
            zo.writestr(member, data)
    return Path(dst)


def npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()
