"""The bad-input corpus: every command and option, fed wrong values and damaged files.

Each case runs the real CLI (mcutrain.cli.main, in-process) in a folder holding good copies
of every input (a saved graph, a zoo file, a dataset, a compile output) plus the bad file the
case writes, and checks the contract: exit status 2 for a usage error (an option's value, a
path) and 1 for a failure (a file's contents), exactly one line on stderr starting
`mcutrain...: error:` that names the option or file, no traceback, and nothing left behind:
the folder is exactly as before (no partial output, no temporary file, inputs untouched).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mcutrain.cli import main
from mcutrain.targets.cortex_m import qemu_available

from ..fuzz import files as F
from .bad_input_cases import CASES


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple
    status: int
    names: tuple  # the error line names one of these (an option, a file name)
    setup: object = None  # setup(work folder) writes the case's bad file
    needs: str = ""  # "torch", "pil" or "qemu"


def _case(id, argv, status, names, setup=None, needs=""):
    argv = tuple(argv.split()) if isinstance(argv, str) else tuple(argv)
    names = (names,) if isinstance(names, str) else tuple(names)
    return Case(id, argv, status, names, setup, needs)


ALL = [_case(*c) for c in CASES]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    F.saved_graph(d / "model.npz")
    F.zoo_file(d / "zoo.pkl")
    F.dataset(d / "data.npz")
    F.compiled_output(d / "out")
    return d


def snapshot(root: Path) -> dict:
    """Every file and folder under root with its size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames:
            out[os.path.relpath(os.path.join(dirpath, n), root)] = "dir"
        for n in filenames:
            st = os.stat(os.path.join(dirpath, n))
            out[os.path.relpath(os.path.join(dirpath, n), root)] = (st.st_size, st.st_mtime_ns)
    return out


def prepare(case: Case, base: Path, tmp_path: Path) -> tuple[Path, list]:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("model.npz", "zoo.pkl", "data.npz"):
        shutil.copy2(base / name, work / name)
    if any("@out" in a for a in case.argv):
        F.copy_output(base / "out", work / "out")
    if case.setup is not None:
        case.setup(work)
    subst = {"@cache": str(tmp_path / "cache"), "@out": str(work / "out")}
    argv = []
    for a in case.argv:
        for k, v in subst.items():
            a = a.replace(k, v)
        argv.append(a)
    return work, argv


def check_error(status, err, case: Case):
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("mcutrain") and ": error: " in line, line
    assert status == case.status, f"exit status {status}, expected {case.status}: {line}"
    assert any(n in line for n in case.names), f"{line!r} names none of {case.names}"


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_bad_input(case, base, tmp_path, monkeypatch, capsys):
    if case.needs in ("torch", "pil"):
        pytest.importorskip({"torch": "torch", "pil": "PIL"}[case.needs])
    if case.needs == "qemu" and not qemu_available():
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm is not installed")
    work, argv = prepare(case, base, tmp_path)
    monkeypatch.chdir(work)
    before = snapshot(work)
    status = main(argv)
    _, err = capsys.readouterr()
    check_error(status, err, case)
    assert snapshot(work) == before, "the folder changed: partial output or a touched input"


def test_corpus_covers_every_command_and_is_large():
    per = {}
    for c in ALL:
        cmd = next((a for a in c.argv if not a.startswith("-")), "")
        per[cmd] = per.get(cmd, 0) + 1
    assert len(ALL) >= 120 and len({c.id for c in ALL}) == len(ALL)
    for cmd in ("demo", "compile", "plan", "train", "eval", "build", "show"):
        assert per.get(cmd, 0) >= 5, (cmd, per)
    assert {c.status for c in ALL} == {1, 2}


# ---- the real entry point, in a fresh process --------------------------------------------------

SUBPROCESS = [("compile", "garbage.npz", 1), ("train", "cut.npz", 1), ("compile-lr", "nan", 2)]


@pytest.mark.parametrize("what,arg,status", SUBPROCESS, ids=[s[0] for s in SUBPROCESS])
def test_subprocess_one_line(what, arg, status, base, tmp_path):
    """The installed entry point: exit status and one stderr line, no warning or traceback."""
    F.garbage(tmp_path / "garbage.npz")
    F.cut(base / "data.npz", tmp_path / "cut.npz", 0.5)
    out = F.copy_output(base / "out", tmp_path / "out")
    argv = {"compile": ["compile", arg, "-o", "new"],
            "train": ["train", str(out), "--data", arg, "--quiet"],
            "compile-lr": ["compile", str(base / "model.npz"), "-o", "new", "--lr", arg]}[what]
    before = snapshot(tmp_path)
    p = subprocess.run([sys.executable, "-m", "mcutrain.cli", *argv], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    check_error(p.returncode, p.stderr, Case(what, (), status, (arg,)))
    assert snapshot(tmp_path) == before


def test_debug_shows_the_traceback(base, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    F.garbage(tmp_path / "g.npz")
    assert main(["compile", "g.npz", "-o", "new", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("mcutrain: error:")


def test_report_and_params_damage_is_named_from_python(base, tmp_path):
    """The same checks from the Python API (train_model / eval_model), not only the CLI."""
    from mcutrain.errors import InputError
    from mcutrain.train import eval_model

    out = F.copy_output(base / "out", tmp_path / "out")
    np.savez(out / "params.npz", __step__=np.int64(-1))
    with pytest.raises(InputError, match="params.npz"):
        eval_model(out, base / "data.npz", echo=lambda *a: None)
    rep = json.loads((out / "report.json").read_text())
    rep["params"][0]["shape"] = [1]
    (out / "report.json").write_text(json.dumps(rep))
    (out / "params.npz").unlink()
    with pytest.raises(InputError, match="report.json"):
        eval_model(out, base / "data.npz", echo=lambda *a: None)


# ---- the same checks from the Python API -----------------------------------------------------

API_CONFIGS = [("lr", float("nan")),
    ("lr", float("inf")), ("lr", -0.01), ("lr", 0), ("lr", "0.1"), ("momentum", 5),
    ("momentum", 1.0), ("momentum", -0.5), ("weight_decay", -1), ("weight_decay", float("nan")),
    ("classes", 0), ("classes", -2), ("classes", True), ("classes", 2.0), ("classes", 10**9),
    ("seed", -1), ("seed", 2**40), ("seed", 1.5), ("storage", "int4"), ("storage", None),
    ("qas", "yes"), ("scheme", 42), ("scheme", {"weights": {"0": float("nan")}}),
    ("scheme", {"bias_last": 1.5}), ("scheme", "bias-only:"), ("scheme", "last:1x")]


@pytest.mark.parametrize("field,value", API_CONFIGS, ids=[f"{f}={v!r}" for f, v in API_CONFIGS])
def test_train_config_from_python(field, value):
    """make_training_graph checks a TrainConfig from the Python API: UsageError naming the
    field (the CLI refuses the same values where it parses them)."""
    from dataclasses import replace

    from mcutrain.autodiff import TrainConfig, make_training_graph
    from mcutrain.errors import UsageError

    from ..conftest import tiny_int8_model

    cfg = replace(TrainConfig(classes=3), **{field: value})
    with pytest.raises(UsageError, match="scheme" if field == "scheme" else field):
        make_training_graph(tiny_int8_model(hw=8), cfg)
