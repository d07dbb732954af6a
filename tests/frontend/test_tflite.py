"""The .tflite frontend: the four MLPerf Tiny int8 models (../shared/models/mlperf_tiny) run by
the reference interpreter give TFLite Micro's outputs bit for bit, every intermediate tensor
too, on random int8 inputs and (image models) real photos; unsupported files are refused with
one line. Skips when ../shared or the tflite-micro package is absent."""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.errors import InputError, MissingDependency
from tests.conftest import shared_path

pytest.importorskip("tflite_micro")

from mcutrain.frontend.tflite import (load_tflite, read_tflite, run_like_tflm,  # noqa: E402
                                      to_ir_input)
from mcutrain.ref.interp import run  # noqa: E402

MODELS = {  # file -> (output classes, random inputs checked)
    "ic_resnet8_int8.tflite": 3,
    "vww_mobilenetv1_int8.tflite": 2,
    "kws_dscnn_int8.tflite": 4,
    "ad_autoencoder_int8.tflite": 4,
}


def tflm(path, trace=False):
    from tflite_micro.python.tflite_micro import runtime

    cfg = (runtime.InterpreterConfig.kPreserveAllTensors if trace
           else runtime.InterpreterConfig.kAllocationRecording)
    return runtime.Interpreter.from_file(str(path), intrepreter_config=cfg)


def model_path(name):
    return shared_path("models", "mlperf_tiny", name)


@pytest.fixture(scope="module")
def graphs():
    return {}


def graph_of(graphs, name):
    if name not in graphs:
        graphs[name] = load_tflite(model_path(name))
    return graphs[name]


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_tensor_matches_tflite_micro(graphs, name):
    """Random int8 inputs: each operator's output tensor, not only the model's, is TFLite
    Micro's bit for bit (so a softmax cannot hide a differing logit)."""
    g = graph_of(graphs, name)
    m = read_tflite(model_path(name))
    it = tflm(model_path(name), trace=True)
    ops = g.meta["tflite"]["operators"]
    assert len(ops) == len(m.ops)  # every operator mapped, none skipped
    rng = np.random.default_rng(23)
    shape = g.meta["tflite"]["input"]["shape"]
    for _ in range(MODELS[name]):
        x = rng.integers(-128, 128, shape).astype(np.int8)
        it.set_input(x, 0)
        it.invoke()
        env = run(g, {"x": to_ir_input(g, x)}, outputs=[v for _, _, v in ops if v])
        for i, op, v in ops:
            if v is None:  # a PAD folded into the next conv: no tensor of its own
                continue
            want = it.GetTensor(int(m.ops[i].outputs[0]), 0)["tensor_data"]
            got = env[v].transpose(0, 2, 3, 1) if env[v].ndim == 4 else env[v]  # NCHW -> NHWC
            np.testing.assert_array_equal(got.reshape(want.shape), want,
                                          err_msg=f"{name}: operator {i} ({op})")
        it.set_input(x, 0)
        assert np.array_equal(run_like_tflm(g, x), tflm_output(it, x))


def tflm_output(it, x):
    it.set_input(x, 0)
    it.invoke()
    return it.get_output(0)


def flowers(side, n):
    from PIL import Image

    data = np.load(shared_path("data", "flowers5.npz"))
    imgs = data["x_test"][::27][:n]  # one or two per class
    return np.stack([np.asarray(Image.fromarray(im).resize((side, side), Image.BILINEAR))
                     for im in imgs])


@pytest.mark.shared
@pytest.mark.parametrize("name,side", [("ic_resnet8_int8.tflite", 32),
                                       ("vww_mobilenetv1_int8.tflite", 96)])
def test_image_models_on_photos(graphs, name, side):
    """Flower photos resized to the model's input, int8 = pixel - 128 (both models' input
    quantization makes that the pixel, or pixel / 255): outputs and logits as TFLite Micro's."""
    g = graph_of(graphs, name)
    it = tflm(model_path(name))
    photos = flowers(side, 5)
    x = (photos.astype(np.int16) - 128).astype(np.int8)
    for xi in x:
        assert np.array_equal(run_like_tflm(g, xi[None]), tflm_output(it, xi[None]))
    probs = run_like_tflm(g, x)  # the whole batch at once: the interpreter's N is free
    assert probs.shape == (len(x), g.values[g.outputs[0]].shape[1])
    if name.startswith("vww"):  # flowers: no person (README: 59 of 60 photos)
        assert (probs[:, 0] > probs[:, 1]).sum() >= len(x) - 1


