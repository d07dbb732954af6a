"""Output folders that never cost a user's files.

An output path is either new, or an earlier output of ours, recognised by the marker file we
write into every output folder (MARKER: JSON naming the command that wrote it). Anything else
is refused with a message that says why: an existing file, a non-empty folder without our
marker, the working directory or a folder above it, a folder holding one of the inputs.

A folder is built complete under a temporary name beside its destination, then put in place
in one step: a new destination is a rename; an earlier output is swapped with the new one
atomically (renameat2 RENAME_EXCHANGE where the kernel has it, else two renames), and only
then is the old one deleted. A failure at any point leaves the earlier output as it was and
no temporary folder behind.

Files inside an output folder of ours (params.npz, report.json, ...) are written to a
temporary name in the same folder and renamed over the old one: a reader sees the old file or
the new one, never half of one.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import uuid
from pathlib import Path

from .errors import UsageError

MARKER = ".mcutrain-output"


def _is_within(p: Path, root: Path) -> bool:
    return p == root or root in p.parents


def marker_kind(path) -> str | None:
    """The command that wrote the output folder `path`, or None if it is not one of ours."""
    m = Path(path) / MARKER
    try:
        return str(json.loads(m.read_text()).get("written_by"))
    except (OSError, ValueError, AttributeError):
        return None


def check_output_dir(path, inputs=(), option: str = "-o", kinds=None) -> Path:
    """Refuse an output folder that is not new, empty, or an earlier output of ours (of one of
    `kinds`, any kind if None); returns the resolved path. `inputs`: paths the command reads,
    which the output must not hold."""
    out = Path(path).expanduser().resolve()
    shown = f"{option} {path}"
    cwd = Path.cwd().resolve()
    if _is_within(cwd, out):
        raise UsageError(f"{shown}: is the working directory or holds it; replacing it would "
                         "delete your files: give a new folder (e.g. -o out/model)")
    for i in inputs:
        if i is not None and _is_within(Path(str(i).split(":")[0]).expanduser().resolve(), out):
            raise UsageError(f"{shown}: is or holds the input {i}; writing there would delete "
                             "it: give a new folder")
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise UsageError(f"{shown}: exists and is not a folder; give a new folder")
        kind = marker_kind(out)
        if kind is None and any(out.iterdir()):
            raise UsageError(f"{shown}: is a folder that mcutrain did not write (no {MARKER} "
                             "marker) and is not empty; give a new folder or empty it yourself")
        if kind is not None and kinds is not None and kind not in kinds:
            raise UsageError(f"{shown}: is the output of `mcutrain {kind}`, not of "
                             f"`mcutrain {'/'.join(kinds)}`; give a new folder")
    return out


def check_our_output(path, what: str = "a compile output") -> Path:
    """An existing output folder of ours (e.g. the OUT of train/eval/build)."""
    out = Path(path).expanduser()
    if not out.is_dir():
        raise UsageError(f"{path}: no such folder ({what} expected: run mcutrain compile -o "
                         f"{path} first)")
    if not (out / "report.json").is_file():
        raise UsageError(f"{path}: not {what} (no report.json)")
    return out


def check_output_file(path, what: str, ours) -> Path:
    """A command's -o FILE: a new file, or an earlier output of ours (`ours(path)` says so, e.g.
    by a mark inside it); never a folder or a file of the user's."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"-o {path}: is a folder; give the file to write")
    if not p.parent.is_dir():
        raise UsageError(f"-o {path}: folder {p.parent} does not exist")
    if p.exists() or p.is_symlink():
        if p.is_symlink() or not p.is_file() or not ours(p):
            raise UsageError(f"-o {path}: exists and is not an earlier {what} of mcutrain; "
                             "choose another name (nothing was written)")
    return p


def _new_dir(parent: Path, prefix: str) -> Path:
    """A fresh folder under `parent` (os.mkdir honours the umask; mkdtemp would make it 0700)."""
    d = parent / f"{prefix}{uuid.uuid4().hex[:12]}"
    os.mkdir(d)
    return d


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False if unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def put_in_place(tmp: Path, out: Path) -> None:
    """Move the complete folder `tmp` to `out`, replacing an earlier output there."""
    if not out.exists():
        os.replace(tmp, out)
        return
    if _exchange(tmp, out):  # out is the new folder now, tmp the old one
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = _new_dir(out.parent, f".{out.name}.old-")
    os.replace(out, old / "x")
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old / "x", out)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def write_marker(folder: Path, written_by: str) -> None:
    (Path(folder) / MARKER).write_text(json.dumps({"written_by": written_by, "format": 1}) + "\n")


@contextlib.contextmanager
def output_dir(out: Path, written_by: str, keep=()):
    """Build an output folder: yields a temporary folder beside `out`; when the block ends
    without an error, the marker is written and the folder replaces `out` (the names in
    `keep`, e.g. a device's flash image, are carried over from the earlier output first).
    On an error nothing changes and the temporary folder is removed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_dir(out.parent, f".{out.name}.tmp-")
    try:
        yield tmp
        for name in keep:
            if (out / name).exists() and not (tmp / name).exists():
                shutil.copy2(out / name, tmp / name)
        write_marker(tmp, written_by)
        put_in_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write(path, write) -> None:
    """write(tmp_path) writes the file's new content; then it replaces `path` in one rename.
    The temporary name is unique and honours the umask."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
