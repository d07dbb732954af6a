"""Blocks of weight-gradient rows (schedule/plan.py choose_blocks): as large as the arena allows, never
larger: the compiled RAM equals that of one row per step."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcutrain.schedule import plan as splan
from mcutrain.compile import compile_model

from ..conftest import shared_path

SCHEMES = Path(__file__).resolve().parents[2] / "bench" / "schemes"


@pytest.mark.parametrize("model,scheme", [("mbv2-w0.35", "99kb"), ("mcunet-5fps", "99kb")])
def test_weight_update_blocks_never_grow_the_arena(tmp_path, monkeypatch, model, scheme):
    from mcutrain.frontend.zoo import load_zoo

    g = load_zoo(shared_path("models", f"{model}.pkl"))
    update = json.loads((SCHEMES / f"{model}-{scheme}.json").read_text())
    blocks = compile_model(g, tmp_path / "blocks", update=update, classes=10)
    src = (tmp_path / "blocks" / "model.c").read_text()
    fused_blocks = src.count("mct_sgd_s8(&s, r, nr,") + src.count("mct_sgd_f32(&s, r, nr,")
    assert fused_blocks > 0  # some fused update does take blocks of rows
    monkeypatch.setattr(splan, "WG_BLOCK_BYTES", 0)  # one row per step everywhere
    rows = compile_model(g, tmp_path / "rows", update=update, classes=10)
    src1 = (tmp_path / "rows" / "model.c").read_text()
    assert "(&s, r, nr," not in src1
    assert blocks["arena_bytes"] == rows["arena_bytes"]
    assert blocks["ram_bytes"] == rows["ram_bytes"]
