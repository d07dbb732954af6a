"""Cortex-M target: the compile output built with arm-none-eabi-gcc into an ELF whose linker
script has RAM = the RAM budget and FLASH = the flash budget, and run inside QEMU.

    build_device(OUT, "cortex-m7")   OUT/cortex-m7/: device sources, device_glue.c, link.ld,
                                      Makefile, model.elf, model.map; sizes into report.json
    DeviceRunner(OUT, "cortex-m7")   job.bin -> QEMU (mps2-an500) -> out.bin (device/main.c)

The linker is the memory check: a training step that does not fit fails the link with the
linker's "region `RAM' overflowed by N bytes" and our breakdown of what is in RAM (from the
symbols of the same objects linked without limits). Instruction counts come from QEMU's
-icount (one instruction = one virtual nanosecond), read through the CMSDK timer, which the
device calibrates against a loop of known length at every start.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..artifacts import read_report
from ..outdir import atomic_write_text, check_our_output, output_dir
from .glue import declared_kernels, glue_source, model_hash
from .toolchain import (CPUS, DEVICE_CFLAGS as CFLAGS, DEVICE_SRC, RUNTIME_ABI,  # noqa: F401
                        BuildError, Cpu, DeviceBuildError, ToolchainMissing, arm_available,
                        compiler_id, device_flags as compile_flags, device_link as _link,
                        device_makefile, device_objects, output_headers, output_sources, tool)

DEFAULT_RAM = 256 * 1024
DEFAULT_FLASH = 1024 * 1024
DEFAULT_STACK = 6144
SECTOR = 2048  # flash erase unit of the parameter slots
SLOT_HEADER = 32
QEMU_TARGETS = {"qemu-m4": "cortex-m4", "qemu-m7": "cortex-m7"}


def cpu_of(target: str) -> Cpu:
    name = QEMU_TARGETS.get(target, target)
    if name not in CPUS:
        raise ValueError(f"unknown device target {target!r}: choose from "
                         f"{', '.join(list(CPUS) + list(QEMU_TARGETS))}")
    return CPUS[name]


toolchain_available = arm_available


def qemu_available() -> bool:
    return toolchain_available() and shutil.which("qemu-system-arm") is not None


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


@dataclass
class Layout:
    ram: int
    flash: int
    stack: int
    slot: int
    stack_given: bool = True  # False: `stack` is a placeholder until the build computes it

    @property
    def pstore(self) -> int:
        return 2 * self.slot

    @property
    def flash_code(self) -> int:
        return self.flash - self.pstore


def linker_script(cpu: Cpu, lay: Layout) -> str:
    text = (DEVICE_SRC / "link.ld.in").read_text()
    subs = dict(CPU=cpu.name, MACHINE=cpu.machine, FLASH_CODE_BYTES=str(lay.flash_code),
                PSTORE_ORIGIN=f"0x{lay.flash_code:08X}", PSTORE_BYTES=str(lay.pstore),
                RAM_BYTES=str(lay.ram), STACK_BYTES=str(lay.stack), SLOT_BYTES=str(lay.slot))
    for k, v in subs.items():
        text = text.replace(f"@{k}@", v)
    return text


def link_flags() -> list:
    """The linker flags of a device build."""
    from .toolchain import DEVICE_LDFLAGS

    return list(DEVICE_LDFLAGS)


def write_build_files(out: Path, bdir: Path, cpu: Cpu, lay: Layout, report: dict, flags) -> None:
    """bdir/: the driver's copy, device_glue.c, link.ld and the Makefile of a device build."""
    dev = bdir / "device"
    dev.mkdir(parents=True, exist_ok=True)
    for p in sorted(DEVICE_SRC.iterdir()):
        if p.suffix in (".c", ".h"):
            shutil.copy2(p, dev / p.name)
    (bdir / "device_glue.c").write_text(glue_source(out, report, "-DMCT_PROFILE" in flags))
    (bdir / "link.ld").write_text(linker_script(cpu, lay))
    (bdir / "Makefile").write_text(device_makefile(cpu, flags))


# ---- sizes, the RAM breakdown ----------------------------------------------------------------

