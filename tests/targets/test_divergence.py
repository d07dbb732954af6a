"""The device's divergence guard (runtime guard.c in device/main.c): a loss that turns
non-finite or explodes stops the job, the last saved parameters come back from flash, nothing
diverged is ever written to flash, and `mcutrain train --target qemu-*` keeps params.npz."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcutrain.cli import main
from mcutrain.targets.qemu import (EXIT_DIVERGED, JOB_DUMP, JOB_LOAD, JOB_SAVE, DeviceResult,
                                   newest_slot, random_samples, read_slots)

from .conftest import compile_tiny, needs_qemu, quadrant_data

pytestmark = needs_qemu


@pytest.fixture(scope="module")
def fp32_runner(tmp_path_factory):
    """fp32 masters: an absurd learning rate makes the parameters themselves non-finite."""
    from mcutrain.targets.qemu import DeviceRunner

    out = tmp_path_factory.mktemp("fp32") / "out"
    compile_tiny(out, storage="fp32")
    return DeviceRunner(out, "cortex-m4")


def test_a_diverged_job_saves_nothing_and_reloads_the_last_save(fp32_runner):
    r = fp32_runner
    r.erase_flash()
    x, y = random_samples(r, 40, seed=3)
    good = r.run(r.job(train=(x[:4], y[:4]), flags=JOB_LOAD | JOB_SAVE | JOB_DUMP))
    before = [s["seq"] for s in read_slots(r)], newest_slot(r)["payload"]
    res = r.run(r.job(train=(x, y), flags=JOB_LOAD | JOB_SAVE | JOB_DUMP, lr=1e30), check=False)
    assert res.rc == EXIT_DIVERGED and res.diverged is not None
    assert res.diverged["restored"] and res.params == good.params  # the last save, reloaded
    assert len(res.train) < len(x)  # stopped at the divergence, not at the end
    assert not res.saves  # nothing written
    assert ([s["seq"] for s in read_slots(r)], newest_slot(r)["payload"]) == before


def test_periodic_saves_never_write_a_nonfinite_set(fp32_runner):
    """save_every: the guard, and the parameters' finiteness, are checked before each save."""
    r = fp32_runner
    r.erase_flash()
    x, y = random_samples(r, 12, seed=4)
    res = r.run(r.job(train=(x, y), flags=JOB_LOAD | JOB_DUMP, lr=1e30, save_every=1),
                check=False)
    assert res.rc == EXIT_DIVERGED and res.diverged["reason"] in ("non-finite", "exploded")
    assert len(res.train) < len(x)
    valid = [s for s in read_slots(r) if s["valid"]]
    assert len(valid) == len([s for s in res.saves if s["done"]])
    for s in valid:  # whatever was saved before the divergence is finite
        saved = DeviceResult(rc=0, stdout="", params=s["payload"], layout=r.layout).params_dict()
        assert all(np.all(np.isfinite(a)) for a in saved.values())


def test_cli_lr_1e9_in_qemu_leaves_the_previous_parameters(tmp_path, capsys):
    out = tmp_path / "out"
    compile_tiny(out)
    x, y = quadrant_data()
    data = tmp_path / "d.npz"
    np.savez(data, x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    assert main(["train", str(out), "--target", "qemu-m4", "--data", str(data), "--quiet"]) == 0
    good = (out / "params.npz").read_bytes()
    from mcutrain.targets.qemu import DeviceRunner

    r = DeviceRunner(out, "cortex-m4", build=False)
    flash_before = r.flash_image.read_bytes()
    assert main(["train", str(out), "--target", "qemu-m4", "--data", str(data), "--lr", "1e9",
                 "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "on the device" in err and len(err.strip().splitlines()) == 1
    assert (out / "params.npz").read_bytes() == good  # the flash's last save = the last run's
    assert r.flash_image.read_bytes() == flash_before  # nothing written to flash
    log = json.loads((out / "train_log.json").read_text())
    assert log["diverged"]["reason"] in ("non-finite", "exploded")
    # training goes on from the kept parameters
    assert main(["train", str(out), "--target", "qemu-m4", "--data", str(data), "--quiet"]) == 0
