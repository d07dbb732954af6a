"""Image arrays to model inputs, and .npz datasets (x_train, y_train[, x_test, y_test]): x
uint8 images, or int8 / float model inputs."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..ir.serialize import read_npz

SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_LABEL = 1 << 16  # a head of more classes is absurd on a microcontroller (cli: --classes)


class DataError(InputError):
    pass


def images_to_int8(x) -> np.ndarray:
    """Model inputs N x H x W x C -> int8 N x C x H x W: uint8 images become pixel - 128 (the
    models' input convention: a real input of scale s and zero point z maps pixel p to
    q = p - 128); int8 inputs (already the model's quantized input) are only transposed."""
    x = np.asarray(x)
    if x.dtype not in (np.uint8, np.int8):
        raise DataError(f"images must be uint8 (or int8 model inputs) N x H x W x C, got {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DataError(f"images must be N x H x W x C, got shape {list(x.shape)}")
    q = x if x.dtype == np.int8 else (x.astype(np.int16) - 128).astype(np.int8)
    return np.ascontiguousarray(q.transpose(0, 3, 1, 2))


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Real values -> the model's int8 input, as TFLite's QUANTIZE does it:
    q = clamp(round(x / scale) + zero_point, -128, 127), ties away from zero."""
    v = np.asarray(x, np.float64) / float(scale)
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.clip(r + int(zero_point), -128, 127).astype(np.int8)


def check_x(x: np.ndarray, name: str) -> np.ndarray:
    """uint8 images (N x H x W x C or N x H x W), or int8 / float model inputs (N x the
    model's input: checked against the model when it is known, datasets.load_dataset)."""
    if x.dtype == np.uint8:
        return check_images(x, name)
    if x.dtype != np.int8 and x.dtype.kind != "f":
        raise DataError(f"{name} must be uint8 images N x H x W x C, or int8 / float model "
                        f"inputs N x (the model's input), got {x.dtype}")
    if x.ndim < 2:
        raise DataError(f"{name} must be N x (the model's input), got shape {list(x.shape)}")
    if x.shape[0] == 0:
        raise DataError(f"{name} holds no samples (shape {list(x.shape)})")
    if 0 in x.shape[1:]:
        raise DataError(f"{name}: samples of shape {list(x.shape[1:])} are empty")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise DataError(f"{name} contains NaN or Inf")
    return x


def check_images(x: np.ndarray, name: str) -> np.ndarray:
    """uint8 N x H x W x C (or N x H x W, one channel) with N, H, W, C >= 1."""
    if x.dtype != np.uint8:
        raise DataError(f"{name} must be uint8 images N x H x W x C, got {x.dtype}")
    if x.ndim not in (3, 4):
        raise DataError(f"{name} must be N x H x W x C (or N x H x W), got shape {list(x.shape)}")
    if x.shape[0] == 0:
        raise DataError(f"{name} holds no images (shape {list(x.shape)})")
    if 0 in x.shape[1:]:
        raise DataError(f"{name}: images of shape {list(x.shape[1:])} are empty")
    return x


def check_labels(y: np.ndarray, n: int, name: str) -> np.ndarray:
    """One integer class index per image, in 0..MAX_LABEL-1 -> int64."""
    y = np.asarray(y)
    if y.dtype.kind not in "iuf":
        raise DataError(f"{name} must hold integer class labels, got {y.dtype}")
    if y.shape != (n,):
        hint = " (one-hot? give class indices)" if y.ndim == 2 and y.shape[0] == n else ""
        raise DataError(f"{name} has shape {list(y.shape)}, expected [{n}]: one class index "
                        f"per image{hint}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise DataError(f"{name} contains NaN or Inf")
        if not np.all(y == np.round(y)):
            raise DataError(f"{name} must hold integer class labels (it has fractions)")
    if n and y.min() < 0:
        raise DataError(f"{name} has negative labels ({y.min()})")
    if n and y.max() >= MAX_LABEL:
        raise DataError(f"{name} has label {y.max()}: class indices 0..{MAX_LABEL - 1} expected")
    return y.astype(np.int64)


def load_npz(path, labels: bool = True) -> dict:
    """Load and check a dataset file; returns x_train, y_train and (if present) x_test, y_test.
    Any bad file raises DataError naming it (UsageError when the path does not exist).
    labels=False (a reconstruction loss): y_train / y_test may be absent; they are then zeros."""
    shown = f"dataset {path}"
    data = read_npz(path, "dataset", keys=SPLIT_KEYS + ("__format__",))
    if "__format__" in data:
        raise DataError(f"{shown} is a saved model graph, not a dataset (x_train, y_train)")
    if not labels:
        for split in ("train", "test"):
            if f"x_{split}" in data and f"y_{split}" not in data:
                data = dict(data, **{f"y_{split}": np.zeros(len(data[f"x_{split}"]), np.int64)})
    for k in ("x_train", "y_train"):
        if k not in data:
            raise DataError(f"{shown} has no {k!r} (needs x_train, y_train[, x_test, y_test])")
    if ("x_test" in data) != ("y_test" in data):
        raise DataError(f"{shown}: x_test and y_test must come together")
    out = {}
    for split in ("train", "test"):
        if f"x_{split}" not in data:
            continue
        try:
            x = check_x(data[f"x_{split}"], f"x_{split}")
            out[f"x_{split}"] = x
            out[f"y_{split}"] = check_labels(data[f"y_{split}"], len(x), f"y_{split}")
        except DataError as e:
            raise DataError(f"{shown}: {e}") from None
    kinds = {_kind(out[k].dtype) for k in ("x_train", "x_test") if k in out}
    if len(kinds) > 1:
        raise DataError(f"{shown}: x_train and x_test must be of one kind (uint8 images, int8 "
                        f"or float model inputs), got {' and '.join(sorted(kinds))}")
    return out


def _kind(dt) -> str:
    return "uint8" if dt == np.uint8 else "int8" if dt == np.int8 else "float"
