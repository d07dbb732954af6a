"""The Cortex-M build: linker script and glue, sizes in report.json, the linker as the memory
check (an over-budget model fails with the linker's figure and our breakdown), no heap."""
from __future__ import annotations

import json
import re

import pytest

from mcutrain.cli import main
from mcutrain.targets import cortex_m
from mcutrain.targets.cortex_m import (DeviceBuildError, Layout, build_device, glue_source,
                                       layout, linker_script, symbols)

from .conftest import compile_tiny, needs_toolchain


def test_linker_script_holds_the_budgets():
    lay = Layout(ram=256 * 1024, flash=1024 * 1024, stack=4096, slot=4096)
    text = linker_script(cortex_m.CPUS["cortex-m7"], lay)
    assert "LENGTH = 262144" in text and "__stack_size = 4096;" in text
    assert f"LENGTH = {1024 * 1024 - 8192}" in text  # FLASH: the budget minus two slots
    assert f"ORIGIN = 0x{1024 * 1024 - 8192:08X}, LENGTH = 8192" in text  # PSTORE at the top
    assert "@" not in text


def test_layout_from_report_and_options():
    rep = dict(ram_budget=None, flash_budget=None,
               params=[dict(dtype="i8", shape=[8, 3]), dict(dtype="f32", shape=[3])])
    lay = layout(rep)
    assert (lay.ram, lay.flash, lay.stack) == (256 * 1024, 1024 * 1024, 6144)
    assert lay.slot == 2048 and lay.pstore == 4096  # 32 B header + 36 B, one sector
    assert layout(rep, ram="64KB", flash="512KB", stack="1KB").ram == 64 * 1024
    with pytest.raises(DeviceBuildError, match="parameter store"):
        layout(rep, flash="2KB")


def test_glue_reads_the_input_positions_and_params(tmp_path):
    rep = compile_tiny(tmp_path / "out")
    src = glue_source(tmp_path / "out", rep)
    assert '#include "model.c"' in src
    assert src.count("sizeof(") == len(rep["params"])
    io = rep["io"]["input"]
    assert f"mct_dev_train_input(void) {{ return (int8_t *)(mct_arena + {io['train_offset']}); }}" in src
    assert f"mct_dev_forward_input(void) {{ return (int8_t *)(mct_arena + {io['forward_offset']}); }}" in src
    # model.h states the same positions for a C caller
    h = (tmp_path / "out" / "model.h").read_text()
    assert f"#define MCT_TRAIN_INPUT_OFFSET {io['train_offset']}" in h
    assert f"#define MCT_FORWARD_INPUT_OFFSET {io['forward_offset']}" in h
    assert io["bytes"] == 12 * 12 * 3 and io["dtype"] == "i8"


def test_output_without_io_fields_is_refused_in_one_line(tmp_path):
    """An output of an older mcutrain (no io declarations, older runtime ABI) is never built
    by guessing: one line saying to compile again."""
    out = tmp_path / "out"
    compile_tiny(out)
    rep = json.loads((out / "report.json").read_text())
    del rep["io"]
    (out / "report.json").write_text(json.dumps(rep))
    with pytest.raises(DeviceBuildError, match="no input positions .* compile it again"):
        glue_source(out, rep)
    rep["runtime_abi"] = 2
    (out / "report.json").write_text(json.dumps(rep))
    with pytest.raises(DeviceBuildError, match="another version of mcutrain.*compile it again"):
        build_device(out, "cortex-m4")


@needs_toolchain
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7"])
def test_build_writes_sizes_to_report(tmp_path, cpu):
    out = tmp_path / "out"
    compile_tiny(out, ram="64KB", flash="256KB")
    info = build_device(out, cpu)
    rep = json.loads((out / "report.json").read_text())
    dev = rep["device"][cpu]
    assert dev["ram_budget"] == 64 * 1024 and dev["flash_budget"] == 256 * 1024
    assert (out / dev["elf"]).exists() and (out / cpu / "link.ld").exists()
    assert (out / cpu / "Makefile").exists()
    sec = dev["sections"]
    assert dev["ram_used_bytes"] == sec[".stack"] + sec.get(".data", 0) + sec[".bss"]
    assert dev["ram_used_bytes"] <= dev["ram_budget"]
    assert dev["flash_used_bytes"] <= dev["flash_budget"]
    arena = "arena (activations, saved tensors, gradients, scratch)"
    assert dev["size"]["text"] > 0 and dev["ram_breakdown"][arena] == rep["arena_bytes"]
    assert info == {k: v for k, v in dev.items() if k in info}
    syms = {n: s for n, s, _ in symbols(out / dev["elf"])}
    assert "malloc" not in syms and "_sbrk" not in syms  # heap of zero: nothing allocates
    # the stack sits at the bottom of RAM, below data and arena
    import subprocess
    nm = subprocess.run(["arm-none-eabi-nm", str(out / dev["elf"])], capture_output=True,
                        text=True).stdout
    addr = {ln.split()[2]: int(ln.split()[0], 16) for ln in nm.splitlines() if len(ln.split()) == 3}
    assert addr["__stack_bottom"] == 0x20000000
    assert addr["__stack_top"] == 0x20000000 + dev["stack_bytes"]
    assert addr["mct_arena"] >= addr["__stack_top"]
    # what a loader writes or zero-fills: code and .data's image below the parameter store,
    # .stack/.data/.bss in RAM (a .bss with a load address in flash once reached the store)
    segs = cortex_m.load_segments(out / dev["elf"])
    lo, ram = dev["pstore_origin"], range(0x20000000, 0x20000000 + dev["ram_budget"] + 1)
    assert any(a == 0 for a, _, _ in segs) and any(a in ram for a, _, _ in segs)
    for a, fsz, msz in segs:
        if a in ram:
            assert a + msz in ram
        else:  # flash holds only what the file brings (no zero-filled memory there)
            assert fsz == msz and a + msz <= lo, hex(a)


