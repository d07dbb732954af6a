"""The C of one training graph from its memory plan (deterministic text; model.py puts it
into files): CGen holds the file-scope definitions (parameters, tables, structs), FuncGen
one function's body, one kernel call per node from the node's OpDef (`emit`, with the
FuncGen as its ctx), and the named arena pointers its calls pass. Storage:
- frozen parameters and all tables: `static const` (flash);
- trained parameters, float masters, momentum: `static` arrays (RAM);
- activations, saved tensors, gradients: one static arena at planned offsets.
A trained channel slice of a layer (ratio < 1) is stored as its own RAM array; the frozen
weights in flash then hold zeros in those channels (mct_wsplit), so only the slice costs RAM.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph
from ..schedule.plan import FunctionPlan, MemoryPlan
from ..ops.cabi import initializer
from ..ops.common import pair
from ..ops.registry import get_op
from .layout import CTYPE, c_ident, hwc
from ..errors import McuError


class CodegenError(McuError, ValueError):
    pass


def _fmt_array(values, per_line: int = 16) -> str:
    vals = list(values)
    if not vals:
        return "{0}"
    lines = [", ".join(values_to_c(vals[i:i + per_line])) for i in range(0, len(vals), per_line)]
    return "{\n  " + ",\n  ".join(lines) + "\n}"


def values_to_c(vals) -> list:
    out = []
    for v in vals:
        if isinstance(v, (float, np.floating)):
            f = np.float32(v)
            if not np.isfinite(f):
                raise CodegenError(f"non-finite constant {v}")
            out.append(_c_float(f))
        else:
            iv = int(v)
            out.append(f"{iv}" if iv != -(2**31) else "(-2147483647 - 1)")
    return out


def _c_float(f: np.float32) -> str:
    # 9 significant digits round-trip a float32 exactly
    s = f"{float(f):.9g}"
    if "e" not in s and "." not in s and "inf" not in s and "nan" not in s:
        s += ".0"
    return s + "f"


@dataclass
class ParamInfo:
    """How one stored array (schedule/storage.py) is named in C."""

    name: str  # IR name
    sym: str  # C symbol
    dtype: str
    data: np.ndarray
    ram: bool
    sel: tuple | None = None  # trained channels when this is a slice
    axis: int = 1
    frozen_sym: str | None = None  # flash copy with zeros in the trained channels


PREFIX = {"trained": "T_", "frozen": "F_", "param": "P_", "master": "M_", "state": "S_",
          "const": "C_"}


class CGen:
    """Generates the C of a training graph from its memory plan (see module docstring)."""

    def __init__(self, tg: Graph, mp: MemoryPlan, prefix: str = "mct"):
        self.g = tg
        self.t = tg.meta["train"]
        self.mp = mp
        self.prefix = prefix
        self.tables: list = []  # file-scope static const definitions
        self._table_names: set = set()
        self._tbytes = 0
        self.params: dict = {}  # stored key -> ParamInfo
        for key, s in mp.storage.arrays.items():
            frozen = c_ident(s.name, "F_") if s.kind == "trained" else None
            self.params[key] = ParamInfo(s.name, c_ident(s.name, PREFIX[s.kind]), s.dtype, s.data,
                                         s.ram, s.sel, s.axis, frozen)
        self.rm_channels = mp.storage.rm_channels

    def param_decls(self) -> list:
        out = []
        for key in sorted(self.params):
            p = self.params[key]
            qual = "static " if p.ram else "static const "
            v = self.g.values.get(p.name)
            shape = list(p.data.shape)
            where = "RAM" if p.ram else "flash"
            out.append(f"/* %{p.name}: {p.dtype}{shape} ({where}{', trained slice' if p.sel else ''}) */")
            out.append(f"{qual}{CTYPE[p.dtype]} {p.sym}[{max(1, p.data.size)}] = "
                       f"{_fmt_array(p.data.ravel())};")
            del v
        return out

    def trained_params(self) -> list:
        """(IR name, C symbol, dtype, shape) of the values mct_get/set_params move, in order."""
        return [(name, self.params[name].sym, s.dtype, tuple(s.data.shape))
                for name, s in self.mp.storage.trained(self.t)]

    # ---- tables -----------------------------------------------------------------------------
    def table(self, name: str, ctype: str, values) -> str:
        sym = c_ident(name, "K_")
        if sym not in self._table_names:
            self._table_names.add(sym)
            vals = list(values)
            self.tables.append(f"static const {ctype} {sym}[{max(1, len(vals))}] = {_fmt_array(vals)};")
            self._tbytes += max(1, len(vals)) * (1 if ctype == "int8_t" else 4)
        return sym

    def add_struct(self, sym: str, ctype: str, fields) -> str:
        """A static const struct (flash), defined once, with a designated initializer
        (ops/cabi.py: the one description of mct.h's structs)."""
        if sym not in self._table_names:
            self._table_names.add(sym)
            self.tables.append(f"static const {ctype} {sym} = {initializer(ctype, fields)};")
            self._tbytes += 4 * len(fields)
        return sym

    def table_bytes(self) -> int:
        return self._tbytes


class FuncGen:
    """One C function (the training step, or inference) over its FunctionPlan's nodes."""

    def __init__(self, cg: CGen, fp: FunctionPlan):
        self.cg, self.g, self.fp, self.tag = cg, cg.g, fp, fp.tag
        self.nodes = fp.nodes
        self.plan = fp.plan
        self.find = fp.find
        self.names: dict = {}  # named pointer -> (C type, region root, byte offset, note)

    def is_scalar(self, v) -> bool:
        return self.fp.is_scalar(v)


    # ---- named buffers: where each value lives in the arena (arena.h) -----------------------
    # A region (OFF_<tag>_<name>) is one planned buffer: a value, the chain of values an
    # in-place kernel writes over each other (named <first>_to_<last>), or a kernel's scratch.
    # Every value the function passes to a kernel gets a named pointer <tag>_<value> into it.
    def region(self, root) -> str:
        if root.startswith("scratch."):
            return c_ident(root)
        members = [m for m in self.fp.members.get(root, [root]) if self.fp.in_arena(m)]
        if len(members) > 1:
            return c_ident(f"{root}_to_{members[-1]}")
        return c_ident(root)

    def off(self, root) -> str:
        return f"OFF_{self.tag}_{self.region(root)}"

    def _named(self, name, ctype, root, pos, note) -> str:
        got = self.names.setdefault(name, (ctype, root, pos, note))
        if got[:3] != (ctype, root, pos):
            raise CodegenError(f"buffer name {name} used for two places")
        return name

    def scratch(self, i, ctype: str = "float") -> str:
        n = self.nodes[i]
        return self._named(f"{self.tag.lower()}_scratch_{i}", ctype, f"scratch.{i}", 0,
                           f"{self.fp.scratch[i]} B of scratch for [{i}] {n.op}")

    def ref(self, v) -> str:
        """C expression for the data of value v: a parameter's array or a named pointer."""
        r = self.fp.root(v)
        if r in self.cg.params:
            return self.cg.params[r].sym
        if self.is_scalar(v):
            raise CodegenError(f"scalar %{v} has no buffer")
        val = self.g.values[v]
        r, pos = self.fp.position(v)
        return self._named(c_ident(v, f"{self.tag.lower()}_"), CTYPE[val.dtype], r, pos,
                           f"%{v}: {self.fp.layout_note(v)}")

    def arena_offset(self, v) -> int | None:
        """Byte offset of value v's data in the arena (None: not in the arena): what
        report.json declares for tools (the input and logits positions)."""
        r, pos = self.fp.position(v)
        if r in self.cg.params or r not in self.plan.offsets:
            return None
        return int(self.plan.offsets[r] + pos)

    def offsets(self) -> list:
        """The regions (from the plan) and the named pointers the function body used."""
        out = []
        for b in sorted(self.plan.buffers, key=lambda b: (self.plan.offsets[b.name], b.first)):
            if b.name.startswith("scratch."):
                what = "scratch"
            else:
                held = [m for m in self.fp.members.get(b.name, [b.name]) if self.fp.in_arena(m)]
                what = " ".join(f"%{m}" for m in held)
            out.append(f"#define {self.off(b.name)} {self.plan.offsets[b.name]} "
                       f"/* {b.size} B, steps {b.first}-{b.last}: {what} */")
        out.append("")
        for name in sorted(self.names, key=lambda k: (self.plan.offsets[self.names[k][1]], k)):
            ctype, root, pos, note = self.names[name]
            extra = f" + {pos}" if pos else ""
            out.append(f"#define {name} (({ctype} *)(mct_arena + {self.off(root)}{extra})) "
                       f"/* {note} */")
        return out

    # ---- emission: one kernel call per node, from its OpDef (ops/<family>.py) --------------
    def body(self) -> list:
        lines = []
        self.ends = {}  # value -> index in `lines` just after the node that makes it
        for i, n in enumerate(self.nodes):
            outs = ", ".join(f"%{o}" for o in n.outputs)
            ins = ", ".join(f"%{x}" for x in n.inputs)
            shape = self.g.values[n.outputs[0]].type_str() if n.outputs else ""
            lines.append(f"  /* [{i}] {outs} = {n.op}({ins}) {shape} */")
            emit = get_op(n.op).emit
            if emit is None:  # the plan refuses such graphs: kept for a hand-made plan
                raise CodegenError(f"op {n.op} has no C kernel yet")
            lines += ["  " + s for s in emit(self, i, n)]
            self.ends.update((o, len(lines)) for o in n.outputs)
        return lines

    # ---- what an OpDef's emit may ask (the ctx of ops/registry.py) ---------------------------
    @property
    def values(self) -> dict:
        return self.g.values

    def mode(self, i, default=None):
        """How step i runs: "inplace" (over its input), "acc_a" / "acc_b" / "copy" (a float
        gradient sum), or default (schedule/plan.py FunctionPlan.analyze)."""
        return self.fp.mode(i, default)

    def wg_block(self, n) -> int:
        return self.fp.wg_block(n)

    def sym(self, name, prefix="") -> str:
        return c_ident(name, prefix)

    @staticmethod
    def c_float(x) -> str:
        return _c_float(np.float32(x))

    def n(self, v) -> int:
        return self.g.values[v].size

    def param_size(self, name) -> int:
        return self.cg.params[name].data.size

    def table(self, name: str, ctype: str, values) -> str:
        return self.cg.table(name, ctype, values)

    def struct(self, sym: str, ctype: str, fields) -> str:
        return self.cg.add_struct(sym, ctype, fields)

    def geom(self, n, x, y, k=(1, 1)) -> str:
        """The mct_conv_geom of node n from x to y (kernel from attrs or k)."""
        (ih, iw, ic), (oh, ow, oc) = hwc(self.g.values[x].shape), hwc(self.g.values[y].shape)
        a = n.attrs
        s, p, kk = (pair(a.get(key, d)) for key, d in (("stride", 1), ("padding", 0), ("kernel", k)))
        vals = [ih, iw, ic, oh, ow, oc, kk[0], kk[1], s[0], s[1], p[0], p[1], a.get("groups", 1)]
        return self.cg.add_struct(c_ident(f"{y}", "G_"), "mct_conv_geom", vals)

    def requant(self, y, a) -> str:
        """The mct_requant of output y (attrs a: zero points, clamp, per-channel mult/shift)."""
        m = self.cg.table(f"{y}.mult", "int32_t", a["mult"])
        s = self.cg.table(f"{y}.shift", "int32_t", a["shift"])
        return self.cg.add_struct(c_ident(y, "R_"), "mct_requant",
                                  [a["x_zero"], a["y_zero"], a["act_min"], a["act_max"], m, s])

    def weights(self, w):
        """(w expression, prelude lines, wsplit expression) for a layer's weight input: a
        trained slice is added back to its frozen flash copy through an mct_wsplit."""
        p = self.cg.params.get(w)
        if p is not None and p.sel is not None:
            sel = self.cg.table(f"{w}.sel", "int32_t", p.sel)
            init = initializer("mct_wsplit", [p.sym, sel, len(p.sel)])
            return p.frozen_sym, [f"const mct_wsplit ws = {init};"], "&ws"
        ch = self.cg.rm_channels.get(w)
        if ch is not None:
            src = next(n.inputs[0] for n in self.g.nodes if w in n.outputs)
            sel = self.cg.table(f"{w}.sel", "int32_t", ch)
            init = initializer("mct_wsplit", [self.ref(w), sel, len(ch)])
            return self.cg.params[src].sym, [f"const mct_wsplit ws = {init};"], "&ws"
        return self.ref(w), [], "NULL"

    @staticmethod
    def block(pre, call) -> list:
        if not pre:
            return [f"st |= {call};"]
        return ["{"] + ["  " + s for s in pre] + [f"  st |= {call};", "}"]
