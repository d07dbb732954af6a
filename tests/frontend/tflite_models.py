"""Small .tflite models written with the schema's object API, for tests: one op at a time run by
TFLite Micro, float / uint8 / unsupported models for the refusals."""
from __future__ import annotations

import numpy as np

TYPES = {np.dtype(np.float32): 0, np.dtype(np.int32): 2, np.dtype(np.uint8): 3,
         np.dtype(np.int8): 9}


def schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s

    return s


class ModelBuilder:
    """Tensors, buffers and operators of one subgraph; `bytes()` packs the file."""

    def __init__(self):
        s = schema()
        self.s = s
        self.model = s.ModelT()
        self.model.version = 3
        self.model.buffers = [s.BufferT()]  # buffer 0: the empty one
        self.model.operatorCodes = []
        self.g = s.SubGraphT()
        self.g.tensors, self.g.operators, self.g.inputs, self.g.outputs = [], [], [], []

    def tensor(self, shape, dtype=np.int8, scale=None, zero=0, data=None, axis=0, name=None):
        s = self.s
        t = s.TensorT()
        t.shape = list(shape)
        t.type = TYPES[np.dtype(dtype)]
        t.name = name or f"t{len(self.g.tensors)}"
        t.buffer = 0
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, dtype).tobytes(), np.uint8)
            self.model.buffers.append(b)
            t.buffer = len(self.model.buffers) - 1
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale = list(np.atleast_1d(np.asarray(scale, np.float32)))
            q.zeroPoint = list(np.broadcast_to(np.atleast_1d(zero), (len(q.scale),)).astype(int))
            q.quantizedDimension = axis
            t.quantization = q
        self.g.tensors.append(t)
        return len(self.g.tensors) - 1

    def op(self, code: int, inputs, outputs, options=None, options_type=0):
        s = self.s
        codes = [c.builtinCode for c in self.model.operatorCodes]
        if code not in codes:
            oc = s.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = 1
            self.model.operatorCodes.append(oc)
            codes.append(code)
        o = s.OperatorT()
        o.opcodeIndex = codes.index(code)
        o.inputs, o.outputs = list(inputs), list(outputs)
        o.builtinOptions, o.builtinOptionsType = options, options_type
        self.g.operators.append(o)

    def bytes(self, inputs, outputs) -> bytes:
        import flatbuffers

        self.g.inputs, self.g.outputs = list(inputs), list(outputs)
        self.model.subgraphs = [self.g]
        self.model.description = "test"
        b = flatbuffers.Builder(1024)
        b.Finish(self.model.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def options(name: str, **kw):
    """An options object of the schema, e.g. options("Conv2DOptions", padding=0)."""
    s = schema()
    o = getattr(s, name + "T")()
    for k, v in kw.items():
        setattr(o, k, v)
    return o, getattr(s.BuiltinOptions, name)


def op_code(name: str) -> int:
    return getattr(schema().BuiltinOperator, name)


def run_tflm(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Run TFLite Micro on one input (batch 1) -> its first output."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model_bytes, arena_size=max(len(model_bytes) * 10, 1 << 20))
    it.set_input(x, 0)
    it.invoke()
    return it.get_output(0)


def softmax_model(k: int, scale: float, zero: int, beta: float = 1.0) -> bytes:
    m = ModelBuilder()
    x = m.tensor((1, k), scale=scale, zero=zero)
    y = m.tensor((1, k), scale=1 / 256, zero=-128)
    m.op(op_code("SOFTMAX"), [x], [y], *options("SoftmaxOptions", beta=beta))
    return m.bytes([x], [y])
