"""Any fault ends the emulator with a report, never a lockup or a timeout (startup.c: the MPU
makes the code flash read-only and puts a no-access guard under the stack; MemManage,
BusFault and UsageFault report with their own numbers); and the stack is sized from the build
(targets/stack.py): a --stack below the need fails the build, the need and its path go into
report.json, the measured high-water mark stays under the bound.

fault_check.c goes wrong on purpose, one way per case (see its header)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mcutrain.targets import cortex_m
from mcutrain.targets.cortex_m import (CPUS, DEVICE_SRC, Cpu, DeviceBuildError, Layout,
                                       compile_flags, link_flags, linker_script)
from mcutrain.targets.qemu import DeviceRunner, random_samples
from mcutrain.targets.stack import StackError, frame_from_insns, stack_need

from .conftest import compile_tiny, needs_qemu, needs_toolchain

CHECK = Path(__file__).with_name("fault_check.c")
# the Cortex-M3 (ARMv7-M, no FPU, soft-float) on its board: the startup code is the same
M3 = Cpu("cortex-m3", "mps2-an385", ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"))
CASES = {  # case: (exit status, what the report line holds)
    1: (94, "fault exception 0x00000004 pc 0x"),  # MemManage: store to the vector table
    2: (94, "fault exception 0x00000004"),         # store to the last word of the code flash
    3: (94, "fault exception 0x00000004"),         # store into a function's code
    4: (6, "stack overflow"),                      # unbounded recursion
    5: (6, "stack overflow"),                      # one frame larger than the stack
    6: (96, "fault exception 0x00000006 pc 0x"),   # UsageFault: undefined instruction
    7: (95, "fault exception 0x00000005 pc 0x"),   # BusFault: a load from nothing
}


def build_check(d: Path, cpu: Cpu, flash: int = 256 << 10, stack: int = 4096,
                extra=()) -> Path:
    """fault_check.c linked with the device's startup and semihosting code (-fstack-usage
    and the relocations kept, so stack.py can read it too)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "link.ld").write_text(linker_script(cpu, Layout(ram=64 << 10, flash=flash,
                                                         stack=stack, slot=2048)))
    srcs = [CHECK, DEVICE_SRC / "startup.c", DEVICE_SRC / "semihost.c"]
    cmd = [cortex_m.tool("arm-none-eabi-gcc"), *compile_flags(cpu, "-O2", False), *extra,
           f"-I{DEVICE_SRC}", *map(str, srcs), *link_flags(), "-Wl,--emit-relocs", "-T",
           "link.ld", "-o", "check.elf"]
    p = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    return d / "check.elf"


def run_case(elf: Path, machine: str, case: int):
    (elf.parent / "case.bin").write_bytes(bytes([case]))
    return subprocess.run(["timeout", "-s", "KILL", "30", cortex_m.tool("qemu-system-arm"),
                           "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
                           "-semihosting-config", "enable=on,target=native", "-kernel",
                           elf.name], cwd=elf.parent, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)  # semihosting text: stderr


@needs_qemu
@pytest.mark.parametrize("cpu", [CPUS["cortex-m4"], CPUS["cortex-m7"], M3], ids=lambda c: c.name)
def test_every_fault_ends_with_its_report(tmp_path, cpu):
    elf = build_check(tmp_path, cpu)
    ok = run_case(elf, cpu.machine, 0)  # the parameter store stays writable
    assert ok.returncode == 0, ok.stdout
    for case, (code, text) in CASES.items():
        r = run_case(elf, cpu.machine, case)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("mct:")]
        assert r.returncode == code and len(lines) == 1 and text in lines[0], \
            (case, r.returncode, r.stdout[-1000:])
    store0 = run_case(elf, cpu.machine, 1).stdout
    assert "addr 0x00000000" in store0  # MMFAR: the faulting address itself
    bus = run_case(elf, cpu.machine, 7).stdout
    assert "addr 0xf0000000" in bus  # BFAR


@needs_qemu
@pytest.mark.parametrize("flash", [64 << 10, 1 << 20, 1000 * 1024 + 96, (3 << 20) + 10240])
def test_code_flash_is_read_only_up_to_the_parameter_store(tmp_path, flash):
    """[0, flash code) is covered exactly (power-of-two regions with subregions) for budgets
    of any size: its last word faults, the store right after it takes writes."""
    elf = build_check(tmp_path, CPUS["cortex-m4"], flash=flash)
    last = run_case(elf, "mps2-an386", 2)
    code_end = flash - 2 * 2048
    assert last.returncode == 94 and f"addr 0x{code_end - 4:08x}" in last.stdout, last.stdout
    assert run_case(elf, "mps2-an386", 0).returncode == 0


