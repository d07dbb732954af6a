"""mcutrain/ops/cabi.py against mct.h: every parameter struct described once, field for field.

The C compiler checks the description (offsetof, sizeof and each field's type) on a file
that includes mct.h; the ctypes bindings of conftest.py are built from the same description,
so their offsets are what the compiler says too."""
from __future__ import annotations

import ctypes as C
import re
import subprocess

from mcutrain.ops.cabi import STRUCTS, initializer
from mcutrain.targets.host import INCLUDE, cc

from .conftest import struct_class

NOT_PARAMETERS = {"mct_guard"}  # device-side state (guard.c), never written by codegen


def test_every_struct_of_mct_h_is_described():
    header = "".join(h.read_text() for h in sorted(INCLUDE.glob("mct*.h")))  # mct.h and what it includes
    declared = set(re.findall(r"typedef struct \{[^}]*\} (\w+);", header))
    assert declared - NOT_PARAMETERS == set(STRUCTS)


def test_description_matches_the_compiler(tmp_path):
    lines = ["#include <stddef.h>", '#include "mct.h"']
    for name, fields in STRUCTS.items():
        cls = struct_class(name)
        lines.append(f"_Static_assert(sizeof({name}) == {C.sizeof(cls)}, \"sizeof {name}\");")
        for f, ctype in fields:
            off = getattr(cls, f).offset
            lines += [f"_Static_assert(offsetof({name}, {f}) == {off}, \"{name}.{f} offset\");",
                      f"_Static_assert(__builtin_types_compatible_p(__typeof__((({name} *)0)->{f}),"
                      f" {ctype}), \"{name}.{f} type\");"]
    src = tmp_path / "cabi_check.c"
    src.write_text("\n".join(lines) + "\n")
    p = subprocess.run([cc(), "-std=gnu11", "-fsyntax-only", f"-I{INCLUDE}", str(src)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_designated_initializer_names_every_field():
    init = initializer("mct_wsplit", ["T_w", "K_sel", 3])
    assert init == "{.wt = T_w, .sel = K_sel, .n_sel = 3}"