# What the program itself puts in flash: vectors, code, constants (frozen weights, layer
# tables), unwind tables and the initial image of .data (the trained parameters' start values)
FLASH_SECTIONS = (".isr_vector", ".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".data")


def flash_code(sections: dict) -> int:
    return sum(sections.get(s, 0) for s in FLASH_SECTIONS)


def section_sizes(elf: Path) -> dict:
    """arm-none-eabi-size -A: bytes per section."""
    p = subprocess.run([tool("arm-none-eabi-size"), "-A", str(elf)], capture_output=True, text=True,
                       check=True)
    out = {}
    for ln in p.stdout.splitlines():
        f = ln.split()
        if len(f) == 3 and f[0].startswith(".") and f[1].isdigit():
            out[f[0]] = int(f[1])
    return out


def size_berkeley(elf: Path) -> dict:
    """arm-none-eabi-size (Berkeley form): text, data, bss."""
    p = subprocess.run([tool("arm-none-eabi-size"), str(elf)], capture_output=True, text=True,
                       check=True)
    f = p.stdout.splitlines()[1].split()
    return dict(text=int(f[0]), data=int(f[1]), bss=int(f[2]))


def symbols(elf: Path) -> list:
    """(name, size, section letter) of every sized symbol."""
    p = subprocess.run([tool("arm-none-eabi-nm"), "-S", "--size-sort", str(elf)],
                       capture_output=True, text=True, check=True)
    out = []
    for ln in p.stdout.splitlines():
        f = ln.split()
        if len(f) == 4:
            out.append((f[3], int(f[1], 16), f[2]))
    return out


def _ram_group(name: str) -> str:
    if name == "mct_arena":
        return "arena (activations, saved tensors, gradients, scratch)"
    if re.match(r"[TPM]_", name):
        return "trained parameters (and float masters)"
    if name.startswith("S_"):
        return "optimizer state (momentum)"
    if name.startswith("mct_logits_buf") or name in ("mct_lr", "mct_step", "mct_last_status"):
        return "model state (logits, lr, step, status)"
    return "runtime, driver and libc statics"


def ram_breakdown(elf: Path, stack: int, top: int = 6) -> list:
    """What is in RAM: (what, bytes) groups largest first, then the largest symbols."""
    groups: dict = {"stack (reserved, --stack)": stack}
    big = []
    for name, size, kind in symbols(elf):
        if kind.lower() not in "bd":  # .bss / .data only
            continue
        g = _ram_group(name)
        groups[g] = groups.get(g, 0) + size
        big.append((f"  {name}", size))
    rows = sorted(groups.items(), key=lambda kv: -kv[1])
    return rows + [("largest symbols:", None)] + sorted(big, key=lambda kv: -kv[1])[:top]


def flash_breakdown(elf: Path, pstore: int, top: int = 6) -> list:
    groups: dict = {"parameter store (2 slots)": pstore}
    big = []
    for name, size, kind in symbols(elf):
        if kind.lower() in "bd":
            g = "initial values of RAM data (.data image)" if kind.lower() == "d" else None
        elif kind.lower() == "r":
            g = ("frozen weights" if re.match(r"[CF]_", name) else "layer tables")
        else:
            g = "code"
        if g is None:
            continue
        groups[g] = groups.get(g, 0) + size
        big.append((f"  {name}", size))
    rows = sorted(groups.items(), key=lambda kv: -kv[1])
    return rows + [("largest symbols:", None)] + sorted(big, key=lambda kv: -kv[1])[:top]


def _fmt_rows(rows) -> str:
    return "\n".join(f"  {what}" if n is None else f"  {n:>9} B  {what}" for what, n in rows)


def _overflow_error(bdir: Path, objs, flags, stderr: str, lay: Layout,
                    report: dict) -> DeviceBuildError:
    """One line: the linker's overflow figures and the largest groups of what is in the
    overflowing region (the same objects linked without limits); the whole breakdown in the
    error's details (--debug)."""
    over = re.findall(r"region `(\w+)' overflowed by (\d+) bytes", stderr)
    regions = {r for r, _ in over}
    free = Layout(ram=64 << 20, flash=64 << 20, stack=lay.stack, slot=lay.slot)
    (bdir / "link-unbounded.ld").write_text(linker_script(cpu_of("cortex-m4"), free))
    p = _link(bdir, objs, flags, "link-unbounded.ld", "model-unbounded.elf", "model-unbounded.map")
    details = [ln.strip() for ln in stderr.splitlines() if "overflowed" in ln or "will not fit" in ln]
    top = []
    if p.returncode == 0:
        elf = bdir / "model-unbounded.elf"
        for name, rows in (("RAM", ram_breakdown(elf, lay.stack)),
                           ("flash", flash_breakdown(elf, lay.pstore))):
            if (name == "RAM" and ("RAM" in regions or not regions)) or (
                    name == "flash" and regions & {"FLASH", "PSTORE"}):
                details += [f"what is in {name}:", *_fmt_rows(rows).splitlines()]
                top += [f"{w} {n} B" for w, n in rows if n is not None and not w.startswith(" ")][:3]
    details.append(f"(compile's own figures: ram_bytes {report['ram_bytes']} B without stack and "
                   f"driver, flash_bytes {report['flash_bytes']} B "
                   f"({report.get('flash_source', 'estimate')}))")
    figures = ", ".join(f"region `{r}' overflowed by {n} bytes" for r, n in over) or \
        "the linker could not place every section"
    return DeviceBuildError(
        f"the training step does not fit the device (RAM budget {lay.ram} B, flash budget "
        f"{lay.flash} B): {figures}" + (f"; largest: {', '.join(top)}" if top else "")
        + " (--debug shows the breakdown)", details=details)


# ---- the stack, sized from the build (stack.py) ----------------------------------------------

def stack_need(bdir: Path, objs, flags, cpu: Cpu, lay: Layout):
    """What the program needs: the objects linked once more without memory limits and with
    their relocations kept (model-stack.elf: the same code), its call graph and the objects'
    -fstack-usage files (stack.py)."""
    from .stack import stack_need as need_of

    free = Layout(ram=64 << 20, flash=64 << 20, stack=lay.stack, slot=lay.slot)
    (bdir / "link-stack.ld").write_text(linker_script(cpu, free))
    p = _link(bdir, objs, flags, "link-stack.ld", "model-stack.elf", "model-stack.map",
              extra=["-Wl,--emit-relocs"])
    if p.returncode != 0:
        raise DeviceBuildError(f"device link (for the stack bound) failed:\n{p.stderr[-4000:]}")
    fp = any(f.startswith("-mfpu=") for f in flags) and "-mfloat-abi=soft" not in flags
    return need_of(bdir / "model-stack.elf", [Path(o).with_suffix(".su") for o in objs], fp=fp,
                   readelf=tool("arm-none-eabi-readelf"), objdump=tool("arm-none-eabi-objdump"))


def _size_stack(bdir: Path, objs, flags, cpu: Cpu, lay: Layout, check: bool = True):
    """The layout with the stack the build needs (unless --stack was given: then that, if it
    is enough), link.ld rewritten with it, and the report's stack fields."""
    from .stack import StackError

    try:
        need = stack_need(bdir, objs, flags, cpu, lay)
    except StackError as e:
        if not lay.stack_given:
            raise DeviceBuildError(f"cannot bound the device program's stack: {e}; give its "
                                   "size with --stack") from None
        return lay, dict(stack_need_bytes=None, stack_deepest_path=None,
                         stack_note=f"not computed ({e}): --stack as given")
    if lay.stack_given and lay.stack < need.bytes and check:
        raise DeviceBuildError(
            f"--stack {lay.stack} B is below what this build needs: {need.bytes} B (deepest call "
            f"path {need.deepest} B: {' -> '.join(need.path)}; + {need.exception_frame} B "
            f"exception frame + {need.margin} B margin)")
    if not lay.stack_given:
        lay = Layout(ram=lay.ram, flash=lay.flash, stack=need.bytes, slot=lay.slot,
                     stack_given=False)
    (bdir / "link.ld").write_text(linker_script(cpu, lay))
    return lay, dict(stack_need_bytes=need.bytes, stack_deepest_bytes=need.deepest,
                     stack_deepest_path=need.path,
                     stack_largest_frame=dict(zip(("function", "bytes"), need.largest_frame)))


# ---- the build -------------------------------------------------------------------------------

def params_bytes(report: dict) -> int:
    size = {"i8": 1, "i32": 4, "f32": 4}
    n = 0
    for p in report["params"]:
        k = size[p["dtype"]]
        for s in p["shape"]:
            k *= s
        n += k
    return n


def layout(report: dict, ram=None, flash=None, stack=None) -> Layout:
    from ..units import parse_bytes

    lay = Layout(ram=parse_bytes(ram) or report.get("ram_budget") or DEFAULT_RAM,
                 flash=parse_bytes(flash) or report.get("flash_budget") or DEFAULT_FLASH,
                 stack=_align(parse_bytes(stack) or DEFAULT_STACK, 8),
                 slot=_align(SLOT_HEADER + params_bytes(report), SECTOR),
                 stack_given=parse_bytes(stack) is not None)
    if lay.flash_code <= 0:
        raise DeviceBuildError(f"the flash budget {lay.flash} B cannot even hold the parameter "
                               f"store ({lay.pstore} B: two slots of {lay.slot} B)")
    return lay


def _stamp(out: Path, flags, lay: Layout, report: dict) -> str:
    """Identifies a device build: its sources (the output's, the driver's and the glue made
    from report.json), flags, layout, compiler and mcutrain's version (fingerprint.py): an
    upgrade of either rebuilds."""
    from .fingerprint import code_hash

    h = hashlib.sha256(json.dumps([list(flags), link_flags(), lay.__dict__, code_hash(),
                                   compiler_id(tool("arm-none-eabi-gcc"))]).encode())
    h.update(glue_source(out, report, "-DMCT_PROFILE" in flags).encode())
    for p in [*output_sources(out), *output_headers(out), *sorted(DEVICE_SRC.iterdir())]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def _write_json_atomic(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=1))


