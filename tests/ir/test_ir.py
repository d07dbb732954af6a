"""IR: printer round trip, verifier errors, builder naming."""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.autodiff import TrainConfig, make_training_graph
from mcutrain.ir import QParams
from mcutrain.ops.builder import GraphBuilder
from mcutrain.ir.graph import Node
from mcutrain.ir.printer import format_graph, parse_graph
from mcutrain.ops.verify import VerifyError, verify
from mcutrain.ref.interp import InterpError, run

from ..conftest import tiny_int8_model


def test_print_parse_round_trip_of_a_training_graph():
    tg = make_training_graph(tiny_int8_model(), TrainConfig(scheme="last:3", momentum=0.9))
    text = format_graph(tg, full=True)
    back = parse_graph(text, tg.consts)
    verify(back)
    assert format_graph(back, full=True) == text
    assert [n.phase for n in back.nodes] == [n.phase for n in tg.nodes]
    x = np.random.default_rng(0).integers(-128, 128, (1, 3, 8, 8)).astype(np.int8)
    feeds = {"x": x, "label": np.array([2], np.int32), "lr": np.float32(0.01), "step": np.int32(0)}
    a, b = run(tg, feeds), run(back, feeds)
    for k in a:
        assert np.array_equal(a[k], b[k])


def test_readable_printer_abbreviates_and_shows_sections():
    tg = make_training_graph(tiny_int8_model(), TrainConfig(scheme="bias-only:1"))
    text = str(tg)
    assert "# backward" in text and "# update" in text
    assert "<16 values>" in text
    assert "%stem:i8[1,8,8,8]" in text and "= conv2d[" in text


def _tiny():
    b = GraphBuilder()
    x = b.input("x", (1, 4), "f32")
    w = b.param("w", np.ones((3, 4)), "f32")
    bb = b.param("b", np.zeros(3), "f32")
    y = b.emit1("linear", [x, w, bb], name="y")
    return b.build([y])


def test_verifier_names_the_problem():
    g = _tiny()
    verify(g)
    bad = g.replace(nodes=(Node("linear", ("x", "w", "nope"), ("y",), {}),))
    with pytest.raises(VerifyError, match="nope"):
        verify(bad)
    twice = g.replace(nodes=g.nodes + g.nodes)
    with pytest.raises(VerifyError, match="defined twice"):
        verify(twice)
    unknown = g.replace(nodes=(Node("frobnicate", ("x",), ("y",), {}),))
    with pytest.raises(VerifyError, match="unsupported op 'frobnicate'"):
        verify(unknown)
    wrong = dict(g.consts, w=np.ones((3, 5), np.float32))
    with pytest.raises(VerifyError, match="data"):
        verify(g.replace(consts=wrong))


def test_int8_values_need_qparams_and_builder_infers_shapes():
    b = GraphBuilder()
    with pytest.raises(ValueError, match="scales"):
        QParams.tensor(0.0)
    x = b.input("x", (1, 2, 4, 4), "i8", QParams.tensor(0.1, 3))
    y = b.emit1("global_avgpool", [x])
    assert b.value(y).shape == (1, 2, 1, 1) and b.value(y).q == QParams.tensor(0.1, 3)
    with pytest.raises(ValueError, match="cannot become"):
        b.emit1("reshape", [y], dict(shape=(3,)))


def test_interpreter_rejects_bad_feeds():
    g = _tiny()
    with pytest.raises(InterpError, match="missing feed"):
        run(g, {})
    with pytest.raises(InterpError, match="NaN"):
        run(g, {"x": np.full((1, 4), np.nan, np.float32)})
    with pytest.raises(InterpError, match="expected float32"):
        run(g, {"x": np.zeros((1, 4), np.float64)})
