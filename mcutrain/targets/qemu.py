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

from ..artifacts import input_hwc, read_report
from ..errors import McuError
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
    profile: list = field(default_factory=list)  # (site | kernel << 16, calls, instructions)
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


__all__ = ["DeviceRunner", "DeviceResult", "DeviceRunError", "BuildError", "measure_steps",
           "parse_output", "random_samples", "read_slots", "newest_slot"]
