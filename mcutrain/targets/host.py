"""Host target: build C sources into a shared library with the system C compiler, load it
with ctypes. The generated training code runs here exactly as it will on the device."""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[1] / "runtime"
INCLUDE = RUNTIME / "include"
# -ffp-contract=off: no fused multiply-add, so float results are reproducible.
CFLAGS = ["-std=c99", "-O2", "-fPIC", "-ffp-contract=off", "-fno-strict-aliasing",
          "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror=implicit-function-declaration"]


class BuildError(RuntimeError):
    pass


def cc() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise BuildError("no C compiler found (install gcc, or set CC)")


def runtime_sources() -> list[Path]:
    return sorted((RUNTIME / "src").glob("*.c"))


def build_shared(sources, out: Path | str, include_dirs=(), extra_flags=(), opt: str | None = None
                 ) -> Path:
    """Compile and link `sources` into the shared library `out` (written atomically)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    flags = list(CFLAGS)
    if opt:
        flags = [f for f in flags if not f.startswith("-O")] + [opt]
    incs = [f"-I{d}" for d in (INCLUDE, *include_dirs)]
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".so.tmp")
    os.close(fd)
    cmd = [cc(), *flags, *extra_flags, *incs, "-shared", "-o", tmp, *map(str, sources), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        raise BuildError(f"C build failed:\n{' '.join(cmd)}\n{proc.stderr[-4000:]}")
    os.replace(tmp, out)
    return out


def runtime_library(cache_dir: Path | str | None = None, opt: str | None = None) -> ctypes.CDLL:
    """The runtime kernels alone as a shared library (for kernel tests), cached by content."""
    srcs = runtime_sources()
    h = hashlib.sha256()
    for p in srcs + sorted(INCLUDE.glob("*.h")):
        h.update(p.read_bytes())
    h.update(str(opt).encode())
    cache = Path(cache_dir or Path(tempfile.gettempdir()) / "mcutrain-runtime")
    lib = cache / f"libmct-{h.hexdigest()[:16]}.so"
    if not lib.exists():
        build_shared(srcs, lib, opt=opt)
    return ctypes.CDLL(str(lib))
