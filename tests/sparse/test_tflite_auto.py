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