def update_report(out: Path, cpu_name: str, fields: dict) -> dict:
    """Merge `fields` into report.json["device"][cpu_name] (atomic rewrite)."""
    path = Path(out) / "report.json"
    rep = read_report(out)
    dev = rep.setdefault("device", {}).setdefault(cpu_name, {})
    dev.update(fields)
    _write_json_atomic(path, rep)
    return dev


def build_device(out_dir, target: str = "cortex-m4", ram=None, flash=None, stack=None,
                 opt: str = "-O2", portable: bool = False, force: bool = False,
                 measure: bool | int = False, profile: bool = False,
                 check_stack: bool = True) -> dict:
    """Build OUT/<cpu>/model.elf with the budgets as linker regions; sizes into report.json.

    stack: None reserves what the program needs (its deepest call path, computed from the
    build: stack.py); a given stack below that need fails the build, unless check_stack is
    False (tests that make the device catch an overflow).
    measure: when QEMU is present, also run that many training steps (True: 3) on random
    samples and write instructions per step and the stack high-water mark to report.json.
    portable: -DMCT_PORTABLE (no DSP paths); profile: time every kernel call (slower)."""
    cpu = cpu_of(target)
    out = check_our_output(out_dir).resolve()  # absolute: the compiler runs in OUT/<cpu>/obj
    report = read_report(out)
    if report.get("runtime_abi", 1) != RUNTIME_ABI:
        raise DeviceBuildError(f"{out_dir} was compiled by another version of mcutrain (runtime "
                               f"{report.get('runtime_abi', 1)}, this one builds {RUNTIME_ABI}): "
                               "compile it again")
    lay = layout(report, ram, flash, stack)
    flags = compile_flags(cpu, opt, portable, profile)
    bdir = out / cpu.name
    stamp = _stamp(out, flags, lay, report) + ("" if check_stack else "-unchecked")
    state = bdir / "build.json"
    steps = 0 if not (measure and qemu_available()) else 3 if measure is True else int(measure)
    if (not force and state.exists() and (bdir / "model.elf").exists()
            and json.loads(state.read_text()).get("stamp") == stamp):
        info = json.loads(state.read_text())["info"]
        measured = _measure(out, cpu, bdir, steps)
    else:  # built and measured under a temporary name: a failure leaves the old build as it was
        with output_dir(bdir, "build", keep=KEEP_ACROSS_BUILDS) as tmp:
            info = _build(out, tmp, cpu, lay, flags, report, opt, check_stack)
            info["elf"] = f"{cpu.name}/model.elf"
            _write_json_atomic(tmp / "build.json", dict(stamp=stamp, info=info))
            measured = _measure(out, cpu, tmp, steps)
    info = update_report(out, cpu.name, {**info, **measured})
    return info


