"""Runs the Cortex-M build inside QEMU and speaks the device program's protocol
(runtime/device/mct_device.h): job.bin in, out.bin back, flash.bin as the persistent flash.

    r = DeviceRunner(OUT, "cortex-m7")            # builds OUT/cortex-m7/model.elf if needed
    res = r.run(r.job(train=(x, y), flags=...))   # one emulator start
    res.train[k]["loss"], res.train[k]["instructions"], res.params_dict()

Every run is one fresh emulator start: -icount shift=0 (instruction counts, repeatable run to
run), semihosting for the files, the flash image loaded into the parameter-store region with
QEMU's generic loader, and always a timeout.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DivergedError, McuError, check_range
from ..outdir import atomic_write_text, check_our_output
from ..progress import bar as progress_bar
from ..artifacts import input_hwc, read_params, read_report
from .cortex_m import BuildError, build_device, cpu_of, tool
from .host import NPT, SIZES

JOB_MAGIC, OUT_MAGIC, VERSION = 0x4A54434D, 0x5254434D, 1
JOB_PARAMS, JOB_LOAD, JOB_SAVE, JOB_DUMP, JOB_LOGITS, JOB_FAULT = 1, 2, 4, 8, 16, 32
REC_TRAIN, REC_EVAL, REC_SAVE0, REC_SAVE, REC_END, REC_PROFILE, REC_DIVERGED = 1, 2, 3, 4, 5, 6, 7
EXIT_DIVERGED = 7
GUARD_REASONS = {1: "non-finite", 2: "exploded"}  # MCT_GUARD_* (mct.h)
CALIB_INSNS = 2 << 20
JOB_HEADER = struct.Struct("<6If3I6I")  # mct_job: 64 bytes
OUT_HEADER = struct.Struct("<12I")  # mct_out_header: 48 bytes
RECORD = struct.Struct("<4I")
EXIT_CODES = {3: "semihosting file I/O failed", 4: "job.bin does not match this build",
              5: "a kernel returned an error status", 6: "stack overflow (raise --stack)",
              70: "simulated power cut", 93: "HardFault", 94: "MemManage fault",
              7: "training diverged", 95: "BusFault", 96: "UsageFault", 99: "unexpected exception",
              124: "timed out (killed by timeout)", 137: "killed"}


class DeviceRunError(McuError, RuntimeError):
    pass


@dataclass
class DeviceResult:
    rc: int
    stdout: str
    header: dict | None = None
    train: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    saves: list = field(default_factory=list)  # seq, crc, done, instructions
    end: dict | None = None
    profile: list = field(default_factory=list)  # (kernel index, calls, instructions)
    diverged: dict | None = None  # reason, loss, sample, restored (REC_DIVERGED)
    params: bytes | None = None
    layout: list = field(default_factory=list)
    wall_seconds: float = 0.0

    def params_dict(self) -> dict:
        """The dumped parameters by IR name (as CompiledModel.get_params gives them)."""
        if self.params is None:
            raise DeviceRunError("the job did not dump the parameters (JOB_DUMP)")
        out, off = {}, 0
        for name, d, shape in self.layout:
            n = int(np.prod(shape)) * SIZES[d]
            out[name] = np.frombuffer(self.params[off:off + n], NPT[d]).reshape(shape).copy()
            off += n
        return out


def parse_output(data: bytes, classes: int, with_logits: bool, params_bytes: int,
                 layout=()) -> DeviceResult:
    """out.bin -> DeviceResult; a truncated file (a killed run) gives what is complete."""
    res = DeviceResult(rc=0, stdout="", layout=list(layout))
    if len(data) < OUT_HEADER.size:
        return res
    h = OUT_HEADER.unpack_from(data)
    if h[0] != OUT_MAGIC:
        raise DeviceRunError("out.bin has no valid header")
    ratio = CALIB_INSNS / h[8] if h[8] else 1.0
    if abs(ratio - round(ratio)) < 1e-3 * ratio:  # 40: a 25 MHz timer, 1 ns per instruction
        ratio = float(round(ratio))
    res.header = dict(classes=h[2], params_bytes=h[3], loaded=("compiled", "flash", "job")[h[4]],
                      loaded_seq=h[5], start_step=h[6], stack_size=h[7], calib_ticks=h[8],
                      insns_per_tick=ratio)
    off, lbytes = OUT_HEADER.size, 4 * classes if with_logits else 0
    while off + RECORD.size <= len(data):
        kind, a, b, ticks = RECORD.unpack_from(data, off)
        extra = lbytes if kind in (REC_TRAIN, REC_EVAL) else 0
        if off + RECORD.size + extra > len(data):
            break
        logits = (np.frombuffer(data, np.float32, classes, off + RECORD.size).copy()
                  if extra else None)
        off += RECORD.size + extra
        insns = int(round(ticks * ratio))
        if kind == REC_TRAIN:
            loss = struct.unpack("<f", struct.pack("<I", b))[0]
            res.train.append(dict(status=a, loss=loss, ticks=ticks, instructions=insns,
                                  logits=logits))
        elif kind == REC_EVAL:
            res.evals.append(dict(status=a, ticks=ticks, instructions=insns, logits=logits))
        elif kind == REC_SAVE0:
            res.saves.append(dict(seq=a, crc=b, done=False, instructions=None))
        elif kind == REC_SAVE:
            res.saves[-1].update(done=True, instructions=insns)
        elif kind == REC_DIVERGED:
            loss = struct.unpack("<f", struct.pack("<I", b))[0]
            res.diverged = dict(reason=GUARD_REASONS.get(a & 0xFF, str(a & 0xFF)), loss=loss,
                                sample=ticks, restored=bool(a >> 8))
        elif kind == REC_PROFILE:
            res.profile.append((a, b, insns))
        elif kind == REC_END:
            res.end = dict(step=a, stack_high_water=b)
            if len(data) >= off + params_bytes:
                res.params = data[off:off + params_bytes]
            break
        else:
            raise DeviceRunError(f"out.bin: unknown record kind {kind}")
    return res


class DeviceRunner:
    """One Cortex-M build of a compile output and the emulator that runs it."""

    def __init__(self, out_dir, target: str = "cortex-m7", build: bool = True, bdir=None,
                 **build_kw):
        """bdir: the build folder (default OUT/<cpu>; build_device measures a new build
        under its temporary name before putting it in place)."""
        self.cpu = cpu_of(target)
        self.out = Path(out_dir).resolve()
        self.bdir = Path(bdir).resolve() if bdir else self.out / self.cpu.name
        self.info = build_device(self.out, self.cpu.name, **build_kw) if build else \
            json.loads((self.bdir / "build.json").read_text())["info"]
        self.report = read_report(self.out)
        self.classes = int(self.report["classes"])
        self.input_hwc = input_hwc(self.report)
        self.input_bytes = int(np.prod(self.input_hwc))
        self.layout = [(p["name"], p["dtype"], tuple(p["shape"])) for p in self.report["params"]]
        self.params_bytes = int(self.info["params_bytes"])
        self.flash_image = self.bdir / "flash.bin"

    # ---- flash ---------------------------------------------------------------------------
    def erase_flash(self) -> Path:
        """A fresh (all 0xFF) flash image of the parameter-store region."""
        self.flash_image.write_bytes(b"\xff" * self.info["pstore_bytes"])
        return self.flash_image

    def _ensure_flash(self) -> None:
        f = self.flash_image
        if not f.exists() or f.stat().st_size != self.info["pstore_bytes"]:
            self.erase_flash()

    # ---- job.bin ---------------------------------------------------------------------------
    def pack_params(self, params: dict) -> bytes:
        parts = []
        for name, d, shape in self.layout:
            a = np.ascontiguousarray(params[name], dtype=NPT[d])
            if a.shape != shape:
                raise ValueError(f"parameter {name}: shape {a.shape} != {shape}")
            parts.append(a.tobytes())
        return b"".join(parts)

    def _samples(self, x, y) -> bytes:
        x = np.ascontiguousarray(x, dtype=np.int8).reshape(len(x), self.input_bytes if
                                                            len(x) == 0 else -1)
        if x.shape[1] != self.input_bytes:
            raise ValueError(f"samples must be int8 HWC {self.input_hwc}")
        rec = np.zeros(len(x), dtype=[("label", "<i4"), ("x", "i1", (self.input_bytes,))])
        rec["label"] = np.zeros(len(x)) if y is None else np.asarray(y)
        rec["x"] = x
        return rec.tobytes()

    def job(self, train=None, evals=None, flags: int = JOB_LOGITS, lr: float | None = None,
            params: dict | None = None, step: int = 0, save_every: int = 0,
            cut_after: int = 0) -> bytes:
        """job.bin: train = (x int8 [N,H,W,C], labels), evals = x or (x, labels)."""
        if params is not None:
            flags |= JOB_PARAMS
        tx, ty = train if train is not None else (np.zeros((0, self.input_bytes), np.int8), None)
        if evals is None:
            ex, ey = np.zeros((0, self.input_bytes), np.int8), None
        else:
            ex, ey = evals if isinstance(evals, tuple) else (evals, None)
        head = JOB_HEADER.pack(JOB_MAGIC, VERSION, self.info["model_hash"], flags, len(tx),
                               len(ex), float(lr or 0.0), step, save_every, cut_after, *[0] * 6)
        body = [head, self.pack_params(params) if params is not None else b""]
        return b"".join(body + [self._samples(tx, ty), self._samples(ex, ey)])

    # ---- running -------------------------------------------------------------------------
    def command(self, flash: bool) -> list:
        cmd = [tool("qemu-system-arm"), "-M", self.cpu.machine, "-nographic", "-monitor", "none",
               "-serial", "none", "-semihosting-config", "enable=on,target=native",
               "-icount", "shift=0", "-kernel", str((self.bdir / "model.elf").resolve())]
        if flash:
            cmd += ["-device", f"loader,file={self.flash_image.resolve()},"
                               f"addr=0x{self.info['pstore_origin']:08X},force-raw=on"]
        return cmd

    def start(self, job: bytes, timeout: float) -> tuple:
        """Start the emulator on `job`: (process, run directory). The caller waits."""
        flash = (JOB_HEADER.unpack_from(job)[3] & (JOB_LOAD | JOB_SAVE)) != 0 or \
            JOB_HEADER.unpack_from(job)[8] > 0
        run = Path(tempfile.mkdtemp(prefix="run-", dir=self.bdir))
        (run / "job.bin").write_bytes(job)
        if flash:
            self._ensure_flash()
            (run / "flash.bin").symlink_to(self.flash_image.resolve())
        cmd = ["timeout", "-s", "KILL", str(int(timeout) + 1), *self.command(flash)]
        proc = subprocess.Popen(cmd, cwd=run, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        return proc, run

    @staticmethod
    def kill(proc) -> None:
        """SIGKILL the emulator started by start(): its whole process group (timeout and
        QEMU), as a power cut would stop a device: no clean-up, files as they are."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def run(self, job: bytes, timeout: float = 120.0, check: bool = True,
            on_progress=None) -> DeviceResult:
        """One emulator start on `job`; on_progress(records written so far) while it runs."""
        flags = JOB_HEADER.unpack_from(job)[3]
        t0 = time.time()
        proc, run = self.start(job, timeout)
        try:
            while proc.poll() is None:
                time.sleep(0.1)
                if on_progress is not None and (run / "out.bin").exists():
                    on_progress(self._count(run / "out.bin", flags))
            stdout = proc.stdout.read().decode(errors="replace")
            data = (run / "out.bin").read_bytes() if (run / "out.bin").exists() else b""
        finally:
            if proc.poll() is None:
                self.kill(proc)
            proc.stdout.close()
            shutil.rmtree(run, ignore_errors=True)
        res = self.parse(data, flags)
        res.rc, res.stdout, res.wall_seconds = proc.returncode, stdout, time.time() - t0
        if check and res.rc != 0:
            raise self.failure(res)
        return res

    @staticmethod
    def failure(res: DeviceResult) -> DeviceRunError:
        why = EXIT_CODES.get(res.rc, "")
        return DeviceRunError(f"the device program exited with {res.rc} ({why}):\n"
                              f"{res.stdout[-2000:]}")

    def _count(self, path: Path, flags: int) -> int:
        size = path.stat().st_size - OUT_HEADER.size
        rec = RECORD.size + (4 * self.classes if flags & JOB_LOGITS else 0)
        return max(0, size // rec)

    def parse(self, data: bytes, flags: int) -> DeviceResult:
        return parse_output(data, self.classes, bool(flags & JOB_LOGITS), self.params_bytes,
                            self.layout)


def random_samples(runner: DeviceRunner, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(n, *runner.input_hwc), dtype=np.int8)
    return x, rng.integers(0, runner.classes, size=n)


def measure_steps(out_dir, cpu_name: str, steps: int = 3, timeout: float = 600.0,
                  bdir=None) -> dict:
    """Instructions per training step and per forward, and the stack high-water mark, from
    `steps` training steps on random samples (compiled parameters; nothing persisted)."""
    r = DeviceRunner(out_dir, cpu_name, build=False, bdir=bdir)
    x, y = random_samples(r, steps + 1, seed=0)
    res = r.run(r.job(train=(x[:steps], y[:steps]), evals=x[steps:], flags=0), timeout=timeout)
    ins = [t["instructions"] for t in res.train]
    return dict(instructions_per_step=int(np.median(ins)), instructions_per_step_all=ins,
                instructions_per_forward=res.evals[0]["instructions"],
                stack_high_water_bytes=res.end["stack_high_water"],
                insns_per_tick=round(res.header["insns_per_tick"], 4),
                counted_by="QEMU -icount shift=0 (1 instruction = 1 virtual ns), CMSDK timer")


# ---- the flash image, read on the host (the device's own check, mirrored) --------------------

SLOT_HEADER = struct.Struct("<8I")
SLOT_MAGIC = 0x5054434D


def read_slots(runner: DeviceRunner) -> list:
    """Both slots of the flash image: dict(slot, valid, seq, step, crc, payload)."""
    img = runner.flash_image.read_bytes() if runner.flash_image.exists() else b""
    size, out = runner.info["pstore_slot_bytes"], []
    for s in range(2):
        raw = img[s * size:(s + 1) * size]
        d = dict(slot=s, valid=False, seq=None, step=None, crc=None, payload=None)
        if len(raw) == size:
            h = SLOT_HEADER.unpack_from(raw)
            n = h[3]
            body = raw[SLOT_HEADER.size:SLOT_HEADER.size + n]
            d.update(seq=h[1], step=h[4], crc=h[5])
            d["valid"] = (h[0] == SLOT_MAGIC and h[2] == runner.info["model_hash"] and
                          n == runner.params_bytes and SLOT_HEADER.size + n <= size and
                          zlib.crc32(raw[:28]) == h[7] and zlib.crc32(body) == h[5])
            if d["valid"]:
                d["payload"] = body
        out.append(d)
    return out


def newest_slot(runner: DeviceRunner) -> dict | None:
    valid = [d for d in read_slots(runner) if d["valid"]]
    if len(valid) == 2:
        a, b = valid
        newer = ((b["seq"] - a["seq"]) & 0xFFFFFFFF) < 0x80000000 and b["seq"] != a["seq"]
        return b if newer else a
    return valid[0] if valid else None


# ---- training on the device -------------------------------------------------------------------

def _timeout(runner: DeviceRunner, n: int) -> float:
    """Generous wall-clock limit for n steps (QEMU: about 1e8 to 1e9 instructions per second)."""
    per = (runner.info.get("instructions_per_step") or
           30 * runner.report.get("macs_per_step", 0) + 5e6)
    return 120.0 + n * per / 5e7


def _start_params(runner: DeviceRunner, out_dir: Path):
    """Where the device starts: its flash when a valid slot is there; otherwise params.npz
    (the host's last training) sent in the job; otherwise the compiled-in parameters."""
    from ..host_train import PARAMS_FILE

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
    from ..data.datasets import load_dataset, to_int8_hwc
    from ..host_train import _check_labels, write_params

    out = check_our_output(out_dir)
    if lr is not None:
        check_range("--lr", lr, 0, lo_open=True)
    cpu_of(target)
    rep = read_report(out)  # the data is checked before anything is built
    classes = int(rep["classes"])
    ds = load_dataset(data, input_hwc(rep))
    x, y = ds["x_train"], np.asarray(ds["y_train"])
    if limit:
        x, y = x[:limit], y[:limit]
    _check_labels(y, classes, "y_train", data)
    test = None
    if "x_test" in ds:
        _check_labels(ds["y_test"], classes, "y_test", data)
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


def _device_diverged(out: Path, res: "DeviceResult", log: dict, ep: int, lr) -> dict:
    """The device stopped a diverged run: keep what it reloaded, log it, raise."""
    from ..host_train import diverged_message, write_params

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


__all__ = ["DeviceRunner", "DeviceResult", "DeviceRunError", "BuildError", "measure_steps",
           "parse_output", "random_samples", "read_slots", "newest_slot", "train_device"]
