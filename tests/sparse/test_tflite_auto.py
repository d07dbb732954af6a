"""`compile X.tflite --update auto --data D --ram 64KB`: the planner chooses a scheme for an
MLPerf Tiny model under the budget, the compile fits it, and the result trains on the host."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcutrain.cli import main

from ..conftest import shared_path

pytestmark = [pytest.mark.slow, pytest.mark.shared]  # about 30 s


def test_auto_scheme_of_resnet8_under_64kb_trains(tmp_path):
    pytest.importorskip("tflite_micro")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 32, 32, 3)).astype(np.uint8)
    y = (x[:, :16].mean(axis=(1, 2, 3)) > x[:, 16:].mean(axis=(1, 2, 3))).astype(np.int64)
    data = tmp_path / "d.npz"
    np.savez(data, x_train=x[:48], y_train=y[:48], x_test=x[48:], y_test=y[48:])
    out = tmp_path / "out"
    model = shared_path("models", "mlperf_tiny", "ic_resnet8_int8.tflite")
    assert main(["compile", str(model), "-o", str(out), "--classes", "2", "--update", "auto",
                 "--data", str(data), "--ram", "64KB", "--seeds", "1", "--folds", "1"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["ram_bytes"] <= 64 * 1024 and rep["auto_update"]["scheme"] == rep["scheme"]
    assert main(["train", str(out), "--data", str(data), "--quiet"]) == 0
    log = json.loads((out / "train_log.json").read_text())
    assert np.isfinite(log["epochs"][0]["loss"])


def test_auto_under_a_budget_below_the_head_alone_is_one_line(tmp_path, capsys):
    """The VWW MobileNet with a new head needs 80 KB even for the head alone: 64 KB is refused
    in one line naming the figure, before any training."""
    pytest.importorskip("tflite_micro")
    x = np.random.default_rng(0).integers(0, 256, (20, 96, 96, 3)).astype(np.uint8)
    data = tmp_path / "d.npz"
    np.savez(data, x_train=x, y_train=np.arange(20) % 2)
    model = shared_path("models", "mlperf_tiny", "vww_mobilenetv1_int8.tflite")
    rc = main(["compile", str(model), "-o", str(tmp_path / "out"), "--classes", "2",
               "--update", "auto", "--data", str(data), "--ram", "64KB", "--seeds", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "head alone" in err[0] and "internal" not in err[0], err
