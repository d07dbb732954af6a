"""`mcutrain predict` and `mcutrain export` end to end through the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcutrain.cli import main
from mcutrain.ops.verify import load_graph
from mcutrain.train.predict import FORMAT, outputs_from_logits, predict_reference
from tests.conftest import SHARED

from ..fuzz import files as F


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny model compiled with its own int8 head (bias-only:2) and trained one epoch."""
    from mcutrain.compile import compile_model
    from tests.conftest import tiny_int8_model

    d = tmp_path_factory.mktemp("pe")
    F.dataset(d / "data.npz", classes=5)
    compile_model(tiny_int8_model(hw=8, classes=5), d / "out", update="bias-only:2")
    assert main(["train", str(d / "out"), "--data", str(d / "data.npz"), "--quiet"]) == 0
    return d


def test_predict_writes_output_logits_label(trained, capsys):
    d = trained
    assert main(["predict", str(d / "out"), "--data", str(d / "data.npz")]) == 0
    assert "test samples" in capsys.readouterr().out
    with np.load(d / "out" / "predictions.npz") as z:
        p = {k: z[k] for k in z.files}
    assert str(p["__format__"]) == FORMAT and str(p["split"]) == "test"
    n = len(np.load(d / "data.npz")["x_test"])
    assert p["output"].dtype == np.int8 and p["output"].shape == (n, 5)  # the int8 logits
    assert p["logits"].dtype == np.float32 and p["label"].shape == (n,)
    assert np.array_equal(p["label"], p["logits"].argmax(1))
    tg = load_graph(d / "out" / "train_graph.npz")
    q = tg.values[tg.meta["train"]["logits"]].q
    assert np.array_equal(p["logits"], np.float32(q.s) * (p["output"].astype(np.float32)
                                                          - np.float32(q.zero_point)))
    # the generated C equals the reference interpreter on the trained parameters
    from mcutrain.artifacts import read_params, read_report
    from mcutrain.data.datasets import to_int8_hwc

    rep = read_report(d / "out")
    params, _ = read_params(d / "out" / "params.npz",
                            [(r["name"], r["dtype"], tuple(r["shape"])) for r in rep["params"]])
    x = to_int8_hwc(np.load(d / "data.npz")["x_test"]).transpose(0, 3, 1, 2)
    ref = predict_reference(tg, params, np.ascontiguousarray(x))
    assert np.array_equal(ref["output"], p["output"]) and np.array_equal(ref["label"], p["label"])


def test_predict_output_elsewhere_and_again(trained, tmp_path):
    d = trained
    dest = tmp_path / "p.npz"
    for _ in range(2):  # the second run replaces its own earlier file
        assert main(["predict", str(d / "out"), "--data", str(d / "data.npz"), "-o", str(dest)]) == 0
    assert np.load(dest)["output"].shape[1] == 5


def test_export_params_cli(trained, tmp_path, capsys):
    from mcutrain.export import read_slot_image
    from mcutrain.train.host import open_model

    d = trained
    dest = tmp_path / "update.bin"
    for _ in range(2):
        assert main(["export", str(d / "out"), "--format", "params", "-o", str(dest)]) == 0
    assert "wrote" in capsys.readouterr().out
    img = read_slot_image(dest)
    cm = open_model(d / "out")
    want = b"".join(np.ascontiguousarray(v).tobytes() for v in cm.get_params().values())
    assert img["payload"] == want and img["step"] == cm.step > 0


def test_softmax_output_of_int8_logits():
    """A graph ending in SOFTMAX: output = softmax_s8 of the int8 logits (1/256, -128)."""
    from mcutrain.ops import gemmlowp as gl

    class V:
        dtype = "i8"

        class q:  # noqa: N801
            s, zero_point = 0.25, 3

    sm = gl.softmax_params(1.0, 0.25)
    tg = type("G", (), dict(meta=dict(train=dict(logits="z"), tflite=dict(output=dict(softmax=sm))),
                            values=dict(z=V)))()
    q = np.array([[10, -5, 3], [0, 0, 0]], np.int8)
    r = outputs_from_logits(tg, q)
    assert np.array_equal(r["output"], gl.softmax_int8(q, **sm))
    assert np.array_equal(r["label"], [0, 0])
    f = np.float32(0.25) * (q.astype(np.float32) - 3)  # float logits as the C returns them
    assert np.array_equal(outputs_from_logits(tg, f)["output"], r["output"])
    tg.meta["tflite"]["output"]["dequantize"] = dict(scale=[1 / 256], zero=[-128])  # float out
    d = outputs_from_logits(tg, q)["output"]
    assert d.dtype == np.float32 and np.allclose(d.sum(1), 1, atol=0.02)
    assert np.array_equal(d, (r["output"].astype(np.float32) + 128) / 256)


# ---- a .tflite compile output (fabricated until compile has the TFLite Micro kernels) -------

MODELS = SHARED / "models" / "mlperf_tiny"


