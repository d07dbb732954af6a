"""Content hashes of the package's own sources, for the keys of every on-disk cache: a cached
build or measurement is reused only by the code that made it. After an upgrade (or an edit
of a kernel or a pass) the keys change and the caches miss, instead of serving stale RAM
figures and libraries built from older sources.

    runtime_hash()   runtime C sources and headers (kernels, device driver)
    code_hash()      what a compile's result depends on: the IR, ops, quantization, the
                     reference, autodiff, passes, schedule, codegen, compile.py, the
                     toolchain's flags, the planner's jobs, and the runtime
Both include the package version and are computed once per process per source root (tests
point the root elsewhere to see a miss).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
# The parts of the package a compiled training step, its memory figures or a planner run
# depend on (the CLI, frontends and the planner's search do not change a result).
CODE_PARTS = ("ir", "ops", "quant", "ref", "autodiff", "passes", "schedule", "codegen",
              "runtime", "compile.py", "targets/toolchain.py", "sparse/jobs.py", "__init__.py")
SUFFIXES = (".py", ".c", ".h", ".in")


def package_version() -> str:
    from .. import __version__

    return __version__


def _files(root: Path, parts) -> list[Path]:
    out = []
    for part in parts:
        p = root / part
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out += [f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file()
                    and "__pycache__" not in f.parts]
    return sorted(out)


@functools.lru_cache(maxsize=None)
def _hash(root: str, parts: tuple) -> str:
    h = hashlib.sha256(package_version().encode())
    base = Path(root)
    for f in _files(base, parts):
        h.update(b"\0" + str(f.relative_to(base)).encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def runtime_hash(root: Path | None = None) -> str:
    return _hash(str(root or PACKAGE), ("runtime",))


def code_hash(root: Path | None = None) -> str:
    return _hash(str(root or PACKAGE), CODE_PARTS)
