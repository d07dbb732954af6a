"""The pass pipeline on the IR: pruning, reordering, fusions, in-place marks; and that no
pass changes any result."""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.autodiff import TrainConfig, make_training_graph
from mcutrain.compile import build_training_graph
from mcutrain.passes.pipeline import PIPELINE, run_pipeline
from mcutrain.ref.trainer import ReferenceTrainer

from ..conftest import tiny_int8_model

PARAM_GRAD_OPS = ("conv2d_grad_weight", "linear_grad_weight", "conv2d_grad_bias")


def _param_grad_lifetimes(g):
    cons = g.consumers()
    spans = []
    for i, n in enumerate(g.nodes):
        if n.op in PARAM_GRAD_OPS:
            v = n.outputs[0]
            spans.append((i, max(cons.get(v, [i]))))
    return spans


def _overlapping(spans):
    return [(a, b) for k, a in enumerate(spans) for b in spans[k + 1:] if a[0] <= b[1] and b[0] <= a[1]]


def test_bias_only_computes_no_weight_gradient():
    tg = build_training_graph(tiny_int8_model(), TrainConfig(scheme="bias-only:3"))
    ops = {n.op for n in tg.nodes}
    assert not ops & {"conv2d_grad_weight", "linear_grad_weight", "weight_grad_update"}
    assert "sgd_update" in ops


def test_reordering_keeps_one_gradient_alive_at_a_time():
    g = tiny_int8_model()
    cfg = TrainConfig(scheme="full", classes=4)
    before = make_training_graph(g, cfg)  # updates at the end
    assert _overlapping(_param_grad_lifetimes(before)), "the test needs a graph with overlaps"
    from mcutrain.passes.order import reorder_updates

    after = reorder_updates(before)
    assert not _overlapping(_param_grad_lifetimes(after))
    # each update right after its gradient (or after the input gradient that reads the weight)
    full = build_training_graph(g, cfg)
    assert not _overlapping(_param_grad_lifetimes(full))
    assert not any(n.op == "conv2d_grad_weight" for n in full.nodes)  # fused row by row


def test_frozen_expansion_is_fused_and_inputs_overwritten_in_place():
    g = tiny_int8_model(hw=12)
    tg = build_training_graph(g, TrainConfig(scheme="bias-only:2", classes=3))
    ops = [n.op for n in tg.nodes]
    assert "expand_depthwise" in ops
    kinds = {n.attrs.get("inplace") for n in tg.nodes if n.attrs.get("inplace")}
    assert {"pointwise", "rows"} <= kinds


@pytest.mark.parametrize("storage,momentum", [("int8", 0.0), ("fp32", 0.9)])
@pytest.mark.parametrize("scheme", ["full", "bias-only:2", {"bias_last": 3, "weights": {"1": 0.5, "2": 0.5, "5": 1}}])
def test_every_pass_preserves_training_bit_for_bit(storage, momentum, scheme):
    g = tiny_int8_model(seed=2, hw=10)
    cfg = TrainConfig(scheme=scheme, storage=storage, momentum=momentum, classes=4, lr=0.02)
    base = make_training_graph(g, cfg)
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (6, 3, 10, 10)).astype(np.int8)
    y = rng.integers(0, 4, 6)
    ref = ReferenceTrainer(base)
    ref.fit(x, y, epochs=2)
    for k in range(2, len(PIPELINE) + 1):
        tr = ReferenceTrainer(run_pipeline(base, PIPELINE[:k]))
        tr.fit(x, y, epochs=2)
        for name in ref.state:
            assert np.array_equal(ref.state[name], tr.state[name]), (PIPELINE[k - 1].__name__, name)
