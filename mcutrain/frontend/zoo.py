"""The int8 model zoo (mcunet-5fps, mbv2-w0.35, proxyless-w0.3 from mit-han-lab/tiny-training).

A zoo file is a zip whose member `archive/data.pkl` is one pickle of a dict of plain Python
values and NumPy arrays (format and exact semantics: ../shared/models/README.md, docs/zoo.md):

    first_conv, blocks[i].{pointwise1, depthwise, pointwise2, residual}, classifier
    conv:  y = clamp(round((conv(x - x_zero, w) + bias) * eff) + y_zero),
           eff = x_scale * w_scales / y_scale, zero padding (k-1)//2 AFTER subtracting x_zero
    add:   out = clamp(round((s_x (x - z_x) + s_z (z - z_z)) / s_out) + z_out)

`load_zoo_dict` unpickles it with an allow-list of exactly four globals (never plain
pickle.load); `zoo_to_graph` builds our int8 IR (conv2d with integer mult/shift, add,
global_avgpool, reshape); `zoo_reference_forward` is an independent NumPy implementation of
the README semantics with the float `eff`, to check the graph against.
"""
from __future__ import annotations

import codecs
import io
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np

from ..ir.dtype import I8, I32, QParams
from ..ir.graph import Graph
from ..ops.builder import GraphBuilder
from ..ops.elementwise import int_add_attrs
from ..ops.fixedpoint import INT32_MAX, INT32_MIN, multiplier_value, quantize_multiplier
from ..errors import InputError
from ..ir.serialize import one_line, open_error

PICKLE_MEMBER = "archive/data.pkl"
MAX_PICKLE_BYTES = 256 << 20  # refuse (zip-bombed) members above 256 MiB uncompressed
MAX_SIDE = 4096  # in_shape / out_shape: far above any microcontroller's input
ALLOWED_GLOBALS = ("numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype",
                   "_codecs.encode")
BLOCK_CONVS = ("pointwise1", "depthwise", "pointwise2")
INPUT_TRANSFORM = "pixel-128"  # int8 input = uint8 pixel - 128 (RGB), x_scale = 1/127.5


class ZooFormatError(InputError):
    """A zoo file or dict that is unsafe, malformed or outside the supported format."""


# ---- safe loading ------------------------------------------------------------------------

def _reconstruct():
    if int(np.__version__.split(".")[0]) >= 2:
        from numpy._core.multiarray import _reconstruct as fn
    else:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def _latin1_encode(text, encoding="latin1"):
    """_codecs.encode as protocol-2 pickles use it for bytes: str -> latin-1 bytes only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ZooFormatError(f"_codecs.encode called with {type(text).__name__}, {encoding!r}")
    return codecs.encode(text, "latin1")


class _ZooUnpickler(pickle.Unpickler):
    """Resolves exactly the globals of ALLOWED_GLOBALS; refuses everything else."""

    def find_class(self, module, name):
        full = f"{module}.{name}"
        # the NumPy 2 spelling of the same function (a file re-saved under NumPy 2)
        if full in ("numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"):
            return _reconstruct()
        if full == "numpy.ndarray":
            return np.ndarray
        if full == "numpy.dtype":
            return np.dtype
        if full == "_codecs.encode":
            return _latin1_encode
        raise ZooFormatError(f"refused global {full!r}: a zoo pickle may only name "
                             f"{', '.join(ALLOWED_GLOBALS)}")

    def persistent_load(self, pid):
        raise ZooFormatError("refused persistent id (a torch tensor storage?): the zoo format "
                             "holds only plain Python values and NumPy arrays")


def load_zoo_dict(path) -> dict:
    """Read a zoo file safely; returns its dict (structure checked by check_zoo_dict)."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except OSError as e:
        raise open_error(path, "zoo file", e) from None
    except Exception as e:  # BadZipFile, or whatever a mangled zip directory makes zipfile raise
        raise ZooFormatError(f"{path}: not a zoo file, or a truncated one (not a zip archive: "
                             f"{one_line(e)})") from None
    with zf:
        data = _read_pickle_member(zf, path)
    try:
        model = _ZooUnpickler(io.BytesIO(data)).load()
    except ZooFormatError as e:
        raise ZooFormatError(f"{path}: {e}") from None
    except Exception as e:  # truncated or corrupt pickle: only allow-listed code ran
        raise ZooFormatError(f"{path}: corrupt pickle in {PICKLE_MEMBER}: "
                             f"{type(e).__name__}: {one_line(e)}") from None
    check_zoo_dict(model, str(path))
    return model


