"""`export --format tflite`: the trained model as an int8 .tflite that TFLite Micro runs unchanged.

The source file (a compile output keeps it as source.tflite) is copied through the schema's
object API and only the trained tensors change, so every operator, option and quantization
parameter stays as it was:

- a trained int8 weight / int32 bias goes back in the file's layout (IR [O, I, kh, kw] ->
  OHWI, depthwise [C*m, 1, kh, kw] -> [1, kh, kw, C*m], FC [O, I] as it is); float masters
  (--storage fp32) as the device uses them, clamp(round_half_even(master)) (op round_master);
- a fresh float head (--classes N) becomes the FULLY_CONNECTED it replaced, quantized to int8:
  per-channel weights s_w[o] = max|w[o]| / 127, int32 bias at s_x * s_w[o], and an output
  scale calibrated on the training data as the TFLite converter does (the range of the head's
  outputs, widened to hold 0, over 255 steps); a SOFTMAX after it stays, with its own output
  quantization (1/256, -128), and every shape downstream gets N.

TFLite Micro then computes what the reference interpreter computes on the training graph, bit
for bit, when the original head trains (the requantization of every node was TFLite Micro's
to begin with). A "mcutrain" metadata entry marks the file as ours, so a later export may
replace it while a user's .tflite is never overwritten.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError

MARK = "mcutrain"  # the metadata entry naming an export of ours
ALIGN = 16  # buffer data aligned as the TFLite converter aligns it
HEAD_OPS = ("FULLY_CONNECTED",)


def _schema():
    from ..frontend.tflite import schema

    return schema("exporting a .tflite")


def trained_values(tg, params: dict | None) -> dict:
    """IR parameter -> the value the trained model uses (IR layout; a fresh head's float)."""
    params = params or {}
    out = {}
    for e in tg.meta["train"]["entries"]:
        src = e["source"]
        p = params.get(e["param"], tg.consts[e["param"]])
        if e["param"] == src:
            out[src] = np.asarray(p)
            continue
        from ..ops.registry import get_op  # an fp32 master: rounded as the forward rounds it

        attrs = dict(channels=e["selected"], axis=e["axis"])
        out[src] = get_op("round_master").ref([tg.consts[src], np.asarray(p, np.float32)], attrs)[0]
    return out


def file_layout(w: np.ndarray, layout: str) -> np.ndarray:
    """An IR weight in the file's layout (frontend/tflite_ops.py, read backwards)."""
    if layout == "OHWI":
        return w.transpose(0, 2, 3, 1)
    if layout == "1HWC":
        return w[:, 0].transpose(1, 2, 0)[None]
    return w


def _builder(size: int):
    """A flatbuffers.Builder whose byte vectors (buffer data) start on ALIGN bytes."""
    import flatbuffers

    class Aligned(flatbuffers.Builder):
        def CreateNumpyVector(self, x):
            if x.dtype != np.uint8 or x.ndim != 1:
                return super().CreateNumpyVector(x)
            self.StartVector(1, x.size, ALIGN)
            self.head = self.head - x.size
            self.Bytes[self.head:self.head + x.size] = x.tobytes()
            self.vectorNumElems = x.size
            return self.EndVector()

    return Aligned(size)


class FileEditor:
    """A .tflite's ModelT with the edits export makes."""

    def __init__(self, source: bytes, where: str = "source.tflite"):
        if len(source) < 8 or source[4:8] != b"TFL3":
            raise InputError(f"{where}: not a TFLite flatbuffer (no TFL3 identifier)")
        self.s, self.where = _schema(), where
        try:
            self.m = self.s.ModelT.InitFromPackedBuf(source, 0)
        except Exception as e:
            raise InputError(f"{where}: corrupt TFLite flatbuffer ({type(e).__name__})") from None
        for b in self.m.buffers or []:  # data stored after the flatbuffer: inline it
            if b.offset is not None and b.offset > 1:
                b.data = np.frombuffer(source[b.offset:b.offset + b.size], np.uint8).copy()
                b.offset, b.size = 0, 0
        self.sub = self.m.subgraphs[0]
        names = {v: k for k, v in vars(self.s.BuiltinOperator).items() if not k.startswith("_")}
        codes = self.m.operatorCodes
        self.op_names = [names.get(max(int(codes[op.opcodeIndex].builtinCode),
                                       int(codes[op.opcodeIndex].deprecatedBuiltinCode)), "?")
                         for op in self.sub.operators]

    def tensor(self, i: int):
        return self.sub.tensors[i]

    def set_data(self, ti: int, arr: np.ndarray, dtype) -> None:
        """Tensor ti's constant data := arr (its own buffer; a shared one is not touched)."""
        t = self.tensor(ti)
        shared = sum(1 for sg in self.m.subgraphs for u in sg.tensors if u.buffer == t.buffer)
        if t.buffer == 0 or shared > 1:
            self.m.buffers.append(self.s.BufferT())
            t.buffer = len(self.m.buffers) - 1
        data = np.ascontiguousarray(arr, dtype).reshape(-1)
        self.m.buffers[t.buffer].data = np.frombuffer(data.tobytes(), np.uint8).copy()

    def add_tensor(self, name: str, shape, ttype: int) -> int:
        t = self.s.TensorT()
        t.name, t.shape, t.type = name, list(shape), ttype
        self.m.buffers.append(self.s.BufferT())
        t.buffer = len(self.m.buffers) - 1
        self.sub.tensors.append(t)
        return len(self.sub.tensors) - 1

    def quantize(self, ti: int, scales, zeros, axis: int = 0) -> None:
        q = self.s.QuantizationParametersT()
        q.scale = [float(np.float32(v)) for v in scales]
        q.zeroPoint = [int(v) for v in zeros]
        q.quantizedDimension = int(axis)
        self.tensor(ti).quantization = q

    def set_shape(self, ti: int, shape) -> None:
        t = self.tensor(ti)
        t.shape = list(shape)
        if t.shapeSignature is not None and len(t.shapeSignature):
            t.shapeSignature = [d if i == 0 else s for i, (d, s) in
                                enumerate(zip(t.shapeSignature, shape))]

    def mark(self, info: dict) -> None:
        """The metadata entry that makes the file recognisably ours (replacing an older one)."""
        old = [md for md in (self.m.metadata or []) if _text(md.name) != MARK]
        self.m.buffers.append(self.s.BufferT())
        self.m.buffers[-1].data = np.frombuffer(json.dumps(info, sort_keys=True).encode(),
                                                np.uint8).copy()
        md = self.s.MetadataT()
        md.name, md.buffer = MARK, len(self.m.buffers) - 1
        self.m.metadata = old + [md]

    def pack(self) -> bytes:
        b = _builder(1 << 16)
        b.Finish(self.m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def _text(v) -> str:
    return v.decode(errors="replace") if isinstance(v, (bytes, bytearray)) else str(v)


def export_tflite(tg, params: dict | None, source: bytes, data_x=None,
                  where: str = "source.tflite", step: int = 0) -> bytes:
    """The trained model as .tflite bytes: `tg` the training graph (a compile output's
    train_graph.npz) built from `source` (the .tflite bytes), `params` the trained values by
    name (params.npz; None: the compiled ones). data_x: the training inputs as TFLite Micro
    takes them (int8, the file's layout, NHWC for images) to calibrate a fresh head's output
    scale; needed only then."""
    meta = tg.meta.get("tflite")
    if meta is None:
        raise UsageError("--format tflite: this compile output was not made from a .tflite "
                         "model (only a .tflite's graph and quantization can be written back)")
    ed = FileEditor(source, where)
    values = trained_values(tg, params)
    fresh = tg.meta.get("fresh_head")
    head = {fresh, f"{fresh[:-2]}.b"} if fresh else set()
    for name, arr in values.items():
        if name not in head:
            _write_param(ed, meta, tg, name, arr)
    info = dict(tool=MARK, format=1, source=meta.get("source"),
                trained=sorted(values), step=int(step))
    if fresh:
        info["head"] = _write_head(ed, tg, meta, values[fresh], values[f"{fresh[:-2]}.b"],
                                   data_x, params)
    ed.mark(info)
    return ed.pack()


def _write_param(ed: FileEditor, meta: dict, tg, name: str, arr: np.ndarray) -> None:
    where = meta["params"].get(name)
    if where is None:
        raise InputError(f"{ed.where}: the trained parameter {name} has no tensor in the file "
                         "(a training graph from another model?)")
    is_w = arr.dtype == np.int8
    ti = where["tensor"]
    if ti is None:  # a conv / FC without a bias whose new bias trained: give it one
        ti = _add_bias(ed, meta, tg, name)
    data = file_layout(arr, where["layout"]) if is_w else arr
    t = ed.tensor(ti)
    if tuple(t.shape) != data.shape:
        raise InputError(f"{ed.where}: tensor {ti} is {list(t.shape)} but the trained {name} is "
                         f"{list(data.shape)} (a training graph from another model?)")
    ed.set_data(ti, data, np.int8 if is_w else np.int32)


def _add_bias(ed: FileEditor, meta: dict, tg, name: str) -> int:
    w_t = meta["params"][f"{name[:-2]}.w"]["tensor"]
    ops = [op for op in ed.sub.operators if int(op.inputs[1]) == w_t]
    q = tg.values[name].q
    ti = ed.add_tensor(f"{name}.bias", [len(q.scale)], ed.s.TensorType.INT32)
    ed.quantize(ti, q.scale, [0] * len(q.scale))
    for op in ops:
        ins = [int(v) for v in op.inputs]
        op.inputs = (ins + [-1])[:2] + [ti] + ins[3:]
    return ti


def _head_op(ed: FileEditor, meta: dict) -> int:
    """The operator the fresh head replaces: the one computing the logits (SOFTMAX's input)."""
    out = meta["output"]
    ti = (int(ed.sub.operators[out["softmax"]["op"]].inputs[0]) if out.get("softmax")
          else out["tensor"])
    k = next(i for i, op in enumerate(ed.sub.operators) if ti in [int(v) for v in op.outputs])
    if ed.op_names[k] not in HEAD_OPS:
        raise InputError(f"{ed.where}: the classifier (operator {k}) is {ed.op_names[k]}; "
                         "exporting a new head needs a FULLY_CONNECTED classifier")
    return k


def head_features(tg, params: dict | None, x_ir: np.ndarray, batch: int = 64) -> np.ndarray:
    """The int8 features a fresh head reads (its dequantize's input) for inputs x_ir."""
    from ..ref.interp import run

    fresh = tg.meta["fresh_head"]
    lin = next(n for n in tg.nodes if n.op == "linear" and n.inputs[1] == fresh)
    prod, v = tg.producer(), lin.inputs[0]
    while tg.values[v].dtype != "i8":  # back through reshape / dequantize
        v = tg.nodes[prod[v]].inputs[0]
    state = {k: a for k, a in (params or {}).items() if k in tg.values}
    t_in = tg.meta["train"]["input"]
    outs = [run(tg, {t_in: x_ir[i:i + batch]}, state, outputs=[v])[v]
            for i in range(0, len(x_ir), batch)]
    return np.concatenate(outs).reshape(len(x_ir), -1)


def quantize_head(w, b, s_x: float, z_x: int, feats: np.ndarray) -> dict:
    """A float head y = W x + b on x = s_x (q - z_x) -> int8 per-channel weights, int32 bias and
    the output (scale, zero point) covering its range on `feats` (int8 [n, C])."""
    w, b = np.asarray(w, np.float64), np.asarray(b, np.float64)
    amax = np.abs(w).max(axis=1)
    s_w = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    w_q = np.clip(np.rint(w / s_w[:, None].astype(np.float64)), -127, 127).astype(np.int8)
    s_b = (np.float32(s_x) * s_w).astype(np.float32)
    b_q = np.clip(np.rint(b / s_b), -(2**31), 2**31 - 1).astype(np.int32)
    acc = (feats.astype(np.int64) - z_x) @ w_q.T.astype(np.int64) + b_q
    real = acc * s_b.astype(np.float64)
    lo, hi = min(0.0, float(real.min(initial=0.0))), max(0.0, float(real.max(initial=0.0)))
    s_y = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
    z_y = int(np.clip(np.rint(-128 - lo / float(s_y)), -128, 127))
    return dict(w=w_q, w_scale=s_w, b=b_q, b_scale=s_b, y_scale=float(s_y), y_zero=z_y)


def _write_head(ed: FileEditor, tg, meta: dict, w, b, data_x, params) -> dict:
    if data_x is None or len(data_x) == 0:
        raise UsageError("--data: a new head (--classes) is exported with an output scale "
                         "calibrated on the training data: give --data")
    from ..frontend.tflite import to_ir_input

    k = _head_op(ed, meta)
    x_t = ed.tensor(int(ed.sub.operators[k].inputs[0]))
    s_x, z_x = float(x_t.quantization.scale[0]), int(x_t.quantization.zeroPoint[0])
    feats = head_features(tg, params, to_ir_input(tg, data_x))
    return _apply_head(ed, k, quantize_head(w, b, s_x, z_x, feats))


def _apply_head(ed: FileEditor, k: int, h: dict) -> dict:
    op = ed.sub.operators[k]
    ins = [int(v) for v in op.inputs]
    n = len(h["b"])
    ed.set_shape(ins[1], h["w"].shape)
    ed.quantize(ins[1], h["w_scale"], [0] * n)
    ed.set_data(ins[1], h["w"], np.int8)
    if len(ins) < 3 or ins[2] < 0:
        ins = ins[:2] + [ed.add_tensor("head.bias", [n], ed.s.TensorType.INT32)]
        op.inputs = ins
    ed.set_shape(ins[2], [n])
    ed.quantize(ins[2], h["b_scale"], [0] * n)
    ed.set_data(ins[2], h["b"], np.int32)
    y = int(op.outputs[0])
    ed.quantize(y, [h["y_scale"]], [h["y_zero"]])
    changed = {y}
    ed.set_shape(y, list(ed.tensor(y).shape[:-1]) + [n])
    for j, op2 in enumerate(ed.sub.operators[k + 1:], k + 1):
        if not changed & {int(v) for v in op2.inputs}:
            continue
        if ed.op_names[j] not in ("SOFTMAX", "DEQUANTIZE"):
            raise InputError(f"{ed.where}: operator {j} ({ed.op_names[j]}) reads the classifier's "
                             "output; a new head can be followed only by SOFTMAX / DEQUANTIZE")
        for o in op2.outputs:
            ed.set_shape(int(o), list(ed.tensor(int(o)).shape[:-1]) + [n])
            changed.add(int(o))
    return dict(classes=n, output_scale=h["y_scale"], output_zero_point=h["y_zero"])


def is_our_export(path) -> bool:
    """A .tflite file written by export (it holds the "mcutrain" metadata entry)."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return False
    if len(raw) < 8 or raw[4:8] != b"TFL3":
        return False
    try:
        m = _schema().Model.GetRootAs(raw, 0)
        return any(_text(m.Metadata(i).Name()) == MARK for i in range(m.MetadataLength()))
    except Exception:
        return False


def export_tflite_file(out_dir, dest, data=None) -> dict:
    """`mcutrain export OUT --format tflite -o DEST [--data D]`: OUT's trained model (params.npz,
    else the compiled parameters) written into a copy of OUT/source.tflite. D (the training
    data) calibrates a fresh head's output scale."""
    from ..artifacts import PARAMS_FILE, input_hwc, input_q, read_params, read_report
    from ..outdir import atomic_write, check_our_output, check_output_file
    from ..train.predict import load_training_graph

    out = check_our_output(out_dir)
    dest = check_output_file(dest, ".tflite export", is_our_export)
    rep = read_report(out)
    tg = load_training_graph(out)
    if tg.meta.get("tflite") is None:
        raise UsageError(f"--format tflite: {out_dir} was not compiled from a .tflite model "
                         "(only a .tflite's graph and quantization can be written back; "
                         "--format params exports any model)")
    src = out / "source.tflite"
    if not src.is_file():
        raise InputError(f"{out_dir}: no source.tflite (compiled from a graph object or by an "
                         "older mcutrain): compile the .tflite file by its path again")
    if tg.meta.get("fresh_head") and data is None:
        raise UsageError("--data: the new head (--classes) is exported with an output scale "
                         "calibrated on the training data: give the data it was trained on")
    params, step = None, 0
    layout = [(p["name"], p["dtype"], tuple(p["shape"])) for p in rep["params"]]
    if (out / PARAMS_FILE).exists():
        params, step = read_params(out / PARAMS_FILE, layout)
    data_x = None
    if data is not None and tg.meta.get("fresh_head"):
        from ..data.datasets import load_dataset, to_int8_hwc

        x = to_int8_hwc(load_dataset(data, input_hwc(rep), input_q(rep))["x_train"])
        data_x = x.reshape((len(x),) + tuple(tg.meta["tflite"]["input"]["shape"][1:]))
    raw = export_tflite(tg, params, src.read_bytes(), data_x, where=str(src), step=step)
    atomic_write(dest, lambda tmp: Path(tmp).write_bytes(raw))
    return dict(path=str(dest), bytes=len(raw), step=step, trained=params is not None)
