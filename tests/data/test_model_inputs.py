"""Datasets of model inputs: besides uint8 images, x may be int8 (the model's quantized input,
used as is) or float (real values, quantized with the input's scale and zero point), shaped
N x the model's input (H x W x C; H x W for one channel; C for a vector input). The same
samples given in any of the three kinds train and evaluate to the same bytes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcutrain.compile import compile_model
from mcutrain.data.arrays import DataError, quantize_input
from mcutrain.data.datasets import load_dataset
from mcutrain.train.host import eval_model, train_model

from ..conftest import tiny_int8_model


def test_quantize_input_rounds_ties_away_from_zero_and_saturates():
    x = np.array([0.5, -0.5, 1.5, -1.5, 2.5, 0.49, 1000.0, -1000.0])
    assert quantize_input(x, 1.0, 0).tolist() == [1, -1, 2, -2, 3, 0, 127, -128]
    assert quantize_input(np.array([0.0, 0.25]), 0.25, -128).tolist() == [-128, -127]


def _kinds(rng, n):
    """The same samples as uint8 images, int8 inputs (pixel - 128) and float inputs that
    quantize to them (input scale 1/127.5, zero point 0: tiny_int8_model)."""
    u8 = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    i8 = (u8.astype(np.int16) - 128).astype(np.int8)
    f32 = (i8.astype(np.float32) / np.float32(127.5)).astype(np.float32)
    return dict(uint8=u8, int8=i8, float=f32)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(3)
    tr, te = _kinds(rng, 24), _kinds(rng, 10)
    y_tr, y_te = rng.integers(0, 5, 24), rng.integers(0, 5, 10)
    paths = {}
    for k in tr:
        paths[k] = d / f"{k}.npz"
        np.savez(paths[k], x_train=tr[k], y_train=y_tr, x_test=te[k], y_test=y_te)
    return paths


def test_the_three_kinds_load_to_the_same_model_inputs(tmp_path, datasets):
    compile_model(tiny_int8_model(), tmp_path / "out", update="bias-only:2")
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    q = (rep["input"]["scale"], rep["input"]["zero_point"])
    assert q == (pytest.approx(1 / 127.5), 0)
    loaded = {k: load_dataset(p, (8, 8, 3), q) for k, p in datasets.items()}
    want = (loaded["uint8"]["x_train"].astype(np.int16) - 128).astype(np.int8)
    assert np.array_equal(loaded["int8"]["x_train"], want)
    assert np.array_equal(loaded["float"]["x_train"], want)


def test_the_three_kinds_train_and_evaluate_alike(tmp_path, datasets):
    results = {}
    for k, p in datasets.items():
        out = tmp_path / k
        compile_model(tiny_int8_model(), out, update="last:2", classes=5)
        log = train_model(out, p, epochs=1, progress=False, echo=lambda *a: None)
        ev = eval_model(out, p, echo=lambda *a: None)
        results[k] = ((out / "params.npz").read_bytes(), log["epochs"][0]["loss"], ev["accuracy"])
    assert results["int8"] == results["uint8"]
    assert results["float"] == results["uint8"]


def test_a_vector_input_takes_n_by_c(tmp_path):
    x = np.zeros((4, 6), np.float32)
    np.savez(tmp_path / "v.npz", x_train=x, y_train=np.zeros(4, int))
    got = load_dataset(tmp_path / "v.npz", (1, 1, 6), (0.5, 3))["x_train"]
    assert got.shape == (4, 1, 1, 6) and (got == 3).all()
    with pytest.raises(DataError, match=r"\[4, 6\] do not fit .*expected N x 1 x 1 x 5 or N x 5"):
        load_dataset(tmp_path / "v.npz", (1, 1, 5), (0.5, 3))


def test_float_inputs_need_the_input_quantization(tmp_path):
    np.savez(tmp_path / "f.npz", x_train=np.zeros((2, 8, 8, 3), np.float32), y_train=[0, 1])
    with pytest.raises(DataError, match="compile again"):
        load_dataset(tmp_path / "f.npz", (8, 8, 3), None)
