"""Each supported TFLite operator, in small models written here, against TFLite Micro: every
operator's output tensor bit for bit (asymmetric SAME padding, depth multipliers, grouped and
per-channel layers, fused RELU / RELU6 / RELU_N1_TO_1, MEAN with and without requantization,
PAD / PADV2, SQUEEZE, QUANTIZE / DEQUANTIZE at the edges)."""
from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("tflite_micro")

from mcutrain.frontend.tflite import (TfliteModel, quantize_input, run_like_tflm,  # noqa: E402
                                      to_ir_input)
from mcutrain.frontend.tflite_graph import Converter  # noqa: E402
from mcutrain.ref.interp import run  # noqa: E402
from tests.frontend.tflite_models import (ModelBuilder, conv_layer, fc_layer, op_code,  # noqa: E402
                                          options)

RELU, RELU_N1_TO_1, RELU6 = 1, 2, 3
SEEDS = int(os.environ.get("MCT_TFLITE_SEEDS", "12"))  # random models; 300 pass (a few seconds)


def check_like_tflm(data: bytes, n: int = 6, seed: int = 0, float_input=None):
    """Every operator's output of the graph read from `data` equals TFLite Micro's."""
    from tflite_micro.python.tflite_micro import runtime

    model = TfliteModel(data, "test.tflite")
    g = Converter(model, "test").run()
    it = runtime.Interpreter.from_bytes(data, arena_size=1 << 20,
                                        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    rng = np.random.default_rng(seed)
    ops = g.meta["tflite"]["operators"]
    for _ in range(n):
        x = rng.integers(-128, 128, g.meta["tflite"]["input"]["shape"]).astype(np.int8)
        it.set_input(x if float_input is None else float_input(x), 0)
        it.invoke()
        env = run(g, {"x": to_ir_input(g, x)}, outputs=[v for _, _, v in ops if v])
        for i, op, v in ops:
            if v is None:  # a PAD folded into the next conv: no tensor of its own
                continue
            want = it.GetTensor(int(model.ops[i].outputs[0]), 0)["tensor_data"]
            got = env[v].transpose(0, 2, 3, 1) if env[v].ndim == 4 else env[v]
            np.testing.assert_array_equal(got.reshape(want.shape), want, err_msg=f"op {i} {op}")
    return g, it


def test_conv_same_stride2_relu6_then_grouped_and_depthwise():
    rng = np.random.default_rng(1)
    m = ModelBuilder()
    x = m.tensor((1, 9, 10, 4), scale=0.05, zero=-7)
    h, hw = conv_layer(m, x, 0.05, 4, 6, 3, rng, stride=2, act=RELU6, side=(9, 10),
                       y_scale=0.03, y_zero=-128)
    h, hw = conv_layer(m, h, 0.03, 6, 6, 2, rng, act=RELU, side=hw, y_scale=0.04, y_zero=-100)
    h, hw = conv_layer(m, h, 0.04, 6, 12, 3, rng, stride=2, padding=1, depthwise=True,
                       act=RELU_N1_TO_1, side=hw, y_scale=0.01, y_zero=3)
    g, _ = check_like_tflm(m.bytes([x], [h]))
    assert [n.op for n in g.nodes].count("pad") >= 1


def test_grouped_conv():
    """A CONV_2D whose filters see 2 of the input's 4 channels: groups = 2."""
    rng = np.random.default_rng(2)
    m = ModelBuilder()
    x = m.tensor((1, 6, 6, 4), scale=0.05, zero=2)
    ws = rng.uniform(0.005, 0.02, 6)
    w = m.tensor((6, 3, 3, 2), scale=ws, data=rng.integers(-127, 128, (6, 3, 3, 2)))
    b = m.tensor((6,), np.int32, scale=ws * 0.05, data=rng.integers(-500, 500, 6))
    y = m.tensor((1, 6, 6, 6), scale=0.06, zero=-4)
    m.op(op_code("CONV_2D"), [x, w, b], [y], *options(
        "Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1))
    g, _ = check_like_tflm(m.bytes([x], [y]), n=3)
    assert g.nodes[-1].attrs["groups"] == 2


def _pool(m, kind, x, shape, k, s, padding, act=0):
    n, h, w, c = shape
    ho, wo = (-(-h // s), -(-w // s)) if padding == 0 else ((h - k) // s + 1, (w - k) // s + 1)
    q = m.g.tensors[x].quantization
    y = m.tensor((1, ho, wo, c), scale=q.scale[0], zero=q.zeroPoint[0])
    m.op(op_code(kind), [x], [y], *options("Pool2DOptions", padding=padding, strideH=s,
                                           strideW=s, filterHeight=k, filterWidth=k,
                                           fusedActivationFunction=act))
    return y, (1, ho, wo, c)


@pytest.mark.parametrize("kind", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_pools_same_and_valid(kind):
    """SAME windows hanging over the edge: the average counts only the cells inside."""
    m = ModelBuilder()
    x = m.tensor((1, 7, 8, 3), scale=0.1, zero=-20)
    h, shape = _pool(m, kind, x, (1, 7, 8, 3), 3, 2, 0, act=RELU6)
    h, shape = _pool(m, kind, h, shape, 2, 1, 0)
    h, shape = _pool(m, kind, h, shape, 2, 2, 1)
    check_like_tflm(m.bytes([x], [h]))


@pytest.mark.parametrize("same_q", [True, False])
def test_mean_over_h_w(same_q):
    m = ModelBuilder()
    x = m.tensor((1, 5, 7, 6), scale=0.1, zero=-20)
    ax = m.tensor((2,), np.int32, data=np.array([1, 2]))
    y = m.tensor((1, 6), scale=0.1 if same_q else 0.037, zero=-20 if same_q else 9)
    m.op(op_code("MEAN"), [x, ax], [y], *options("ReducerOptions", keepDims=False))
    check_like_tflm(m.bytes([x], [y]), n=10)


def test_mean_keep_dims_then_fc():
    rng = np.random.default_rng(3)
    m = ModelBuilder()
    x = m.tensor((1, 4, 4, 8), scale=0.2, zero=5)
    ax = m.tensor((2,), np.int32, data=np.array([-3, 2]))
    h = m.tensor((1, 1, 1, 8), scale=0.05, zero=-1)
    m.op(op_code("MEAN"), [x, ax], [h], *options("ReducerOptions", keepDims=True))
    y = fc_layer(m, h, 0.05, 8, 5, rng, per_channel=True, act=RELU)
    check_like_tflm(m.bytes([x], [y]))


@pytest.mark.parametrize("v2", [False, True])
def test_pad_and_padv2(v2):
    m = ModelBuilder()
    x = m.tensor((1, 4, 5, 2), scale=0.1, zero=-3)
    p = m.tensor((4, 2), np.int32, data=np.array([[0, 0], [1, 2], [0, 3], [0, 0]]))
    y = m.tensor((1, 7, 8, 2), scale=0.1, zero=-3)
    if v2:
        c = m.tensor((1,), scale=0.1, zero=-3, data=np.array([17]))
        m.op(op_code("PADV2"), [x, p, c], [y])
    else:
        m.op(op_code("PAD"), [x, p], [y])
    check_like_tflm(m.bytes([x], [y]), n=2)


def test_add_relu6_reshape_squeeze():
    rng = np.random.default_rng(4)
    m = ModelBuilder()
    x = m.tensor((1, 1, 1, 16), scale=0.08, zero=10)
    a, _ = conv_layer(m, x, 0.08, 16, 16, 1, rng, side=(1, 1), y_scale=0.05, y_zero=-2)
    s = m.tensor((1, 1, 1, 16), scale=0.11, zero=7)
    m.op(op_code("ADD"), [x, a], [s], *options("AddOptions", fusedActivationFunction=RELU6))
    sq = m.tensor((1, 16), scale=0.11, zero=7)
    m.op(op_code("SQUEEZE"), [s], [sq], *options("SqueezeOptions", squeezeDims=[1, 2]))
    y = fc_layer(m, sq, 0.11, 16, 4, rng)
    r = m.tensor((1, 2, 2), scale=0.07, zero=5)
    shape = m.tensor((3,), np.int32, data=np.array([1, 2, 2]))
    m.op(op_code("RESHAPE"), [y, shape], [r])
    check_like_tflm(m.bytes([x], [r]))


def test_quantize_and_dequantize_at_the_edges():
    """A float input quantized on entry and a float output: the graph is the int8 part; its
    input is the QUANTIZE's output, the DEQUANTIZE's input is its output."""
    rng = np.random.default_rng(5)
    m = ModelBuilder()
    xf = m.tensor((1, 12), np.float32)
    x = m.tensor((1, 12), scale=0.03, zero=4)
    m.op(op_code("QUANTIZE"), [xf], [x])
    h = fc_layer(m, x, 0.03, 12, 6, rng, y_scale=0.1, y_zero=-3)
    p = m.tensor((1, 6), scale=1 / 256, zero=-128)
    m.op(op_code("SOFTMAX"), [h], [p], *options("SoftmaxOptions", beta=1.0))
    pf = m.tensor((1, 6), np.float32)
    m.op(op_code("DEQUANTIZE"), [p], [pf])
    data = m.bytes([xf], [pf])
    g, it = check_like_tflm(data, float_input=lambda q: (0.03 * (q.astype(np.float32) - 4)))
    meta = g.meta["tflite"]
    assert meta["input"]["quantize"] and meta["output"]["dequantize"]
    assert g.outputs == (meta["output"]["softmax"]["input"],)
    rng = np.random.default_rng(6)
    for xf in [rng.uniform(-5, 5, (1, 12)).astype(np.float32),  # off the grid: QUANTIZE rounds
               (np.arange(12, dtype=np.float32)[None] - 6) * np.float32(0.015)]:  # ties
        it.set_input(xf, 0)
        it.invoke()
        assert np.array_equal(quantize_input(g, xf), it.GetTensor(x, 0)["tensor_data"])
        probs = run_like_tflm(g, xf).astype(np.float32)  # quantized on entry like the file does
        np.testing.assert_allclose((probs + 128) / 256, it.get_output(0), rtol=0, atol=1e-7)


@pytest.mark.parametrize("pads,folds", [((1, 1, 1, 1), True), ((0, 1, 0, 1), False)])
def test_pad_before_a_valid_conv(pads, folds):
    """Zero-point PAD, same on both sides, read only by a VALID conv: it becomes the conv's own
    padding (no padded copy); otherwise it stays a pad node."""
    rng = np.random.default_rng(7)
    m = ModelBuilder()
    x = m.tensor((1, 6, 6, 3), scale=0.05, zero=-9)
    t, b, l, r = pads
    p = m.tensor((4, 2), np.int32, data=np.array([[0, 0], [t, b], [l, r], [0, 0]]))
    h = m.tensor((1, 6 + t + b, 6 + l + r, 3), scale=0.05, zero=-9)
    m.op(op_code("PAD"), [x, p], [h])
    y, _ = conv_layer(m, h, 0.05, 3, 6, 3, rng, stride=2, padding=1, depthwise=True,
                      side=(6 + t + b, 6 + l + r))
    g, _ = check_like_tflm(m.bytes([x], [y]))
    conv = [n for n in g.nodes if n.op == "conv2d"][0]
    assert ("pad" not in [n.op for n in g.nodes]) == folds
    assert conv.attrs["padding"] == ((1, 1) if folds else (0, 0))


@pytest.mark.parametrize("seed", range(SEEDS))
def test_random_geometry_and_scales(seed):
    """Random convs / depthwise / pools (kernel, stride, SAME or VALID, odd and even sizes) and
    scales whose multipliers range from 1e-4 to above 1, then ADD, MEAN and FULLY_CONNECTED
    with random scales: every tensor as TFLite Micro's."""
    rng = np.random.default_rng(100 + seed)
    m = ModelBuilder()
    h, w, c = (int(v) for v in rng.integers([3, 3, 1], [12, 12, 5]))
    xs, xz = float(rng.uniform(0.01, 0.5)), int(rng.integers(-128, 100))
    x = m.tensor((1, h, w, c), scale=xs, zero=xz)
    t, hw, scale = x, (h, w), xs
    for layer in range(3):
        k, s, pad = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(0, 2))
        if pad == 1 and min(hw) < k:
            pad = 0
        kind = rng.choice(["conv", "dw", "avg", "max"])
        if kind in ("conv", "dw"):
            cout = c * int(rng.integers(1, 3)) if kind == "dw" else int(rng.integers(1, 9))
            ys = scale * float(10 ** rng.uniform(-2.5, 0.5)) * k  # multipliers 1e-4 .. > 1
            t, hw = conv_layer(m, t, scale, c, cout, k, rng, stride=s, padding=pad,
                               act=int(rng.choice([0, RELU, RELU6])), depthwise=kind == "dw",
                               y_scale=ys, y_zero=int(rng.integers(-128, 60)), side=hw)
            c, scale = cout, ys
        else:
            kind = "AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D"
            t, shape = _pool(m, kind, t, (1,) + hw + (c,), k, s, pad)
            hw = shape[1:3]
    t, scale = _random_tail(m, rng, t, hw, c, scale)
    check_like_tflm(m.bytes([x], [t]), n=3, seed=seed)


def _random_tail(m, rng, t, hw, c, scale):
    """ADD of the tensor and a 1x1 conv of it, then MEAN over H, W and a FULLY_CONNECTED."""
    b, _ = conv_layer(m, t, scale, c, c, 1, rng, padding=1, y_scale=scale * rng.uniform(0.5, 2),
                      y_zero=int(rng.integers(-50, 50)), side=hw)
    ys = scale * float(rng.uniform(0.5, 3))
    a = m.tensor((1,) + tuple(hw) + (c,), scale=ys, zero=int(rng.integers(-128, 50)))
    m.op(op_code("ADD"), [t, b], [a], *options("AddOptions", fusedActivationFunction=int(
        rng.choice([0, RELU, RELU6]))))
    ax = m.tensor((2,), np.int32, data=np.array([1, 2]))
    ms = ys * float(rng.uniform(0.3, 2))
    mean = m.tensor((1, c), scale=ms, zero=int(rng.integers(-20, 20)))
    m.op(op_code("MEAN"), [a, ax], [mean], *options("ReducerOptions", keepDims=False))
    y = fc_layer(m, mean, ms, c, int(rng.integers(2, 10)), rng, act=int(rng.choice([0, RELU])),
                 per_channel=bool(rng.integers(0, 2)), y_scale=ms * float(rng.uniform(0.01, 0.2)),
                 y_zero=int(rng.integers(-30, 30)))
    return y, None
