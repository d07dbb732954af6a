"""The C toolchains in one place: which compilers, which flags, which sources, and every way
mcutrain builds C: the host shared library (host.py, the planner's runs in sparse/jobs.py),
device objects (cortex_m.py) and the Makefiles shipped in the outputs, which use the same
flags as the tested builds.

    output_sources(out)       every C file a compile output builds (the generated .c files,
                              then its runtime copy): the one list every build reads
    build_shared(...)         host .so, written atomically
    host_runtime_objects()    the runtime kernels as host objects, compiled once per content
    device_objects(...)       Cortex-M objects, model-independent ones cached by content
    host_makefile(), device_makefile(...)
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import McuError
from .fingerprint import package_version, runtime_hash

RUNTIME = Path(__file__).resolve().parents[1] / "runtime"
INCLUDE = RUNTIME / "include"
DEVICE_SRC = RUNTIME / "device"
# The interface between a compile output and what builds it (the device program, the host
# trainer): raised when it changes, recorded in report.json; an output of another version is
# recompiled, not built into a broken program. 3: report.json declares the arena positions
# of the input and logits ("io"), which the device build reads instead of parsing model.c.
RUNTIME_ABI = 3
MODEL_C = "model.c"  # the generated entry file: the device glue #includes it (its statics)
APT_HINT = ("install it with: apt-get install -y --no-install-recommends gcc-arm-none-eabi "
            "libnewlib-arm-none-eabi qemu-system-arm")

# -ffp-contract=off: no fused multiply-add, so float results are reproducible and the host
# equals the device; -fno-strict-aliasing: the arena is one byte array viewed as int8, int32
# and float buffers.
COMMON_CFLAGS = ("-std=c99", "-ffp-contract=off", "-fno-strict-aliasing", "-Wall", "-Wextra",
                 "-Wno-unused-parameter", "-Werror=implicit-function-declaration")
HOST_CFLAGS = ["-std=c99", "-O2", "-fPIC", *COMMON_CFLAGS[1:]]
# Device: sections per function and object so --gc-sections keeps only what is called;
# -fstack-usage files feed the stack bound (stack.py).
DEVICE_CFLAGS = (*COMMON_CFLAGS[:3], "-ffunction-sections", "-fdata-sections", "-fstack-usage",
                 *COMMON_CFLAGS[3:])
# Every DSP kernel (runtime/src/*_arm.c) is called by its portable function itself
# (#if MCT_ARM_DSP), so the link needs nothing kernel-specific.
DEVICE_LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections",
                  "-Wl,--print-memory-usage")


class BuildError(McuError, RuntimeError):
    pass


class ToolchainMissing(BuildError):
    pass


class DeviceBuildError(BuildError):
    pass


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


# ---- which sources --------------------------------------------------------------------------

def runtime_sources(root: Path = RUNTIME) -> list[Path]:
    return sorted((Path(root) / "src").glob("*.c"))


def runtime_headers(root: Path = RUNTIME) -> list[Path]:
    root = Path(root)
    return sorted((root / "include").glob("*.h")) + sorted((root / "src").glob("*.h"))


def generated_sources(out) -> list[Path]:
    """The C files the code generator wrote into a compile output (model.c first), not the
    runtime copy: what a build compiles beside the runtime."""
    out = Path(out)
    rest = sorted(p for p in out.glob("*.c") if p.name != MODEL_C)
    return [out / MODEL_C, *rest]


def output_sources(out) -> list[Path]:
    """Every C file of a compile output, in build order."""
    return [*generated_sources(out), *runtime_sources(Path(out) / "runtime")]


def output_headers(out) -> list[Path]:
    """What the generated .c files include: headers, and the C fragments model.c #includes
    (weights.inc: its arrays stay in model.c's translation unit)."""
    out = Path(out)
    return sorted([*out.glob("*.h"), *out.glob("*.inc")]) + runtime_headers(out / "runtime")


# ---- host ------------------------------------------------------------------------------------

def cc() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise BuildError("no C compiler found (install gcc, or set CC)")


def host_flags(opt: str | None = None) -> list:
    flags = list(HOST_CFLAGS)
    return [f for f in flags if not f.startswith("-O")] + opt.split() if opt else flags


@functools.lru_cache(maxsize=None)
def compiler_id(compiler: str) -> str:
    """The compiler's version line: part of every cache key of objects it built."""
    try:
        p = subprocess.run([compiler, "--version"], capture_output=True, text=True)
    except OSError:
        return compiler
    return (p.stdout.splitlines() or [compiler])[0]


def build_shared(sources, out: Path | str, include_dirs=(), extra_flags=(), opt: str | None = None
                 ) -> Path:
    """Compile and link `sources` (C files or objects) into the shared library `out`, written
    atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    incs = [f"-I{d}" for d in (INCLUDE, *include_dirs)]
    # a unique name the compiler creates (honouring the umask; mkstemp would make it 0600)
    tmp = str(out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp")
    cmd = [cc(), *host_flags(opt), *extra_flags, *incs, "-shared", "-o", tmp,
           *map(str, sources), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)  # the compiler may already have removed it
        raise BuildError(f"C build failed:\n{' '.join(cmd)}\n{proc.stderr[-4000:]}")
    os.replace(tmp, out)
    return out


def host_cache_root() -> Path:
    return Path(tempfile.gettempdir()) / "mcutrain-runtime"


def host_runtime_key(opt: str | None = None) -> str:
    """Identifies a host build of the package's runtime: its sources, flags, compiler and the
    package version."""
    return hashlib.sha256(json.dumps([runtime_hash(), package_version(), host_flags(opt),
                                      compiler_id(cc())]).encode()).hexdigest()[:16]


def host_runtime_objects(root: Path | None = None) -> list[Path]:
    """The package's runtime kernels compiled once to host objects (a folder per content key,
    renamed into place whole: parallel workers never see half of it)."""
    d = Path(root or host_cache_root()) / f"objs-{host_runtime_key()}"
    if not d.exists():
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=".rt"))
        for p in runtime_sources():
            cmd = [cc(), *HOST_CFLAGS, f"-I{INCLUDE}", "-c", str(p), "-o", str(tmp / (p.stem + ".o"))]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise BuildError(f"C build failed:\n{' '.join(cmd)}\n{proc.stderr[-4000:]}")
        try:
            os.replace(tmp, d)
        except OSError:  # another worker finished first
            shutil.rmtree(tmp, ignore_errors=True)
    return sorted(d.glob("*.o"))


# ---- device ----------------------------------------------------------------------------------

def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ToolchainMissing(f"{name} not found; {APT_HINT}")
    return path


@functools.lru_cache(maxsize=None)
def arm_available() -> bool:
    """arm-none-eabi-gcc, binutils and newlib (nano) are installed."""
    if not all(shutil.which(t) for t in ("arm-none-eabi-gcc", "arm-none-eabi-size",
                                         "arm-none-eabi-nm")):
        return False
    p = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard",
                        "-mfpu=fpv4-sp-d16", "-print-file-name=libc_nano.a"],
                       capture_output=True, text=True)
    return p.returncode == 0 and os.path.isabs(p.stdout.strip())


def device_flags(cpu: Cpu, opt: str = "-O2", portable: bool = False, profile: bool = False) -> list:
    return [*cpu.flags, *DEVICE_CFLAGS, opt, *(["-DMCT_PORTABLE"] if portable else []),
            *(["-DMCT_PROFILE"] if profile else [])]


def device_sources(out, bdir) -> list[Path]:
    """A device build's C files: the glue (which #includes model.c), the driver, the other
    generated files and the output's runtime copy."""
    bdir = Path(bdir)
    return [bdir / "device_glue.c", *sorted((bdir / "device").glob("*.c")),
            *generated_sources(out)[1:], *runtime_sources(Path(out) / "runtime")]


