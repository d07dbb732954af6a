"""`mcutrain predict`: the (trained) compiled model's outputs on DATA's test split, or all of DATA.

predictions.npz holds one row per sample:
    output   the model's output as the source model defines it: for a .tflite ending in
             SOFTMAX the int8 softmax of the int8 logits, as TFLite Micro computes it (op
             softmax_s8, bit-exact with it); otherwise the int8 logits (float logits for a
             fresh float head, or, for a .tflite ending in SOFTMAX, its float softmax
             quantized like TFLite's int8 softmax output: round(256 p) - 128); a .tflite
             ending in DEQUANTIZE: that output as float32, (q - z) * s
    logits   float32, the last layer before any softmax (int8 logits as s (q - z))
    label    int64, argmax of the logits (what `eval` scores)
    error    float64, for a model compiled with --loss mse (an autoencoder): the reconstruction
             error of each sample, mean over the outputs of (output - input)^2 in real values
and `split` ("test" or "train": which part of DATA was run).

The logits come from the generated C built for the host (the deployed code), or, for a graph
the C cannot run yet, from the reference interpreter (predict_reference).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifacts import input_q
from ..data.datasets import load_dataset, to_int8_hwc
from ..errors import InputError, UsageError
from ..outdir import atomic_write, check_our_output, check_output_file

FORMAT = "mcutrain predictions 1"  # the __format__ entry that marks a predictions file as ours


def outputs_from_logits(tg, logits) -> dict:
    """output, logits (float32) and label of a training graph's logits (rows of int8 as the graph
    computes them, or float32 as the C's mct_logits returns them)."""
    t = tg.meta["train"]
    lv = tg.values[t["logits"]]
    z = np.asarray(logits).reshape(len(logits), -1)
    sm = (tg.meta.get("tflite") or {}).get("output", {}).get("softmax")
    if lv.dtype != "i8":
        f = z.astype(np.float32)
        out = f if sm is None else _dequantized(tg, _softmax_q(f))
        return dict(output=out, logits=f, label=f.argmax(1).astype(np.int64))
    s, zp = np.float32(lv.q.s), int(lv.q.zero_point)
    if z.dtype == np.int8:
        q = z
    else:  # mct_logits: s * (q - z) in float32, inverted exactly
        q = np.clip(np.rint(z.astype(np.float64) / float(s)) + zp, -128, 127).astype(np.int8)
    f = (s * (q.astype(np.float32) - np.float32(zp))).astype(np.float32)
    out = q
    if sm is not None:
        from ..ops.registry import get_op

        attrs = {k: sm[k] for k in ("input_multiplier", "input_left_shift", "diff_min")}
        out = get_op("softmax_s8").ref([q], attrs)[0]
    return dict(output=_dequantized(tg, out), logits=f, label=f.argmax(1).astype(np.int64))


def _dequantized(tg, out: np.ndarray) -> np.ndarray:
    """A .tflite ending in DEQUANTIZE returns floats: (float)(q - z) * s, as TFLite Micro."""
    dq = (tg.meta.get("tflite") or {}).get("output", {}).get("dequantize")
    if dq is None or out.dtype != np.int8:
        return out
    s, z = np.float32(dq["scale"][0]), np.int32(dq["zero"][0])
    return (out.astype(np.int32) - z).astype(np.float32) * s


def _softmax_q(f: np.ndarray) -> np.ndarray:
    e = np.exp(f.astype(np.float64) - f.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return np.clip(np.rint(p * 256.0) - 128, -128, 127).astype(np.int8)


def predict_reference(tg, params: dict | None, x_ir: np.ndarray, batch: int = 64) -> dict:
    """outputs_from_logits of the reference interpreter's forward pass (x_ir: the graph's
    input layout, batch first; params: trained values by name, None for the compiled ones)."""
    from ..ref.interp import run

    t = tg.meta["train"]
    state = {k: v for k, v in (params or {}).items() if k in tg.values}
    outs = [run(tg, {t["input"]: x_ir[i:i + batch]}, state, outputs=[t["logits"]])[t["logits"]]
            for i in range(0, len(x_ir), batch)]
    return outputs_from_logits(tg, np.concatenate(outs))


def is_our_predictions(path) -> bool:
    try:
        with np.load(path, allow_pickle=False) as z:
            return "__format__" in z.files and str(z["__format__"]) == FORMAT
    except Exception:
        return False


def load_training_graph(out: Path):
    from ..ops.verify import load_graph

    p = Path(out) / "train_graph.npz"
    if not p.is_file():
        raise InputError(f"{out}: not a complete compile output (no train_graph.npz): compile again")
    return load_graph(p)


def predict_model(out_dir, data, dest=None, echo=print) -> dict:
    """Write predictions.npz (default OUT/predictions.npz) for DATA's test split, or all of DATA
    when it has none; returns the arrays and where they went."""
    from .host import is_mse, open_model, reconstruction_errors

    out = check_our_output(out_dir)
    dest = Path(dest) if dest is not None else out / "predictions.npz"
    if dest.parent.resolve() != out.resolve() or dest.name != "predictions.npz":
        check_output_file(dest, "predictions file", is_our_predictions)
    tg = load_training_graph(out)
    cm = open_model(out)
    ds = load_dataset(data, cm.input_hwc, input_q(cm.report), labels=not is_mse(cm))
    split = "test" if "x_test" in ds else "train"
    x = to_int8_hwc(ds[f"x_{split}"])
    if len(x) == 0:
        raise UsageError(f"dataset {data}: x_{split} holds no samples")
    logits = np.stack([cm.forward(x[i]) for i in range(len(x))])
    res = outputs_from_logits(tg, logits)
    if is_mse(cm):
        res["error"] = reconstruction_errors(cm, x)
    arrays = dict(res, split=np.array(split), __format__=np.array(FORMAT))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(dest, write)
    echo(f"wrote {dest}: {len(x)} {split} samples (output {res['output'].dtype} "
         f"{list(res['output'].shape[1:])}, logits, label{', error' if 'error' in res else ''})")
    return dict(res, split=split, path=str(dest))
