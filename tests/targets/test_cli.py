"""`mcutrain build` and `mcutrain train --target qemu-m4|qemu-m7`: the same training as the
host target, inside the emulator (what CI runs)."""
from __future__ import annotations

import json
import shutil

import numpy as np

from mcutrain.cli import main
from mcutrain.ir.serialize import save_graph

from ..conftest import tiny_int8_model
from .conftest import needs_qemu, quadrant_data

pytestmark = needs_qemu


def test_cli_build_and_train_in_qemu_equal_the_host(tmp_path, capsys):
    save_graph(tiny_int8_model(hw=12), tmp_path / "tiny.npz")
    x, y = quadrant_data()
    data = tmp_path / "data.npz"
    np.savez(data, x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    dev, host = tmp_path / "dev", tmp_path / "host"
    assert main(["compile", str(tmp_path / "tiny.npz"), "-o", str(dev), "--update", "last:3",
                 "--classes", "3", "--lr", "0.05", "--ram", "256KB", "--flash", "1MB"]) == 0
    shutil.copytree(dev, host)
    assert main(["build", str(dev), "--target", "cortex-m4"]) == 0
    out = capsys.readouterr().out
    assert "for cortex-m4 (mps2-an386)" in out and "instructions per training step" in out
    rep = json.loads((dev / "report.json").read_text())["device"]["cortex-m4"]
    assert rep["ram_used_bytes"] <= 256 * 1024 and rep["instructions_per_step"] > 0

    assert main(["train", str(dev), "--target", "qemu-m4", "--data", str(data), "--epochs", "3",
                 "--quiet"]) == 0
    assert main(["train", str(host), "--data", str(data), "--epochs", "3", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "instructions/step" in printed and "test acc" in printed
    dlog = json.loads((dev / "train_log.json").read_text())
    hlog = json.loads((host / "train_log.json").read_text())
    for d, h in zip(dlog["epochs"], hlog["epochs"], strict=True):
        assert abs(d["loss"] - h["loss"]) <= 1e-5 * abs(h["loss"])
        assert d["train_acc"] == h["train_acc"] and d["test_acc"] == h["test_acc"]
    assert dlog["epochs"][1]["loaded"] == "flash"  # epoch 2 started from the saved flash
    with np.load(dev / "params.npz") as a, np.load(host / "params.npz") as b:
        assert a.files == b.files
        for k in a.files:
            if a[k].dtype == np.float32:
                np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-7)
            else:
                assert np.array_equal(a[k], b[k]), k
    # the device-trained parameters evaluate on the host
    assert main(["eval", str(dev), "--data", str(data)]) == 0
    assert json.loads((dev / "eval.json").read_text())["accuracy"] >= 0.8
    # and a new emulator start resumes from the flash (not from params.npz)
    assert main(["train", str(dev), "--target", "qemu-m4", "--data", str(data), "--quiet"]) == 0
    log = json.loads((dev / "train_log.json").read_text())
    assert log["epochs"][0]["loaded"] == "flash"
