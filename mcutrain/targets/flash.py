"""flash_bytes of a compile output: what the device build will put in flash.

    measured   (an Arm toolchain is present) the output linked for MEASURE_CPU exactly as
               `mcutrain build` links it, without memory limits: vectors, code, constants and
               the .data image (cortex_m.FLASH_SECTIONS) plus the parameter store. Only
               device_glue.c (model.c) and main.c compile; the runtime and driver objects come
               from the content-keyed object cache (toolchain.device_objects).
    estimate   (no toolchain) the generator's exact data (frozen weights, layer tables, start
               values of the RAM parameters, the parameter store) plus the code, estimated
               from the kernels the model calls. Its error against the linker is measured in
               tests/targets/test_flash.py and stated in report.json (flash_error).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from .cortex_m import (DEFAULT_STACK, SECTOR, SLOT_HEADER, Layout, _align, flash_code,
                       params_bytes, section_sizes, write_build_files)
from .toolchain import (CPUS, DeviceBuildError, arm_available, compiler_id, device_flags,
                        device_link, device_objects, tool)

MEASURE_CPU = "cortex-m4"  # `mcutrain build`'s default target (cortex-m7 code is ~1 % larger)
MEASURE_OPT = "-O2"
# The estimate: the driver, startup, libc pieces and runtime kernels every program links (the
# DSP kernels are most of it: a kernel's paths are chosen at run time by the shapes), and the
# code of each generated kernel call.
# Fitted to Cortex-M4 -O2 builds (2026-12-08): .text was 170 KB for the tests' tiny CNN (38
# calls) and 178-202 KB for the zoo models (129-267 calls); the estimate was within 2 % of
# the linker's total for all four.
BASE_CODE = 164 * 1024
CALL_CODE = 150
ESTIMATE_ERROR = 0.15  # |estimate - linker| / linker stays below this (test_flash.py)


def pstore_bytes(report: dict) -> int:
    """The two flash slots of trained parameters (cortex_m.layout)."""
    return 2 * _align(SLOT_HEADER + params_bytes(report), SECTOR)


def measure(out, report: dict) -> dict:
    """Link the compile output `out` (report: its report.json so far) for MEASURE_CPU; the
    flash figures of the linked program."""
    cpu = CPUS[MEASURE_CPU]
    flags = device_flags(cpu, MEASURE_OPT)
    pstore = pstore_bytes(report)
    free = Layout(ram=64 << 20, flash=64 << 20, stack=DEFAULT_STACK, slot=pstore // 2)
    with tempfile.TemporaryDirectory(prefix="mcutrain-flash-") as td:
        bdir = Path(td)
        write_build_files(Path(out), bdir, cpu, free, report, flags)
        objs = device_objects(out, bdir, flags)
        p = device_link(bdir, objs, flags, "link.ld", "model.elf", "model.map")
        if p.returncode != 0:
            raise DeviceBuildError(f"device link (to measure flash) failed:\n{p.stderr[-4000:]}")
        sec = section_sizes(bdir / "model.elf")
    code = flash_code(sec)
    return dict(flash_bytes=code + pstore, flash_source="linker", flash_error=None,
                flash_detail=dict(cpu=cpu.name, opt=MEASURE_OPT,
                                  compiler=compiler_id(tool("arm-none-eabi-gcc")),
                                  program_bytes=code, text_bytes=sec.get(".text", 0),
                                  rodata_bytes=sec.get(".rodata", 0),
                                  data_image_bytes=sec.get(".data", 0), pstore_bytes=pstore))


def estimate(mem: dict, report: dict, kernel_calls: int) -> dict:
    """flash_bytes without a toolchain (mem: compile.memory_report's figures)."""
    pstore = pstore_bytes(report)
    code = BASE_CODE + CALL_CODE * kernel_calls
    data = mem["frozen_params_flash_bytes"] + mem["tables_flash_bytes"] + mem["params_ram_bytes"]
    return dict(flash_bytes=code + data + pstore, flash_source="estimate",
                flash_error=ESTIMATE_ERROR,
                flash_detail=dict(code_bytes_estimate=code, data_bytes=data, pstore_bytes=pstore))


def flash_report(out, report: dict, mem: dict, kernel_calls: int, measured: bool | None = None
                 ) -> dict:
    """The measured figures when the toolchain is there (measured None: if available), else
    the estimate."""
    if measured is None:
        measured = arm_available()
    if not measured:
        return estimate(mem, report, kernel_calls)
    try:
        return measure(out, report)
    except DeviceBuildError as e:  # the output still serves the host: say why, estimate
        lines = str(e).splitlines()
        why = next((ln.strip() for ln in lines if "error" in ln), lines[0] if lines else "")
        return dict(estimate(mem, report, kernel_calls), flash_note=f"not measured: {why[:300]}")
