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

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..artifacts import read_report
from ..outdir import atomic_write_text, check_our_output, output_dir
from .host import RUNTIME_ABI, BuildError

DEVICE_SRC = Path(__file__).resolve().parents[1] / "runtime" / "device"
DEFAULT_RAM = 256 * 1024
DEFAULT_FLASH = 1024 * 1024
DEFAULT_STACK = 6144
SECTOR = 2048  # flash erase unit of the parameter slots
SLOT_HEADER = 32
APT_HINT = ("install it with: apt-get install -y --no-install-recommends gcc-arm-none-eabi "
            "libnewlib-arm-none-eabi qemu-system-arm")


@dataclass(frozen=True)
class Cpu:
    name: str
    machine: str  # QEMU board
    flags: tuple


CPUS = {
    "cortex-m4": Cpu("cortex-m4", "mps2-an386",
                     ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")),
    "cortex-m7": Cpu("cortex-m7", "mps2-an500",
                     ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard")),
}
QEMU_TARGETS = {"qemu-m4": "cortex-m4", "qemu-m7": "cortex-m7"}
CFLAGS = ("-std=c99", "-ffp-contract=off", "-fno-strict-aliasing", "-ffunction-sections",
          "-fdata-sections", "-fstack-usage", "-Wall", "-Wextra", "-Wno-unused-parameter",
          "-Werror=implicit-function-declaration")


class ToolchainMissing(BuildError):
    pass


class DeviceBuildError(BuildError):
    pass


def cpu_of(target: str) -> Cpu:
    name = QEMU_TARGETS.get(target, target)
    if name not in CPUS:
        raise ValueError(f"unknown device target {target!r}: choose from "
                         f"{', '.join(list(CPUS) + list(QEMU_TARGETS))}")
    return CPUS[name]


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ToolchainMissing(f"{name} not found; {APT_HINT}")
    return path


@functools.lru_cache(maxsize=None)
def toolchain_available() -> bool:
    """arm-none-eabi-gcc, binutils and newlib (nano) are installed."""
    if not all(shutil.which(t) for t in ("arm-none-eabi-gcc", "arm-none-eabi-size",
                                         "arm-none-eabi-nm")):
        return False
    p = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                        "-mfpu=fpv4-sp-d16", "-print-file-name=libc_nano.a"],
                       capture_output=True, text=True)
    return p.returncode == 0 and os.path.isabs(p.stdout.strip())


def qemu_available() -> bool:
    return toolchain_available() and shutil.which("qemu-system-arm") is not None


# ---- sources of one build ------------------------------------------------------------------

def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def model_hash(model_c: str) -> int:
    """Identifies the compiled model in job.bin and in flash slots (CRC-32 of model.c and
    what it includes: model_text)."""
    return zlib.crc32(model_c.encode()) & 0xFFFFFFFF


MODEL_INCLUDES = ("arena.h", "weights.c")  # the generated files model.c #includes


def model_text(out: Path) -> str:
    """model.c followed by the generated files it includes (an output compiled before they
    existed has model.c alone)."""
    return "".join((Path(out) / f).read_text() for f in ("model.c",) + MODEL_INCLUDES
                   if (Path(out) / f).exists())


def _input_refs(model_c: str) -> tuple[str, str]:
    """The arena positions of the training step's and the forward's input (model.c copies a
    caller's input there unless it is already there)."""
    refs = re.findall(r"if \(input != (.+?)\) memcpy\(", model_c)
    if len(refs) != 2:
        raise DeviceBuildError("cannot find the input positions in model.c (regenerate it with "
                               "mcutrain compile)")
    return refs[0], refs[1]


def profiled_kernels(model_c: str) -> list:
    """The runtime kernels model.c calls (names declared in mct.h), sorted."""
    from .host import INCLUDE

    header = (INCLUDE / "mct.h").read_text()
    declared = set(re.findall(r"^[a-z][\w \*]*?\b(mct_\w+)\(", header, re.M))
    return sorted(declared & set(re.findall(r"\b(mct_\w+)\(", model_c)))


PROFILE_SITES = 2048


def profile_sites(model_c: str) -> list:
    """(kernel, line of model.c) of every kernel call, in the order the preprocessor numbers
    them (__COUNTER__ in the profiling glue)."""
    kernels = set(profiled_kernels(model_c))
    out = []
    for n, line in enumerate(model_c.splitlines(), 1):
        for name in re.findall(r"\b(mct_\w+)\(", line):
            if name in kernels:
                out.append((name, n))
    return out