@pytest.mark.shared
def test_graph_shape_and_meta(graphs):
    g = graph_of(graphs, "ic_resnet8_int8.tflite")
    meta = g.meta["tflite"]
    assert g.outputs == (meta["output"]["softmax"]["input"],)  # the logits, before SOFTMAX
    assert meta["output"]["value"] == "probs"
    assert g.values["x"].shape == (1, 3, 32, 32) and meta["input"]["nhwc"]
    assert meta["input"]["zero"] == -128 and meta["input"]["scale"] == 1.0
    ops = [g.nodes[i].op for i in range(len(g.nodes))]
    assert ops.count("conv2d") == 9 and ops.count("add") == 3 and "avgpool2d" in ops
    assert ops.count("pad") == 2  # the two stride-2 3x3 convs pad (0, 1): asymmetric SAME
    assert all(n.attrs.get("rounding") == "tflm" for n in g.nodes
               if n.op in ("conv2d", "linear", "add"))
    assert g.values["fc14"].shape == (1, 10)


# ---- refusals: one line naming the file, the operator and what is wrong -------------------------

def _write(tmp_path, data, name="m.tflite"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _refused(path, *words):
    with pytest.raises(InputError) as e:
        load_tflite(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_refuses_float_model(tmp_path):
    from tests.frontend.tflite_models import float_fc_model

    _refused(_write(tmp_path, float_fc_model()), "float", "int8")


def test_refuses_uint8_model(tmp_path):
    from tests.frontend.tflite_models import uint8_fc_model

    _refused(_write(tmp_path, uint8_fc_model()), "uint8", "signed int8")


def test_refuses_unsupported_op_with_position_and_list(tmp_path):
    from tests.frontend.tflite_models import tanh_model

    msg = _refused(_write(tmp_path, tanh_model()), "operator 1 (TANH)", "not supported",
                   "CONV_2D", "FULLY_CONNECTED", "SOFTMAX")
    assert "ADD" in msg and "MEAN" in msg


def test_refuses_softmax_inside_and_garbage(tmp_path):
    from tests.frontend.tflite_models import softmax_inside_model

    _refused(_write(tmp_path, softmax_inside_model()), "operator 0 (SOFTMAX)", "last")
    _refused(_write(tmp_path, b"\x00" * 64, "junk.tflite"), "not a TFLite flatbuffer")
    _refused(_write(tmp_path, b"1234TFL3" + b"\xff" * 40, "cut.tflite"), "corrupt")


def test_missing_package_is_one_line(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def no_tflm(name, *a, **k):
        if name.startswith("tflite_micro"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tflm)
    with pytest.raises(MissingDependency, match=r"pip install mcutrain\[tflite\]"):
        load_tflite(_write(tmp_path, b"1234TFL3" + b"\x00" * 40))


# ---- into the training graph and the compiler ------------------------------------------------------

@pytest.mark.shared
@pytest.mark.parametrize("name,scheme", [("ic_resnet8_int8.tflite", "bias-only:2"),
                                         ("kws_dscnn_int8.tflite", "full"),
                                         ("vww_mobilenetv1_int8.tflite", "last:2"),
                                         ("ad_autoencoder_int8.tflite", "full")])
def test_training_graph_builds_and_keeps_the_forward(graphs, name, scheme):
    """The training graph (after the whole pass pipeline) runs in the reference interpreter, and
    its logits are those of the inference graph (TFLite Micro's, before the SOFTMAX)."""
    from mcutrain.autodiff import TrainConfig
    from mcutrain.compile import build_training_graph

    g = graph_of(graphs, name)
    tg = build_training_graph(g, TrainConfig(scheme=scheme))
    assert tg.meta["train"]["entries"]
    x = to_ir_input(g, np.random.default_rng(5).integers(
        -128, 128, g.meta["tflite"]["input"]["shape"]).astype(np.int8))
    env = run(tg, {"x": x, "label": np.array([1], np.int32), "lr": np.float32(0.01),
                   "step": np.int32(0)})
    logits = run(g, {"x": x})[g.outputs[0]]
    assert np.array_equal(env[tg.meta["train"]["logits"]], logits)
    assert np.isfinite(env[tg.meta["train"]["loss"]]).all()


@pytest.mark.shared
def test_cli_compiles_a_tflite(tmp_path):
    """`mcutrain compile X.tflite` writes the C (the mct_tflm.h kernels: TFLite Micro's
    rounding) and the source file export edits."""
    from mcutrain.cli import main

    out = tmp_path / "out"
    src = model_path("ic_resnet8_int8.tflite")
    rc = main(["compile", str(src), "--update", "bias-only:2", "-o", str(out)])
    assert rc == 0
    c = (out / "model.c").read_text()
    assert "mct_conv2d_s8_tflm(" in c and "mct_conv2d_s8(" not in c
    assert (out / "source.tflite").read_bytes() == src.read_bytes()


@pytest.mark.shared
def test_cut_or_flipped_files_fail_in_one_line():
    """Truncated files and flipped bytes in the operator tables: a graph or one McuError line,
    never a traceback."""
    from mcutrain.errors import McuError
    from mcutrain.frontend.tflite import TfliteModel, tflite_to_graph

    data = model_path("kws_dscnn_int8.tflite").read_bytes()
    rng = np.random.default_rng(0)
    for k in range(150):
        b = bytearray(data)
        if k % 5 == 0:
            b = b[:int(len(b) * rng.uniform(0.01, 0.99))]
        else:  # the tables (names, shapes, operators) sit at the end of the file
            for pos in rng.integers(int(len(b) * 0.8), len(b), int(rng.integers(1, 4))):
                b[pos] = int(rng.integers(0, 256))
        try:
            tflite_to_graph(TfliteModel(bytes(b), "f.tflite"), "f")
        except McuError as e:
            assert "\n" not in str(e) and "f.tflite" in str(e)


@pytest.mark.shared
def test_single_rounding_would_not_match(graphs):
    """Why rounding="tflm": the same graph requantized by the project's single rounding gives
    other outputs (the autoencoder's per-tensor FULLY_CONNECTED layers differ on ~30%)."""
    from dataclasses import replace

    g = graph_of(graphs, "ad_autoencoder_int8.tflite")
    single = g.replace(nodes=tuple(replace(n, attrs={k: v for k, v in n.attrs.items()
                                                     if k != "rounding"}) for n in g.nodes))
    x = np.random.default_rng(3).integers(-128, 128, (4, 640)).astype(np.int8)
    it = tflm(model_path("ad_autoencoder_int8.tflite"))
    want = np.concatenate([tflm_output(it, xi[None]) for xi in x])
    assert np.array_equal(run(g, {"x": x})[g.outputs[0]], want)
    assert (run(single, {"x": x})[g.outputs[0]] != want).mean() > 0.1


@pytest.mark.shared
def test_new_head_replaces_the_classifier_and_its_softmax(graphs):
    """--classes N: a fresh float head after the features (the FC and the SOFTMAX go); one
    reference step changes the head and keeps the int8 body."""
    from mcutrain.autodiff import TrainConfig
    from mcutrain.compile import build_training_graph
    from mcutrain.ref.trainer import ReferenceTrainer

    g = graph_of(graphs, "kws_dscnn_int8.tflite")
    tg = build_training_graph(g, TrainConfig(scheme="bias-only:1", classes=5, lr=0.1))
    assert "softmax_s8" not in {n.op for n in tg.nodes}
    tr = ReferenceTrainer(tg)
    before = tr.params()
    x = to_ir_input(g, np.random.default_rng(1).integers(-128, 128, (1, 49, 10, 1)).astype(np.int8))
    loss, logits = tr.step(x, 3)
    assert np.isfinite(loss) and logits.size == 5
    assert any(not np.array_equal(before[k], v) for k, v in tr.params().items())
