"""The wheel: built from the repository and installed in a fresh virtual environment with no
extras (numpy only), it compiles, trains and evaluates; the runtime C and the device program
are package data; what needs an extra says which, in one line."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

from mcutrain.ir.serialize import save_graph

from .conftest import tiny_int8_model

ROOT = Path(__file__).resolve().parents[1]


def run(cmd, cwd, ok=True):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    if ok:
        assert p.returncode == 0, f"{cmd}:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """A fresh venv with the wheel built from this checkout installed (dependencies only)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: the build must not write into the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "out"))
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
         str(tmp / "dist"), str(src)], cwd=tmp)
    wheels = list((tmp / "dist").glob("mcutrain-*.whl"))
    assert len(wheels) == 1
    venv.create(tmp / "venv", with_pip=True)
    py = tmp / "venv" / "bin" / "python"
    run([str(py), "-m", "pip", "install", "-q", str(wheels[0])], cwd=tmp)
    return tmp, py


def test_the_wheel_compiles_trains_and_evaluates_without_extras(wheel_env, tmp_path):
    tmp, py = wheel_env
    cli = [str(py.with_name("mcutrain"))]  # the console script pip installed
    # nothing but numpy came with it
    listed = run([str(py), "-m", "pip", "list", "--format=freeze"], cwd=tmp).stdout
    names = {ln.split("==")[0].lower() for ln in listed.split()}
    assert "numpy" in names and not names & {"torch", "tqdm", "scikit-learn", "matplotlib"}
    save_graph(tiny_int8_model(hw=12), tmp_path / "tiny.npz")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (40, 12, 12, 3)).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x[:30], y_train=rng.integers(0, 3, 30),
             x_test=x[30:], y_test=rng.integers(0, 3, 10))
    # relative paths, from where the user stands
    run([*cli, "compile", "tiny.npz", "-o", "out", "--update", "last:3", "--classes", "3"],
        cwd=tmp_path)
    installed = Path(run([str(py), "-c", "import mcutrain, os; print(os.path.dirname("
                                         "mcutrain.__file__))"], cwd=tmp).stdout.strip())
    assert installed.is_relative_to(tmp / "venv")  # the wheel's copy, not the checkout
    shipped = {p.name for p in (tmp_path / "out" / "runtime" / "src").glob("*.c")}
    assert shipped == {p.name for p in (ROOT / "mcutrain" / "runtime" / "src").glob("*.c")}
    assert {p.name for p in (installed / "runtime" / "device").iterdir()} >= {
        "main.c", "startup.c", "link.ld.in"}
    p = run([*cli, "train", "out", "--data", "d.npz", "--epochs", "2"], cwd=tmp_path)
    assert "epoch 2:" in p.stdout and "\r" not in p.stdout + p.stderr  # no bar when redirected
    run([*cli, "eval", "out", "--data", "d.npz"], cwd=tmp_path)
    assert (tmp_path / "out" / "params.npz").exists() and (tmp_path / "out" / "eval.json").exists()
    # an extra that is missing is named, in one line, no traceback
    p = run([*cli, "demo", "--epochs", "1"], cwd=tmp_path, ok=False)
    assert p.returncode == 1 and "mcutrain[demo]" in p.stderr and "Traceback" not in p.stderr