def _profile_prelude(kernels: list) -> list:
    """Wraps every kernel call of model.c in timer reads, one counter per call site
    (__COUNTER__), with GNU statement expressions."""
    lines = ['#include "mct.h"', '#include "mct_device.h"',
             f"static uint32_t mct__prof_ticks[{PROFILE_SITES}], mct__prof_calls[{PROFILE_SITES}];",
             "#define MCT__PROF(k, call) __extension__({ const uint32_t t0_ = mct_timer_now(); "
             "__auto_type r_ = (call); mct__prof_ticks[k] += t0_ - mct_timer_now(); "
             "mct__prof_calls[k] += 1; r_; })"]
    lines += [f"#define {k}(...) MCT__PROF(__COUNTER__, ({k})(__VA_ARGS__))" for k in kernels]
    return lines


def _profile_writer(kernels: list) -> list:
    return ["void mct_dev_profile_write(void (*record)(uint32_t, uint32_t, uint32_t, uint32_t)) {",
            f"  for (uint32_t k = 0; k < {PROFILE_SITES}u; ++k)",
            "    if (mct__prof_calls[k])",
            "      record(MCT_REC_PROFILE, k, mct__prof_calls[k], mct__prof_ticks[k]);",
            "}"]


def glue_source(model_c: str, params: list, profile: bool = False,
                hash_text: str | None = None) -> str:
    """device_glue.c: model.c itself (its statics become reachable) plus the tables main.c
    needs: parameter spans in mct_get_params order, input positions, the model hash.
    profile: every kernel call timed, per kernel (MCT_REC_PROFILE records). hash_text: what
    the model hash covers (model_text; default model_c)."""
    train_in, fwd_in = _input_refs(model_c)
    spans = [f"  {{(uint8_t *){p['symbol']}, sizeof({p['symbol']})}}, /* %{p['name']} */"
             for p in params] or ["  {0, 0},"]
    kernels = profiled_kernels(model_c) if profile else []
    return "\n".join([
        "/* device_glue.c: generated by mcutrain for the Cortex-M build. Do not edit. */",
        *(_profile_prelude(kernels) if profile else []),
        '#include "model.c"', '#include "mct_device.h"', "",
        *(_profile_writer(kernels) if profile else []),
        f"const uint32_t mct_dev_model_hash = 0x{model_hash(hash_text or model_c):08X}u;",
        "const mct_span mct_dev_param_spans[] = {", *spans, "};",
        f"const int32_t mct_dev_n_param_spans = {len(params)};",
        "const uint8_t mct_dev_param_is_float[] = {"
        + (", ".join("1" if p["dtype"] == "f32" else "0" for p in params) or "0") + "};", "",
        f"int8_t *mct_dev_train_input(void) {{ return {train_in}; }}",
        f"int8_t *mct_dev_forward_input(void) {{ return {fwd_in}; }}", ""])


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


def compile_flags(cpu: Cpu, opt: str, portable: bool, profile: bool = False) -> list:
    return [*cpu.flags, *CFLAGS, opt, *(["-DMCT_PORTABLE"] if portable else []),
            *(["-DMCT_PROFILE"] if profile else [])]


MAKEFILE = """# Rebuilds model.elf for {cpu} ({machine}); `mcutrain build` wrote this and link.ld.
CC = arm-none-eabi-gcc
CFLAGS = {cflags}
INC = -I. -Idevice -I.. -I../runtime/include
SRC = device_glue.c $(wildcard device/*.c) $(wildcard ../runtime/src/*.c)

model.elf: $(SRC) link.ld
\t$(CC) $(CFLAGS) $(INC) $(SRC) {ldflags} -o $@

clean:
\trm -f model.elf model.map *.su
"""

# Every DSP kernel (runtime/src/*_arm.c) is called by its portable function itself
# (#if MCT_ARM_DSP), so the link needs nothing kernel-specific: the same sources built by any
# ARMv7E-M toolchain get the DSP paths.
LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,--print-memory-usage")


def link_flags() -> list:
    """The linker flags of a device build."""
    return list(LDFLAGS)


def _write_sources(out: Path, bdir: Path, cpu: Cpu, lay: Layout, report: dict, flags) -> None:
    dev = bdir / "device"
    dev.mkdir(parents=True, exist_ok=True)
    for p in sorted(DEVICE_SRC.iterdir()):
        if p.suffix in (".c", ".h"):
            shutil.copy2(p, dev / p.name)
    (bdir / "device_glue.c").write_text(glue_source((out / "model.c").read_text(), report["params"],
                                                    "-DMCT_PROFILE" in flags, model_text(out)))
    (bdir / "link.ld").write_text(linker_script(cpu, lay))
    ld = " ".join([*link_flags(), "-T", "link.ld",
                   "-Wl,-Map=model.map", "-lm"])
    (bdir / "Makefile").write_text(MAKEFILE.format(cpu=cpu.name, machine=cpu.machine,
                                                   cflags=" ".join(flags), ldflags=ld))