# The device's persistent flash (its trained parameters) survives a rebuild; a slot of another
# model is ignored by the device (model hash), a store of another size is erased (qemu.py).
KEEP_ACROSS_BUILDS = ("flash.bin",)


def _measure(out: Path, cpu: Cpu, bdir: Path, steps: int) -> dict:
    if not steps:
        return {}
    from .qemu import measure_steps

    return measure_steps(out, cpu.name, steps, bdir=bdir)


def _build(out: Path, bdir: Path, cpu: Cpu, lay: Layout, flags, report: dict, opt: str,
           check_stack: bool = True) -> dict:
    if bdir.exists():
        shutil.rmtree(bdir / "obj", ignore_errors=True)
    bdir.mkdir(parents=True, exist_ok=True)
    write_build_files(out, bdir, cpu, lay, report, flags)
    objs = device_objects(out, bdir, flags)
    lay, stack_info = _size_stack(bdir, objs, flags, cpu, lay, check_stack)
    for stale in ("model.elf", "model-unbounded.elf"):
        (bdir / stale).unlink(missing_ok=True)
    p = _link(bdir, objs, flags, "link.ld", "model.elf", "model.map")
    if p.returncode != 0:
        if "overflowed" in p.stderr or "will not fit" in p.stderr:
            raise _overflow_error(bdir, objs, flags, p.stderr, lay, report)
        raise DeviceBuildError(f"device link failed:\n{p.stderr[-4000:]}")
    elf = bdir / "model.elf"
    check_load_segments(elf, lay)
    sec = section_sizes(elf)
    ram_used = sum(sec.get(s, 0) for s in (".stack", ".data", ".bss"))
    code = flash_code(sec)
    syms = {n for n, _, _ in symbols(elf)}
    if syms & {"malloc", "_malloc_r", "_sbrk", "_sbrk_r"}:
        raise DeviceBuildError("the device program links malloc: the heap must stay empty")
    groups = [(w, n) for w, n in ram_breakdown(elf, lay.stack) if n is not None and
              not w.startswith("  ")]
    return dict(
        cpu=cpu.name, machine=cpu.machine, elf=str(elf.relative_to(out)), opt=opt,
        cflags=list(flags), compiler=_gcc_version(), ram_budget=lay.ram, flash_budget=lay.flash,
        stack_bytes=lay.stack, **stack_info,
        pstore_slot_bytes=lay.slot, pstore_bytes=lay.pstore,
        pstore_origin=lay.flash_code, params_bytes=params_bytes(report),
        model_hash=model_hash(out),
        profile_kernels=declared_kernels(out / "runtime" / "include") if "-DMCT_PROFILE" in flags
        else [],
        sections=sec, size=size_berkeley(elf),
        ram_used_bytes=ram_used, flash_used_bytes=code + lay.pstore, flash_code_bytes=code,
        ram_free_bytes=lay.ram - ram_used, flash_free_bytes=lay.flash - code - lay.pstore,
        ram_breakdown=dict(groups),
        linker_memory_usage=[ln.strip() for ln in p.stdout.splitlines()
                             if re.match(r"\s*(FLASH|PSTORE|RAM):", ln)])


