"""Full-integer int8 TensorFlow Lite models (.tflite) -> our int8 IR, bit-exact with TFLite Micro.

The file carries its own quantization, so nothing is calibrated: every scale, zero point and
int8 weight is taken as it is, and each op's Prepare work (multipliers, shifts, padding) is done
here the way TFLite Micro's kernels do it. Requantizations use TFLite Micro's arithmetic
(attrs rounding="tflm", ops/gemmlowp.py), which differs by one on some outputs from the
single rounding of the project's own graphs.

Layout: the file is NHWC, the IR NCHW. A rank-4 tensor [N, H, W, C] becomes [N, C, H, W]
(conv weights [O, kh, kw, I] -> [O, I, kh, kw]; depthwise [1, kh, kw, C*m] -> [C*m, 1, kh, kw]);
tensors of other ranks keep their order. The graph's one output is the logits (the input of a
final SOFTMAX): the SOFTMAX stays as an inference-only node `softmax_s8` after them, named in
meta["tflite"]["output"]["value"] (what TFLite Micro returns). QUANTIZE / DEQUANTIZE are
accepted at the edges only (a float input quantized on entry, a float output on exit).

The schema comes from the tflite-micro package (its object API reads and writes a .tflite),
imported only here and only when a .tflite is read: `pip install mcutrain[tflite]`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDependency
from ..ir.graph import Graph
from ..ir.serialize import one_line, open_error

MAX_FILE_BYTES = 64 << 20  # a microcontroller model is far smaller
SUPPORTED = ("ADD", "AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
             "FULLY_CONNECTED", "MAX_POOL_2D", "MEAN", "PAD", "PADV2", "QUANTIZE", "RESHAPE",
             "SOFTMAX", "SQUEEZE")
TYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool",
              7: "int16", 9: "int8", 10: "float64", 17: "int4"}
NP_TYPES = {"int8": np.int8, "int32": np.int32, "uint8": np.uint8, "float32": np.float32,
            "int16": np.int16, "int64": np.int64}


class TfliteError(InputError):
    """A .tflite file we cannot read or do not support (the message names the file and op)."""


def schema(where: str = "a .tflite model"):
    """The flatbuffer schema module of the tflite-micro package (imported lazily)."""
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated
    except ImportError:
        raise MissingDependency(f"reading {where} needs the tflite-micro package: "
                                "pip install mcutrain[tflite]") from None
    return schema_py_generated


@dataclass(frozen=True)
class Tensor:
    """One tensor of the file: index, name, shape (NHWC as stored), type name, quantization."""

    index: int
    name: str
    shape: tuple
    dtype: str
    scale: tuple  # () when unquantized
    zero: tuple
    axis: int
    data: np.ndarray | None  # constant data, typed and shaped; None for activations

    @property
    def quantized(self) -> bool:
        return len(self.scale) > 0


class TfliteModel:
    """A read-only view of a .tflite flatbuffer (one subgraph)."""

    def __init__(self, buf: bytes, where: str):
        self.where, self.buf = where, buf
        if len(buf) < 8 or buf[4:8] != b"TFL3":
            raise TfliteError(f"{where}: not a TFLite flatbuffer (no TFL3 identifier)")
        s = schema(where)
        try:
            self.m = s.ModelT.InitFromPackedBuf(buf, 0)
        except Exception as e:  # a truncated or mangled buffer: the flatbuffer reader's error
            raise TfliteError(f"{where}: corrupt TFLite flatbuffer ({type(e).__name__}: "
                              f"{one_line(e)})") from None
        subs = self.m.subgraphs or []
        if len(subs) != 1:
            raise TfliteError(f"{where}: {len(subs)} subgraphs; only single-subgraph models "
                              "are supported (no control flow)")
        self.g = subs[0]
        self.op_names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
        self.ops = list(self.g.operators or [])
        self.inputs = [int(i) for i in (self.g.inputs if self.g.inputs is not None else [])]
        self.outputs = [int(i) for i in (self.g.outputs if self.g.outputs is not None else [])]
        self._tensors: dict = {}

    def op_name(self, op) -> str:
        codes = self.m.operatorCodes or []
        if not 0 <= op.opcodeIndex < len(codes):
            raise TfliteError(f"{self.where}: operator code index {op.opcodeIndex} out of range")
        oc = codes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        name = self.op_names.get(code, f"builtin {code}")
        if name == "CUSTOM":
            cc = oc.customCode.decode() if isinstance(oc.customCode, bytes) else oc.customCode
            return f"CUSTOM({cc})"
        return name

    def tensor(self, i: int) -> Tensor:
        if i in self._tensors:
            return self._tensors[i]
        ts = self.g.tensors or []
        if not 0 <= i < len(ts):
            raise TfliteError(f"{self.where}: tensor index {i} out of range")
        t = ts[i]
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        dtype = TYPE_NAMES.get(int(t.type), f"type {t.type}")
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        q = t.quantization
        scale = tuple(float(v) for v in q.scale) if q is not None and q.scale is not None else ()
        zero = tuple(int(v) for v in q.zeroPoint) if scale and q.zeroPoint is not None else ()
        axis = int(q.quantizedDimension) if scale else 0
        out = Tensor(i, name, shape, dtype, scale, zero or (0,) * len(scale), axis,
                     self._data(t, dtype, shape, name))
        self._tensors[i] = out
        return out

    def _data(self, t, dtype, shape, name):
        bufs = self.m.buffers or []
        if not 0 <= t.buffer < len(bufs):
            raise TfliteError(f"{self.where}: tensor {name!r} names buffer {t.buffer}, out of range")
        b = bufs[t.buffer]
        if b.offset is not None and b.offset > 1:  # data stored after the flatbuffer
            raw = np.frombuffer(self.buf[b.offset:b.offset + b.size], np.uint8)
        elif b.data is not None and len(b.data):
            raw = np.asarray(b.data, np.uint8)
        else:
            return None
        if dtype not in NP_TYPES:
            raise TfliteError(f"{self.where}: constant tensor {name!r} of type {dtype}")
        arr = np.frombuffer(raw.tobytes(), NP_TYPES[dtype])
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise TfliteError(f"{self.where}: tensor {name!r}: {arr.size} values for shape "
                              f"{list(shape)}")
        return arr.reshape(shape)


def read_tflite(path) -> TfliteModel:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TfliteError(f"{path}: {size} bytes, more than the {MAX_FILE_BYTES} allowed")
        buf = path.read_bytes()
    except OSError as e:
        raise open_error(path, "TFLite model", e) from None
    return TfliteModel(buf, str(path))


def load_tflite(path, name: str | None = None) -> Graph:
    """The int8 IR graph of a .tflite file (see the module docstring)."""
    model = read_tflite(path)
    return tflite_to_graph(model, name or Path(path).stem)


def tflite_to_graph(model: TfliteModel, name: str = "tflite") -> Graph:
    from .tflite_graph import Converter

    try:
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return Converter(model, name).run()
    except TfliteError:
        raise
    except (ValueError, ArithmeticError) as e:  # a shape rule or a multiplier refused it
        raise TfliteError(f"{model.where}: {one_line(e)}") from None


# ---- feeding the graph what TFLite Micro is fed, and reading back what it returns -----------

def quantize_input(g: Graph, x) -> np.ndarray:
    """A float input of a model that quantizes on entry -> int8, as its QUANTIZE does:
    q = clamp(round_half_away(x / s) + z) with the division in float32."""
    q = g.meta["tflite"]["input"]
    scale, zero = np.float32(q["scale"]), int(q["zero"])
    r = np.asarray(x, np.float32) / scale
    r = np.sign(r) * np.floor(np.abs(r) + np.float32(0.5))  # std::round on the float32 ratio
    return np.clip(r.astype(np.int64) + zero, -128, 127).astype(np.int8)


def to_ir_input(g: Graph, x: np.ndarray) -> np.ndarray:
    """The file's input layout (NHWC for images) -> the graph's (NCHW). int8 as it is; a float
    input (a model that quantizes on entry) is quantized first (quantize_input)."""
    x = np.asarray(x)
    if x.dtype.kind == "f" and g.meta["tflite"]["input"]["quantize"]:
        x = quantize_input(g, x)
    if x.ndim == 4 and g.meta["tflite"]["input"]["nhwc"]:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x


def from_ir_output(g: Graph, y: np.ndarray) -> np.ndarray:
    """The graph's output layout -> the file's (NCHW -> NHWC for rank 4)."""
    if y.ndim == 4 and g.meta["tflite"]["output"]["nhwc"]:
        return np.ascontiguousarray(y.transpose(0, 2, 3, 1))
    return y


def run_like_tflm(g: Graph, x: np.ndarray) -> np.ndarray:
    """What TFLite Micro returns for input x (file layout), computed by the reference
    interpreter: the softmax output when the model ends in SOFTMAX, else the logits."""
    from ..ref.interp import run

    out = g.meta["tflite"]["output"]["value"]
    y = run(g, {g.inputs[0]: to_ir_input(g, x)}, outputs=[out])[out]
    return from_ir_output(g, y)