def arm_cache() -> Path:
    env = os.environ.get("MCT_ARM_CACHE")
    return Path(env) if env else Path(tempfile.gettempdir()) / "mcutrain-arm-objs"


MODEL_SPECIFIC = ("device_glue.c", "main.c")  # read model.c / model.h: never cached


def device_objects(out, bdir, flags) -> list[Path]:
    """Every device source to an object (in parallel) in bdir/obj, -fstack-usage files beside
    them. Objects of model-independent sources (runtime kernels, startup, semihosting, flash
    store) are cached by content (source, headers, flags, compiler, package version)."""
    out, bdir = Path(out), Path(bdir)
    gcc = tool("arm-none-eabi-gcc")
    obj = bdir / "obj"
    obj.mkdir(parents=True, exist_ok=True)
    incs = [f"-I{bdir}", f"-I{bdir / 'device'}", f"-I{out}", f"-I{out / 'runtime' / 'include'}"]
    base = hashlib.sha256(json.dumps([list(flags), compiler_id(gcc), package_version()]).encode())
    for h in runtime_headers(out / "runtime") + sorted((bdir / "device").glob("*.h")):
        base.update(h.read_bytes())
    cache = arm_cache()

    def one(src: Path) -> Path:
        o = obj / (src.stem + ".o")
        key = None
        if src.name not in MODEL_SPECIFIC and src.parent != out:
            k = base.copy()
            k.update(src.read_bytes())
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
            _cache_put(cache, o, key)
        return o

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        return list(ex.map(one, device_sources(out, bdir)))


