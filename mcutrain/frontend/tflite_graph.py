"""The walk over a .tflite graph building the int8 IR (frontend/tflite.py reads the file; the
per-op mappings are in frontend/tflite_ops.py).

Each TFLite builtin's Prepare is redone here as TFLite Micro does it:
    conv / FC:  M[c] = (double) s_x * s_w[c] / s_y  -> quantize_multiplier (round half away)
    add:        left shift 20; inputs rescaled by s_i / (2 max(s_1, s_2)); output by
                2 max(s_1, s_2) / (2^20 s_y)
    fused act:  RELU -> [max(-128, z_y), 127]; RELU6 -> up to z_y + round(6 / s_y) (float32)
    SAME pad:   out = ceil(in / s); total = max((out - 1) s + k - in, 0); before = total // 2,
                the odd cell after (symmetric -> the conv's own padding; else a `pad` node)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..ir.dtype import I8, QParams
from ..ir.graph import Graph
from ..ir.serialize import one_line
from ..ops import gemmlowp as gl
from ..ops.avgpool import mean_params
from ..ops.builder import GraphBuilder
from ..ops.verify import verify
from .tflite import SUPPORTED, Tensor, TfliteError, TfliteModel

ACTS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
ADD_LEFT_SHIFT = 20
SHORT = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dw", "FULLY_CONNECTED": "fc", "ADD": "add",
         "AVERAGE_POOL_2D": "avgpool", "MAX_POOL_2D": "maxpool", "MEAN": "mean", "PAD": "pad",
         "PADV2": "pad", "RESHAPE": "reshape", "SQUEEZE": "reshape", "SOFTMAX": "probs"}


def _f32(v) -> float:
    """A scale as TFLite stores it (float32), widened exactly to double."""
    return float(np.float32(v))


def _round_away(v: float) -> int:
    return int(np.sign(v) * np.floor(abs(v) + 0.5))


def same_pads(size: int, k: int, s: int, padding: int) -> tuple[int, int]:
    """(before, after) padding of one axis: padding 0 = SAME, 1 = VALID."""
    if s < 1 or k < 1:
        raise ValueError(f"stride {s} and window {k} must be >= 1")
    if padding == 1:
        return 0, 0
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Converter:
    def __init__(self, model: TfliteModel, name: str):
        self.m, self.name, self.where = model, name, model.where
        self.gb = GraphBuilder()
        self.env: dict = {}  # tflite tensor index -> IR value name
        self.trace: list = []  # [op index, op name, IR value]
        self.skip: set = set()  # op indices handled as graph edges
        self.softmax = None
        self.params: dict = {}  # IR param -> where it came from in the file
        self.folded: dict = {}  # PAD output tensor -> (its input value, pads) for the next conv
        self.consumers: dict = {}  # tensor index -> indices of the operators reading it
        for k, op in enumerate(model.ops):
            for t in (op.inputs if op.inputs is not None else []):
                self.consumers.setdefault(int(t), []).append(k)

    # -- errors and checks --------------------------------------------------------------------
    def fail(self, i: int, op: str, msg: str):
        raise TfliteError(f"{self.where}: operator {i} ({op}): {msg}")

    def act_tensor(self, i: int, op: str, t: Tensor):
        """An activation must be int8 with per-tensor quantization."""
        if t.dtype == "float32":
            self.fail(i, op, f"tensor {t.name!r} is float32: this is a float model; mcutrain "
                      "needs a full-integer int8 model (TFLite converter with int8 quantization)")
        if t.dtype == "uint8":
            self.fail(i, op, f"tensor {t.name!r} is uint8: only signed int8 models are "
                      "supported (re-convert with int8 inputs and outputs)")
        if t.dtype != "int8":
            self.fail(i, op, f"tensor {t.name!r} is {t.dtype}: only int8 activations are supported")
        if len(t.scale) != 1:
            self.fail(i, op, f"tensor {t.name!r} needs one scale and zero point")
        if not np.isfinite(t.scale[0]) or t.scale[0] <= 0:
            self.fail(i, op, f"tensor {t.name!r} has scale {t.scale[0]}")

    def value(self, i: int, op: str, ti: int) -> str:
        t = self.m.tensor(ti)
        self.act_tensor(i, op, t)
        if ti not in self.env:
            self.fail(i, op, f"input tensor {t.name!r} is not computed by an earlier operator")
        return self.env[ti]

    def act_range(self, i, op, fused: int, y: Tensor) -> tuple[int, int]:
        s, z = _f32(y.scale[0]), y.zero[0]
        kind = ACTS.get(int(fused), f"activation {fused}")
        if kind == "NONE":
            return -128, 127
        if kind == "RELU":
            return max(-128, z), 127
        if kind == "RELU6":
            return max(-128, z), min(127, z + _round_away(float(np.float32(6.0) / np.float32(s))))
        if kind == "RELU_N1_TO_1":
            lo = z + _round_away(float(np.float32(-1.0) / np.float32(s)))
            return max(-128, lo), min(127, z + _round_away(float(np.float32(1.0) / np.float32(s))))
        self.fail(i, op, f"fused activation {kind} is not supported (NONE, RELU, RELU6, "
                  "RELU_N1_TO_1 are)")

    def out(self, i: int, op: str, ti: int, name: str):
        t = self.m.tensor(ti)
        self.act_tensor(i, op, t)
        v = self.gb.value(name)
        want = ir_shape(t.shape)
        if tuple(v.shape[1:]) != want[1:]:
            self.fail(i, op, f"computed shape {list(v.shape)} differs from the file's "
                      f"{list(t.shape)}")
        self.env[ti] = name
        self.trace.append([i, op, name])

    # -- the walk -----------------------------------------------------------------------------
    def run(self) -> Graph:
        m = self.m
        if len(m.inputs) != 1 or len(m.outputs) != 1:
            raise TfliteError(f"{self.where}: {len(m.inputs)} inputs and {len(m.outputs)} "
                              "outputs; only models with one input and one output are supported")
        x_t, quant = self.graph_input()
        out_t, dequant = self.graph_output()
        from .tflite_ops import MAPPERS

        for i, op in enumerate(m.ops):
            if i in self.skip:
                continue
            name = m.op_name(op)
            if name not in SUPPORTED or name in ("QUANTIZE", "DEQUANTIZE"):
                where = ("only at the model's input and output" if name in ("QUANTIZE", "DEQUANTIZE")
                         else "not supported")
                self.fail(i, name, f"{where}; supported operators: {', '.join(SUPPORTED)} "
                          "(QUANTIZE/DEQUANTIZE at the edges, SOFTMAX last)")
            try:
                MAPPERS[name](self, i, name, op)
            except (IndexError, AttributeError, TypeError, KeyError) as e:  # a mangled file
                self.fail(i, name, f"malformed operator ({type(e).__name__}: {one_line(e)})")
        return self.finish(x_t, quant, out_t, dequant)

    def graph_input(self):
        """The IR input: the file's int8 input, or the int8 output of an entry QUANTIZE."""
        m = self.m
        ti, quant = m.inputs[0], None
        t = m.tensor(ti)
        if t.dtype == "float32":
            users = [(i, op) for i, op in enumerate(m.ops) if ti in list(op.inputs)]
            if len(users) == 1 and m.op_name(users[0][1]) == "QUANTIZE":
                i, op = users[0]
                quant = dict(scale=t.scale, zero=t.zero)
                self.skip.add(i)
                ti = int(op.outputs[0])
                t = m.tensor(ti)
            else:
                self.fail(0, m.op_name(m.ops[0]) if m.ops else "none", "the model's input is "
                          "float32: this is a float model; mcutrain needs a full-integer int8 "
                          "model (TFLite converter with int8 quantization)")
        head = f"{self.where}: the model's input tensor {t.name!r} is {t.dtype}"
        if t.dtype == "uint8":
            raise TfliteError(f"{head}: only signed int8 models are supported (re-convert "
                              "with int8 inputs and outputs)")
        if t.dtype != "int8":
            raise TfliteError(f"{head}: only int8 (or float32 quantized on entry) is supported")
        self.act_tensor(0, "input", t)
        self.env[ti] = self.gb.input("x", ir_shape((1,) + t.shape[1:]), I8,
                                     QParams.tensor(t.scale[0], t.zero[0]))
        return t, quant

    def graph_output(self):
        m = self.m
        ti = m.outputs[0]
        prod = {int(o): i for i, op in enumerate(m.ops) for o in op.outputs}
        if ti not in prod:
            raise TfliteError(f"{self.where}: the model's output is not computed by any operator")
        i = prod[ti]
        dequant = None
        if m.op_name(m.ops[i]) == "DEQUANTIZE":
            t = m.tensor(int(m.ops[i].inputs[0]))
            dequant = dict(scale=t.scale, zero=t.zero)
            self.skip.add(i)
            ti = t.index
        return m.tensor(ti), dequant

    def finish(self, x_t, quant, out_t, dequant) -> Graph:
        gb = self.gb
        result = self.env.get(out_t.index)
        if result is None:
            raise TfliteError(f"{self.where}: the model's output tensor {out_t.name!r} is not "
                              "computed")
        logits = self.softmax["input"] if self.softmax else result
        gb.meta.update(name=self.name, tflite=dict(
            source=Path(self.where).name, operators=self.trace, params=self.params,
            input=dict(tensor=x_t.index, shape=list(x_t.shape), scale=x_t.scale[0],
                       zero=x_t.zero[0], nhwc=len(x_t.shape) == 4, quantize=quant),
            output=dict(tensor=out_t.index, value=result, shape=list(out_t.shape),
                        scale=out_t.scale[0], zero=out_t.zero[0], nhwc=len(out_t.shape) == 4,
                        softmax=self.softmax, dequantize=dequant)))
        if len(x_t.shape) == 4:
            gb.meta["input_hw"] = [x_t.shape[1], x_t.shape[2]]
            if x_t.zero[0] == -128 and _f32(x_t.scale[0]) in (1.0, _f32(1 / 255)):
                gb.meta["input_transform"] = "pixel-128"  # real = pixel or pixel / 255
        return verify(gb.build(outputs=[logits]))


