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
    """'#define NAME <int>' and '#define NAME ((T *)(mct_arena + OFF + pos))' -> {NAME: bytes}."""
    out = {k: int(v) for k, v in re.findall(r"^#define (\w+) (\d+)\b", src, re.M)}
    for k, off, pos in re.findall(r"^#define (\w+) \(\(\w+ \*\)\(mct_arena \+ (\w+)(?: \+ (\d+))?\)\)",
                                  src, re.M):
        out[k] = out[off] + int(pos or 0)
    return out


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("storage", ["int8", "fp32"])
def test_generated_c_uses_the_plan(tmp_path, scheme, storage):
    """Every region of arena.h sits at the plan's offset, every named pointer at its value's
    planned position, and the arena is the plan's size."""
    from mcutrain.codegen.c import c_ident
    from mcutrain.codegen.model import generate

    g = tiny_int8_model(seed=4)
    rep = compile_model(g, tmp_path / "out", update=scheme, storage=storage, classes=4)
    tg = build_training_graph(g, TrainConfig(scheme=scheme, storage=storage, classes=4))
    mp = plan_training(tg)
    gen = generate(tg, mp)
    src = "\n".join((tmp_path / "out" / f).read_text() for f in ("arena.h", "model.h"))
    got = _defines(src)
    for fg in (gen.train, gen.infer):
        fp = fg.fp
        for b in fp.plan.buffers:
            assert got[fg.off(b.name)] == fp.plan.offsets[b.name], b.name
        assert fg.names  # the named pointers the kernel calls pass
        for v in {v for n in fp.nodes for v in list(n.inputs) + list(n.outputs)}:
            name = c_ident(v, fg.tag.lower() + "_")
            if name in fg.names:
                root, pos = fp.position(v)
                assert got[name] == fp.plan.offsets[root] + pos, v
    assert got["MCT_ARENA_BYTES"] == max(mp.arena_bytes, ALIGN)
    for k, v in mp.ram().items():
        assert rep[k] == v, k
    assert rep["frozen_params_flash_bytes"] == mp.storage.flash_bytes()


def test_pricing_a_scheme_builds_no_c(monkeypatch):
    """measure_memory (the planner's memory cost) reads the plan alone."""
    import mcutrain.codegen.c as cgen
    import mcutrain.codegen.model as cmodel
    from mcutrain.autodiff.head import replace_head
    from mcutrain.sparse.jobs import measure_memory

    g = replace_head(tiny_int8_model(seed=1), 5, 0)
    scheme = {"bias_last": 2, "weights": {"2": 0.5}}
    want = measure_memory(g, scheme, flash=True)

    def refuse(*a, **k):
        raise AssertionError("the code generator was used to price a scheme")

    for name in ("CGen", "FuncGen"):
        monkeypatch.setattr(cgen, name, refuse)
    monkeypatch.setattr(cmodel, "generate", refuse)
    got = measure_memory(g, scheme)
    assert got["ram_bytes"] == want["ram_bytes"] and got["flash_bytes"] is None
    assert got["arena_bytes"] == want["arena_bytes"]


def test_plan_rejects_what_the_c_cannot_run():

    g = tiny_int8_model(seed=0, linear_head=True)
    tg = build_training_graph(g, TrainConfig(scheme={"bias_last": 2, "weights": {"5": 0.5}}))
    with pytest.raises(PlanError, match="channel-fraction training of an int8 linear"):
        plan_training(tg)
