"""The generated C of the MLPerf Tiny .tflite models against the reference: the forward bit for
bit and training in lockstep (TFLite Micro's arithmetic, runtime/include/mct_tflm.h)."""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.autodiff import TrainConfig
from mcutrain.codegen.layout import to_hwc
from mcutrain.compile import build_training_graph, compile_model
from mcutrain.ops.optim import take_slice
from mcutrain.targets.host import CompiledModel

from ..conftest import shared_path
from .test_generated_c import _check_forward, _ref_step, _updates

pytestmark = [pytest.mark.slow, pytest.mark.shared]  # about 80 s once the C is generated


def _load(model):
    pytest.importorskip("tflite_micro")
    from mcutrain.frontend.tflite import load_tflite

    return load_tflite(shared_path("models", "mlperf_tiny", f"{model}.tflite"))


def _compile(g, out, **kw):
    compile_model(g, out, **kw)
    return CompiledModel(out)


@pytest.mark.parametrize("model", ["ic_resnet8_int8", "kws_dscnn_int8", "vww_mobilenetv1_int8"])
def test_tflite_forward_bit_exact(tmp_path, model):
    g = _load(model)
    cm = _compile(g, tmp_path / "out", update="none")
    tg = build_training_graph(g, TrainConfig(scheme="none"))
    shape = g.values[g.inputs[0]].shape[1:]
    xs = np.random.default_rng(0).integers(-128, 128, (2,) + shape).astype(np.int8)
    _check_forward(cm, tg, xs)


# ResNet-8 in full: pad_grad, avgpool2d_grad and the residual adds' backward; the VWW MobileNet
# bias-only: the fused expansion + depthwise (expand_dw) with TFLite's rounding
@pytest.mark.parametrize("model,update,classes", [("ic_resnet8_int8", "full", None),
                                                  ("kws_dscnn_int8", "last:3", 5),
                                                  ("vww_mobilenetv1_int8", "bias-only:4", None)])
def test_tflite_training_in_lockstep(tmp_path, model, update, classes):
    lockstep(_load(model), tmp_path / "out", update, classes, steps=3)


def lockstep(g, out, update, classes=None, steps=3, lr=0.01):
    """Compile g with `update`, then train `steps` steps of the C and the reference side by
    side on random inputs: the loss and every trained parameter agree at each step."""
    cm = _compile(g, out, update=update, classes=classes, lr=lr)
    tg = build_training_graph(g, TrainConfig(scheme=update, classes=classes, lr=lr))
    t = tg.meta["train"]
    entries = {e["param"]: e for e in t["entries"]}
    updates = _updates(tg)
    state = {k: tg.consts[k].copy() for k in entries}
    rng = np.random.default_rng(7)
    shape, n_cls = g.values[g.inputs[0]].shape[1:], tg.values[t["logits"]].size
    for step in range(steps):
        x = rng.integers(-128, 128, (1,) + shape).astype(np.int8)
        y = int(rng.integers(n_cls))
        env = _ref_step(tg, state, x, y, lr, step)
        loss_c = cm.train_step(to_hwc(x)[0].reshape(cm.input_hwc), y)
        loss_r = float(env[t["loss"]])
        assert abs(loss_c - loss_r) <= 1e-4 * max(1.0, abs(loss_r)), (step, loss_c, loss_r)
        got = cm.get_params()
        for name, e in entries.items():
            new = env[updates[name].outputs[0]]
            want = take_slice(new, e["channels"], e["axis"]) if e["channels"] else new
            if want.dtype == np.float32:
                assert np.allclose(got[name], want, rtol=1e-4, atol=1e-6), (step, name)
            else:  # stochastic rounding: a flip at a rounding boundary at most
                assert np.abs(got[name].astype(np.int64) - want.astype(np.int64)).max() <= 1
            state[name] = new
        cm.set_params({name: (take_slice(state[name], entries[name]["channels"],
                                         entries[name]["axis"])
                              if name in entries and entries[name]["channels"] else state[name])
                       for name, _, _ in cm.params_layout})
    return cm
