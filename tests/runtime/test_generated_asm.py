"""The generated inline-assembly kernels (runtime/src/grad_arm_asm.h) are what their generator
(tools/gen_arm_asm.py) writes: nobody edits the output by hand, and a change to a template
reaches the committed file. No toolchain needed."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def generator():
    spec = importlib.util.spec_from_file_location("gen_arm_asm", ROOT / "tools" / "gen_arm_asm.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_committed_kernels_are_what_the_generator_writes():
    gen = generator()
    assert gen.OUT == ROOT / "mcutrain" / "runtime" / "src" / "grad_arm_asm.h"
    assert gen.OUT.read_text() == gen.render(), (
        "mcutrain/runtime/src/grad_arm_asm.h is stale or edited by hand: run "
        "`python tools/gen_arm_asm.py` and commit its output")


def test_every_generated_kernel_sits_under_a_contract_comment():
    """Each family opens with a comment that says "Contract:" (registers, memory)."""
    text = generator().render()
    families = re.findall(r"/\* ---- [^\n]*\n(.*?)\*/", text, re.S)
    assert len(families) == 7
    assert all("Contract:" in f or "Contract (" in f for f in families)


def test_grad_arm_c_includes_it_inside_the_dsp_guard():
    src = (ROOT / "mcutrain" / "runtime" / "src" / "grad_arm.c").read_text()
    inc = src.index('#include "grad_arm_asm.h"')
    assert src.index("#if MCT_ARM_DSP && MCT_ARM_FPU") < inc < src.index("#else")
    assert src.index("static const float mct__zeros[16];") < inc
    # the only asm left by hand in grad_arm.c: single loops, each under its contract comment
    assert src.count("__asm__") <= 8