def _cache_put(cache: Path, o: Path, key: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for src_file, dst in ((o.with_suffix(".su"), key.with_suffix(".su")), (o, key)):
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=dst.suffix + ".tmp")
        os.close(fd)
        shutil.copy2(src_file, tmp)
        os.replace(tmp, dst)  # .su first: a cached .o always has its .su


def device_link(bdir, objs, flags, script: str, elf: str, map_file: str, extra=()):
    """Link objects with a linker script (names relative to bdir); the completed process."""
    cmd = [tool("arm-none-eabi-gcc"), *[f for f in flags if f.startswith("-m")],
           *DEVICE_LDFLAGS, *extra, "-T", script,
           f"-Wl,-Map={map_file}", "-o", elf, *map(str, objs), "-lm"]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=bdir)


# ---- the shipped build files -------------------------------------------------------------------

def host_makefile() -> str:
    """The host Makefile of every output: the flags of build_shared, every generated .c and
    the runtime copy (output_sources)."""
    flags = " ".join(f for f in HOST_CFLAGS if not f.startswith("-O"))
    return f"""# Builds the training step as a shared library for the host (mcutrain train builds the
# same sources with the same flags). `make CFLAGS=-O3` changes the optimization level only.
CC ?= cc
CFLAGS ?= -O2
CFLAGS += {flags} -Iruntime/include -I.
SRC = $(wildcard *.c) $(wildcard runtime/src/*.c)

libmodel.so: $(SRC) $(wildcard *.h)
\t$(CC) $(CFLAGS) -shared -o $@ $(SRC) -lm

clean:
\trm -f libmodel.so
"""


def device_makefile(cpu: Cpu, flags) -> str:
    """OUT/<cpu>/Makefile: the sources of device_sources, the flags of device_objects and the
    link of device_link."""
    ld = " ".join([*DEVICE_LDFLAGS, "-T", "link.ld", "-Wl,-Map=model.map", "-lm"])
    return f"""# Rebuilds model.elf for {cpu.name} ({cpu.machine}); `mcutrain build` wrote this and link.ld.
CC = arm-none-eabi-gcc
CFLAGS = {' '.join(flags)}
INC = -I. -Idevice -I.. -I../runtime/include
SRC = device_glue.c $(wildcard device/*.c) $(filter-out ../{MODEL_C},$(wildcard ../*.c)) \\
      $(wildcard ../runtime/src/*.c)

model.elf: $(SRC) link.ld
\t$(CC) $(CFLAGS) $(INC) $(SRC) {ld} -o $@

clean:
\trm -f model.elf model.map *.su
"""
