"""Image arrays to model inputs, and .npz datasets (x_train, y_train[, x_test, y_test])."""
from __future__ import annotations

import numpy as np


class DataError(ValueError):
    pass


def images_to_int8(x) -> np.ndarray:
    """uint8 images N x H x W x C -> int8 N x C x H x W holding pixel - 128 (the models'
    input convention: a real input of scale s and zero point z maps pixel p to q = p - 128)."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise DataError(f"images must be uint8 N x H x W x C, got {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DataError(f"images must be N x H x W x C, got shape {list(x.shape)}")
    return np.ascontiguousarray((x.astype(np.int16) - 128).astype(np.int8).transpose(0, 3, 1, 2))


def _labels(y, n, name) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise DataError(f"{name} contains NaN or Inf")
        if not np.all(y == np.round(y)):
            raise DataError(f"{name} must hold integer class labels")
    if y.shape != (n,):
        raise DataError(f"{name} has shape {list(y.shape)}, expected [{n}]")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DataError(f"{name} has negative labels")
    return y


def load_npz(path) -> dict:
    """Load and check a dataset file; returns x_train, y_train and (if present) x_test, y_test."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files if k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read dataset {path}: {e}") from None
    for k in ("x_train", "y_train"):
        if k not in data:
            raise DataError(f"dataset {path} has no {k!r} (needs x_train, y_train[, x_test, y_test])")
    if ("x_test" in data) != ("y_test" in data):
        raise DataError(f"dataset {path}: x_test and y_test must come together")
    out = {}
    for split in ("train", "test"):
        if f"x_{split}" not in data:
            continue
        x = data[f"x_{split}"]
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            raise DataError(f"x_{split} contains NaN or Inf")
        if x.dtype != np.uint8:
            raise DataError(f"x_{split} must be uint8 images, got {x.dtype}")
        out[f"x_{split}"] = x
        out[f"y_{split}"] = _labels(data[f"y_{split}"], len(x), f"y_{split}")
    return out
