"""BatchNorm folding, calibration, int8 conversion, graph files, and the default model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcutrain.ir import QParams
from mcutrain.ops.builder import GraphBuilder
from mcutrain.ir.printer import format_graph
from mcutrain.ir.serialize import save_graph
from mcutrain.ops.verify import load_graph, verify
from mcutrain.ops import fixedpoint as fp
from mcutrain.quant.calibrate import calibrate
from mcutrain.quant.fold import fold_batchnorm
from mcutrain.quant.quantize import (QuantizeError, act_qparams, float_to_int8_input,
                                     int8_to_float, quantize, quantize_model, weight_scales)
from mcutrain.ref.interp import run

from ..conftest import tiny_int8_model

INPUT_Q = QParams.tensor(1 / 255, -128)  # x in [0, 1]


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def cosine(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---- small float graphs built in the IR (no torch needed) ----------------------------------

class Net:
    def __init__(self, shape=(1, 3, 8, 8), seed=0):
        self.rng = np.random.default_rng(seed)
        self.b = GraphBuilder()
        self.b.meta = {"source": "test", "note": [1, 2]}
        self.x = self.b.input("x", shape, "f32")

    def conv(self, x, cout, k=3, stride=1, groups=1, bn=True, act=(0.0, 6.0), name="c"):
        cin = self.b.value(x).shape[1]
        fan_in = cin // groups * k * k
        w = self.b.param(f"{name}.w", self.rng.normal(0, np.sqrt(2 / fan_in), (cout, cin // groups, k, k)), "f32")
        bias = self.b.param(f"{name}.b", self.rng.normal(0, 0.1, cout), "f32")
        y = self.b.emit1("conv2d", [x, w, bias], dict(stride=(stride, stride), padding=(k // 2, k // 2),
                                                      groups=groups), name=name)
        if bn:
            y = self.bn(y, name + ".bn")
        if act is not None:
            y = self.b.emit1("clamp", [y], dict(lo=act[0], hi=act[1]), name=name + ".act")
        return y

    def bn(self, y, name):
        c = self.b.value(y).shape[1]
        ps = [self.b.param(f"{name}.{k}", v, "f32") for k, v in (
            ("gamma", self.rng.uniform(0.5, 1.5, c)), ("beta", self.rng.normal(0, 0.2, c)),
            ("mean", self.rng.normal(0, 0.2, c)), ("var", self.rng.uniform(0.5, 2.0, c)))]
        return self.b.emit1("batch_norm", [y] + ps, dict(eps=1e-5), name=name)

    def linear(self, x, cout, name="fc"):
        cin = self.b.value(x).shape[1]
        w = self.b.param(f"{name}.w", self.rng.normal(0, np.sqrt(1 / cin), (cout, cin)), "f32")
        bias = self.b.param(f"{name}.b", self.rng.normal(0, 0.1, cout), "f32")
        return self.b.emit1("linear", [x, w, bias], name=name)

    def head(self, y, classes=10):
        c = self.b.value(y).shape[1]
        p = self.b.emit1("global_avgpool", [y], name="pool")
        f = self.b.emit1("reshape", [p], dict(shape=(c,)), name="flat")
        return self.linear(f, classes, "fc")


def small_cnn(seed=0):
    """conv-bn-relu, maxpool, inverted residual (expand, dw, project, add + relu), conv s2."""
    n = Net(seed=seed)
    h = n.conv(n.x, 8, act=(0.0, None), name="stem")
    e = n.conv(h, 16, 1, name="blk.expand")
    d = n.conv(e, 16, 3, groups=16, name="blk.dw")
    p = n.conv(d, 8, 1, act=None, name="blk.project")
    r = n.b.emit1("add", [h, p], name="blk.add")
    r = n.b.emit1("clamp", [r], dict(lo=0.0, hi=None), name="blk.relu")
    m = n.b.emit1("maxpool2d", [r], dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0)), name="mp")
    c = n.conv(m, 16, 3, stride=2, name="down")
    return n.b.build([n.head(c)])


def samples(n, seed=1, shape=(3, 8, 8)):
    return np.random.default_rng(seed).uniform(0, 1, (n,) + shape).astype(np.float32)


# ---- BatchNorm folding ---------------------------------------------------------------------

def test_fold_batchnorm_keeps_outputs_and_removes_bn():
    n = Net()
    y = n.conv(n.x, 8, name="a")
    y = n.conv(y, 8, groups=8, name="dw")
    f = n.b.emit1("reshape", [n.b.emit1("global_avgpool", [y])], dict(shape=(8,)))
    z = n.bn(n.linear(f, 6, "fc1"), "fc1.bn")  # linear + BatchNorm1d folds too
    g = verify(n.b.build([z]))
    folded = verify(fold_batchnorm(g))
    assert not any(nd.op == "batch_norm" for nd in folded.nodes)
    assert not any(".bn." in v for v in folded.values) and folded.outputs == g.outputs
    assert all(folded.consts[p].dtype == np.float32 for p in folded.params())
    x = samples(16)
    out_g, out_f = run(g, {"x": x})[g.outputs[0]], run(folded, {"x": x})[g.outputs[0]]
    assert rel_err(out_f, out_g) < 1e-5
    assert g.consts["a.w"] is not folded.consts["a.w"]  # the input graph is untouched
    assert any(nd.op == "batch_norm" for nd in g.nodes)


def test_fold_keeps_a_batchnorm_it_cannot_fold():
    n = Net()
    y = n.conv(n.x, 3, bn=False, act=None, name="a")
    s = n.b.emit1("add", [n.x, y], name="s")
    z = n.bn(s, "after_add")                    # not after a conv: kept
    t = n.bn(y, "second_reader")                # conv output also read by the add: kept
    out = n.b.emit1("add", [z, t], name="out")
    g = verify(n.b.build([out]))
    folded = verify(fold_batchnorm(g))
    assert [nd.op for nd in folded.nodes].count("batch_norm") == 2
    x = samples(4)
    assert np.array_equal(run(g, {"x": x})["out"], run(folded, {"x": x})["out"])
    with pytest.raises(QuantizeError, match="batch_norm -> %after_add could not be folded"):
        quantize(folded, calibrate(folded, x), INPUT_Q)


# ---- calibration ---------------------------------------------------------------------------

def test_calibrate_is_min_max_over_all_samples_any_batch():
    g = fold_batchnorm(small_cnn())
    x = samples(50)
    r7, r64 = calibrate(g, x, batch=7), calibrate(g, x)
    assert r7 == r64
    env = run(g, {"x": x}, keep_all=True)
    acts = {v.name for v in g.values.values() if v.role in ("act", "input")}
    assert set(r64) == acts
    for name in acts:
        assert r64[name] == (float(env[name].min()), float(env[name].max()))
    assert r64["blk.relu"][0] == 0.0 and r64["down.act"][1] <= 6.0
    with pytest.raises(ValueError, match="samples"):
        calibrate(g, x[:, :2])


# ---- scales --------------------------------------------------------------------------------

def test_activation_and_weight_scales():
    q = act_qparams(0.0, 6.0)
    assert q.s == pytest.approx(6 / 255) and q.zero_point == -128
    q = act_qparams(-1.0, 3.0)
    assert q.s == pytest.approx(4 / 255) and q.zero_point == -64     # round(-128 + 63.75)
    q = act_qparams(0.5, 2.0)                                         # widened to include 0
    assert q.s == pytest.approx(2 / 255) and q.zero_point == -128
    q = act_qparams(-3.0, -1.0)
    assert q.s == pytest.approx(3 / 255) and q.zero_point == 127
    assert act_qparams(0.0, 0.0).s > 0
    w = np.array([[1.0, -2.0], [0.0, 0.0], [0.5, 0.25]])
    assert np.allclose(weight_scales(w), [2 / 127, 1.0, 0.5 / 127])
    # a nearly switched-off channel keeps its bias representable in int32
    s = weight_scales(np.array([[1e-9, 0.0]]), np.array([0.5]), 0.01)
    assert 0.5 / (0.01 * s[0]) <= 2**30


def test_input_helpers_round_trip():
    pixels = np.arange(256, dtype=np.float64)
    x = (pixels / 255).astype(np.float32)
    q = float_to_int8_input(x, INPUT_Q)
    assert q.dtype == np.int8 and np.array_equal(q, (pixels - 128).astype(np.int8))
    assert np.abs(int8_to_float(q, INPUT_Q) - x).max() < 1e-6
    assert float_to_int8_input(np.array([-5.0, 5.0]), INPUT_Q).tolist() == [-128, 127]


# ---- quantization --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_q():
    g = small_cnn()
    qg = verify(quantize_model(g, samples(64, seed=1), INPUT_Q))
    return g, qg


def test_quantized_graph_structure(small_q):
    g, qg = small_q
    assert qg.meta == g.meta and qg.outputs == g.outputs
    assert qg["x"].dtype == "i8" and qg["x"].q == INPUT_Q
    out = qg[qg.outputs[0]]
    assert out.dtype == "i8" and out.shape == (1, 10)
    assert all(v.dtype == "i8" for v in qg.values.values() if v.role == "act")
    ops = [n.op for n in qg.nodes]
    assert "clamp" not in ops and "batch_norm" not in ops  # absorbed / folded
    assert ops.count("conv2d") == 5 and ops.count("add") == 1
    for n in qg.nodes:
        if n.op not in ("conv2d", "linear"):
            continue
        x, w, b = (qg[v] for v in n.inputs)
        wq, bq = qg.consts[n.inputs[1]], qg.consts[n.inputs[2]]
        assert w.dtype == "i8" and w.q.per_channel and w.q.zero_point == 0
        assert np.abs(wq).max() <= 127 and np.all(np.abs(wq).reshape(len(wq), -1).max(1) == 127)
        assert b.dtype == "i32" and np.allclose(b.q.scales(), x.q.s * w.q.scales())
        assert bq.dtype == np.int32 and bq.shape == (len(wq),)
        assert n.attrs["x_zero"] == x.q.zero_point
        real = x.q.s * w.q.scales() / n.attrs["y_scale"]
        assert np.allclose(fp.multiplier_value(n.attrs["mult"], n.attrs["shift"]), real, rtol=1e-9)
        assert all(type(m) is int for m in n.attrs["mult"] + n.attrs["shift"])
    stem = next(n for n in qg.nodes if n.outputs[0] == "stem.act")   # ReLU absorbed
    assert stem.attrs["act_min"] == qg["stem.act"].q.zero_point == -128
    add = next(n for n in qg.nodes if n.op == "add")
    assert add.outputs == ("blk.relu",) and add.attrs["act_min"] == add.attrs["y_zero"]


def test_int8_output_close_to_float(small_q):
    g, qg = small_q
    x = samples(64, seed=7)  # not the calibration samples
    ref = run(g, {"x": x})[g.outputs[0]]
    yq = run(qg, {"x": float_to_int8_input(x, INPUT_Q)})[qg.outputs[0]]
    y = int8_to_float(yq, qg[qg.outputs[0]].q)
    assert cosine(y, ref) > 0.99
    assert (y.argmax(1) == ref.argmax(1)).mean() >= 0.9
    # every int8 activation stands for its float counterpart (cosine per tensor)
    ef = run(fold_batchnorm(g), {"x": x}, keep_all=True)
    ei = run(qg, {"x": float_to_int8_input(x, INPUT_Q)}, keep_all=True)
    for name, v in qg.values.items():
        if v.role == "act":
            assert cosine(int8_to_float(ei[name], v.q), ef[name]) > 0.99, name


def test_relu6_clamps_at_six():
    n = Net(shape=(1, 2, 6, 6))
    y = n.conv(n.x, 4, bn=False, act=(0.0, 6.0), name="c")
    g = n.b.build([y])
    x = samples(8, shape=(2, 6, 6)) * 4.0  # drives many pre-activations above 6
    pre = run(g, {"x": x}, outputs=["c"])["c"]
    assert pre.max() > 7.0 and pre.min() < 0
    q_in = QParams.tensor(4 / 255, -128)
    ranges = {"c.act": (0.0, 8.0)}  # a range wider than 6: the clamp must cut at level(6)
    qg = verify(quantize(g, ranges, q_in))
    node = qg.nodes[0]
    assert node.attrs["act_min"] == -128 and node.attrs["act_max"] == 63  # round(6 * 255 / 8) - 128
    yq = run(qg, {"x": float_to_int8_input(x, q_in)})["c.act"]
    assert yq.max() == 63 and yq.min() == -128
    y = int8_to_float(yq, qg["c.act"].q)
    assert np.abs(y - np.clip(pre, 0, 6)).max() < 0.2
    # with the calibrated range (max <= 6) the clamp is the int8 limit itself
    qg2 = quantize(g, calibrate(g, x), q_in)
    assert qg2.nodes[0].attrs["act_max"] == 127


def test_residual_add_and_standalone_clamp():
    n = Net(shape=(1, 4, 6, 6))
    a = n.conv(n.x, 4, bn=False, act=None, name="a")
    s = n.b.emit1("add", [n.x, a], name="res")
    p = n.b.emit1("maxpool2d", [s], dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0)), name="mp")
    r = n.b.emit1("clamp", [p], dict(lo=0.0, hi=6.0), name="r6")     # clamp after a pool
    g = n.b.build([r])
    x = samples(32, shape=(4, 6, 6)) * 2 - 0.5
    q_in = act_qparams(x.min(), x.max())
    qg = verify(quantize(g, calibrate(g, x), q_in))
    assert [nd.op for nd in qg.nodes] == ["conv2d", "add", "maxpool2d", "clamp"]
    add = qg.nodes[1]
    assert add.attrs["x_zero"] == q_in.zero_point and add.attrs["y_zero_in"] == qg["a"].q.zero_point
    clamp = qg.nodes[3]
    assert clamp.attrs["lo"] == qg["mp"].q.zero_point and clamp.attrs["hi"] <= 127
    ef = run(g, {"x": x}, keep_all=True)
    ei = run(qg, {"x": float_to_int8_input(x, q_in)}, keep_all=True)
    for name in ("res", "r6"):
        v = qg[name]
        assert np.abs(int8_to_float(ei[name], v.q) - ef[name]).max() < 3 * v.q.s, name


def test_quantize_rejects_what_it_cannot_convert():
    n = Net(shape=(1, 2, 4, 4))
    y = n.conv(n.x, 2, bn=False, act=None)
    d = n.b.emit1("dequantize", [n.b.emit1("quantize", [y], dict(scale=0.1, zero=0))],
                  dict(scale=0.1, zero=0))
    g = n.b.build([d])
    with pytest.raises(QuantizeError, match="op quantize"):
        quantize(g, calibrate(g, samples(2, shape=(2, 4, 4))), INPUT_Q)
    with pytest.raises(QuantizeError, match="no calibrated range for %c"):
        quantize(g, {}, INPUT_Q)


# ---- graph files ---------------------------------------------------------------------------

def _same_graph(a, b):
    assert format_graph(a, full=True) == format_graph(b, full=True)
    assert a.meta == b.meta and a.inputs == b.inputs and a.outputs == b.outputs
    assert set(a.consts) == set(b.consts)
    for k in a.consts:
        assert a.consts[k].dtype == b.consts[k].dtype and np.array_equal(a.consts[k], b.consts[k])
    assert a.nodes == b.nodes and a.values == b.values


def test_save_load_round_trip(tmp_path, small_q):
    g, qg = small_q
    for graph, x in ((g, samples(4)), (qg, float_to_int8_input(samples(4), INPUT_Q))):
        path = save_graph(graph, tmp_path / "m.npz")
        back = verify(load_graph(path))
        _same_graph(graph, back)
        a, b = run(graph, {"x": x}), run(back, {"x": x})
        assert all(np.array_equal(a[k], b[k]) for k in a)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "m.npz").st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_save_load_training_graph(tmp_path):
    from mcutrain.autodiff import TrainConfig, make_training_graph

    tg = make_training_graph(tiny_int8_model(), TrainConfig(scheme="last:3", momentum=0.9))
    back = load_graph(save_graph(tg, tmp_path / "t.npz"))
    assert format_graph(back, full=True) == format_graph(tg, full=True)
    assert [n.phase for n in back.nodes] == [n.phase for n in tg.nodes]


def test_save_refuses_a_graph_that_would_not_load(tmp_path):
    b = GraphBuilder()
    x = b.input("x", (1, 2, 4, 4), "f32")
    y = b.emit1("clamp", [x], dict(lo=0.0, hi=None, note=object()))  # repr is not a literal
    with pytest.raises(ValueError, match="does not parse back"):
        save_graph(b.build([y]), tmp_path / "bad.npz")
    assert not list(tmp_path.iterdir())


def test_numpy_scalar_attributes_round_trip(tmp_path):
    b = GraphBuilder()
    x = b.input("x", (1, 2, 4, 4), "f32")
    y = b.emit1("clamp", [x], dict(lo=np.float64(0.0), hi=np.float32(6.0)))
    save_graph(b.build([y]), tmp_path / "ok.npz")
    g = load_graph(tmp_path / "ok.npz")
    assert g.nodes[0].attrs == {"lo": 0.0, "hi": 6.0}


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved mcutrain graph"):
        load_graph(tmp_path / "other.npz")
    # object arrays would need pickle: refused
    np.savez(tmp_path / "obj.npz", __format__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError):
        load_graph(tmp_path / "obj.npz")


# ---- the built-in default model --------------------------------------------------------------

def test_digits_task_splits():
    pytest.importorskip("sklearn")
    from mcutrain.data.default_model import digits_task, rotate90

    t = digits_task()
    n = {k: len(v) for k, v in t.items()}
    assert n["pretrain_x"] == 898 and n["adapt_x"] + n["test_x"] == 899 == n["upright_test_x"]
    assert n["adapt_x"] == 539 and n["test_x"] == 360
    for k in ("pretrain", "adapt", "test", "upright_test"):
        x, y = t[k + "_x"], t[k + "_y"]
        assert x.dtype == np.uint8 and x.shape[1:] == (8, 8, 1) and len(y) == len(x)
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert t["pretrain_x"].max() == 255
    up = t["upright_test_x"]
    assert np.array_equal(rotate90(up[:539]), t["adapt_x"])
    assert np.array_equal(rotate90(up[539:]), t["test_x"])
    pre = {a.tobytes() for a in t["pretrain_x"]}
    assert sum(a.tobytes() in pre for a in up) < 10  # (load_digits holds a few duplicates)
    t2 = digits_task()
    assert all(np.array_equal(t[k], t2[k]) for k in t)


def test_default_model_loads_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from mcutrain.data.default_model import load_default_float_graph\n"
            "from mcutrain.ops.verify import verify\n"
            "g = verify(load_default_float_graph())\n"
            "assert g['x'].shape == (1, 1, 8, 8) and g[g.outputs[0]].shape == (1, 10)\n"
            "assert 'torch' not in [m for m, v in sys.modules.items() if v is not None]\n"
            "print('ok')")
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert (root / "mcutrain/data/default_digits.npz").stat().st_size < 200_000


def test_default_model_int8_matches_float_accuracy():
    pytest.importorskip("sklearn")
    from mcutrain.data import default_model as dm

    t = dm.digits_task()
    g = dm.load_default_float_graph()
    ops = [n.op for n in g.nodes]
    assert ops.count("batch_norm") >= 4 and ops.count("add") >= 1
    assert any(n.op == "conv2d" and n.attrs["groups"] > 1 for n in g.nodes)
    qg = verify(quantize_model(g, dm.to_float_input(t["pretrain_x"]), dm.DEFAULT_INPUT_Q))
    assert np.array_equal(dm.to_int8_input(t["test_x"]),
                          float_to_int8_input(dm.to_float_input(t["test_x"]), dm.DEFAULT_INPUT_Q))

    def acc(graph, x, y):
        return float((run(graph, {"x": x})[graph.outputs[0]].argmax(1) == y).mean())

    xf, xi, y = (dm.to_float_input(t["upright_test_x"]), dm.to_int8_input(t["upright_test_x"]),
                 t["upright_test_y"])
    a_float, a_int8 = acc(g, xf, y), acc(qg, xi, y)
    assert a_float > 0.95
    assert abs(a_int8 - a_float) <= 0.01
    rot = acc(g, dm.to_float_input(t["test_x"]), t["test_y"])
    assert rot < 0.5  # the sideways sensor: the pretrained model fails, adaptation is needed