@needs_toolchain
def test_startup_compiles_for_other_cores(tmp_path):
    """Soft-float ARMv7-M (the MPU code, no FPU code) and ARMv8-M (no MPU code yet: PMSAv8
    differs), so later ports start from a clean build."""
    flags = [f for f in cortex_m.CFLAGS if f != "-fstack-usage"]
    for cpu in (["-mcpu=cortex-m3", "-mfloat-abi=soft"],
                ["-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
                ["-mcpu=cortex-m4", "-mfloat-abi=soft"]):
        p = subprocess.run([cortex_m.tool("arm-none-eabi-gcc"), "-mthumb", *cpu, *flags, "-O2",
                            "-Werror", f"-I{DEVICE_SRC}", "-c", str(DEVICE_SRC / "startup.c"),
                            "-o", str(tmp_path / "startup.o")], capture_output=True, text=True)
        assert p.returncode == 0, (cpu, p.stderr)


# ---- the stack bound ---------------------------------------------------------------------------

def test_frames_from_the_disassembly():
    insns = [(0, "push", "{r4, r5, r6, lr}"), (2, "vpush", "{d8-d9}"),
             (4, "sub.w", "sp, sp, #3328"), (8, "sub", "sp, #12"),
             (10, "strd", "r4, r5, [sp, #-8]!"), (12, "stmdb", "sp!, {r4, r5, r6, r7, r8}"),
             (14, "str", "r0, [sp, #8]"), (16, "add", "sp, #12"), (18, "pop", "{r4, pc}")]
    assert frame_from_insns(insns) == (16 + 16 + 3328 + 12 + 8 + 20, False)
    assert frame_from_insns([(0, "sub", "sp, r3")])[1]  # alloca: no static bound


@needs_toolchain
def test_recursion_is_refused_by_name(tmp_path):
    elf = build_check(tmp_path, CPUS["cortex-m4"])
    with pytest.raises(StackError, match=r"recursion: mct__recurse -> mct__recurse"):
        stack_need(elf, tmp_path.glob("*.su"), fp=True)


@needs_toolchain
def test_a_frame_larger_than_the_guard_is_refused(tmp_path):
    src = tmp_path / "huge.c"
    src.write_text('#include "mct_device.h"\n'
                   "__attribute__((noinline)) static int f(int i) { volatile char b[70000];"
                   " b[i] = 1; return b[i]; }\nint main(void) { return f(3); }\n")
    d = tmp_path / "b"
    d.mkdir()
    cpu = CPUS["cortex-m7"]
    (d / "link.ld").write_text(linker_script(cpu, Layout(ram=128 << 10, flash=256 << 10,
                                                         stack=4096, slot=2048)))
    cmd = [cortex_m.tool("arm-none-eabi-gcc"), *compile_flags(cpu, "-O2", False),
           f"-I{DEVICE_SRC}", str(src), str(DEVICE_SRC / "startup.c"),
           str(DEVICE_SRC / "semihost.c"), *link_flags(), "-Wl,--emit-relocs", "-T", "link.ld",
           "-o", "huge.elf"]
    assert subprocess.run(cmd, cwd=d, capture_output=True).returncode == 0
    with pytest.raises(StackError, match="jump over the MPU's 16384 B guard"):
        stack_need(d / "huge.elf", d.glob("*.su"), fp=True)


@needs_qemu
def test_stack_is_the_computed_need_and_bounds_the_measured_use(tmp_path):
    out = tmp_path / "out"
    compile_tiny(out)
    for cpu in ("cortex-m4", "cortex-m7"):
        r = DeviceRunner(out, cpu, measure=2)
        dev = json.loads((out / "report.json").read_text())["device"][cpu]
        need, path = dev["stack_need_bytes"], dev["stack_deepest_path"]
        assert dev["stack_bytes"] == need and need % 8 == 0
        assert path[:3] == ["Reset_Handler", "main", "mct_train_step"]
        assert 0 < dev["stack_high_water_bytes"] <= dev["stack_deepest_bytes"] < need
        # deepest path + the FP exception frame + the 64 B the painted-stack check keeps free
        assert need == (dev["stack_deepest_bytes"] + 108 + 64 + 7) // 8 * 8
        assert r.info["ram_used_bytes"] == dev["sections"][".stack"] + \
            dev["sections"].get(".data", 0) + dev["sections"][".bss"]


@needs_toolchain
def test_a_stack_below_the_need_fails_the_build_in_one_line(tmp_path):
    out = tmp_path / "out"
    compile_tiny(out)
    with pytest.raises(DeviceBuildError) as e:
        cortex_m.build_device(out, "cortex-m4", stack="2KB")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("--stack 2048 B is below what this build needs: ")
    assert "Reset_Handler -> main -> mct_train_step" in msg
    info = cortex_m.build_device(out, "cortex-m4", stack="64KB")  # more than the need: kept
    assert info["stack_bytes"] == 65536 and info["stack_need_bytes"] < 65536


@needs_qemu
def test_an_overflowing_model_reports_instead_of_locking_up(tmp_path):
    """The reported lockup's mechanism on a small model: a stack far below the need (the
    check waived) now ends with the stack overflow report, not a lockup or a hang."""
    out = tmp_path / "out"
    compile_tiny(out)
    for cpu in ("cortex-m4", "cortex-m7"):
        r = DeviceRunner(out, cpu, stack="1KB", check_stack=False)
        x, y = random_samples(r, 1)
        res = r.run(r.job(train=(x, y), flags=0), check=False, timeout=30)
        assert res.rc == 6 and "mct: stack overflow" in res.stdout, (res.rc, res.stdout)
