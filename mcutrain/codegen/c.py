"""Training graph + memory plan -> model.c / model.h (deterministic text).

The generated C reads like a hand-written training loop: one kernel call per node, a shape
comment on every buffer, arena offsets as named constants. Storage:
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
        self.mode = fp.mode  # node index -> emission mode for in-place ops
        self.plan = fp.plan
        self.find = fp.find
        self.names: dict = {}  # named pointer -> (C type, region root, byte offset, note)

    def is_scalar(self, v) -> bool:
        return self.fp.is_scalar(v)

    def _wg_block(self, n) -> int:
        return self.fp.wg_block(n)


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

    # ---- emission ---------------------------------------------------------------------------
    def body(self) -> list:
        lines = []
        self.ends = {}  # value -> index in `lines` just after the node that makes it
        for i, n in enumerate(self.nodes):
            outs = ", ".join(f"%{o}" for o in n.outputs)
            ins = ", ".join(f"%{x}" for x in n.inputs)
            shape = self.g.values[n.outputs[0]].type_str() if n.outputs else ""
            lines.append(f"  /* [{i}] {outs} = {n.op}({ins}) {shape} */")
            emit = getattr(self, f"_e_{n.op}", None)
            if emit is None:
                raise CodegenError(f"op {n.op} has no C kernel yet")
            lines += ["  " + s for s in emit(i, n)]
            self.ends.update((o, len(lines)) for o in n.outputs)
        return lines

    # ---- helpers for emitters -------------------------------------------------------------
    def _geom(self, n, x, y, k=(1, 1)) -> str:
        xv, yv = self.g.values[x], self.g.values[y]
        ih, iw, ic = hwc(xv.shape)
        oh, ow, oc = hwc(yv.shape)
        a = n.attrs
        s = a.get("stride", (1, 1))
        p = a.get("padding", (0, 0))
        s = s if isinstance(s, (tuple, list)) else (s, s)
        p = p if isinstance(p, (tuple, list)) else (p, p)
        kk = a.get("kernel", k)
        kk = kk if isinstance(kk, (tuple, list)) else (kk, kk)
        vals = [ih, iw, ic, oh, ow, oc, kk[0], kk[1], s[0], s[1], p[0], p[1], a.get("groups", 1)]
        return self.cg.add_struct(c_ident(f"{y}", "G_"), "mct_conv_geom", vals)

    def _requant(self, n) -> str:
        return self._requant_named(n.outputs[0], n.attrs)

    def _requant_named(self, y, a) -> str:
        m = self.cg.table(f"{y}.mult", "int32_t", a["mult"])
        s = self.cg.table(f"{y}.shift", "int32_t", a["shift"])
        return self.cg.add_struct(c_ident(y, "R_"), "mct_requant",
                                  [a["x_zero"], a["y_zero"], a["act_min"], a["act_max"], m, s])

    def _weights(self, w):
        """(w expression, prelude lines, wsplit expression) for a layer's weight input."""
        p = self.cg.params.get(w)
        if p is not None and p.sel is not None:
            sel = self.cg.table(f"{w}.sel", "int32_t", p.sel)
            init = initializer("mct_wsplit", [p.sym, sel, len(p.sel)])
            return p.frozen_sym, [f"const mct_wsplit ws = {init};"], "&ws"
        ch = self.cg.rm_channels.get(w)
        if ch is not None:
            src = next(n.inputs[0] for n in self.g.nodes if w in n.outputs)
            sel = self.cg.table(f"{w}.sel", "int32_t", ch)
            frozen = self.cg.params[src].sym
            init = initializer("mct_wsplit", [self.ref(w), sel, len(ch)])
            return frozen, [f"const mct_wsplit ws = {init};"], "&ws"
        return self.ref(w), [], "NULL"

    @staticmethod
    def _block(pre, call) -> list:
        if not pre:
            return [f"st |= {call};"]
        return ["{"] + ["  " + s for s in pre] + [f"  st |= {call};", "}"]

    def _n(self, v) -> int:
        return self.g.values[v].size

    # ---- forward --------------------------------------------------------------------------
    def _e_conv2d(self, i, n):
        x, w, b = n.inputs
        if self.g.values[x].dtype != "i8":
            raise CodegenError("float conv2d is not compiled to C (quantize the model first)")
        geo = self._geom(n, x, n.outputs[0], self.g.values[w].shape[2:])
        wexpr, pre, ws = self._weights(w)
        rq, y = self._requant(n), self.ref(n.outputs[0])
        mode = n.attrs.get("inplace") if self.mode.get(i) == "inplace" else None
        tmp = self.scratch(i, "int8_t") if mode else None
        if mode in ("pointwise", "depthwise"):
            call = (f"mct_{mode}_s8_inplace(&{geo}, &{rq}, {y}, {wexpr}, {ws}, {self.ref(b)}, {tmp})")
        elif mode == "rows":
            call = (f"mct_conv2d_s8_rows(&{geo}, &{rq}, {self.ref(x)}, {wexpr}, {ws}, {self.ref(b)}, "
                    f"{y}, {tmp})")
        else:
            call = f"mct_conv2d_s8(&{geo}, &{rq}, {self.ref(x)}, {wexpr}, {ws}, {self.ref(b)}, {y})"
        return self._block(pre, call)

    def _e_expand_depthwise(self, i, n):
        x, w1, b1, w2, b2 = n.inputs
        e = self.g.values[x]
        pw = type(n)("conv2d", (x, w1, b1), (n.outputs[0] + ".pw",), n.attrs["pw"])
        dw = type(n)("conv2d", (n.outputs[0] + ".pw", w2, b2), n.outputs, n.attrs["dw"])
        ih, iw, _ = hwc(e.shape)
        oc1 = self.g.values[w1].shape[0]
        oh, ow, oc2 = hwc(self.g.values[n.outputs[0]].shape)
        a1, a2 = n.attrs["pw"], n.attrs["dw"]
        k2 = self.g.values[w2].shape[2:]
        g1 = self.cg.add_struct(c_ident(n.outputs[0] + ".pw", "G_"), "mct_conv_geom",
                                [ih, iw, e.shape[1], ih, iw, oc1, 1, 1, 1, 1, 0, 0, 1])
        s2, p2 = a2.get("stride", (1, 1)), a2.get("padding", (0, 0))
        g2 = self.cg.add_struct(c_ident(n.outputs[0] + ".dw", "G_"), "mct_conv_geom",
                                [ih, iw, oc1, oh, ow, oc2, k2[0], k2[1], s2[0], s2[1], p2[0], p2[1],
                                 a2.get("groups", oc1)])
        del pw, dw
        q1 = self._requant_named(n.outputs[0] + ".pw", a1)
        q2 = self._requant_named(n.outputs[0] + ".dw", a2)
        if self.mode.get(i) == "inplace":  # streamed by rows over its consumed input
            ring = self.scratch(i, "int8_t")
            row_tmp = f"{ring} + {(k2[0] * iw * oc1 + 15) // 16 * 16}"
            return [f"st |= mct_expand_dw_s8_rows(&{g1}, &{q1}, {self.ref(w1)}, {self.ref(b1)}, &{g2}, "
                    f"&{q2}, {self.ref(w2)}, {self.ref(b2)}, {self.ref(x)}, {self.ref(n.outputs[0])}, "
                    f"{ring}, {row_tmp});"]
        return [f"st |= mct_expand_dw_s8(&{g1}, &{q1}, {self.ref(w1)}, {self.ref(b1)}, &{g2}, &{q2}, "
                f"{self.ref(w2)}, {self.ref(b2)}, {self.ref(x)}, {self.ref(n.outputs[0])}, "
                f"{self.scratch(i, 'int8_t')});"]

    def _e_linear(self, i, n):
        x, w, b = n.inputs
        xv, wv = self.g.values[x], self.g.values[w]
        y = n.outputs[0]
        if xv.dtype == "f32":
            return [f"st |= mct_linear_f32({wv.shape[1]}, {wv.shape[0]}, {self.ref(x)}, "
                    f"{self.ref(w)}, {self.ref(b)}, {self.ref(y)});"]
        wexpr, pre, ws = self._weights(w)
        call = (f"mct_linear_s8({wv.shape[1]}, {wv.shape[0]}, &{self._requant(n)}, {self.ref(x)}, "
                f"{wexpr}, {ws}, {self.ref(b)}, {self.ref(y)})")
        return self._block(pre, call)

    def _e_add(self, i, n):
        a, b = n.inputs
        y = n.outputs[0]
        if self.g.values[a].dtype == "f32":  # gradient sum
            mode = self.mode.get(i, "copy")
            cnt = self._n(y)
            if mode == "acc_a":
                return [f"st |= mct_accumulate_f32({cnt}, {self.ref(b)}, {self.ref(a)});"]
            if mode == "acc_b":
                return [f"st |= mct_accumulate_f32({cnt}, {self.ref(a)}, {self.ref(b)});"]
            return [f"memcpy({self.ref(y)}, {self.ref(a)}, {cnt * 4});",
                    f"st |= mct_accumulate_f32({cnt}, {self.ref(b)}, {self.ref(y)});"]
        at = n.attrs
        p = at["params"]
        vals = [at["x_zero"], at["y_zero_in"], at["y_zero"], at.get("act_min", -128),
                at.get("act_max", 127), p["left_shift"], p["x_mult"], p["x_shift"],
                p["y_mult"], p["y_shift"], p["out_mult"], p["out_shift"]]
        sym = self.cg.add_struct(c_ident(y, "A_"), "mct_add_params", vals)
        return [f"st |= mct_add_s8(&{sym}, {self._n(y)}, {self.ref(a)}, {self.ref(b)}, {self.ref(y)});"]

    def _e_global_avgpool(self, i, n):
        h, w, c = hwc(self.g.values[n.inputs[0]].shape)
        return [f"st |= mct_avgpool_global_s8({h * w}, {c}, {self.ref(n.inputs[0])}, "
                f"{self.ref(n.outputs[0])});"]

    def _e_maxpool2d(self, i, n):
        geo = self._geom(n, n.inputs[0], n.outputs[0])
        return [f"st |= mct_maxpool_s8(&{geo}, {self.ref(n.inputs[0])}, {self.ref(n.outputs[0])});"]

    def _e_clamp(self, i, n):
        if self.g.values[n.inputs[0]].dtype != "i8":
            raise CodegenError("float clamp is not compiled to C (quantize the model first)")
        return [f"st |= mct_clamp_s8({self._n(n.inputs[0])}, {n.attrs['lo']}, {n.attrs['hi']}, "
                f"{self.ref(n.inputs[0])}, {self.ref(n.outputs[0])});"]

    def _e_reshape(self, i, n):
        return ["/* reshape: same buffer */"]

    def _e_dequantize(self, i, n):
        a = n.attrs
        return [f"st |= mct_dequantize_s8({self._n(n.inputs[0])}, {_c_float(np.float32(a['scale']))}, "
                f"{a['zero']}, {self.ref(n.inputs[0])}, {self.ref(n.outputs[0])});"]

    def _e_gather_channels(self, i, n):
        h, w, c = hwc(self.g.values[n.inputs[0]].shape)
        ch = n.attrs["channels"]
        sel = self.cg.table(f"{n.outputs[0]}.sel", "int32_t", ch)
        return [f"st |= mct_gather_channels_s8({h * w}, {c}, {sel}, {len(ch)}, "
                f"{self.ref(n.inputs[0])}, {self.ref(n.outputs[0])});"]

    def _e_round_master(self, i, n):
        frozen, master = n.inputs
        kind = "s8" if self.g.values[frozen].dtype == "i8" else "s32"
        cnt = self.cg.params[master].data.size
        return [f"st |= mct_round_master_{kind}({cnt}, {self.ref(master)}, {self.ref(n.outputs[0])});"]

    def _e_softmax_ce(self, i, n):
        z = n.inputs[0]
        return [f"loss = mct_softmax_ce_f32({self._n(z)}, {self.ref(z)}, label, NULL);"]

    # ---- backward -------------------------------------------------------------------------
    def _e_softmax_ce_grad(self, i, n):
        z = n.inputs[0]
        return [f"(void)mct_softmax_ce_f32({self._n(z)}, {self.ref(z)}, label, {self.ref(n.outputs[0])});"]

    def _e_clamp_grad(self, i, n):
        gy, y = n.inputs
        a = n.attrs
        if a.get("lo") is None or a.get("hi") is None:
            raise CodegenError("clamp_grad of a float clamp is not compiled to C")
        return self._copy_unless_inplace(i, gy, n.outputs[0]) + [
            f"st |= mct_clamp_grad_f32({self._n(gy)}, {a['lo']}, {a['hi']}, {self.ref(y)}, "
            f"{self.ref(n.outputs[0])});"]

    def _copy_unless_inplace(self, i, src, dst) -> list:
        """Kernels that work in place on a float buffer: copy first when src lives on."""
        if self.mode.get(i) == "inplace":
            return []
        return [f"memcpy({self.ref(dst)}, {self.ref(src)}, {self._n(src) * 4});"]

    def _e_conv2d_grad_input(self, i, n):
        gy, w = n.inputs
        gx = n.outputs[0]
        wv = self.g.values[w]
        if n.attrs.get("w_scale") is None:
            raise CodegenError("float conv2d backward is not compiled to C")
        geo = self._geom(n, gx, gy, wv.shape[2:])
        wexpr, pre, ws = self._weights(w)
        sc = self.cg.table(f"{w}.w_scale", "float", n.attrs["w_scale"])
        mode = n.attrs.get("inplace") if self.mode.get(i) == "inplace" else None
        if mode:
            return self._block(pre, f"mct_{mode}_grad_input_f32_inplace(&{geo}, {self.ref(gx)}, "
                                    f"{wexpr}, {ws}, {sc}, {self.scratch(i)})")
        return self._block(pre, f"mct_conv2d_grad_input_f32(&{geo}, {self.ref(gy)}, {wexpr}, {ws}, "
                                f"{sc}, {self.ref(gx)})")

    def _grad_weight_rows(self, n, geo, xs, n_ch, gy, gw, rows, row_len, chans, depthwise):
        a = n.attrs
        sc = self.cg.table(f"{gw}.w_scale", "float", a["w_scale"])
        xz, xsc = a["x_zero"], _c_float(np.float32(a["x_scale"]))
        if depthwise:
            gyc = self.cg.table(f"{gw}.rows", "int32_t", chans) if chans else None
            gy_c = f"{gyc}[r]" if gyc else "r"
            xs_c = self._group_saved_channel(n, chans)
            return [f"for (int32_t r = 0; r < {rows}; ++r)",
                    f"  st |= mct_conv2d_grad_weight_row_f32(&{geo}, {self.ref(xs)}, {n_ch}, {xz}, "
                    f"{xsc}, {self.ref(gy)}, {gy_c}, {xs_c}, {sc}[{gy_c}], {self.ref(gw)} + r * {row_len});"]
        return [f"st |= mct_conv2d_grad_weight_rows_f32(&{geo}, {self.ref(xs)}, {n_ch}, {xz}, "
                f"{xsc}, {self.ref(gy)}, 0, {rows}, {sc}, {self.ref(gw)});"]

    def _group_in_c(self, n, ga=None) -> tuple:
        """(in_c, channels per group) of a conv's weight gradient, as ops/conv.py decides:
        depthwise when a channel subset is saved or each group has one input channel."""
        ga = ga or n.attrs
        groups, n_ch = ga.get("groups", 1), hwc(self.g.values[n.inputs[0]].shape)[2]
        if groups == 1:
            return n_ch, n_ch
        cg = 1 if ga.get("channels") is not None or n_ch == groups else n_ch // groups
        return groups * cg, cg

    def _group_saved_channel(self, n, chans, ga=None) -> str:
        """First saved-input channel of weight row r of a grouped conv: the gathered entry r
        (a depthwise slice), else (r / out channels per group) * channels per group."""
        if chans:
            return "r"
        ga = ga or n.attrs
        og = self.g.values[n.inputs[1]].shape[1] // ga.get("groups", 1)
        cg = self._group_in_c(n, ga)[1]
        first = "r" if og == 1 else f"(r / {og})"
        return first if cg == 1 else f"{first} * {cg}"

    def _e_conv2d_grad_weight(self, i, n):
        xs, gy = n.inputs
        gw = n.outputs[0]
        gwv = self.g.values[gw]
        if n.attrs.get("w_scale") is None:
            raise CodegenError("float conv2d backward is not compiled to C")
        xv, gv = self.g.values[xs], self.g.values[gy]
        ih, iw, n_ch = hwc(xv.shape)
        oh, ow, oc = hwc(gv.shape)
        groups = n.attrs.get("groups", 1)
        kh, kw = gwv.shape[2:]
        s, p = n.attrs.get("stride", (1, 1)), n.attrs.get("padding", (0, 0))
        vals = [ih, iw, self._group_in_c(n)[0], oh, ow, oc, kh, kw, s[0], s[1], p[0], p[1], groups]
        geo = self.cg.add_struct(c_ident(gw, "G_"), "mct_conv_geom", vals)
        rows, row_len = gwv.shape[0], int(np.prod(gwv.shape[1:]))
        return self._grad_weight_rows(n, geo, xs, n_ch, gy, gw, rows, row_len,
                                      n.attrs.get("channels"), groups > 1)

    def _e_conv2d_grad_bias(self, i, n):
        g = n.inputs[0]
        h, w, c = hwc(self.g.values[g].shape)
        bs = n.attrs.get("b_scale")
        sc = self.cg.table(f"{n.outputs[0]}.b_scale", "float", bs) if bs is not None else "NULL"
        return [f"st |= mct_bias_grad_f32({h * w}, {c}, {self.ref(g)}, {sc}, {self.ref(n.outputs[0])});"]

    def _e_global_avgpool_grad(self, i, n):
        h, w = n.attrs["in_hw"]
        c = self.g.values[n.inputs[0]].shape[1]
        return [f"st |= mct_avgpool_global_grad_f32({h * w}, {c}, {self.ref(n.inputs[0])}, "
                f"{self.ref(n.outputs[0])});"]

    def _e_linear_grad_input(self, i, n):
        gy, w = n.inputs
        wv = self.g.values[w]
        if wv.dtype == "f32":
            return [f"st |= mct_linear_grad_input_f32({wv.shape[1]}, {wv.shape[0]}, {self.ref(gy)}, "
                    f"NULL, {self.ref(w)}, NULL, {self.ref(n.outputs[0])});"]
        wexpr, pre, ws = self._weights(w)
        if pre:
            raise CodegenError("channel-fraction training of an int8 linear layer is not compiled yet")
        sc = self.cg.table(f"{w}.w_scale", "float", n.attrs["w_scale"])
        return [f"st |= mct_linear_grad_input_f32({wv.shape[1]}, {wv.shape[0]}, {self.ref(gy)}, "
                f"{wexpr}, NULL, {sc}, {self.ref(n.outputs[0])});"]

    def _e_linear_grad_weight(self, i, n):
        xs, gy = n.inputs
        gw = n.outputs[0]
        o, c = self.g.values[gw].shape
        if n.attrs.get("w_scale") is None:
            return [f"st |= mct_outer_f32({o}, {c}, {self.ref(gy)}, {self.ref(xs)}, {self.ref(gw)});"]
        geo = self.cg.add_struct(c_ident(gw, "G_"), "mct_conv_geom", [1, 1, c, 1, 1, o, 1, 1, 1, 1, 0, 0, 1])
        return self._grad_weight_rows(n, geo, xs, c, gy, gw, o, c, None, False)

    def _e_clamp_mask(self, i, n):
        y = n.inputs[0]
        return [f"st |= mct_clamp_mask_s8({self._n(y)}, {n.attrs['lo']}, {n.attrs['hi']}, "
                f"{self.ref(y)}, {self.ref(n.outputs[0])});"]

    def _e_clamp_grad_mask(self, i, n):
        gy, m = n.inputs
        return self._copy_unless_inplace(i, gy, n.outputs[0]) + [
            f"st |= mct_clamp_grad_bits_f32({self._n(gy)}, {self.ref(m)}, {self.ref(n.outputs[0])});"]

    # ---- update ---------------------------------------------------------------------------
    def _sgd_struct(self, a, param, gshape) -> tuple:
        rows = gshape[0] if gshape else 1
        row_len = int(np.prod(gshape[1:])) if len(gshape) > 1 else 1
        qas = self.cg.table(f"{param}.qas", "float", a["qas"]) if a.get("qas") is not None else "NULL"
        init = initializer("mct_sgd", [
            "mct_lr", _c_float(np.float32(a.get("momentum", 0.0))),
            _c_float(np.float32(a.get("weight_decay", 0.0))), qas, row_len,
            f"{a.get('seed', 0)}u", f"{a.get('param_id', 0)}u", "mct_step"])
        decl = f"const mct_sgd s = {init};"
        kind = {"i8": "s8", "i32": "s32", "f32": "f32"}[self.g.values[param].dtype]
        return decl, kind, rows, row_len

    def _e_sgd_update(self, i, n):
        param, grad = n.inputs[0], n.inputs[1]
        mom = self.ref(n.inputs[4]) if len(n.inputs) == 5 else "NULL"
        decl, kind, rows, _ = self._sgd_struct(n.attrs, param, self.g.values[grad].shape)
        return ["{", "  " + decl,
                f"  st |= mct_sgd_{kind}(&s, 0, {rows}, {self.ref(param)}, {self.ref(grad)}, {mom});",
                "}"]

    def _e_weight_grad_update(self, i, n):
        """One output channel at a time: its gradient row into scratch, then its update."""
        xs, gy, param = n.inputs[:3]
        mom = self.ref(n.inputs[5]) if len(n.inputs) == 6 else "NULL"
        a, ga = n.attrs["sgd"], n.attrs["grad"]
        pv = self.g.values[param]
        gshape = list(pv.shape)
        if a.get("channels") is not None:
            gshape[a.get("axis", 0)] = len(a["channels"])
        decl, kind, rows, row_len = self._sgd_struct(a, param, gshape)
        row = self.scratch(i)
        upd = f"st |= mct_sgd_{kind}(&s, r, 1, {self.ref(param)}, {row}, {mom});"
        if n.attrs["grad_op"] == "linear_grad_weight" and ga.get("w_scale") is None:
            grad = f"st |= mct_outer_f32(1, {row_len}, {self.ref(gy)} + r, {self.ref(xs)}, {row});"
        else:
            xv, gv = self.g.values[xs], self.g.values[gy]
            ih, iw, n_ch = hwc(xv.shape)
            oh, ow, oc = hwc(gv.shape)
            groups = ga.get("groups", 1)
            kh, kw = (gshape[2], gshape[3]) if len(gshape) == 4 else (1, 1)
            st, pd = ga.get("stride", (1, 1)), ga.get("padding", (0, 0))
            vals = [ih, iw, self._group_in_c(n, ga)[0], oh, ow, oc, kh, kw, st[0], st[1], pd[0],
                    pd[1], groups]
            geo = self.cg.add_struct(c_ident(f"{param}.wg", "G_"), "mct_conv_geom", vals)
            sc = self.cg.table(f"{param}.w_scale", "float", ga["w_scale"])
            xz, xsc = ga["x_zero"], _c_float(np.float32(ga["x_scale"]))
            chans = ga.get("channels")
            if groups > 1:
                gyc = f"{self.cg.table(f'{param}.rows', 'int32_t', chans)}[r]" if chans else "r"
                xs_c = self._group_saved_channel(n, chans, ga)
                grad = (f"st |= mct_conv2d_grad_weight_row_f32(&{geo}, {self.ref(xs)}, {n_ch}, {xz}, "
                        f"{xsc}, {self.ref(gy)}, {gyc}, {xs_c}, {sc}[{gyc}], {row});")
            else:
                blk = self._wg_block(n)
                if blk > 1:  # a block of rows, then their update
                    nr = f"{rows} - r < {blk} ? {rows} - r : {blk}"
                    return ["{", "  " + decl, f"  for (int32_t r = 0; r < {rows}; r += {blk}) {{",
                            f"    const int32_t nr = {nr};",
                            f"    st |= mct_conv2d_grad_weight_rows_f32(&{geo}, {self.ref(xs)}, {n_ch}, "
                            f"{xz}, {xsc}, {self.ref(gy)}, r, nr, {sc}, {row});",
                            f"    st |= mct_sgd_{kind}(&s, r, nr, {self.ref(param)}, {row}, {mom});",
                            "  }", "}"]
                grad = (f"st |= mct_conv2d_grad_weight_row_f32(&{geo}, {self.ref(xs)}, {n_ch}, {xz}, "
                        f"{xsc}, {self.ref(gy)}, r, 0, {sc}[r], {row});")
        return ["{", "  " + decl, f"  for (int32_t r = 0; r < {rows}; ++r) {{",
                "    " + grad, "    " + upd, "  }", "}"]
