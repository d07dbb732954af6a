"""`mcutrain train` / `mcutrain eval`: the compiled C, built for the host, as the trainer."""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .data.datasets import load_dataset, to_int8_hwc
from .targets.host import CompiledModel

PARAMS_FILE = "params.npz"


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def open_model(out_dir) -> CompiledModel:
    """The compiled model with its last trained parameters (params.npz) loaded, if any."""
    cm = CompiledModel(out_dir)
    p = Path(out_dir) / PARAMS_FILE
    if p.exists():
        with np.load(p, allow_pickle=False) as f:
            cm.set_params({k: f[k] for k in f.files if not k.startswith("__")})
            if "__step__" in f.files:
                cm.step = int(f["__step__"])
    return cm


def save_params(cm: CompiledModel, out_dir) -> Path:
    path = Path(out_dir) / PARAMS_FILE
    params = cm.get_params()
    params["__step__"] = np.asarray(cm.step)
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **params)

    _atomic_write(path, write)
    return path


def _check_labels(y, classes: int, what: str):
    if len(y) and (y.max() >= classes):
        raise ValueError(f"{what} has label {int(y.max())} but the model has {classes} classes "
                         "(compile with --classes N for a new head)")


def evaluate(cm: CompiledModel, x_u8: np.ndarray, y: np.ndarray) -> float:
    xi = to_int8_hwc(x_u8)
    correct = sum(int(np.argmax(cm.forward(xi[i])) == y[i]) for i in range(len(xi)))
    return correct / max(1, len(xi))


def train_model(out_dir, data, epochs: int = 1, lr: float | None = None, seed: int = 0,
                progress: bool = True, echo=print, limit: int | None = None) -> dict:
    """Train the compiled model on DATA; saves params.npz and train_log.json into out_dir."""
    cm = open_model(out_dir)
    ds = load_dataset(data, cm.input_hwc)
    x, y = ds["x_train"], ds["y_train"]
    if limit:
        x, y = x[:limit], y[:limit]
    _check_labels(y, cm.classes, "training data")
    has_test = "x_test" in ds
    if has_test:
        _check_labels(ds["y_test"], cm.classes, "test data")
    if lr is not None:
        cm.lr = lr
    xi = to_int8_hwc(x)
    rng = np.random.default_rng(seed)
    log = dict(model=cm.report.get("model"), scheme=cm.report.get("scheme"), lr=cm.lr,
               epochs=[], samples=len(x))
    for ep in range(1, epochs + 1):
        order = rng.permutation(len(x))
        it = order
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(order, desc=f"epoch {ep}/{epochs}", leave=False)
            it = bar
        t0, losses, correct = time.time(), [], 0
        for k, i in enumerate(it):
            loss = cm.train_step(xi[i], int(y[i]))
            if not np.isfinite(loss):
                raise FloatingPointError(f"loss became {loss} at step {cm.step}: lower --lr")
            losses.append(loss)
            correct += int(np.argmax(cm.logits()) == y[i])
            if bar is not None and k % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        rec = dict(epoch=ep, loss=float(np.mean(losses)), train_acc=correct / len(x),
                   seconds=round(time.time() - t0, 2),
                   steps_per_second=round(len(x) / max(time.time() - t0, 1e-9), 1))
        if has_test:
            rec["test_acc"] = evaluate(cm, ds["x_test"], ds["y_test"])
        log["epochs"].append(rec)
        extra = f"  test acc {rec['test_acc']:.3f}" if has_test else ""
        echo(f"epoch {ep}: loss {rec['loss']:.4f}  train acc {rec['train_acc']:.3f}{extra}  "
             f"({rec['steps_per_second']} steps/s)")
    save_params(cm, out_dir)
    out = Path(out_dir) / "train_log.json"
    _atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(log, indent=1)))
    return log


def eval_model(out_dir, data, echo=print) -> dict:
    """Accuracy of the (trained) compiled model on DATA's test split, or all of DATA."""
    cm = open_model(out_dir)
    ds = load_dataset(data, cm.input_hwc)
    split = "test" if "x_test" in ds else "train"
    x, y = ds[f"x_{split}"], ds[f"y_{split}"]
    _check_labels(y, cm.classes, f"{split} data")
    acc = evaluate(cm, x, y)
    res = dict(accuracy=acc, split=split, samples=int(len(x)), step=cm.step)
    out = Path(out_dir) / "eval.json"
    _atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(res, indent=1)))
    echo(f"accuracy on {len(x)} {split} images: {acc:.4f}")
    return res
