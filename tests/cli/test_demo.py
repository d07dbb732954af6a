"""The built-in default job (README's main command) and the CLI."""
from __future__ import annotations

import json

from mcutrain.cli import main
from mcutrain.demo import run_demo


def test_demo_adapts_the_int8_model_to_rotated_digits(tmp_path):
    lines = []
    res = run_demo(epochs=2, progress=False, json_path=str(tmp_path / "demo.json"), echo=lines.append)
    assert res["float_upright"] > 0.95
    assert abs(res["int8_upright"] - res["float_upright"]) <= 0.01
    assert res["before"] < 0.2
    assert res["after"] > res["before"] + 0.6
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["after"] == res["after"]
    assert any("BEFORE" in ln for ln in lines) and any("AFTER" in ln for ln in lines)


def test_cli_demo_rejects_a_bad_scheme(capsys):
    assert main(["demo", "--quiet", "--epochs", "1", "--scheme", "bogus"]) == 2
    assert "unknown update scheme" in capsys.readouterr().err