def _sources(out: Path, bdir: Path) -> list:
    return [bdir / "device_glue.c", *sorted((bdir / "device").glob("*.c")),
            *sorted((out / "runtime" / "src").glob("*.c"))]


def _object_cache() -> Path:
    env = os.environ.get("MCT_ARM_CACHE")
    return Path(env) if env else Path(tempfile.gettempdir()) / "mcutrain-arm-objs"


def _compile_objects(out: Path, bdir: Path, flags) -> list:
    """Every source to an object (in parallel), -fstack-usage files beside them. Objects of
    model-independent sources (runtime kernels, startup, semihosting, flash store) are cached
    by content and flags; device_glue.c (model.c) and main.c (model.h) always compile."""
    gcc = tool("arm-none-eabi-gcc")
    obj = bdir / "obj"
    obj.mkdir(exist_ok=True)
    incs = [f"-I{bdir}", f"-I{bdir / 'device'}", f"-I{out}", f"-I{out / 'runtime' / 'include'}"]
    headers = hashlib.sha256()
    rt = out / "runtime"
    for h in (sorted((rt / "include").glob("*.h")) + sorted((rt / "src").glob("*.h")) +
              sorted((bdir / "device").glob("*.h"))):
        headers.update(h.read_bytes())
    cache = _object_cache()

    def one(src: Path) -> Path:
        o = obj / (src.stem + ".o")
        key = None
        if src.name not in ("device_glue.c", "main.c"):
            k = hashlib.sha256(json.dumps(list(flags)).encode() + headers.digest() +
                               src.read_bytes())
            key = cache / f"{src.stem}-{k.hexdigest()[:20]}.o"
            if key.exists() and key.with_suffix(".su").exists():  # the stack sizing reads .su
                shutil.copy2(key.with_suffix(".su"), o.with_suffix(".su"))
                shutil.copy2(key, o)
                return o
        cmd = [gcc, *flags, *incs, "-c", str(src), "-o", str(o)]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=obj)
        if p.returncode != 0:
            raise DeviceBuildError(f"device build failed:\n{' '.join(cmd)}\n{p.stderr[-4000:]}")
        if key is not None:
            cache.mkdir(parents=True, exist_ok=True)
            for src_file, dst in ((o.with_suffix(".su"), key.with_suffix(".su")), (o, key)):
                fd, tmp = tempfile.mkstemp(dir=cache, suffix=dst.suffix + ".tmp")
                os.close(fd)
                shutil.copy2(src_file, tmp)
                os.replace(tmp, dst)  # .su first: a cached .o always has its .su
        return o

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        return list(ex.map(one, _sources(out, bdir)))


def _link(bdir: Path, objs, flags, script: str, elf: str, map_file: str, extra=()):
    cmd = [tool("arm-none-eabi-gcc"), *[f for f in flags if f.startswith("-m")],
           *link_flags(), *extra, "-T", script,
           f"-Wl,-Map={map_file}", "-o", elf, *map(str, objs), "-lm"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=bdir)


# ---- sizes, the RAM breakdown ----------------------------------------------------------------

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
                   f"driver, flash_bytes {report['flash_bytes']} B without the parameter store)")
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


def _stamp(out: Path, flags, lay: Layout) -> str:
    h = hashlib.sha256(json.dumps([list(flags), link_flags(),
                                   lay.__dict__]).encode())
    for p in [out / "model.c", out / "model.h", *[out / f for f in MODEL_INCLUDES if (out / f).exists()],
              *sorted((out / "runtime").rglob("*.[ch]")),
              *sorted(DEVICE_SRC.iterdir())]:
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
    stamp = _stamp(out, flags, lay) + ("" if check_stack else "-unchecked")
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
    _write_sources(out, bdir, cpu, lay, report, flags)
    objs = _compile_objects(out, bdir, flags)
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
    code = sum(sec.get(s, 0) for s in (".isr_vector", ".text", ".rodata", ".ARM.extab",
                                       ".ARM.exidx", ".data"))
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
        model_hash=model_hash(model_text(out)),
        profile_sites=profile_sites((out / "model.c").read_text()) if "-DMCT_PROFILE" in flags
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