def fake_tflite_output(out: Path, model: Path, cfg, params=None):
    """What compile writes for a .tflite, minus the C: report.json (params, input, classes),
    model.h's checked defines, train_graph.npz, source.tflite and params.npz."""
    import shutil

    from mcutrain.artifacts import write_params
    from mcutrain.compile import REPORT_VERSION, build_training_graph, input_report
    from mcutrain.frontend.tflite import load_tflite
    from mcutrain.ir.serialize import save_graph
    from mcutrain.outdir import write_marker

    tg = build_training_graph(load_tflite(model), cfg)
    t = tg.meta["train"]
    names = [e["param"] for e in t["entries"]]
    ps = [dict(name=n, symbol=f"p{i}", dtype=tg.values[n].dtype, shape=list(tg.values[n].shape))
          for i, n in enumerate(names)]
    inp = input_report(tg.values[t["input"]])
    classes = int(tg.values[t["logits"]].size)
    rep = dict(version=REPORT_VERSION, classes=classes, ram_bytes=1, flash_bytes=1, input=inp,
               params=ps, config=t["config"])
    out.mkdir()
    write_marker(out, "compile")
    (out / "report.json").write_text(json.dumps(rep))
    size = sum(int(np.prod(p["shape"])) * (1 if p["dtype"] == "i8" else 4) for p in ps)
    (out / "model.h").write_text(f"#define MCT_INPUT_BYTES {int(np.prod(inp['shape'][1:]))}\n"
                                 f"#define MCT_NUM_CLASSES {classes}\n"
                                 f"#define MCT_PARAMS_BYTES {size}\n")
    save_graph(tg, out / "train_graph.npz")
    shutil.copy2(model, out / "source.tflite")
    if params is not None:
        write_params(out, params(tg), 7)
    return tg


@pytest.mark.shared
@pytest.mark.skipif(not MODELS.is_dir(), reason="../shared models absent")
def test_export_tflite_cli_roundtrip(tmp_path):
    """export --format tflite from a .tflite compile output: TFLite Micro on the file returns
    what predict's reference path computes, bit for bit; a user's file is never replaced."""
    pytest.importorskip("tflite_micro")
    from mcutrain.autodiff import TrainConfig
    from mcutrain.frontend.tflite import to_ir_input

    from ..export.test_tflite_export import random_inputs, tflm_outputs

    model = MODELS / "kws_dscnn_int8.tflite"

    def perturbed(tg):  # "training": every trained value moved deterministically
        rng = np.random.default_rng(3)
        return {e["param"]: np.clip(tg.consts[e["param"]].astype(np.int64)
                                    + rng.integers(-3, 4, tg.consts[e["param"]].shape),
                                    -127 if tg.values[e["param"]].dtype == "i8" else -2**31,
                                    127 if tg.values[e["param"]].dtype == "i8" else 2**31 - 1)
                .astype(tg.consts[e["param"]].dtype) for e in tg.meta["train"]["entries"]}

    tg = fake_tflite_output(tmp_path / "out", model, TrainConfig(scheme="last:2"), perturbed)
    dest = tmp_path / "trained.tflite"
    for _ in range(2):  # the second export replaces our own first one
        assert main(["export", str(tmp_path / "out"), "--format", "tflite", "-o", str(dest)]) == 0
    x = random_inputs(tg, 6, seed=5)
    pred = predict_reference(tg, perturbed(tg), to_ir_input(tg, x))
    got = tflm_outputs(dest.read_bytes(), x)
    assert np.array_equal(got, pred["output"])
    assert not np.array_equal(got, tflm_outputs(model.read_bytes(), x))
    user = tmp_path / "user.tflite"
    user.write_bytes(model.read_bytes())
    assert main(["export", str(tmp_path / "out"), "--format", "tflite", "-o", str(user)]) == 2
    assert user.read_bytes() == model.read_bytes()


@pytest.mark.shared
@pytest.mark.skipif(not MODELS.is_dir(), reason="../shared models absent")
def test_export_tflite_new_head_needs_data(tmp_path, capsys):
    pytest.importorskip("tflite_micro")
    from mcutrain.autodiff import TrainConfig

    from ..export.test_tflite_export import tflm_outputs

    model = MODELS / "ic_resnet8_int8.tflite"
    fake_tflite_output(tmp_path / "out", model, TrainConfig(scheme="none", classes=3))
    dest = tmp_path / "head.tflite"
    assert main(["export", str(tmp_path / "out"), "--format", "tflite", "-o", str(dest)]) == 2
    assert "--data" in capsys.readouterr().err and not dest.exists()
    F.dataset(tmp_path / "data.npz", n=9, hw=32)
    assert main(["export", str(tmp_path / "out"), "--format", "tflite", "-o", str(dest),
                 "--data", str(tmp_path / "data.npz")]) == 0
    x = np.random.default_rng(0).integers(-128, 128, (2, 32, 32, 3)).astype(np.int8)
    y = tflm_outputs(dest.read_bytes(), x)
    assert y.shape == (2, 3) and y.dtype == np.int8


@pytest.mark.shared
@pytest.mark.skipif(not MODELS.is_dir(), reason="../shared models absent")
def test_export_tflite_without_source_says_so(tmp_path, capsys):
    from mcutrain.autodiff import TrainConfig

    fake_tflite_output(tmp_path / "out", MODELS / "kws_dscnn_int8.tflite",
                       TrainConfig(scheme="bias-only:1"))
    (tmp_path / "out" / "source.tflite").unlink()
    assert main(["export", str(tmp_path / "out"), "--format", "tflite", "-o",
                 str(tmp_path / "t.tflite")]) == 1
    err = capsys.readouterr().err
    assert "source.tflite" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "t.tflite").exists()