@needs_toolchain
def test_a_segment_inside_the_parameter_store_is_an_error(tmp_path):
    out = tmp_path / "out"
    compile_tiny(out)
    info = build_device(out, "cortex-m4")
    elf = out / info["elf"]
    code = info["flash_code_bytes"]
    cortex_m.check_load_segments(elf, Layout(ram=64 << 10, flash=code + 4096, stack=2048,
                                             slot=2048))  # the store right after the code
    with pytest.raises(DeviceBuildError, match="inside the parameter store"):
        cortex_m.check_load_segments(elf, Layout(ram=64 << 10, flash=code + 2048, stack=2048,
                                                 slot=2048))  # its first 2 KB over the code


@needs_toolchain
def test_build_is_cached_until_something_changes(tmp_path):
    out = tmp_path / "out"
    compile_tiny(out)
    build_device(out, "cortex-m4")
    elf = out / "cortex-m4" / "model.elf"
    t = elf.stat().st_mtime_ns
    build_device(out, "cortex-m4")
    assert elf.stat().st_mtime_ns == t
    build_device(out, "cortex-m4", stack="16KB")  # a change of the layout: a new build
    assert elf.stat().st_mtime_ns != t


@needs_toolchain
def test_over_budget_fails_the_link_with_our_breakdown(tmp_path, capsys):
    out = tmp_path / "out"
    rep = compile_tiny(out)
    with pytest.raises(DeviceBuildError) as e:
        build_device(out, "cortex-m4", ram="12KB")
    msg = str(e.value)
    need = rep["arena_bytes"] + rep["params_ram_bytes"] + 4096
    assert "region `RAM' overflowed by" in msg and "\n" not in msg  # the linker's own figure
    over = int(msg.split("region `RAM' overflowed by ")[1].split()[0])
    assert over >= need - 12 * 1024
    assert f"arena (activations, saved tensors, gradients, scratch) {rep['arena_bytes']} B" in msg
    details = "\n".join(e.value.details)  # the whole breakdown
    assert "what is in RAM:" in details and "mct_arena" in details
    assert f"{rep['arena_bytes']:>9} B  arena" in details and "stack (reserved" in details
    assert not (out / "cortex-m4" / "model.elf").exists()
    # a failure (exit 1), one line; --debug adds the breakdown
    assert main(["build", str(out), "--target", "cortex-m4", "--ram", "12KB", "--no-measure"]) == 1
    err = capsys.readouterr().err
    assert "overflowed by" in err and len(err.strip().splitlines()) == 1
    assert main(["build", str(out), "--target", "cortex-m4", "--ram", "12KB", "--no-measure",
                 "--debug"]) == 1
    assert "what is in RAM" in capsys.readouterr().err


@needs_toolchain
def test_flash_over_budget_names_the_flash(tmp_path):
    out = tmp_path / "out"
    compile_tiny(out)
    with pytest.raises(DeviceBuildError) as e:
        build_device(out, "cortex-m7", flash="16KB")
    msg, details = str(e.value), "\n".join(e.value.details)
    assert "region `FLASH' overflowed by" in msg and "what is in flash:" in details
    assert "frozen weights" in details and "parameter store (2 slots)" in details


@needs_toolchain
def test_shipped_device_makefile_builds_with_the_tested_flags(tmp_path):
    """OUT/<cpu>/Makefile (toolchain.device_makefile) carries the flags of the tested build and
    links the same program: its ELF has the build's flash and RAM sections."""
    import shutil
    import subprocess

    from mcutrain.targets.toolchain import CPUS, device_flags

    out = tmp_path / "out"
    compile_tiny(out)
    info = build_device(out, "cortex-m4")
    text = (out / "cortex-m4" / "Makefile").read_text()
    for f in device_flags(CPUS["cortex-m4"]):
        assert f in text, f
    assert "-fno-strict-aliasing" in text
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    (out / "cortex-m4" / "model.elf").unlink()
    p = subprocess.run(["make", "-s"], cwd=out / "cortex-m4", capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    made = cortex_m.section_sizes(out / "cortex-m4" / "model.elf")
    for sec in (".text", ".rodata", ".data", ".bss"):
        assert abs(made[sec] - info["sections"][sec]) <= 64, (sec, made[sec], info["sections"][sec])


def test_report_and_header_must_agree_on_the_input_positions(tmp_path):
    from mcutrain.artifacts import read_report
    from mcutrain.errors import InputError

    out = tmp_path / "out"
    compile_tiny(out)
    rep = json.loads((out / "report.json").read_text())
    rep["io"]["input"]["train_offset"] += 4
    (out / "report.json").write_text(json.dumps(rep))
    with pytest.raises(InputError, match="MCT_TRAIN_INPUT_OFFSET"):
        read_report(out)
