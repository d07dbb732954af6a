"""Every inline-assembly statement of the Cortex-M kernels that is more than a one- or
two-instruction wrapper states its contract in a comment just above it (the registers it
reads, keeps and clobbers, the memory it reads and writes): "Contract" / "Asm contract", or a
"Registers:" list. The rule of the house: assembly only with a measured gain, generated from
one template, its register contract in a comment. No toolchain needed."""
from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "mcutrain" / "runtime" / "src"
CONTRACT = re.compile(r"[Cc]ontract|Registers:")
LOOKBACK = 40  # lines above a statement where its contract may stand (a family's comment)


def asm_statements(path: Path):
    """(line, text) of each __asm__ statement in path."""
    lines = path.read_text().split("\n")
    for i, line in enumerate(lines):
        if "__asm__" not in line or re.search(r"register .*__asm__\(", line):
            continue
        j, depth, text = i, 0, ""
        while True:
            text += lines[j] + "\n"
            depth += lines[j].count("(") - lines[j].count(")")
            if depth <= 0 and ";" in lines[j]:
                break
            j += 1
        yield i, text, lines


def kernels_files():
    return sorted(SRC.glob("*_arm.c")) + [SRC / "mct_arm.h", SRC / "grad_arm_asm.h"]


def test_every_asm_kernel_states_its_contract():
    missing = []
    for f in kernels_files():
        for i, text, lines in asm_statements(f):
            wrapper = text.count("\\n") < 2 and "MCT__" not in text  # operands say it all
            if wrapper:
                continue
            if not CONTRACT.search("\n".join(lines[max(0, i - LOOKBACK):i])):
                missing.append(f"{f.name}:{i + 1}")
    assert not missing, "asm statements without a contract comment above them: " + ", ".join(missing)


def test_the_check_sees_a_kernel_without_one(tmp_path):
    f = tmp_path / "x_arm.c"
    f.write_text('/* p[i] = 0 */\nstatic void k(float *p) {\n  __asm__ volatile("vldmia %[p], '
                 '{s0}\\n\\t"\n      "vstmia %[p], {s0}\\n\\t"\n      "nop"\n'
                 '      : : [p] "r"(p) : "s0", "memory");\n}\n')
    (i, text, lines), = asm_statements(f)
    assert text.count("\\n") >= 2 and not CONTRACT.search("\n".join(lines[:i]))