def load_segments(elf) -> list:
    """(physical address, bytes from the file, bytes in memory) of every PT_LOAD program
    header of a 32-bit little-endian ELF: what a loader (QEMU's -kernel) writes, then
    zero-fills up to the memory size, at that address."""
    import struct

    b = Path(elf).read_bytes()
    if b[:4] != b"\x7fELF" or b[4] != 1 or b[5] != 1:
        raise DeviceBuildError(f"{elf}: not a 32-bit little-endian ELF")
    phoff, = struct.unpack_from("<I", b, 28)
    phentsize, phnum = struct.unpack_from("<HH", b, 42)
    out = []
    for k in range(phnum):
        typ, _off, _va, pa, fsz, msz = struct.unpack_from("<6I", b, phoff + k * phentsize)
        if typ == 1 and msz:
            out.append((pa, fsz, msz))
    return out


def check_load_segments(elf, lay: Layout) -> None:
    """No loadable segment may reach into the parameter store: the emulator maps the store
    file there, and a segment overlapping it (e.g. .bss given a load address in flash) stops
    QEMU with "Some ROM regions are overlapping" (a real loader would erase parameters)."""
    lo, hi = lay.flash_code, lay.flash_code + lay.pstore
    bad = [(a, n) for a, _, n in load_segments(elf) if a < hi and a + n > lo]
    if bad:
        raise DeviceBuildError(
            f"{elf}: loadable segments inside the parameter store 0x{lo:X}-0x{hi:X}: " +
            ", ".join(f"0x{a:X}-0x{a + n:X}" for a, n in bad) + " (linker script bug)")


def _gcc_version() -> str:
    p = subprocess.run([tool("arm-none-eabi-gcc"), "-dumpversion"], capture_output=True, text=True)
    return "arm-none-eabi-gcc " + p.stdout.strip()
