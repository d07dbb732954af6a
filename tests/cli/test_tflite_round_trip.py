"""A .tflite through the whole CLI: compile, train, predict, export, and TFLite Micro running the
exported file returns predict's `output` bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from mcutrain.cli import main  # noqa: E402
from tests.frontend.tflite_models import ModelBuilder, fc_layer, op_code, options  # noqa: E402

RELU = 1


def small_classifier() -> bytes:
    """FC 16 -> 12 (RELU) -> FC 4 -> SOFTMAX, per-tensor weights, int8 in and out."""
    rng = np.random.default_rng(0)
    m = ModelBuilder()
    x = m.tensor((1, 16), scale=0.05, zero=-3)
    h = fc_layer(m, x, 0.05, 16, 12, rng, act=RELU, y_scale=0.06, y_zero=-128)
    z = fc_layer(m, h, 0.06, 12, 4, rng, y_scale=0.1, y_zero=2)
    y = m.tensor((1, 4), scale=1 / 256, zero=-128)
    m.op(op_code("SOFTMAX"), [z], [y], *options("SoftmaxOptions", beta=1.0))
    return m.bytes([x], [y])


def _data(path, n=24):
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (n, 16)).astype(np.int8)
    y = (x[:, :4].astype(int).argmax(1)).astype(np.int64)
    np.savez(path, x_train=x[:16], y_train=y[:16], x_test=x[16:], y_test=y[16:])


def test_compile_keeps_the_source_tflite(tmp_path):
    """compile copies the .tflite into OUT (what export edits)."""
    import mcutrain.compile as C

    src = tmp_path / "m.tflite"
    src.write_bytes(small_classifier())
    C.compile_model(str(src), tmp_path / "out", update="last:1")
    assert (tmp_path / "out" / "source.tflite").read_bytes() == src.read_bytes()


def test_cli_round_trip(tmp_path):
    from mcutrain.compile import compile_model
    from tests.frontend.tflite_models import run_tflm

    src = tmp_path / "m.tflite"
    src.write_bytes(small_classifier())
    compile_model(str(src), tmp_path / "out", update="full", lr=0.05)
    out, data = str(tmp_path / "out"), str(tmp_path / "d.npz")
    _data(data)
    assert main(["train", out, "--data", data, "--quiet"]) == 0
    assert main(["predict", out, "--data", data]) == 0
    dest = tmp_path / "trained.tflite"
    assert main(["export", out, "--format", "tflite", "-o", str(dest)]) == 0
    pred = np.load(tmp_path / "out" / "predictions.npz")
    x = np.load(data)["x_test"]
    got = np.concatenate([run_tflm(dest.read_bytes(), x[i:i + 1]) for i in range(len(x))])
    assert np.array_equal(got, pred["output"])
