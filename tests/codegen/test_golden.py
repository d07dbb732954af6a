"""Golden files: the generated C of one small model, byte for byte.

A change in the code generator shows up as a readable diff of tests/codegen/golden/. When
the change is meant, regenerate them and review the diff:

    MCT_UPDATE_GOLDEN=1 python -m pytest -q tests/codegen/test_golden.py
"""
from __future__ import annotations

import os
from pathlib import Path

from mcutrain.autodiff import TrainConfig
from mcutrain.codegen.model import FILES, generate
from mcutrain.compile import build_training_graph

from ..conftest import tiny_int8_model

GOLDEN = Path(__file__).resolve().parent / "golden"
# channel slices, a whole trained layer, biases, the fused updates with momentum
SCHEME = {"bias_last": 4, "weights": {"1": 0.5, "2": 0.25, "3": 1, "5": 1}}


def _files() -> dict:
    g = tiny_int8_model()
    tg = build_training_graph(g, TrainConfig(scheme=SCHEME, classes=4, lr=0.02, momentum=0.9))
    return generate(tg).files()


def test_generated_c_matches_the_golden_files():
    files = _files()
    assert set(files) == set(FILES)
    if os.environ.get("MCT_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        for name, text in files.items():
            (GOLDEN / name).write_text(text)
    for name, text in files.items():
        want = (GOLDEN / name).read_text()
        assert text == want, (f"{name} differs from tests/codegen/golden/{name}: regenerate with "
                              "MCT_UPDATE_GOLDEN=1 (see this file's docstring) if that is meant")


def test_generation_is_deterministic():
    assert _files() == _files()


def test_model_c_reads_like_a_training_loop():
    """The training step comes first (weights in weights.inc, the plan in arena.h), kernel
    arguments are named buffers, structs have designated initializers."""
    files = _files()
    lines = files["model.c"].splitlines()
    step = next(i for i, ln in enumerate(lines) if ln.startswith("float mct_train_step("))
    assert step < 25
    assert "mct_arena" not in files["model.c"] and "static const" not in files["model.c"]
    assert "static const mct_conv_geom G_stem = {.in_h = 8," in files["weights.inc"]
