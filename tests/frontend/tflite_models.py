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


# ---- building blocks: int8 layers with random weights ------------------------------------------

def conv_layer(m, x, x_scale, cin, cout, k, rng, stride=1, padding=0, act=0, depthwise=False,
               y_scale=0.05, y_zero=-3, side=None):
    """CONV_2D (or DEPTHWISE_CONV_2D, depth multiplier cout // cin) on tensor x [1, H, W, cin]."""
    h, w_ = side
    if depthwise:
        wshape, axis = (1, k, k, cout), 3
    else:
        wshape, axis = (cout, k, k, cin), 0
    ws = rng.uniform(0.002, 0.02, cout)
    w = m.tensor(wshape, scale=ws, zero=0, data=rng.integers(-127, 128, wshape), axis=axis)
    b = m.tensor((cout,), np.int32, scale=ws * x_scale, data=rng.integers(-3000, 3000, cout))
    if padding == 0:
        ho, wo = -(-h // stride), -(-w_ // stride)
    else:
        ho, wo = (h - k) // stride + 1, (w_ - k) // stride + 1
    y = m.tensor((1, ho, wo, cout), scale=y_scale, zero=y_zero)
    if depthwise:
        o = options("DepthwiseConv2DOptions", padding=padding, strideH=stride, strideW=stride,
                    depthMultiplier=cout // cin, fusedActivationFunction=act, dilationHFactor=1,
                    dilationWFactor=1)
        m.op(op_code("DEPTHWISE_CONV_2D"), [x, w, b], [y], *o)
    else:
        o = options("Conv2DOptions", padding=padding, strideH=stride, strideW=stride,
                    fusedActivationFunction=act, dilationHFactor=1, dilationWFactor=1)
        m.op(op_code("CONV_2D"), [x, w, b], [y], *o)
    return y, (ho, wo)


def fc_layer(m, x, x_scale, cin, cout, rng, act=0, per_channel=False, y_scale=0.07, y_zero=5,
             dtype=np.int8):
    ws = rng.uniform(0.002, 0.02, cout if per_channel else 1)
    w = m.tensor((cout, cin), scale=ws, zero=0, data=rng.integers(-127, 128, (cout, cin)))
    b = m.tensor((cout,), np.int32, scale=np.broadcast_to(ws * x_scale, (cout,)),
                 data=rng.integers(-3000, 3000, cout))
    y = m.tensor((1, cout), dtype, scale=y_scale, zero=y_zero)
    m.op(op_code("FULLY_CONNECTED"), [x, w, b], [y],
         *options("FullyConnectedOptions", fusedActivationFunction=act))
    return y


def float_fc_model() -> bytes:
    m = ModelBuilder()
    x = m.tensor((1, 8), np.float32)
    w = m.tensor((4, 8), np.float32, data=np.ones((4, 8), np.float32))
    b = m.tensor((4,), np.float32, data=np.zeros(4, np.float32))
    y = m.tensor((1, 4), np.float32)
    m.op(op_code("FULLY_CONNECTED"), [x, w, b], [y], *options("FullyConnectedOptions"))
    return m.bytes([x], [y])


def uint8_fc_model() -> bytes:
    rng = np.random.default_rng(0)
    m = ModelBuilder()
    x = m.tensor((1, 8), np.uint8, scale=0.1, zero=128)
    y = fc_layer(m, x, 0.1, 8, 4, rng, dtype=np.uint8, y_zero=128)
    return m.bytes([x], [y])


def tanh_model() -> bytes:
    rng = np.random.default_rng(0)
    m = ModelBuilder()
    x = m.tensor((1, 6, 6, 2), scale=0.1, zero=0)
    h, _ = conv_layer(m, x, 0.1, 2, 4, 3, rng, side=(6, 6))
    y = m.tensor((1, 6, 6, 4), scale=1 / 128, zero=0)
    m.op(op_code("TANH"), [h], [y])
    return m.bytes([x], [y])


def softmax_inside_model() -> bytes:
    rng = np.random.default_rng(0)
    m = ModelBuilder()
    x = m.tensor((1, 8), scale=0.1, zero=0)
    p = m.tensor((1, 8), scale=1 / 256, zero=-128)
    m.op(op_code("SOFTMAX"), [x], [p], *options("SoftmaxOptions", beta=1.0))
    y = fc_layer(m, p, 1 / 256, 8, 4, rng)
    return m.bytes([x], [y])
