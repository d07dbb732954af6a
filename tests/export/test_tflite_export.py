"""export --format tflite: TFLite Micro running the exported file computes what the reference
interpreter computes on the trained graph (bit for bit when the original head trains; labels
and accuracy when a fresh float head is quantized at export)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from mcutrain.autodiff import TrainConfig  # noqa: E402
from mcutrain.compile import build_training_graph  # noqa: E402
from mcutrain.export.tflite import (export_tflite, file_layout, head_features,  # noqa: E402
                                    is_our_export, trained_values)
from mcutrain.frontend.tflite import load_tflite, run_like_tflm, to_ir_input  # noqa: E402
from mcutrain.ref.interp import run  # noqa: E402
from mcutrain.ref.trainer import ReferenceTrainer  # noqa: E402
from tests.conftest import SHARED  # noqa: E402

MODELS = SHARED / "models" / "mlperf_tiny"
FLOWERS = SHARED / "data" / "flowers5.npz"
needs_models = pytest.mark.skipif(not MODELS.is_dir(), reason="../shared models absent")


def tflm_outputs(model: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model)
    out = []
    for i in range(len(x)):
        it.set_input(x[i:i + 1], 0)
        it.invoke()
        out.append(it.get_output(0)[0].copy())
    return np.array(out)


def random_inputs(g, n: int, seed: int = 0) -> np.ndarray:
    shp = g.meta["tflite"]["input"]["shape"]
    return np.random.default_rng(seed).integers(-128, 128, (n,) + tuple(shp[1:])).astype(np.int8)


def test_file_layout_inverts_the_frontend():
    w = np.arange(2 * 3 * 4 * 5).reshape(2, 4, 5, 3)  # OHWI as in the file
    assert np.array_equal(file_layout(w.transpose(0, 3, 1, 2), "OHWI"), w)
    d = np.arange(3 * 3 * 6).reshape(1, 3, 3, 6)  # depthwise 1HWC
    assert np.array_equal(file_layout(d[0].transpose(2, 0, 1)[:, None], "1HWC"), d)


@needs_models
@pytest.mark.shared
@pytest.mark.parametrize("name,cfg", [
    ("ic_resnet8_int8.tflite", TrainConfig(scheme="full", lr=0.05)),
    ("vww_mobilenetv1_int8.tflite", TrainConfig(scheme="last:3", storage="fp32", lr=0.05)),
    ("kws_dscnn_int8.tflite", TrainConfig(scheme="full", lr=0.05)),
    ("ad_autoencoder_int8.tflite", TrainConfig(scheme="bias-only:3", lr=0.05)),
    ("ic_resnet8_int8.tflite", TrainConfig(scheme={"bias_last": 2, "weights": {"7": 0.5}},
                                           storage="fp32", lr=0.05)),  # a channel slice
    ("vww_mobilenetv1_int8.tflite", TrainConfig(scheme={"bias_last": 1, "weights": {
        "25": 0.25, "26": 0.5}}, lr=0.5)),  # depthwise and pointwise slices, int8 in place
])
def test_trained_model_runs_in_tflm_bit_for_bit(name, cfg):
    """Parameters trained by the reference trainer, written into the file: TFLite Micro's
    outputs equal the reference's on the trained graph, and differ from the original's."""
    src = (MODELS / name).read_bytes()
    g = load_tflite(MODELS / name)
    tg = build_training_graph(g, cfg)
    x = random_inputs(g, 10)
    tr = ReferenceTrainer(tg)
    for i in range(3):
        tr.step(to_ir_input(g, x[i:i + 1]), i % 2)
    params = tr.params()
    out = export_tflite(tg, params, src, step=3)
    trained = g.replace(consts={**g.consts, **trained_values(tg, params)})
    got = tflm_outputs(out, x[3:])
    want = np.concatenate([run_like_tflm(trained, x[i:i + 1]) for i in range(3, len(x))])
    assert np.array_equal(got, want)
    before = np.concatenate([run_like_tflm(g, x[i:i + 1]) for i in range(3, len(x))])
    changed = [k for k, v in trained_values(tg, params).items() if not np.array_equal(v, g.consts[k])]
    assert changed, "training changed nothing: the check would be vacuous"
    if name != "ad_autoencoder_int8.tflite":  # a few bias steps may not move its output
        assert not np.array_equal(got, before)


@needs_models
@pytest.mark.shared
def test_untrained_export_equals_the_source_model(tmp_path):
    src = (MODELS / "kws_dscnn_int8.tflite").read_bytes()
    g = load_tflite(MODELS / "kws_dscnn_int8.tflite")
    tg = build_training_graph(g, TrainConfig(scheme="bias-only:2"))
    out = export_tflite(tg, None, src)
    x = random_inputs(g, 4, seed=1)
    assert np.array_equal(tflm_outputs(out, x), tflm_outputs(src, x))
    (tmp_path / "a.tflite").write_bytes(out)
    (tmp_path / "b.tflite").write_bytes(src)
    assert is_our_export(tmp_path / "a.tflite") and not is_our_export(tmp_path / "b.tflite")
    again = export_tflite(tg, None, out)  # an export of an export keeps one mark
    assert is_our_export_once(again)


def is_our_export_once(raw: bytes) -> bool:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s

    m = s.Model.GetRootAs(raw, 0)
    return [m.Metadata(i).Name() for i in range(m.MetadataLength())].count(b"mcutrain") == 1


def test_not_from_a_tflite_is_refused(tiny_training_graph):
    from mcutrain.errors import UsageError

    with pytest.raises(UsageError, match="not made from a .tflite"):
        export_tflite(tiny_training_graph, None, b"")


@pytest.fixture
def tiny_training_graph():
    from tests.conftest import tiny_int8_model

    return build_training_graph(tiny_int8_model(), TrainConfig(scheme="bias-only:1"))


def _train_head(tg, feats, y, s_x, z_x, lr, epochs, seed=0):
    """SGD on the fresh head over fixed features (what training the head alone does)."""
    x = s_x * (feats.astype(np.float32) - z_x)
    w, b = tg.consts["head.w"].astype(np.float32).copy(), tg.consts["head.b"].astype(np.float32).copy()
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for i in rng.permutation(len(x)):
            z = w @ x[i] + b
            p = np.exp(z - z.max())
            p /= p.sum()
            p[y[i]] -= 1
            w -= lr * np.outer(p, x[i])
            b -= lr * p
    return {"head.w": w, "head.b": b}


@needs_models
@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.skipif(not FLOWERS.is_file(), reason="../shared flowers5 absent")
@pytest.mark.parametrize("name,lr", [("ic_resnet8_int8.tflite", 0.01),
                                     ("vww_mobilenetv1_int8.tflite", 0.05)])
def test_new_head_quantized_at_export(name, lr):
    """--classes 5 on flowers5: the float head, quantized at export (per-channel int8, int32
    bias, output scale calibrated on x_train) and followed by the original SOFTMAX, gives the
    float head's labels in TFLite Micro on >= 99 % of the test images (a label TFLite Micro's
    int8 softmax ties with another counts when the float head picked one of the tied), and
    the same accuracy within 1 point."""
    from mcutrain.data.datasets import load_dataset, to_int8_hwc

    g = load_tflite(MODELS / name)
    tg = build_training_graph(g, TrainConfig(scheme="none", classes=5))
    shp = g.meta["tflite"]["input"]["shape"]
    ds = load_dataset(FLOWERS, (shp[1], shp[2], shp[3]))
    xtr, xte = to_int8_hwc(ds["x_train"]), to_int8_hwc(ds["x_test"])
    ytr, yte = np.asarray(ds["y_train"]), np.asarray(ds["y_test"])
    q = tg.values[next(n for n in tg.nodes if n.op == "dequantize" and n.outputs[0] == "head.in").inputs[0]].q
    feats = head_features(tg, None, to_ir_input(g, xtr))
    params = _train_head(tg, feats, ytr, float(q.s), int(q.zero_point), lr, 5)
    out = export_tflite(tg, params, (MODELS / name).read_bytes(), data_x=xtr)
    t = tg.meta["train"]
    logits = run(tg, {t["input"]: to_ir_input(g, xte)}, params, outputs=[t["logits"]])[t["logits"]]
    label = logits.argmax(1)
    probs = tflm_outputs(out, xte)
    assert probs.dtype == np.int8 and probs.shape == (len(xte), 5)
    got = probs.argmax(1)
    tied_ok = probs[np.arange(len(xte)), label] == probs.max(1)
    agree, acc_float, acc_tflm = np.mean(tied_ok), np.mean(label == yte), np.mean(got == yte)
    print(f"{name}: labels agree {np.mean(got == label):.4f} ({agree:.4f} counting ties), "
          f"accuracy {acc_float:.4f} float head, {acc_tflm:.4f} exported")
    assert agree >= 0.99
    assert abs(acc_float - acc_tflm) <= 0.01 + 1e-9
