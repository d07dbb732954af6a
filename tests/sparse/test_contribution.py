"""Contribution analysis: the prefix cut, the memory measurement and the gains."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mcutrain.compile import compile_model
from mcutrain.data.datasets import to_int8_hwc
from mcutrain.sparse.contribution import Contributions, analyze, stratified_split, weight_options
from mcutrain.sparse.jobs import int8_cut, measure_memory
from mcutrain.sparse.plan import make_engine
from mcutrain.targets.host import CompiledModel

from .conftest import PROTO


@pytest.mark.parametrize("scheme", ["none", "full", {"bias_last": 3, "weights": {"3": 0.5}},
                                    {"bias_last": 0, "weights": {"2": 0.5, "4": 1}}])
def test_memory_only_path_equals_compile(tiny_graph, tmp_path, scheme):
    """measure_memory skips formatting the C, not the plan: same ram_bytes as compile."""
    rep = compile_model(tiny_graph, tmp_path / "out", update=scheme, classes=5)
    from mcutrain.autodiff.head import replace_head

    g = replace_head(tiny_graph, 5, 0)
    assert measure_memory(g, scheme)["ram_bytes"] == rep["ram_bytes"]
    assert measure_memory(g, scheme, flash=True)["flash_bytes"] == rep["flash_bytes"]


def test_cut_is_int8_and_before_the_layer(tiny_graph):
    from mcutrain.autodiff.head import replace_head
    from mcutrain.autodiff.scheme import find_layers

    g = replace_head(tiny_graph, 5, 0)
    layers = find_layers(g)
    for i in range(len(layers)):
        k, v, suffix, off = int8_cut(g, i)
        assert g.values[v].dtype == "i8" and off <= i and k <= layers[i].node
        assert len(find_layers(suffix)) == len(layers) - off
    # the fresh head's input is float: its cut is the pooled int8 tensor before it
    assert int8_cut(g, len(layers) - 1)[1] == "pool"


def _train_full_model(g_head, scheme, data, split, tmp_path):
    """The same run as finetune_job, on the whole compiled model fed with images."""
    compile_model(g_head, tmp_path / "full", update=scheme, lr=PROTO.lr, seed=PROTO.seed)
    cm = CompiledModel(tmp_path / "full")
    x = to_int8_hwc(np.concatenate([data["x_train"], data["x_test"]]))
    y = np.concatenate([data["y_train"], data["y_test"]])
    rng = np.random.default_rng(PROTO.seed)
    total, step = PROTO.epochs * len(split["train"]), 0
    for _ in range(PROTO.epochs):
        for i in rng.permutation(split["train"]):
            cm.lr = PROTO.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            cm.train_step(x[i], int(y[i]))
            step += 1
    right = [bool(np.argmax(cm.forward(x[i])) == y[i]) for i in split["val"]]
    return float(np.mean(right)), cm, "".join("1" if r else "0" for r in right)


def test_suffix_run_equals_full_model_run(tiny_graph, tiny_task_data, tmp_path, plan_cache):
    """A run on the cached prefix tensors trains exactly as the full model on the images."""
    eng = make_engine(tiny_graph, tiny_task_data, classes=5, runner="serial",
                      cache_dir=plan_cache, protocol=PROTO, progress=False)
    scheme = {"bias_last": 2, "weights": {"4": 0.5}}
    run = eng.finetune([scheme])[0]
    assert run["cut_layer"] == 4 and run["cut_node"] > 0
    split = dict(np.load(eng.task.dir / "split.npz"))
    acc, _, right = _train_full_model(eng.task.graph, scheme, tiny_task_data, split, tmp_path)
    assert run["val_acc"] == acc and run["val_right"] == right and len(right) == len(split["val"])
    assert run["test_right"].count("1") == round(run["test_acc"] * len(split["test"]))


def test_stratified_split_keeps_class_shares():
    y = np.repeat(np.arange(4), 25)
    tr, va = stratified_split(y, 0.2, 0)
    assert len(va) == 20 and len(tr) == 80 and not set(tr) & set(va)
    assert np.all(np.bincount(y[va]) == 5)


def test_weight_options_collapse_equal_channel_counts(tiny_graph):
    opts = weight_options(tiny_graph, ratios=(0.125, 0.25, 0.5, 1.0), fresh_head=False)
    by_layer = {}
    for i, r in opts:
        by_layer.setdefault(i, []).append(r)
    assert by_layer[0] == [0.125, 1.0]  # stem: 3 input channels -> 1 or 3
    assert by_layer[2] == [0.125, 0.25, 0.5, 1.0]  # depthwise, 16 channels
    assert 5 in by_layer  # the model's own classifier is a layer like any other
    assert 5 not in {i for i, _ in weight_options(tiny_graph, fresh_head=True)}


def test_gains_are_relative_to_base_and_best_bias():
    c = Contributions(4, True, dict(acc=0.5, ram=100),
                      {0: dict(acc=0.5, ram=100), 2: dict(acc=0.7, ram=120), 3: dict(acc=0.6, ram=130)},
                      2, {(1, 1.0): dict(acc=0.75, ram=150)})
    assert c.bias_gain(2) == pytest.approx(0.2) and c.bias_gain(3) == pytest.approx(0.1)
    assert c.weight_gain(1, 1.0) == pytest.approx(0.05)
    assert Contributions.from_json(c.to_json()) == c


def test_loss_metric_gains_are_loss_decreases_and_the_prediction_stays_in_accuracy():
    bias = {0: dict(acc=0.5, loss=1.0, ram=100), 2: dict(acc=0.7, loss=0.8, ram=120),
            3: dict(acc=0.72, loss=0.9, ram=130)}
    weights = {(1, 1.0): dict(acc=0.68, loss=0.7, ram=150), (2, 0.5): dict(acc=0.75, loss=0.85, ram=140)}
    c = Contributions(4, True, bias[0], bias, 2, weights, metric="loss")
    assert c.bias_gain(2) == pytest.approx(0.2) and c.bias_gain(3) == pytest.approx(0.1)
    assert c.weight_gain(1, 1.0) == pytest.approx(0.1) and c.weight_gain(2, 0.5) == pytest.approx(-0.05)
    assert c.bias_gain(3, "acc") == pytest.approx(0.22)  # either measure on request
    # the prediction: base accuracy + the measured accuracy gains of what the scheme trains
    assert c.predicted_acc({"bias_last": 2, "weights": {"1": 1.0, "2": 0.5}}) == pytest.approx(0.5 + 0.2 - 0.02 + 0.05)
    assert c.predicted_acc({"bias_last": 3, "weights": {"3": 1.0}}) == pytest.approx(0.72)  # 3 unmeasured
    assert Contributions.from_json(c.to_json()) == c


def test_analyze_rejects_an_unknown_metric():
    with pytest.raises(ValueError, match="metric must be one of"):
        analyze(None, metric="f1")
