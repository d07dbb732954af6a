"""compile / train / eval end to end on a small model, over-budget errors, determinism."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcutrain.cli import main
from mcutrain.compile import BudgetError, compile_model
from mcutrain.units import parse_bytes
from mcutrain.ir.serialize import save_graph

from ..conftest import tiny_int8_model


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "tiny.npz"
    save_graph(tiny_int8_model(hw=12), path)
    return path


@pytest.fixture
def data_file(tmp_path):
    """A learnable 3-class task: the class is the bright quadrant of the image."""
    rng = np.random.default_rng(0)
    n = 90
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 60, (n, 12, 12, 3)).astype(np.uint8)
    for i, c in enumerate(y):
        r0, c0 = [(0, 0), (0, 6), (6, 0)][c]
        x[i, r0:r0 + 6, c0:c0 + 6] += 150
    path = tmp_path / "data.npz"
    np.savez(path, x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    return path


def test_parse_bytes():
    assert parse_bytes("256KB") == 262144 and parse_bytes("1MB") == 1048576
    assert parse_bytes("1000") == 1000 and parse_bytes(None) is None
    with pytest.raises(ValueError, match="memory size"):
        parse_bytes("lots")


def test_cli_compile_train_eval(tmp_path, model_file, data_file, capsys):
    out = tmp_path / "out"
    assert main(["compile", str(model_file), "-o", str(out), "--update", "last:3", "--classes", "3",
                 "--ram", "256KB", "--flash", "1MB", "--lr", "0.05"]) == 0
    rep = json.loads((out / "report.json").read_text())
    for key in ("ram_bytes", "flash_bytes", "arena_bytes", "arena_lower_bound", "params_ram_bytes",
                "macs_per_step", "scheme", "plan"):
        assert key in rep
    assert rep["arena_bytes"] >= rep["arena_lower_bound"] > 0
    assert rep["ram_bytes"] == (rep["arena_bytes"] + rep["params_ram_bytes"] +
                                rep["optimizer_state_bytes"] + rep["static_ram_bytes"])
    assert {"model.c", "model.h", "Makefile", "runtime"} <= {p.name for p in out.iterdir()}
    assert main(["eval", str(out), "--data", str(data_file)]) == 0
    before = json.loads((out / "eval.json").read_text())["accuracy"]
    assert main(["train", str(out), "--data", str(data_file), "--epochs", "8", "--quiet"]) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert len(log["epochs"]) == 8 and log["epochs"][-1]["loss"] < log["epochs"][0]["loss"]
    assert (out / "params.npz").exists()
    assert main(["eval", str(out), "--data", str(data_file)]) == 0
    after = json.loads((out / "eval.json").read_text())["accuracy"]
    assert after >= 0.8 and after > before
    assert "accuracy on 30 test images" in capsys.readouterr().out


def test_over_budget_is_a_clear_error_and_writes_nothing(tmp_path, model_file):
    out = tmp_path / "out"
    with pytest.raises(BudgetError) as e:
        compile_model(str(model_file), out, update="full", ram="4KB")
    msg = str(e.value)
    assert "RAM" in msg and "over by" in msg and "largest consumers" in msg
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    # a failure, not a usage error: exit status 1
    assert main(["compile", str(model_file), "-o", str(out), "--ram", "4KB"]) == 1


def test_generated_c_is_deterministic(tmp_path, model_file):
    a = compile_model(str(model_file), tmp_path / "a", update="last:2", classes=3)
    b = compile_model(str(model_file), tmp_path / "b", update="last:2", classes=3)
    assert (tmp_path / "a" / "model.c").read_text() == (tmp_path / "b" / "model.c").read_text()
    assert a["plan"] == b["plan"]


def test_unknown_model_and_bad_data_are_named(tmp_path, model_file):
    assert main(["compile", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "o")]) == 2
    out = tmp_path / "o2"
    compile_model(str(model_file), out, update="bias-only:1", classes=3)
    bad = tmp_path / "bad.npz"
    # float model inputs are data (quantized with the input's scale), but not with a NaN
    np.savez(bad, x_train=np.full((4, 12, 12, 3), np.nan, np.float32), y_train=np.zeros(4))
    assert main(["train", str(out), "--data", str(bad), "--quiet"]) == 1  # the file's contents
    many = tmp_path / "many.npz"
    np.savez(many, x_train=np.zeros((4, 12, 12, 3), np.uint8), y_train=np.array([0, 1, 2, 7]))
    assert main(["train", str(out), "--data", str(many), "--quiet"]) == 1
