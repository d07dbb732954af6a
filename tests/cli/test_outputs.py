"""Outputs never cost a user's files: an output folder is new or an earlier output of ours,
put in place only when complete; train/eval/demo files are written under temporary names;
a diverged training run keeps the last good parameters. (The device side of these is in
tests/targets/test_reliability.py.)"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import numpy as np
import pytest

from mcutrain.cli import main
from mcutrain.ir.serialize import save_graph
from mcutrain.outdir import MARKER

from ..conftest import tiny_int8_model


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A working directory holding a model and a learnable 3-class data set."""
    monkeypatch.chdir(tmp_path)
    save_graph(tiny_int8_model(hw=12), tmp_path / "tiny.npz")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    x = rng.integers(0, 60, (90, 12, 12, 3)).astype(np.uint8)
    for i, c in enumerate(y):
        r0, c0 = [(0, 0), (0, 6), (6, 0)][c]
        x[i, r0:r0 + 6, c0:c0 + 6] += 150
    np.savez(tmp_path / "data.npz", x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    return tmp_path


def snapshot(folder):
    """Every file under `folder` with its bytes (the user's files, to compare after)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def compile_args(out, *more):
    return ["compile", "tiny.npz", "-o", str(out), "--update", "last:3", "--classes", "3",
            "--lr", "0.05", *more]


@pytest.mark.parametrize("target,why", [
    (".", "working directory"),
    ("..", "working directory"),
    ("tiny.npz", "input"),
    ("data.npz", "exists and is not a folder"),
])
def test_compile_refuses_paths_that_hold_user_files(ws, capsys, target, why):
    before = snapshot(ws)
    assert main(compile_args(target)) == 2
    err = capsys.readouterr().err
    assert why in err and f"-o {target}" in err and len(err.strip().splitlines()) == 1
    assert snapshot(ws) == before


def test_compile_refuses_a_folder_that_holds_the_model(ws, capsys):
    (ws / "models").mkdir()
    os.replace(ws / "tiny.npz", ws / "models" / "tiny.npz")
    before = snapshot(ws)
    assert main(["compile", "models/tiny.npz", "-o", "models", "--classes", "3"]) == 2
    assert "holds the input models/tiny.npz" in capsys.readouterr().err
    assert snapshot(ws) == before


def test_compile_refuses_a_foreign_nonempty_folder_and_takes_an_empty_one(ws, capsys):
    (ws / "mine").mkdir()
    (ws / "mine" / "notes.txt").write_text("keep me")
    assert main(compile_args("mine")) == 2
    assert "did not write" in capsys.readouterr().err
    assert (ws / "mine" / "notes.txt").read_text() == "keep me"
    (ws / "empty").mkdir()
    assert main(compile_args("empty")) == 0
    assert (ws / "empty" / "model.c").exists() and (ws / "empty" / MARKER).exists()


def test_an_earlier_output_is_replaced_only_by_a_complete_one(ws, capsys):
    assert main(compile_args("out")) == 0
    first = (ws / "out" / "model.c").read_text()
    # a failing compile (over budget) leaves the earlier output exactly as it was
    before = snapshot(ws / "out")
    assert main(compile_args("out", "--ram", "2KB")) == 1
    assert snapshot(ws / "out") == before
    # a successful one replaces it, and leaves no temporary folder behind
    assert main(compile_args("out", "--update", "bias-only:2")) == 0
    assert (ws / "out" / "model.c").read_text() != first
    assert sorted(p.name for p in ws.iterdir()) == ["data.npz", "out", "tiny.npz"]
    capsys.readouterr()


def test_outputs_get_normal_permissions(ws):
    old = os.umask(0o022)
    try:
        assert main(compile_args("out")) == 0
        assert main(["train", "out", "--data", "data.npz", "--quiet"]) == 0
    finally:
        os.umask(old)
    for p in [ws / "out", *(ws / "out").rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o044 == 0o044, f"{p} has mode {oct(mode)}"  # readable by group, others


def test_train_and_eval_need_a_compile_output(ws, capsys):
    (ws / "stuff").mkdir()
    for cmd in (["train", "stuff", "--data", "data.npz"], ["eval", "nothere", "--data", "data.npz"]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and cmd[1] in err


def test_relative_paths_work_in_every_host_command(ws, capsys):
    (ws / "sub").mkdir()
    os.chdir(ws / "sub")
    assert main(["compile", "../tiny.npz", "-o", "../o/m", "--update", "last:3", "--classes",
                 "3"]) == 0
    assert main(["train", "../o/m", "--data", "../data.npz", "--quiet"]) == 0
    assert main(["eval", "../o/m", "--data", "../data.npz"]) == 0
    assert (ws / "o" / "m" / "params.npz").exists() and (ws / "o" / "m" / "eval.json").exists()
    capsys.readouterr()


def test_diverged_host_training_keeps_the_previous_parameters(ws, capsys):
    assert main(compile_args("out")) == 0
    assert main(["train", "out", "--data", "data.npz", "--epochs", "2", "--quiet"]) == 0
    good = (ws / "out" / "params.npz").read_bytes()
    assert main(["train", "out", "--data", "data.npz", "--lr", "1e9", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "lower --lr" in err and len(err.strip().splitlines()) == 1
    assert (ws / "out" / "params.npz").read_bytes() == good
    log = json.loads((ws / "out" / "train_log.json").read_text())
    assert log["diverged"]["reason"] in ("non-finite", "exploded")
    assert not [p for p in (ws / "out").iterdir() if p.name.endswith(".tmp")]
    # the kept parameters still train
    assert main(["train", "out", "--data", "data.npz", "--quiet"]) == 0


def test_divergence_with_no_saved_parameters_writes_none(ws):
    """fp32 masters and an absurd lr: the values turn non-finite; no params.npz existed, so
    none is written (the compiled-in parameters stay the last good ones)."""
    from mcutrain.errors import DivergedError
    from mcutrain.train import train_model

    assert main(compile_args("out", "--storage", "fp32")) == 0
    with pytest.raises(DivergedError, match="the start of this run"):
        train_model("out", "data.npz", lr=1e30, progress=False, echo=lambda *_: None)
    assert not (ws / "out" / "params.npz").exists()


def test_demo_json_is_new_or_ours(ws, capsys):
    (ws / "results.json").write_text('{"mine": 1}')
    assert main(["demo", "--epochs", "1", "--quiet", "--json", "results.json"]) == 2
    assert "not a result file of mcutrain demo" in capsys.readouterr().err
    assert (ws / "results.json").read_text() == '{"mine": 1}'
    before = set(os.listdir(ws))
    assert main(["demo", "--epochs", "1", "--quiet", "--json", "new.json"]) == 0
    assert main(["demo", "--epochs", "1", "--quiet", "--json", "new.json"]) == 0  # ours: replaced
    assert set(os.listdir(ws)) == before | {"new.json"}  # no temporary file left
    capsys.readouterr()


def test_the_shipped_makefile_uses_the_tested_flags(ws):
    """One definition: the output's Makefile builds with the flags of targets/host.py."""
    from mcutrain.targets.host import CFLAGS

    assert main(compile_args("out")) == 0
    text = (ws / "out" / "Makefile").read_text()
    for f in CFLAGS:
        if not f.startswith("-O"):
            assert f in text, f
    assert "-fno-strict-aliasing" in text
    if shutil.which("make") and shutil.which("cc"):
        p = subprocess.run(["make", "-s"], cwd=ws / "out", capture_output=True, text=True)
        assert p.returncode == 0, p.stderr[-2000:]
        assert (ws / "out" / "libmodel.so").exists()
