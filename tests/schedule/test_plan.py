"""The memory plan is a value (schedule/plan.py): the generated C places every buffer where
the plan says, compile's RAM figures are the plan's, and pricing a scheme builds no C."""
from __future__ import annotations

import re

import pytest

from mcutrain.autodiff import TrainConfig
from mcutrain.compile import build_training_graph, compile_model
from mcutrain.schedule.memory import ALIGN
from mcutrain.schedule.plan import PlanError, plan_training

from ..conftest import tiny_int8_model

SCHEMES = ["full", {"bias_last": 4, "weights": {"1": 0.5, "2": 0.25, "3": 1, "5": 1}}]


def _defines(src: str) -> dict:
    """'#define OFF_<tag>_<name> <offset> /* ... %<buffer> */' -> {(tag, buffer): offset}."""
    out = {}
    for tag, off, name in re.findall(r"^#define OFF_([TF])_\w+ (\d+) /\*.*%(\S+) \*/$", src, re.M):
        out[(tag, name)] = int(off)
    return out


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("storage", ["int8", "fp32"])
def test_generated_c_uses_the_plan(tmp_path, scheme, storage):
    g = tiny_int8_model(seed=4)
    rep = compile_model(g, tmp_path / "out", update=scheme, storage=storage, classes=4)
    tg = build_training_graph(g, TrainConfig(scheme=scheme, storage=storage, classes=4))
    mp = plan_training(tg)
    src = (tmp_path / "out" / "model.c").read_text() + (tmp_path / "out" / "model.h").read_text()
    want = {(tag, name): fp.plan.offsets[name] for tag, fp in (("T", mp.train), ("F", mp.forward))
            for name in fp.plan.offsets}
    assert _defines(src) == want
    arena = int(re.search(r"#define MCT_ARENA_BYTES (\d+)", src).group(1))
    assert arena == max(mp.arena_bytes, ALIGN)
    for k, v in mp.ram().items():
        assert rep[k] == v, k
    assert rep["frozen_params_flash_bytes"] == mp.storage.flash_bytes()


def test_pricing_a_scheme_builds_no_c(monkeypatch):
    """measure_memory (the planner's memory cost) reads the plan alone."""
    import mcutrain.codegen.c as cgen
    from mcutrain.autodiff.head import replace_head
    from mcutrain.sparse.jobs import measure_memory

    g = replace_head(tiny_int8_model(seed=1), 5, 0)
    scheme = {"bias_last": 2, "weights": {"2": 0.5}}
    want = measure_memory(g, scheme, flash=True)

    def refuse(*a, **k):
        raise AssertionError("the code generator was used to price a scheme")

    for name in ("generate", "CGen", "FuncGen"):
        monkeypatch.setattr(cgen, name, refuse)
    got = measure_memory(g, scheme)
    assert got["ram_bytes"] == want["ram_bytes"] and got["flash_bytes"] is None
    assert got["arena_bytes"] == want["arena_bytes"]


def test_plan_rejects_what_the_c_cannot_run():

    g = tiny_int8_model(seed=0, linear_head=True)
    tg = build_training_graph(g, TrainConfig(scheme={"bias_last": 2, "weights": {"5": 0.5}}))
    with pytest.raises(PlanError, match="channel-fraction training of an int8 linear"):
        plan_training(tg)
