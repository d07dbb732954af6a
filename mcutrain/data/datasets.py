"""Datasets for `mcutrain train/eval/plan`: a .npz (x_train, y_train[, x_test, y_test]) or a
folder of images with one subfolder per class; images resized to the model's input."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MissingDependency, UsageError
from ..ir.serialize import one_line
from .arrays import DataError, load_npz, quantize_input

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".webp")


def resize_bilinear(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """uint8 N x H x W x C -> N x h x w x C, bilinear (align_corners=False), rounded."""
    n, H, W, c = x.shape
    if (H, W) == (h, w):
        return x
    ys = (np.arange(h) + 0.5) * H / h - 0.5
    xs = (np.arange(w) + 0.5) * W / w - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, H - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, W - 1)
    y1, x1 = np.minimum(y0 + 1, H - 1), np.minimum(x0 + 1, W - 1)
    wy = np.clip(ys - y0, 0, 1)[None, :, None, None]
    wx = np.clip(xs - x0, 0, 1)[None, None, :, None]
    f = x.astype(np.float32)
    top = f[:, y0][:, :, x0] * (1 - wx) + f[:, y0][:, :, x1] * wx
    bot = f[:, y1][:, :, x0] * (1 - wx) + f[:, y1][:, :, x1] * wx
    return np.clip(np.rint(top * (1 - wy) + bot * wy), 0, 255).astype(np.uint8)


def fit_channels(x: np.ndarray, c: int) -> np.ndarray:
    if x.shape[-1] == c:
        return x
    if x.shape[-1] == 1:
        return np.repeat(x, c, axis=-1)
    if c == 1 and x.shape[-1] in (3, 4):
        lum = x[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(np.rint(lum), 0, 255).astype(np.uint8)[..., None]
    raise DataError(f"images have {x.shape[-1]} channels, the model takes {c}")


def _load_folder(path: Path) -> dict:
    """One subfolder per class (sorted names: labels 0, 1, ...), images resized to the first
    one's size. The layout is checked before Pillow is needed."""
    try:  # hidden folders (.ipynb_checkpoints, .git) are not classes
        classes = sorted(p.name for p in path.iterdir() if p.is_dir() and p.name[0] != ".")
    except OSError as e:
        raise DataError(f"dataset {path}: cannot list it ({one_line(e.strerror or e)})") from None
    if not classes:
        raise DataError(f"dataset {path} has no class subfolders (one folder per class)")
    files = [(k, f) for k, cls in enumerate(classes) for f in _images_in(path / cls)]
    if not files:
        raise DataError(f"dataset {path}: no images ({', '.join(IMAGE_SUFFIXES)}) found in its "
                        "class subfolders")
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependency("reading an image folder needs Pillow "
                                "(pip install pillow)") from None
    xs, size = [], None
    for _, f in files:
        img = _read_image(Image, f)
        size = size or img.shape[:2]
        if img.shape[:2] != size:
            img = resize_bilinear(img[None], *size)[0]
        xs.append(img)
    return {"x_train": np.stack(xs), "y_train": np.asarray([k for k, _ in files], np.int64),
            "classes": classes}


def _images_in(folder: Path) -> list:
    try:
        return [f for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    except OSError as e:
        raise DataError(f"dataset folder {folder}: cannot list it "
                        f"({one_line(e.strerror or e)})") from None


def _read_image(Image, f: Path) -> np.ndarray:
    """RGB uint8 H x W x 3. Pillow raises many kinds on a bad file (OSError, SyntaxError,
    ValueError, DecompressionBombError, ...): any of them means the image cannot be used."""
    try:
        with Image.open(f) as im:
            img = np.asarray(im.convert("RGB"))
    except MemoryError:
        raise DataError(f"image {f} does not fit in memory") from None
    except Exception as e:
        raise DataError(f"cannot read image {f}: {one_line(e)}") from None
    if img.ndim != 3 or 0 in img.shape:
        raise DataError(f"image {f} is empty ({list(img.shape)})")
    return img


def load_dataset(path, input_hwc=None, input_q=None, labels: bool = True) -> dict:
    """Load a dataset and bring it to the model's input, H x W x C: uint8 images resized
    (still uint8: pixel - 128 is to_int8_hwc's), int8 model inputs as they are, float
    inputs quantized with input_q = (scale, zero_point), the model's input quantization.
    labels=False: a .npz may lack y_train / y_test (a reconstruction loss; zeros then)."""
    p = Path(path)
    if p.is_dir():
        data = _load_folder(p)
    elif p.suffix.lower() == ".npz":
        data = load_npz(p, labels)
    elif not p.exists():
        raise UsageError(f"dataset {path}: no such file or folder")
    else:
        raise UsageError(f"dataset {path}: expected a .npz file or a folder of class subfolders")
    if input_hwc is not None:
        for split in ("train", "test"):
            if f"x_{split}" in data:
                try:
                    data[f"x_{split}"] = _fit_input(data[f"x_{split}"], input_hwc, input_q)
                except DataError as e:
                    raise DataError(f"dataset {path}: x_{split}: {e}") from None
    return data


def _fit_input(x: np.ndarray, hwc, q) -> np.ndarray:
    """One split's x at the model's input (see load_dataset)."""
    h, w, c = hwc
    if x.dtype == np.uint8:
        x = x[..., None] if x.ndim == 3 else x
        try:
            return fit_channels(resize_bilinear(x, h, w), c)
        except DataError as e:
            first = " (channels first? give N x H x W x C)" if x.shape[1] == c else ""
            raise DataError(f"{e}{first}") from None
    fits = [(h, w, c)] + ([(h, w)] if c == 1 else []) + ([(c,)] if h == w == 1 else [])
    if tuple(x.shape[1:]) not in fits:
        want = " or ".join("N x " + " x ".join(map(str, f)) for f in fits)
        first = " (channels first? give N x H x W x C)" if tuple(x.shape[1:]) == (c, h, w) else ""
        raise DataError(f"{x.dtype} model inputs of shape {list(x.shape)} do not fit the "
                        f"model's input: expected {want}{first}")
    x = x.reshape(len(x), h, w, c)
    if x.dtype == np.int8:
        return x
    if q is None:
        raise DataError("float inputs need the model's input scale and zero point, which "
                        "this output does not record: compile again")
    return quantize_input(x, *q)


def to_int8_hwc(x: np.ndarray) -> np.ndarray:
    """uint8 N x H x W x C -> int8 pixel - 128, still HWC (what the generated C takes);
    int8 model inputs are returned as they are."""
    if x.dtype == np.int8:
        return x
    return (x.astype(np.int16) - 128).astype(np.int8)
