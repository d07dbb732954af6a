"""`mcutrain train` / `mcutrain eval`: the compiled C, built for the host, as the trainer."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..artifacts import PARAMS_FILE, input_q, read_params, write_params
from ..data.datasets import load_dataset, to_int8_hwc
from ..errors import DivergedError, check_range
from ..outdir import atomic_write_text, check_our_output
from ..progress import bar as progress_bar
from ..targets.host import CompiledModel
from .common import check_labels, diverged_message

def open_model(out_dir) -> CompiledModel:
    """The compiled model with its last trained parameters (params.npz) loaded, if any."""
    cm = CompiledModel(check_our_output(out_dir))
    p = Path(out_dir) / PARAMS_FILE
    if p.exists():
        params, step = read_params(p, cm.params_layout)
        cm.set_params(params)
        cm.step = step
    return cm


def save_params(cm: CompiledModel, out_dir) -> Path:
    return write_params(out_dir, cm.get_params(), cm.step)


def evaluate(cm: CompiledModel, x_u8: np.ndarray, y: np.ndarray) -> float:
    xi = to_int8_hwc(x_u8)
    correct = sum(int(np.argmax(cm.forward(xi[i])) == y[i]) for i in range(len(xi)))
    return correct / max(1, len(xi))


def is_mse(cm: CompiledModel) -> bool:
    """Compiled with the reconstruction loss (--loss mse, an autoencoder): no labels, and the
    figure of merit is the reconstruction error, not an accuracy."""
    return cm.report.get("loss") == "mse"


def reconstruction_errors(cm: CompiledModel, x: np.ndarray) -> np.ndarray:
    """Per sample: mean over the outputs of (output - input)^2, both as real values (the
    output dequantized by the C, the input (q - z) s), the quantity --loss mse trains."""
    xi = to_int8_hwc(x)
    s, z = input_q(cm.report)
    real = (xi.reshape(len(xi), -1).astype(np.float64) - z) * s
    return np.array([np.mean((cm.forward(xi[i]).astype(np.float64) - real[i]) ** 2)
                     for i in range(len(xi))])


def _score(cm, x, y) -> dict:
    """test_acc, or test_error (mean reconstruction error) for an MSE model."""
    if is_mse(cm):
        return {"test_error": float(np.mean(reconstruction_errors(cm, x)))}
    return {"test_acc": evaluate(cm, x, y)}


def train_model(out_dir, data, epochs: int = 1, lr: float | None = None, seed: int = 0,
                progress: bool = True, echo=print, limit: int | None = None) -> dict:
    """Train the compiled model on DATA; saves params.npz and train_log.json into out_dir.

    The divergence guard (runtime guard.c) watches every step's loss: when it turns
    non-finite or explodes, training stops, the parameters of the last complete epoch (or
    those it started from) are kept and saved, and DivergedError says so."""
    cm = open_model(out_dir)
    mse = is_mse(cm)
    ds = load_dataset(data, cm.input_hwc, input_q(cm.report), labels=not mse)
    x, y = ds["x_train"], ds["y_train"]
    if limit:
        x, y = x[:limit], y[:limit]
    has_test = "x_test" in ds
    if not mse:
        check_labels(y, cm.classes, "y_train", data)
        if has_test:
            check_labels(ds["y_test"], cm.classes, "y_test", data)
    if lr is not None:
        cm.lr = check_range("--lr", lr, 0, lo_open=True)
    xi = to_int8_hwc(x)
    rng = np.random.default_rng(seed)
    log = dict(model=cm.report.get("model"), scheme=cm.report.get("scheme"), lr=cm.lr,
               epochs=[], samples=len(x))
    guard = cm.guard()
    good = (cm.get_params(), cm.step, 0)  # the last good parameters: step, epoch
    for ep in range(1, epochs + 1):
        order = rng.permutation(len(x))
        rec, diverged = _host_epoch(cm, xi, y, order, guard, ep, epochs, progress)
        if diverged is not None:
            cm.set_params(good[0])
            cm.step = good[1]
            return _stop_diverged(out_dir, cm, log, diverged, good[2], echo)
        if has_test:
            rec.update(_score(cm, ds["x_test"], ds["y_test"]))
        if mse:
            del rec["train_acc"]
        log["epochs"].append(rec)
        echo(f"epoch {ep}: loss {rec['loss']:.4f}" + "".join(
            f"  {k.replace('_', ' ')} {rec[k]:.4g}" for k in ("train_acc", "test_acc", "test_error")
            if k in rec) + f"  ({rec['steps_per_second']} steps/s)")
        good = (cm.get_params(), cm.step, ep)
    save_params(cm, out_dir)
    atomic_write_text(Path(out_dir) / "train_log.json", json.dumps(log, indent=1))
    return log


def _host_epoch(cm, xi, y, order, guard, ep, epochs, progress):
    """One epoch of steps in `order`: (record, None), or (None, what diverged)."""
    bar = progress_bar(order, desc=f"epoch {ep}/{epochs}", leave=False, enabled=progress)
    t0, losses, correct = time.time(), [], 0
    try:
        for k, i in enumerate(bar):
            loss = cm.train_step(xi[i], int(y[i]))
            why = guard.step(loss)
            if why:
                return None, dict(step=cm.step, epoch=ep, loss=float(loss), reason=why)
            losses.append(loss)
            correct += int(np.argmax(cm.logits()) == y[i])
            if k % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    finally:
        bar.close()
    dt = max(time.time() - t0, 1e-9)
    return dict(epoch=ep, loss=float(np.mean(losses)), train_acc=correct / len(order),
                seconds=round(dt, 2), steps_per_second=round(len(order) / dt, 1)), None


def _stop_diverged(out_dir, cm, log, d: dict, good_epoch: int, echo):
    """Save the last good parameters and the log, then raise DivergedError."""
    kept = f"epoch {good_epoch}" if good_epoch else "the start of this run"
    log["diverged"] = dict(d, kept=kept)
    if good_epoch:
        save_params(cm, out_dir)
    atomic_write_text(Path(out_dir) / "train_log.json", json.dumps(log, indent=1))
    raise DivergedError(diverged_message(d, cm.lr, kept))


def eval_model(out_dir, data, echo=print) -> dict:
    """Accuracy of the (trained) compiled model on DATA's test split, or all of DATA; for an
    MSE model the reconstruction error, its mean and per sample."""
    cm = open_model(out_dir)
    ds = load_dataset(data, cm.input_hwc, input_q(cm.report), labels=not is_mse(cm))
    split = "test" if "x_test" in ds else "train"
    x, y = ds[f"x_{split}"], ds[f"y_{split}"]
    if is_mse(cm):
        err = reconstruction_errors(cm, x)
        res = dict(reconstruction_error=float(np.mean(err)), errors=[float(e) for e in err],
                   split=split, samples=int(len(x)), step=cm.step)
        atomic_write_text(Path(out_dir) / "eval.json", json.dumps(res, indent=1))
        echo(f"reconstruction error (mean squared, per sample) on {len(x)} {split} samples: "
             f"mean {np.mean(err):.4g}, median {np.median(err):.4g}, max {np.max(err):.4g}")
        return res
    check_labels(y, cm.classes, f"y_{split}", data)
    acc = evaluate(cm, x, y)
    res = dict(accuracy=acc, split=split, samples=int(len(x)), step=cm.step)
    atomic_write_text(Path(out_dir) / "eval.json", json.dumps(res, indent=1))
    echo(f"accuracy on {len(x)} {split} images: {acc:.4f}")
    return res
