"""The built-in default: a small CNN pretrained on upright handwritten digits, and the
"new data the device sees": the same kind of digits from a sensor mounted sideways.

    task = digits_task()          # uint8 NHWC [N, 8, 8, 1] images, int64 labels
    g = load_default_float_graph()        # float Graph, input %x f32 [1, 1, 8, 8]
    x = to_float_input(task["test_x"])    # f32 NCHW in [0, 1]
    q = DEFAULT_INPUT_Q                   # int8 input = pixel - 128

Data: scikit-learn's bundled load_digits() (1,797 real 8x8 digits, values 0..16, mapped to
0..255 by round(v * 255 / 16)). A fixed seeded permutation splits it:
    pretrain_x/_y      50 %, upright: what the shipped model was trained on
    adapt_x/_y         60 % of the rest, every image rotated 90 degrees (counter-clockwise)
    test_x/_y          the other 40 % of the rest, rotated the same way
    upright_test_x/_y  all of the rest (adapt + test images), upright: held-out digits in the
                       pretraining orientation, to measure the model (and forgetting)
The model file mcutrain/data/default_digits.npz is written by tools/pretrain_default.py.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import MissingDependency
from ..ir.dtype import QParams

MODEL_PATH = Path(__file__).with_name("default_digits.npz")
INPUT_SHAPE = (1, 1, 8, 8)
NUM_CLASSES = 10
SEED = 0
DEFAULT_INPUT_Q = QParams.tensor(1.0 / 255.0, -128)  # int8 = pixel - 128


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingDependency("the default digits task needs scikit-learn "
                                "(pip install 'mcutrain[demo]')") from e
    d = load_digits()
    x = np.rint(d.images.astype(np.float64) * 255.0 / 16.0).astype(np.uint8)
    return x[..., None], d.target.astype(np.int64)


def rotate90(x: np.ndarray) -> np.ndarray:
    """Rotate NHWC images by 90 degrees counter-clockwise."""
    return np.ascontiguousarray(np.rot90(x, k=1, axes=(1, 2)))


def digits_task() -> dict:
    """The default task's splits (fresh copies; deterministic)."""
    x, y = _digits()
    perm = np.random.default_rng(SEED).permutation(len(x))
    half = len(x) // 2
    pre, rest = perm[:half], perm[half:]
    n_adapt = int(round(0.6 * len(rest)))
    adapt, test = rest[:n_adapt], rest[n_adapt:]
    return {
        "pretrain_x": x[pre].copy(), "pretrain_y": y[pre].copy(),
        "adapt_x": rotate90(x[adapt]), "adapt_y": y[adapt].copy(),
        "test_x": rotate90(x[test]), "test_y": y[test].copy(),
        "upright_test_x": x[rest].copy(), "upright_test_y": y[rest].copy(),
    }


def to_float_input(x_uint8) -> np.ndarray:
    """uint8 NHWC images -> float32 NCHW in [0, 1] (x / 255): the float model's input."""
    x = np.asarray(x_uint8)
    if x.ndim != 4:
        raise ValueError(f"expected NHWC images [N, H, W, C], got shape {list(x.shape)}")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0))


def to_int8_input(x_uint8) -> np.ndarray:
    """uint8 NHWC images -> int8 NCHW with DEFAULT_INPUT_Q (pixel - 128)."""
    from .arrays import images_to_int8

    return images_to_int8(x_uint8)


def load_default_float_graph():
    """The shipped pretrained float Graph (needs NumPy only)."""
    from ..ops.verify import load_graph

    if not MODEL_PATH.exists():
        raise FileNotFoundError(f"{MODEL_PATH} is missing: run tools/pretrain_default.py")
    return load_graph(MODEL_PATH)
