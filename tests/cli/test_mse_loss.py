"""--loss mse: the MLPerf Tiny autoencoder learns to reconstruct a new 'normal' distribution
through the CLI, from a dataset without labels; eval and predict report the reconstruction
error per sample."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcutrain.cli import main

from ..conftest import shared_path

pytestmark = [pytest.mark.shared]
AE = "ad_autoencoder_int8.tflite"


def _ae():
    pytest.importorskip("tflite_micro")
    return str(shared_path("models", "mlperf_tiny", AE))


def _data(path, n_train=160, n_test=40):
    """Smooth 640-vectors (5 frames of 128 bins) around one profile: the 'normal' sound."""
    rng = np.random.default_rng(0)
    prof = np.tile(np.sin(np.linspace(0, 6, 128)) * 3 - 0.5, 5)
    x = (prof + 0.3 * rng.standard_normal((n_train + n_test, 640))).astype(np.float32)
    np.savez(path, x_train=x[:n_train], x_test=x[n_train:])  # no labels


def test_autoencoder_adapts_with_mse_and_no_labels(tmp_path, capsys):
    out, data = str(tmp_path / "out"), str(tmp_path / "d.npz")
    _data(data)
    assert main(["compile", _ae(), "--update", "last:2", "-o", out]) == 0
    assert json.loads((tmp_path / "out" / "report.json").read_text())["loss"] == "mse"
    assert main(["eval", out, "--data", data]) == 0
    before = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert len(before["errors"]) == 40
    assert main(["train", out, "--data", data, "--epochs", "2", "--quiet"]) == 0
    assert main(["eval", out, "--data", data]) == 0
    after = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert after["reconstruction_error"] < 0.5 * before["reconstruction_error"]
    assert main(["predict", out, "--data", data]) == 0
    pred = np.load(tmp_path / "out" / "predictions.npz")
    np.testing.assert_allclose(pred["error"], after["errors"], rtol=1e-12)


def test_loss_flag(tmp_path, capsys):
    out = str(tmp_path / "ce")
    assert main(["compile", _ae(), "--update", "bias-only:1", "--loss", "ce", "-o", out]) == 0
    assert json.loads((tmp_path / "ce" / "report.json").read_text())["loss"] == "ce"
    capsys.readouterr()
    rc = main(["compile", _ae(), "--loss", "mse", "--classes", "3", "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "--classes" in err, err


def test_auto_refuses_an_autoencoder_in_one_line(tmp_path, capsys):
    data = str(tmp_path / "d.npz")
    _data(data)
    rc = main(["compile", _ae(), "-o", str(tmp_path / "o"), "--update", "auto", "--data", data,
               "--ram", "64KB"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "classifiers" in err, err
    assert not (tmp_path / "o").exists()
