"""`mcutrain train --target qemu-m4|qemu-m7`: training inside the emulator, epoch by epoch
(targets/qemu.py runs the device program; this drives it as the train command)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..artifacts import PARAMS_FILE, input_hwc, input_q, read_params, read_report, write_params
from ..data.datasets import load_dataset, to_int8_hwc
from ..errors import DivergedError, check_range
from ..outdir import atomic_write_text, check_our_output
from ..progress import bar as progress_bar
from ..targets.cortex_m import cpu_of
from ..targets.qemu import (EXIT_DIVERGED, JOB_DUMP, JOB_LOAD, JOB_LOGITS, JOB_SAVE, DeviceResult,
                            DeviceRunner, newest_slot)
from .common import check_labels, diverged_message


def _timeout(runner: DeviceRunner, n: int) -> float:
    """Generous wall-clock limit for n steps (QEMU: about 1e8 to 1e9 instructions per second)."""
    per = (runner.info.get("instructions_per_step") or
           30 * runner.report.get("macs_per_step", 0) + 5e6)
    return 120.0 + n * per / 5e7


def _start_params(runner: DeviceRunner, out_dir: Path):
    """Where the device starts: its flash when a valid slot is there; otherwise params.npz
    (the host's last training) sent in the job; otherwise the compiled-in parameters."""
    if newest_slot(runner) is not None:
        return None, 0
    p = out_dir / PARAMS_FILE
    if not p.exists():
        return None, 0
    return read_params(p, runner.layout)


def _epoch_job(runner, xi, y, order, test, lr, params, step):
    flags = JOB_LOAD | JOB_SAVE | JOB_LOGITS | JOB_DUMP
    return runner.job(train=(xi[order], y[order]), evals=test, flags=flags, lr=lr,
                      params=params, step=step)


def train_device(out_dir, data, target: str = "qemu-m7", epochs: int = 1, lr: float | None = None,
                 seed: int = 0, progress: bool = True, echo=print,
                 limit: int | None = None) -> dict:
    """`mcutrain train --target qemu-m4|qemu-m7`: every epoch is one emulator start that loads
    the parameters from its flash, trains on the shuffled samples (the host's order), runs the
    test split forward, and saves the parameters back to flash. Writes params.npz and
    train_log.json like the host target. When the device's divergence guard stops a run, the
    device reloads its last saved parameters and saves nothing; params.npz gets those (or is
    left as it was) and DivergedError says so."""
    out = check_our_output(out_dir)
    if lr is not None:
        check_range("--lr", lr, 0, lo_open=True)
    cpu_of(target)
    rep = read_report(out)  # the data is checked before anything is built
    classes = int(rep["classes"])
    mse = rep.get("loss") == "mse"  # a reconstruction: no labels (zeros), the input is the target
    ds = load_dataset(data, input_hwc(rep), input_q(rep), labels=not mse)
    x, y = ds["x_train"], np.asarray(ds["y_train"])
    if limit:
        x, y = x[:limit], y[:limit]
    if not mse:
        check_labels(y, classes, "y_train", data)
    test = None
    if "x_test" in ds:
        if not mse:
            check_labels(ds["y_test"], classes, "y_test", data)
        test = (to_int8_hwc(ds["x_test"]), np.asarray(ds["y_test"]))
    runner = DeviceRunner(out, target)
    xi = to_int8_hwc(x)
    rng = np.random.default_rng(seed)
    params, step = _start_params(runner, out)
    log = dict(model=runner.report.get("model"), scheme=runner.report.get("scheme"),
               target=target, cpu=runner.cpu.name, machine=runner.cpu.machine,
               lr=lr if lr else runner.report.get("config", {}).get("lr"),
               epochs=[], samples=len(x))
    res = None
    for ep in range(1, epochs + 1):
        order = rng.permutation(len(x))
        job = _epoch_job(runner, xi, y, order, test, lr, params, step)
        params = None  # from now on the device resumes from its flash
        res = _run_epoch(runner, job, len(order) + (len(test[0]) if test else 0), ep, epochs,
                         progress)
        if res.diverged is not None:
            return _device_diverged(out, res, log, ep, log["lr"])
        rec = _epoch_record(ep, res, y[order], test, log)
        extra = f"  test acc {rec['test_acc']:.3f}" if test else ""
        echo(f"epoch {ep}: loss {rec['loss']:.4f}  train acc {rec['train_acc']:.3f}{extra}  "
             f"({rec['steps_per_second']} steps/s in QEMU; "
             f"{rec['instructions_per_step'] / 1e6:.2f} M instructions/step, "
             f"~{rec['device_seconds_216mhz']:.1f} s at 216 MHz)")
    if res is not None:
        write_params(out, res.params_dict(), res.end["step"])
    atomic_write_text(out / "train_log.json", json.dumps(log, indent=1))
    return log


def _device_diverged(out: Path, res: DeviceResult, log: dict, ep: int, lr) -> dict:
    """The device stopped a diverged run: keep what it reloaded, log it, raise."""
    d = res.diverged
    step = res.header["start_step"] + d["sample"] + 1
    restored = d["restored"] and res.params is not None
    kept = (f"its last save to flash (step {res.end['step']})" if restored else
            "the start of this run (no save in flash yet)")
    info = dict(step=step, epoch=ep, loss=d["loss"], reason=d["reason"], kept=kept)
    log["diverged"] = info
    if restored:
        write_params(out, res.params_dict(), res.end["step"])
    atomic_write_text(out / "train_log.json", json.dumps(log, indent=1))
    raise DivergedError("on the device: " + diverged_message(info, float(lr or 0), kept))


def _run_epoch(runner, job, total, ep, epochs, progress) -> DeviceResult:
    bar = progress_bar(total=total, desc=f"epoch {ep}/{epochs} (QEMU {runner.cpu.name})",
                       leave=False, enabled=progress)

    def on_progress(k):
        if k > bar.n:
            bar.update(min(k, total) - bar.n)

    try:
        res = runner.run(job, timeout=_timeout(runner, total), on_progress=on_progress,
                         check=False)
    finally:
        bar.close()
    if res.rc != 0 and not (res.rc == EXIT_DIVERGED and res.diverged is not None):
        raise runner.failure(res)
    return res


def _epoch_record(ep, res, labels, test, log) -> dict:
    losses = np.array([t["loss"] for t in res.train], np.float64)
    if not np.all(np.isfinite(losses)):
        bad = int(np.argmin(np.isfinite(losses)))
        raise FloatingPointError(f"loss became {losses[bad]} at step "
                                 f"{res.header['start_step'] + bad + 1}: lower --lr")
    pred = np.array([int(np.argmax(t["logits"])) for t in res.train])
    ins = np.array([t["instructions"] for t in res.train], np.float64)
    wall = max(res.wall_seconds, 1e-9)
    rec = dict(epoch=ep, loss=float(losses.mean()), train_acc=float(np.mean(pred == labels)),
               seconds=round(wall, 2), steps_per_second=round(len(losses) / wall, 1),
               instructions_per_step=float(ins.mean()),
               device_seconds_216mhz=round(float(ins.sum()) / 216e6, 2),
               loaded=res.header["loaded"], saved_seq=res.saves[-1]["seq"] if res.saves else None,
               stack_high_water_bytes=res.end["stack_high_water"])
    if test is not None:
        tp = np.array([int(np.argmax(e["logits"])) for e in res.evals])
        rec["test_acc"] = float(np.mean(tp == test[1]))
    log["epochs"].append(rec)
    return rec
