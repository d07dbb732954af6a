"""The Cortex-M DSP kernels (runtime/src/*_arm.c) against the portable C, on the device:
tests/targets/dsp_check.c runs every kernel with a DSP version on pseudo-random data (odd
sizes, trained slices, both in-place directions, strides, paddings, both requantization
paths); built with the DSP paths and with -DMCT_PORTABLE, both run in QEMU and must write
the same bytes."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mcutrain.targets import cortex_m
from mcutrain.targets.cortex_m import (CPUS, DEVICE_SRC, Layout, compile_flags, link_flags,
                                       linker_script)
from mcutrain.targets.host import INCLUDE, RUNTIME

from .conftest import needs_qemu

pytestmark = needs_qemu
CHECK = Path(__file__).with_name("dsp_check.c")


def build_and_run(tmp: Path, cpu_name: str, portable: bool, opt: str = "-O2",
                  check: Path = CHECK) -> bytes:
    cpu = CPUS[cpu_name]
    d = tmp / f"{check.stem}-{cpu_name}{opt}-{'portable' if portable else 'dsp'}"
    d.mkdir(parents=True)
    lay = Layout(ram=2 << 20, flash=2 << 20, stack=16384, slot=2048)
    (d / "link.ld").write_text(linker_script(cpu, lay))
    flags = compile_flags(cpu, opt, portable)
    srcs = [check, DEVICE_SRC / "startup.c", DEVICE_SRC / "semihost.c",
            *sorted((RUNTIME / "src").glob("*.c"))]
    cmd = [cortex_m.tool("arm-none-eabi-gcc"), *flags, f"-I{DEVICE_SRC}", f"-I{INCLUDE}",
           f"-I{RUNTIME / 'src'}", *map(str, srcs), *link_flags(), "-T", "link.ld",
           "-o", "check.elf", "-lm"]
    p = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    run = subprocess.run(["timeout", "-s", "KILL", "120", cortex_m.tool("qemu-system-arm"), "-M",
                          cpu.machine, "-nographic", "-monitor", "none", "-serial", "none",
                          "-semihosting-config", "enable=on,target=native", "-kernel",
                          "check.elf"], cwd=d, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return (d / "out.bin").read_bytes()


def records(data: bytes) -> list:
    out, off = [], 0
    while off < len(data):
        case = int.from_bytes(data[off:off + 4], "little")
        n = int.from_bytes(data[off + 4:off + 8], "little")
        out.append((case, data[off + 8:off + 8 + n]))
        off += 8 + n
    return out


# -O2 is what mcutrain builds; -O0 (debug builds) and -Os are what a user's IDE may use: the
# assembly kernels must hold their registers at every level
@pytest.mark.parametrize("cpu,opt", [("cortex-m4", "-O2"), ("cortex-m7", "-O2"),
                                     ("cortex-m7", "-O0"), ("cortex-m4", "-Os")])
def test_dsp_kernels_equal_portable_c(tmp_path, cpu, opt):
    dsp = records(build_and_run(tmp_path, cpu, portable=False, opt=opt))
    ref = records(build_and_run(tmp_path, cpu, portable=True, opt=opt))
    assert len(dsp) == len(ref) > 100
    bad = [(i, case) for i, ((case, a), (_, b)) in enumerate(zip(dsp, ref)) if a != b]
    assert not bad, f"DSP output differs from the portable C in records {bad[:10]}"
    statuses = [int.from_bytes(b, "little", signed=True) for _, b in ref if len(b) == 4]
    assert statuses and all(s == 0 for s in statuses)