def _read_pickle_member(zf: zipfile.ZipFile, path: Path) -> bytes:
    try:
        info = zf.getinfo(PICKLE_MEMBER)
    except KeyError:
        raise ZooFormatError(f"{path}: no member {PICKLE_MEMBER!r} (members: "
                             f"{one_line(zf.namelist()[:8])})") from None
    if info.file_size > MAX_PICKLE_BYTES:
        raise ZooFormatError(f"{path}: {PICKLE_MEMBER} is {info.file_size} bytes, "
                             f"more than the {MAX_PICKLE_BYTES} allowed")
    try:
        return zf.read(info)
    except Exception as e:  # bad CRC, zlib.error, EOFError, unsupported compression, ...
        raise ZooFormatError(f"{path}: corrupt zip member {PICKLE_MEMBER} "
                             f"({type(e).__name__}: {one_line(e)})") from None


# ---- structure check -----------------------------------------------------------------------

def _fail(where, msg):
    raise ZooFormatError(one_line(f"{where}: {msg}", 300))  # msg may show a file's array


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
    if not (_is_int(v) or isinstance(v, (float, np.floating))):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond float range
        return False


def _check_keys(d, keys, where):
    if not isinstance(d, dict):
        _fail(where, f"expected a dict, got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    if missing:
        _fail(where, f"missing keys {missing}")


def _check_array(a, dtype, shape, where):
    if not isinstance(a, np.ndarray) or a.dtype != np.dtype(dtype):
        got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
        _fail(where, f"expected a {np.dtype(dtype)} array, got {got}")
    if a.shape != tuple(shape):
        _fail(where, f"shape {list(a.shape)} != expected {list(shape)}")


def _check_act_params(p, where):
    _check_keys(p, ("x_scale", "x_zero", "y_scale", "y_zero"), where)
    for k in ("x_scale", "y_scale"):
        if not _is_real(p[k]) or p[k] <= 0:
            _fail(where, f"{k} must be a finite real > 0, got {p[k]!r}")
    for k in ("x_zero", "y_zero"):
        if not _is_int(p[k]) or not -128 <= p[k] <= 127:
            _fail(where, f"{k} must be an int in [-128, 127], got {p[k]!r}")


def _check_conv(c, where):
    _check_keys(c, ("in_channel", "out_channel", "kernel_size", "stride", "groups", "params"),
                where)
    cin, cout, g, s = c["in_channel"], c["out_channel"], c["groups"], c["stride"]
    if not all(_is_int(v) and v > 0 for v in (cin, cout, g, s)):
        _fail(where, "in_channel, out_channel, groups and stride must be ints > 0")
    if cin % g or cout % g:
        _fail(where, f"groups {g} does not divide channels {cin} -> {cout}")
    k = c["kernel_size"]
    if (not isinstance(k, (tuple, list)) or len(k) != 2
            or not all(_is_int(v) and v > 0 and v % 2 == 1 for v in k)):
        _fail(where, f"kernel_size must be two odd ints > 0, got {k!r}")
    if c.get("act") is not None:
        _fail(where, f"act {one_line(repr(c['act']), 40)} is not supported (activations are "
                     "the clamp)")
    for key in ("in_shape", "out_shape"):
        v = c.get(key)
        if v is not None and not (_is_int(v) and 0 < v <= MAX_SIDE):
            _fail(where, f"{key} must be an int in 1..{MAX_SIDE}, got {one_line(repr(v), 40)}")
    p = c["params"]
    _check_keys(p, ("weight", "bias", "w_scales"), f"{where}.params")
    _check_act_params(p, f"{where}.params")
    _check_array(p["weight"], np.int8, (cout, cin // g, k[0], k[1]), f"{where}.weight")
    _check_array(p["bias"], np.int32, (cout,), f"{where}.bias")
    _check_array(p["w_scales"], np.float32, (cout,), f"{where}.w_scales")
    if not np.all(np.isfinite(p["w_scales"])) or np.any(p["w_scales"] <= 0):
        _fail(where, "w_scales must be finite and > 0")


def _check_block(b, where):
    _check_keys(b, BLOCK_CONVS + ("residual",), where)
    if b.get("se") is not None:
        _fail(where, "squeeze-excite (se) is not supported")
    if all(b[k] is None for k in BLOCK_CONVS):
        _fail(where, "block without any conv")
    for k in BLOCK_CONVS:
        if b[k] is not None:
            _check_conv(b[k], f"{where}.{k}")
    r = b["residual"]
    if r is not None:
        _check_keys(r, ("params",), f"{where}.residual")
        _check_act_params(r["params"], f"{where}.residual.params")
        if b["pointwise2"] is None:
            _fail(where, "a residual add needs a pointwise2 conv")


def check_zoo_dict(model, where: str = "zoo model") -> dict:
    """Raise ZooFormatError unless `model` has the zoo structure; return it unchanged."""
    _check_keys(model, ("first_conv", "blocks", "classifier"), where)
    if model.get("feature_mix") is not None:
        _fail(where, "feature_mix is not supported")
    _check_conv(model["first_conv"], f"{where}: first_conv")
    if not isinstance(model["blocks"], (list, tuple)):
        _fail(where, "blocks must be a list")
    for i, b in enumerate(model["blocks"]):
        _check_block(b, f"{where}: blocks.{i}")
    _check_conv(model["classifier"], f"{where}: classifier")
    if tuple(model["classifier"]["kernel_size"]) != (1, 1):
        _fail(where, "classifier must be a 1x1 conv")
    return model


def zoo_convs(model: dict) -> list:
    """[(layer name, conv dict)] in forward order, the classifier last (layer indices)."""
    out = [("first_conv", model["first_conv"])]
    for i, b in enumerate(model["blocks"]):
        out += [(f"blocks.{i}.{k}", b[k]) for k in BLOCK_CONVS if b[k] is not None]
    return out + [("classifier", model["classifier"])]


# ---- graph building ------------------------------------------------------------------------

def _check_q(q: QParams, scale, zero, where, what):
    """The qparams a layer expects of its input must be those its producer gives."""
    if q.zero_point != int(zero) or not math.isclose(q.s, float(scale), rel_tol=1e-9):
        raise ZooFormatError(f"{where}: {what} expects x_scale={float(scale):.9g}, "
                             f"x_zero={int(zero)} but its input has scale={q.s:.9g}, "
                             f"zero={q.zero_point}")


def _conv(gb: GraphBuilder, x: str, conv: dict, name: str, eff_dtype: str) -> str:
    p = conv["params"]
    xv = gb.value(x)
    _check_q(xv.q, p["x_scale"], p["x_zero"], name, "conv")
    if conv.get("in_shape") is not None and xv.shape[2:] != (conv["in_shape"],) * 2:
        raise ZooFormatError(f"{name}: input {list(xv.shape[2:])} != in_shape {conv['in_shape']}")
    x_scale, y_scale = float(p["x_scale"]), float(p["y_scale"])
    w_scales = p["w_scales"].astype(np.float64)
    eff = x_scale * w_scales / y_scale  # computed in float64 ...
    if eff_dtype == "float32":  # ... and stored as float32, as the zoo's own code does
        eff = eff.astype(np.float32).astype(np.float64)  # 24-bit mantissa: mult holds it exactly
    mult, shift = quantize_multiplier(eff)
    kh, kw = p["weight"].shape[2:]
    s = int(conv["stride"])
    attrs = dict(stride=(s, s), padding=((kh - 1) // 2, (kw - 1) // 2),
                 groups=int(conv["groups"]), x_zero=int(p["x_zero"]), y_scale=y_scale,
                 y_zero=int(p["y_zero"]), mult=tuple(int(m) for m in mult),
                 shift=tuple(int(v) for v in shift), act_min=-128, act_max=127)
    w = gb.param(f"{name}.w", p["weight"], I8, QParams.channel(w_scales))
    b = gb.param(f"{name}.b", p["bias"], I32, QParams.channel(x_scale * w_scales))
    try:
        y = gb.emit1("conv2d", [x, w, b], attrs, name=name)
    except ValueError as e:
        raise ZooFormatError(f"{name}: {e}") from None
    side = conv.get("out_shape")
    if side is not None and gb.value(y).shape[2:] != (side, side):
        raise ZooFormatError(f"{name}: output {list(gb.value(y).shape[2:])} != out_shape {side}")
    return y


def _block(gb: GraphBuilder, x: str, block: dict, name: str, eff_dtype: str) -> str:
    h = x
    for part in BLOCK_CONVS:
        if block[part] is not None:
            h = _conv(gb, h, block[part], f"{name}.{part}", eff_dtype)
    r = block["residual"]
    if r is None:
        return h
    rp = r["params"]
    xq, zq = gb.value(x).q, gb.value(h).q
    _check_q(xq, rp["x_scale"], rp["x_zero"], name, "residual add")
    if gb.value(x).shape != gb.value(h).shape:
        raise ZooFormatError(f"{name}: residual add of {list(gb.value(x).shape)} and "
                             f"{list(gb.value(h).shape)}")
    outq = QParams.tensor(rp["y_scale"], rp["y_zero"])
    return gb.emit1("add", [x, h], int_add_attrs(xq, zq, outq), name=f"{name}.add")


def zoo_to_graph(model: dict, name: str = "zoo", eff_dtype: str = "float32") -> Graph:
    """Our int8 IR graph of a zoo model: NCHW, batch 1, input %x = pixel - 128 (RGB).

    Each conv's requantization eff = x_scale * w_scales / y_scale is computed in float64;
    eff_dtype "float32" rounds it to float32 (the zoo's stored semantics) before
    quantize_multiplier, which then holds it exactly: the graph matches the float-eff
    reference bit for bit on real photos. "float64" quantizes the float64 eff: near-ties
    (x.5 +- a few 1e-6, common with these scales) round the other way and cascade (docs/zoo.md).
    """
    if eff_dtype not in ("float32", "float64"):
        raise ValueError(f"eff_dtype must be 'float32' or 'float64', got {eff_dtype!r}")
    check_zoo_dict(model, name)
    try:  # extreme scales overflow to inf / underflow to 0: refused below, no warning spam
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return _build_graph(model, name, eff_dtype)
    except ZooFormatError:
        raise
    except (ValueError, ArithmeticError) as e:  # scales that make no requantization, a shape
        raise ZooFormatError(f"{name}: {one_line(e)}") from None  # an op refuses, ...


def _build_graph(model: dict, name: str, eff_dtype: str) -> Graph:
    fc = model["first_conv"]
    side = 128 if fc.get("in_shape") is None else int(fc["in_shape"])
    gb = GraphBuilder()
    x = gb.input("x", (1, int(fc["in_channel"]), side, side), I8,
                 QParams.tensor(fc["params"]["x_scale"], fc["params"]["x_zero"]))
    h = _conv(gb, x, fc, "first_conv", eff_dtype)
    for i, block in enumerate(model["blocks"]):
        h = _block(gb, h, block, f"blocks.{i}", eff_dtype)
    h = gb.emit1("global_avgpool", [h], {}, name="pool")
    h = _conv(gb, h, model["classifier"], "classifier", eff_dtype)
    logits = gb.emit1("reshape", [h], dict(shape=(int(model["classifier"]["out_channel"]),)),
                      name="logits")
    gb.meta.update(name=name, input_hw=(side, side), input_transform=INPUT_TRANSFORM,
                   layers=tuple(n for n, _ in zoo_convs(model)), eff_dtype=eff_dtype)
    return gb.build(outputs=[logits])


def load_zoo(path, name: str | None = None, eff_dtype: str = "float32") -> Graph:
    """load_zoo_dict + zoo_to_graph; the graph is named after the file by default."""
    return zoo_to_graph(load_zoo_dict(path), name=name or Path(path).stem, eff_dtype=eff_dtype)


def images_to_input(images) -> np.ndarray:
    """uint8 RGB images [N, H, W, 3] (or one [H, W, 3]) -> int8 [N, 3, H, W] = pixel - 128."""
    a = np.asarray(images)
    if a.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB, got {a.dtype}")
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3], got {list(a.shape)}")
    q = (a.astype(np.int16) - 128).astype(np.int8)
    return np.ascontiguousarray(q.transpose(0, 3, 1, 2))


# ---- running the graph and ranking its logits -------------------------------------------------

def _classifier_node(g: Graph):
    prod = g.producer()
    node = g.nodes[prod[g.outputs[0]]]
    if node.op == "reshape":
        node = g.nodes[prod[node.inputs[0]]]
    if node.op != "conv2d" or g.values[node.outputs[0]].shape[2:] != (1, 1):
        raise ValueError("graph output is not a 1x1 conv2d classifier (+ reshape)")
    return node


def graph_logits(g: Graph, x: np.ndarray, chunk: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Run a zoo graph on int8 x [N,3,H,W] in chunks -> (int8 logits [N,K], scores [N,K]).

    scores are the integer graph's classifier values before rounding,
    (acc + bias) * mult * 2^(shift-31) + y_zero, used to break ties between equal int8
    logits (rounding and clamping are monotone, so ranking by (logit, score) is consistent).
    """
    from ..ref.interp import run

    node = _classifier_node(g)
    feat_name, a = node.inputs[0], node.attrs
    w = g.consts[node.inputs[1]].astype(np.int64)[:, :, 0, 0]
    bias = g.consts[node.inputs[2]].astype(np.int64)
    m = multiplier_value(a["mult"], a["shift"])
    logits, scores = [], []
    for i in range(0, len(x), chunk):
        env = run(g, {g.inputs[0]: x[i:i + chunk]}, outputs=(feat_name, g.outputs[0]))
        feat = env[feat_name].astype(np.int64)[:, :, 0, 0] - a["x_zero"]
        total = np.clip(feat @ w.T + bias, INT32_MIN, INT32_MAX)
        logits.append(env[g.outputs[0]].reshape(len(feat), -1))
        scores.append(total * m + a["y_zero"])
    return np.concatenate(logits), np.concatenate(scores)


def topk(logits: np.ndarray, scores: np.ndarray, k: int = 5) -> np.ndarray:
    """Class indices [N, k], best first: by int8 logit, ties broken by the pre-rounding score."""
    order = np.lexsort((scores, logits.astype(np.int64)), axis=-1)
    return order[:, ::-1][:, :k]


# ---- independent float-eff reference (README semantics, not our ops) -------------------------

def _ref_conv(x: np.ndarray, conv: dict, pre: list | None = None) -> np.ndarray:
    """One zoo conv on int8 x [N,C,H,W]: exact integer accumulation, float32 eff, np.round."""
    p = conv["params"]
    w = p["weight"].astype(np.float64)
    o, cg, kh, kw = w.shape
    s, groups = int(conv["stride"]), int(conv["groups"])
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xs = np.pad(x.astype(np.float64) - p["x_zero"], ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, hp, wp = xs.shape
    ho, wo = (hp - kh) // s + 1, (wp - kw) // s + 1
    og = o // groups
    acc = np.zeros((n, o, ho, wo))  # integers < 2^53: exact in float64
    for i in range(kh):
        for j in range(kw):
            tap = xs[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]
            if cg == 1 and og == 1:  # depthwise: channel c meets filter c
                acc += tap * w[None, :, 0, i, j, None, None]
                continue
            for g in range(groups):
                t = tap[:, g * cg:(g + 1) * cg].reshape(n, cg, ho * wo)
                acc[:, g * og:(g + 1) * og] += (w[g * og:(g + 1) * og, :, i, j] @ t).reshape(
                    n, og, ho, wo)
    total = acc.astype(np.int64) + p["bias"].astype(np.int64)[None, :, None, None]
    eff = (float(p["x_scale"]) * p["w_scales"].astype(np.float64)
           / float(p["y_scale"])).astype(np.float32)  # as stored by the original code
    y = total * eff.astype(np.float64)[None, :, None, None] + p["y_zero"]
    if pre is not None:
        pre.append(y)
    return np.clip(np.round(y), -128, 127).astype(np.int8)


def _ref_add(x, z, block):
    r, pw2 = block["residual"]["params"], block["pointwise2"]["params"]
    real = ((x.astype(np.float64) - r["x_zero"]) * r["x_scale"]
            + (z.astype(np.float64) - pw2["y_zero"]) * pw2["y_scale"])
    return np.clip(np.round(real / r["y_scale"]) + r["y_zero"], -128, 127).astype(np.int8)


def zoo_reference_forward(model: dict, x: np.ndarray, return_prerounding: bool = False,
                          trace: dict | None = None):
    """The README semantics with the float eff, in NumPy, independent of mcutrain.ops.

    x: int8 [N,3,H,W] (pixel - 128; int16 is accepted too, for the original pipeline's
    round(pixel - 127.5) in -128..128). Returns int8 logits [N,K]; with return_prerounding also
    the classifier values before rounding, (acc + bias) * eff + y_zero, float64 [N,K] (rank
    by these: the int8 logits can tie). `trace`, when a dict, receives every layer's int8
    output under the same names as the graph of zoo_to_graph.
    """
    x = np.asarray(x)
    if x.dtype not in (np.int8, np.int16) or x.ndim != 4:
        raise ValueError(f"x must be int8 [N,3,H,W], got {x.dtype} {list(x.shape)}")
    trace = {} if trace is None else trace
    h = trace["first_conv"] = _ref_conv(x, model["first_conv"])
    for i, block in enumerate(model["blocks"]):
        xin = h
        for part in BLOCK_CONVS:
            if block[part] is not None:
                h = trace[f"blocks.{i}.{part}"] = _ref_conv(h, block[part])
        if block["residual"] is not None:
            h = trace[f"blocks.{i}.add"] = _ref_add(xin, h, block)
    hw = h.shape[2] * h.shape[3]
    mean = h.astype(np.int64).sum(axis=(2, 3), keepdims=True) / hw  # exact where it is .5
    h = trace["pool"] = np.round(mean).astype(np.int8)
    pre: list = []
    h = trace["classifier"] = _ref_conv(h, model["classifier"], pre)
    logits = trace["logits"] = h.reshape(len(h), -1)
    if return_prerounding:
        return logits, pre[0].reshape(len(h), -1)
    return logits
