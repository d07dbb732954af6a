"""The training graph: gradients vs torch autograd on a float emulation of the same int
graph, QAS factors, stochastic rounding, pruning, channel fractions, storage options."""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.autodiff import TrainConfig, make_training_graph
from mcutrain.ops.optim import sgd_reference
from mcutrain.ops.fixedpoint import multiplier_value
from mcutrain.ref.interp import run
from mcutrain.ref.trainer import ReferenceTrainer
from mcutrain.autodiff.scheme import find_layers

from ..conftest import tiny_int8_model


def _data(n=8, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (n, 3, 8, 8)).astype(np.int8), rng.integers(0, 5, n)


def _feeds(tg, x, y, lr=0.01, step=0):
    t = tg.meta["train"]
    return {t["input"]: x, t["label"]: np.asarray([y], np.int32), t["lr"]: np.float32(lr),
            t["step"]: np.int32(step)}


def _torch_emulation(g, env, x):
    """Forward of the int graph in torch float64 with straight-through rounding.

    Each int8 op's value is pinned to the reference (checked within 1 level against the
    float formula) and its gradient flows through the unrounded pre-activation where
    act_min < y < act_max. Parameters are leaf tensors in their integer domain."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    vals = {"x": torch.tensor(x.astype(np.float64))}
    leaves = {}
    for name, arr in g.consts.items():
        leaves[name] = torch.tensor(arr.astype(np.float64), requires_grad=True)
    vals.update(leaves)

    def pin(pre, name, lo, hi, zero):
        ref = torch.tensor(env[name].astype(np.float64))
        approx = torch.clamp(torch.floor(pre.detach() + 0.5) + zero, lo, hi)
        assert (approx - ref).abs().max() <= 1, f"emulation of {name} drifts"
        mask = ((ref > lo) & (ref < hi)).double()
        return ref + (pre - pre.detach()) * mask

    for n in g.nodes:
        a, ins = n.attrs, [vals.get(i) for i in n.inputs]
        out = n.outputs[0]
        if n.op in ("conv2d", "linear"):
            xq, w, b = ins
            if n.op == "conv2d":
                acc = F.conv2d(xq - a["x_zero"], w, None, a["stride"], a["padding"], 1, a["groups"])
                eff = torch.tensor(multiplier_value(a["mult"], a["shift"])).view(1, -1, 1, 1)
                acc = acc + b.view(1, -1, 1, 1)
            else:
                acc = (xq - a["x_zero"]) @ w.T + b
                eff = torch.tensor(multiplier_value(a["mult"], a["shift"])).view(1, -1)
            vals[out] = pin(acc * eff, out, a["act_min"], a["act_max"], a["y_zero"])
        elif n.op == "add":
            xq, zq = ins
            xv, zv = g.values[n.inputs[0]], g.values[n.inputs[1]]
            pre = (xv.q.s * (xq - xv.q.zero_point) + zv.q.s * (zq - zv.q.zero_point)) / a["y_scale"]
            vals[out] = pin(pre, out, a["act_min"], a["act_max"], a["y_zero"])
        elif n.op == "global_avgpool":
            pre = ins[0].mean(dim=(2, 3), keepdim=True)
            ref = torch.tensor(env[out].astype(np.float64))
            vals[out] = ref + (pre - pre.detach())
        elif n.op == "reshape":
            vals[out] = ins[0].reshape((ins[0].shape[0],) + tuple(a["shape"]))
        elif n.op == "dequantize":
            vals[out] = (ins[0] - a["zero"]) * a["scale"]
        elif n.op == "softmax_ce":
            lab = torch.tensor(env[n.inputs[1]].astype(np.int64))
            vals[out] = F.cross_entropy(ins[0], lab)
        else:
            raise AssertionError(f"emulation lacks {n.op}")
    return vals, leaves


@pytest.mark.parametrize("linear_head", [False, True])
def test_whole_graph_gradients_match_torch_emulation(linear_head):
    pytest.importorskip("torch")
    g = tiny_int8_model(seed=3, linear_head=linear_head)
    tg = make_training_graph(g, TrainConfig(scheme="full", qas=False))
    x, y = _data(1, seed=4)
    env = run(tg, _feeds(tg, x, int(y[0])), keep_all=True)
    fwd = tg.replace(nodes=tuple(n for n in tg.nodes if n.phase == "fwd"))
    vals, leaves = _torch_emulation(fwd, env, x)
    vals["loss"].backward()
    assert abs(vals["loss"].item() - float(env["loss"])) < 1e-5
    checked = 0
    for n in tg.nodes:
        if n.op != "sgd_update":
            continue
        p, gname = n.inputs[0], n.inputs[1]
        ours = env[gname].astype(np.float64)
        ref = leaves[p].grad.numpy()
        assert ours.shape == ref.shape
        scale = max(np.abs(ref).max(), 1e-12)
        assert np.abs(ours - ref).max() / scale <= 1e-5, f"gradient of {p}"
        checked += 1
    assert checked == 2 * len(find_layers(g))


def test_bias_only_prunes_everything_before_the_last_layers(tiny_model):
    k = 2
    tg = make_training_graph(tiny_model, TrainConfig(scheme=f"bias-only:{k}"))
    layers = find_layers(tg)
    first = tg.nodes[layers[-k].node].outputs[0]
    prod = tg.producer()
    first_idx = prod[first]
    bwd = [n for n in tg.nodes if n.phase == "bwd"]
    assert bwd, "no backward pass at all"
    assert not any(n.op.endswith("grad_weight") for n in bwd)
    for n in bwd:
        for v in n.inputs:
            if v in prod and tg.nodes[prod[v]].phase == "fwd":
                assert prod[v] >= first_idx, f"{n.op} reads {v}, before the trained layers"
    updated = {n.inputs[0] for n in tg.nodes if n.op == "sgd_update"}
    assert updated == {L.bias for L in layers[-k:]}


def test_full_scheme_updates_every_parameter(tiny_model):
    tg = make_training_graph(tiny_model, TrainConfig(scheme="full"))
    updated = {n.inputs[0] for n in tg.nodes if n.op == "sgd_update"}
    assert updated == set(tiny_model.params())
    assert not [n for n in make_training_graph(tiny_model, TrainConfig(scheme="none")).nodes
                if n.phase != "fwd"]


@pytest.mark.parametrize("storage", ["int8", "fp32"])
def test_channel_fraction_trains_and_saves_only_selected_channels(tiny_model, storage):
    # layer 1 = blk.pw1 (1x1, 8 input channels), layer 2 = blk.dw (depthwise, 16 channels)
    scheme = {"bias_last": 0, "weights": {"1": 0.25, "2": 0.5}}
    tg = make_training_graph(tiny_model, TrainConfig(scheme=scheme, storage=storage, lr=0.5))
    info = {L["index"]: L for L in tg.meta["train"]["layers"]}
    ch1, ch2 = info[1]["channels"], info[2]["channels"]
    assert len(ch1) == 2 and len(ch2) == 8
    # selected = largest L2 norm of the weight slice
    w1 = tiny_model.consts["blk.pw1.w"].astype(np.float64)
    assert set(ch1) == set(np.argsort(-np.sqrt((w1 ** 2).sum(axis=(0, 2, 3))))[:2])
    gathers = [n for n in tg.nodes if n.op == "gather_channels"]
    assert sorted(tuple(n.attrs["channels"]) for n in gathers) == sorted([tuple(ch1), tuple(ch2)])
    for n in gathers:
        assert n.phase == "fwd"
        assert tg.values[n.outputs[0]].shape[1] == len(n.attrs["channels"])
        for c in tg.consumers()[n.outputs[0]]:
            assert tg.nodes[c].op == "conv2d_grad_weight"
    # no weight gradient reads the full inputs of those layers; the only backward reader is
    # the clamp mask of the previous trained layer's own output
    for L in find_layers(tg)[1:3]:
        xin = tg.nodes[L.node].inputs[0]
        readers = [tg.nodes[i] for i in tg.consumers()[xin]]
        assert all(n.phase == "fwd" or n.op == "clamp_grad" for n in readers)
    solo = make_training_graph(tiny_model, TrainConfig(scheme={"weights": {"2": 0.5}}))
    xin = solo.nodes[find_layers(solo)[2].node].inputs[0]
    assert all(solo.nodes[i].phase == "fwd" for i in solo.consumers()[xin])
    tr = ReferenceTrainer(tg)
    x, y = _data(6)
    before = {k: v.copy() for k, v in tr.state.items()}
    tr.fit(x, y, epochs=2)
    if storage == "int8":
        w1_new, w2_new = tr.state["blk.pw1.w"], tr.state["blk.dw.w"]
        w1_old, w2_old = before["blk.pw1.w"], before["blk.dw.w"]
        others1 = [c for c in range(8) if c not in ch1]
        others2 = [c for c in range(16) if c not in ch2]
        assert np.array_equal(w1_new[:, others1], w1_old[:, others1])
        assert np.array_equal(w2_new[others2], w2_old[others2])
        assert not np.array_equal(w1_new[:, ch1], w1_old[:, ch1])
        assert not np.array_equal(w2_new[ch2], w2_old[ch2])
    else:
        m1 = tr.state["blk.pw1.w.master"]
        assert m1.shape == (16, 2, 1, 1) and tr.state["blk.dw.w.master"].shape == (8, 1, 3, 3)
        assert not np.array_equal(m1, before["blk.pw1.w.master"])


def test_qas_factors_are_inverse_square_scales(tiny_model):
    on = make_training_graph(tiny_model, TrainConfig(scheme="last:2", qas=True))
    off = make_training_graph(tiny_model, TrainConfig(scheme="last:2", qas=False))
    upd_on = {n.inputs[0]: n for n in on.nodes if n.op == "sgd_update"}
    upd_off = {n.inputs[0]: n for n in off.nodes if n.op == "sgd_update"}
    x, y = _data(1)
    env_on = run(on, _feeds(on, x, int(y[0]), lr=0.1), keep_all=True)
    env_off = run(off, _feeds(off, x, int(y[0]), lr=0.1), keep_all=True)
    for L in find_layers(tiny_model)[-2:]:
        node = tiny_model.nodes[L.node]
        s_w = np.asarray(tiny_model.values[L.weight].q.scale)
        s_x = tiny_model.values[node.inputs[0]].q.s
        for p, expect in ((L.weight, 1 / s_w ** 2), (L.bias, 1 / (s_w * s_x) ** 2)):
            assert upd_off[p].attrs["qas"] is None
            assert np.allclose(upd_on[p].attrs["qas"], expect, rtol=1e-6)
            g = env_on[upd_on[p].inputs[1]]
            assert np.array_equal(g, env_off[upd_off[p].inputs[1]])
            # the float step that goes into stochastic rounding, with and without QAS
            f = np.asarray(upd_on[p].attrs["qas"], np.float32).reshape((-1,) + (1,) * (g.ndim - 1))
            step_on = -(np.float32(0.1) * (g * f))
            step_off = -(np.float32(0.1) * g)
            nz = step_off != 0
            ratio = step_on[nz] / step_off[nz]
            assert np.allclose(ratio, np.broadcast_to(expect.reshape(f.shape), g.shape)[nz], rtol=1e-5)


def test_qas_step_equals_plain_step_times_factor_in_fp32():
    param = np.zeros((4, 3), np.float32)
    rng = np.random.default_rng(0)
    g = rng.normal(size=(4, 3)).astype(np.float32)
    f = (1 / rng.uniform(0.001, 0.01, 4) ** 2).astype(np.float32)
    plain, _ = sgd_reference(param, g, 0.01, 0, None, dict(qas=None))
    scaled, _ = sgd_reference(param, g, 0.01, 0, None, dict(qas=tuple(f.tolist())))
    assert np.allclose(scaled, plain * f[:, None], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.int8, np.int32])
def test_stochastic_rounding_is_unbiased_and_reproducible(dtype):
    n = 200_000
    param = np.zeros(n, dtype)
    g = np.full(n, -0.37, np.float32)  # step = -lr * g = +0.37 of a quantization step
    a = dict(qas=None, seed=7, param_id=3)
    new, _ = sgd_reference(param, g, 1.0, 5, None, a)
    assert set(np.unique(new)) <= {0, 1}
    assert abs(new.mean() - 0.37) <= 0.01 * 0.37
    again, _ = sgd_reference(param, g, 1.0, 5, None, a)
    assert np.array_equal(new, again)
    other, _ = sgd_reference(param, g, 1.0, 6, None, a)
    assert not np.array_equal(new, other)
    # over many steps a single weight moves by the float step on average
    w = np.zeros(1, dtype)
    steps = [sgd_reference(w, np.array([-0.37], np.float32), 1.0, t, None, a)[0][0] for t in range(4000)]
    assert abs(np.mean(steps) - 0.37) <= 0.02


def test_training_learns_and_storage_options_agree_in_spirit():
    g = tiny_int8_model(seed=5)
    x, y = _data(10, seed=2)
    for storage in ("int8", "fp32"):
        tr = ReferenceTrainer(make_training_graph(g, TrainConfig(scheme="last:2", storage=storage,
                                                                 lr=0.01, classes=5)))
        hist = tr.fit(x, y, epochs=15)
        assert hist[-1]["loss"] < 0.6 * hist[0]["loss"], (storage, hist)
        assert tr.evaluate(x, y) >= 0.8


def test_fresh_head_is_float_and_always_trains(tiny_model):
    tg = make_training_graph(tiny_model, TrainConfig(scheme="none", classes=3))
    logits = tg.values[tg.meta["train"]["logits"]]
    assert logits.dtype == "f32" and logits.shape == (1, 3)
    updated = {n.inputs[0] for n in tg.nodes if n.op == "sgd_update"}
    assert updated == {"head.w", "head.b"}
    assert not any(n.op == "cls" for n in tg.nodes)