def ir_shape(shape) -> tuple:
    """NHWC -> NCHW for rank 4; other ranks as they are (batch 1)."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 4:
        n, h, w, c = shape
        return (1, c, h, w)
    return (1,) + shape[1:]


def multipliers(x_scale: float, w_scales, y_scale: float) -> tuple[tuple, tuple]:
    """Per-channel (mult, shift): M[c] = s_x * s_w[c] / s_y in double from float32 scales."""
    mults, shifts = [], []
    for sw in w_scales:
        q, e = gl.quantize_multiplier(_f32(x_scale) * _f32(sw) / _f32(y_scale))
        mults.append(q)
        shifts.append(e)
    return tuple(mults), tuple(shifts)


def add_params(s1: float, s2: float, s_out: float) -> dict:
    """TFLite Micro's ADD Prepare: the three (mult, shift) pairs and the left shift."""
    twice_max = 2.0 * max(_f32(s1), _f32(s2))
    m1, e1 = gl.quantize_multiplier(_f32(s1) / twice_max)
    m2, e2 = gl.quantize_multiplier(_f32(s2) / twice_max)
    mo, eo = gl.quantize_multiplier(twice_max / float(np.float32((1 << ADD_LEFT_SHIFT) * _f32(s_out))))
    return dict(left_shift=ADD_LEFT_SHIFT, x_mult=m1, x_shift=e1, y_mult=m2, y_shift=e2,
                out_mult=mo, out_shift=eo)


def mean_attrs(x: Tensor, y: Tensor, count: int) -> dict:
    p = mean_params(_f32(x.scale[0]), _f32(y.scale[0]), count)
    return dict(x_zero=x.zero[0], y_scale=y.scale[0], y_zero=y.zero[0], **p)

