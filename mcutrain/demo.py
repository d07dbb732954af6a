"""The built-in default job: a small CNN pretrained in float on real handwritten digits
(scikit-learn's bundled set) is quantized to int8 and then adapted, with the int8 training
graph, to data it has not seen: the same digits photographed by a sensor mounted sideways
(rotated 90 degrees). Prints accuracy before and after adaptation on a held-out split."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .autodiff import TrainConfig, make_training_graph
from .data.arrays import images_to_int8
from .errors import UsageError, check_range
from .outdir import atomic_write_text
from .ref.interp import run
from .ref.trainer import ReferenceTrainer
from .autodiff.scheme import find_layers

DEFAULT_EPOCHS = 6
DEFAULT_LR = 0.005
WRITTEN_BY = "mcutrain demo"  # in --json files: an earlier result may be replaced


def default_scheme(n_layers: int) -> dict:
    """Sparse update for the demo: all biases, the last two layers' weights, and half the
    input channels of the layer before them."""
    return {"bias_last": n_layers,
            "weights": {str(n_layers - 1): 1.0, str(n_layers - 2): 1.0, str(n_layers - 3): 0.5}}


def _float_accuracy(fg, x_u8, y, to_float_input) -> float:
    logits = run(fg, {fg.inputs[0]: to_float_input(x_u8)})[fg.outputs[0]]
    return float(np.mean(logits.reshape(len(y), -1).argmax(1) == y))


def run_demo(epochs: int = DEFAULT_EPOCHS, lr: float = DEFAULT_LR, scheme=None,
             storage: str = "int8", qas: bool = True, seed: int = 0, progress: bool = True,
             json_path: str | None = None, echo=print) -> dict:
    from .data.default_model import (DEFAULT_INPUT_Q, digits_task, load_default_float_graph,
                                     to_float_input)
    from .quant.quantize import quantize_model

    check_range("--epochs", epochs, 1, integer=True)
    check_range("--lr", lr, 0, lo_open=True)
    if json_path:
        check_json_output(json_path)
    t0 = time.time()
    task = digits_task()
    fg = load_default_float_graph()
    qg = quantize_model(fg, to_float_input(task["pretrain_x"]), DEFAULT_INPUT_Q)
    n_layers = len(find_layers(qg))
    scheme = scheme if scheme is not None else default_scheme(n_layers)
    cfg = TrainConfig(scheme=scheme, storage=storage, lr=lr, qas=qas, seed=seed)
    tr = ReferenceTrainer(make_training_graph(qg, cfg))
    up_x, up_y = task["upright_test_x"], task["upright_test_y"]
    tx, ty = images_to_int8(task["test_x"]), task["test_y"]
    res = dict(
        float_upright=_float_accuracy(fg, up_x, up_y, to_float_input),
        int8_upright=tr.evaluate(images_to_int8(up_x), up_y),
        before=tr.evaluate(tx, ty))
    echo(f"default model: {n_layers} conv/linear layers, int8; adaptation data: "
         f"{len(task['adapt_x'])} rotated digits, held-out test: {len(ty)}")
    echo(f"scheme: {json.dumps(tr.t['scheme'])}  storage: {storage}  QAS: {'on' if qas else 'off'}")
    hist = tr.fit(images_to_int8(task["adapt_x"]), task["adapt_y"], epochs=epochs, seed=seed,
                  progress=progress, eval_data=(tx, ty))
    for h in hist:
        echo(f"  epoch {h['epoch']}: loss {h['loss']:.3f}  train acc {h['train_acc']:.3f}  "
             f"held-out acc {h['test_acc']:.3f}")
    res.update(after=hist[-1]["test_acc"], epochs=epochs, lr=lr, history=hist,
               trained_bytes=int(sum(v.nbytes for v in tr.state.values())),
               seconds=round(time.time() - t0, 1), config=cfg.to_json())
    echo("")
    echo(f"{'accuracy':<44}{'value':>8}")
    echo(f"{'float model, upright held-out digits':<44}{res['float_upright']:>8.3f}")
    echo(f"{'int8 model, upright held-out digits':<44}{res['int8_upright']:>8.3f}")
    echo(f"{'int8 model, rotated held-out, BEFORE':<44}{res['before']:>8.3f}")
    echo(f"{'int8 model, rotated held-out, AFTER':<44}{res['after']:>8.3f}")
    if json_path:
        _write_json(json_path, res)
    return res


def check_json_output(path) -> None:
    """--json PATH: new, or a results file an earlier demo wrote (anything else is refused)."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--json {path}: is a folder; give a file name")
    above = next(a for a in p.absolute().parents if a.exists())
    if not above.is_dir():
        raise UsageError(f"--json {path}: {above} is a file, not a folder")
    if p.exists():
        try:
            ours = json.loads(p.read_text()).get("written_by") == WRITTEN_BY
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise UsageError(f"--json {path}: exists and is not a result file of mcutrain demo; "
                             "give a new file name")


def _write_json(path: str, obj) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, json.dumps(dict(obj, written_by=WRITTEN_BY), indent=2))
