"""The memory plan of a training graph, as a value: computed from the graph alone.

For each compiled function (the training step, and the forward that inference runs) it
says which values share a buffer (aliases and in-place groups), how each node is emitted
(in place or not, blocks of weight-gradient rows), the caller-owned scratch of every
kernel, every buffer's lifetime and offset in the one arena, and the lower bound. Beside
it, where parameters and optimizer state live (storage.py). The code generator only reads
a MemoryPlan; the scheme planner prices a scheme from one without generating any C.

Aliases carry a byte offset: pos(v) = pos(root) + delta (an in-place kernel may place its
output before its input). A root's buffer spans all its members; each member is one part
of the group with its own extent and lifetime (memory.py), so an in-place chain is only as
large, at any step, as what is alive in it then.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import McuError
from ..ir.graph import Graph
from ..ops.common import hwc
from ..ops.optim import wg_row_bytes, wg_slice_shape
from ..ops.registry import get_op
from ..ref.interp import needed_nodes
from .memory import Buffer, Plan, plan_memory
from .storage import Storage, classify

ALIAS_OPS = ("reshape",)


class PlanError(McuError, ValueError):
    """The graph holds something the generated C cannot run."""


WG_BLOCK_BYTES = 4096  # scratch of a fused weight update: gradient rows of one block at most
# (where the arena has room: choose_blocks never lets the blocks make the arena larger than
# one row each)
WG_BLOCK_ROWS = 64     # rows of one mct_conv2d_grad_weight_rows_f32 call (MCT__GWR_MAX)


@dataclass
class FunctionPlan:
    """The plan of one function over an ordered list of nodes (steps 0, 1, ...)."""

    g: Graph
    storage: Storage
    node_ids: list
    tag: str  # "T" training step, "F" forward
    parent: dict = field(default_factory=dict)  # value -> (root, byte delta)
    members: dict = field(default_factory=dict)  # root -> values aliased into it
    modes: dict = field(default_factory=dict)  # step -> "inplace" | "acc_a" | "acc_b" | "copy"
    wg_rows: dict = field(default_factory=dict)  # weight_grad_update output -> rows per block
    scratch: dict = field(default_factory=dict)  # step -> bytes of its kernel's scratch
    base_shift: dict = field(default_factory=dict)  # root -> its base's offset in the group
    plan: Plan | None = None
    bufs: dict = field(default_factory=dict)  # root (or scratch.<step>) -> Buffer

    @property
    def nodes(self) -> list:
        return [self.g.nodes[i] for i in self.node_ids]

    @property
    def t(self) -> dict:
        return self.g.meta["train"]

    # ---- what lives where ---------------------------------------------------------------
    def find(self, v) -> tuple:
        d = 0
        while v in self.parent:
            v, dd = self.parent[v]
            d += dd
        return v, d

    def root(self, v):
        return self.find(v)[0]

    def is_scalar(self, v) -> bool:
        return self.g.values[v].shape == () or v == self.t["label"]

    def in_arena(self, v) -> bool:
        if self.g.values[v].role in ("param", "const", "state"):
            return False  # flash/RAM arrays (or a frozen source no kernel reads)
        return not (v in self.storage or self.is_scalar(v) or self.root(v) in self.storage)

    def position(self, v) -> tuple:
        """(root, byte offset from the root's planned offset) of an arena value."""
        r, d = self.find(v)
        return r, d + self.base_shift.get(r, 0)

    def nbytes(self, v) -> int:
        val = self.g.values[v]
        ch = self.storage.rm_channels.get(v)
        if ch is not None:
            ax = next(n.attrs.get("axis", 1) for n in self.g.nodes if v in n.outputs)
            return val.nbytes // val.shape[ax] * len(ch)
        return val.nbytes

    def wg_block(self, n) -> int:
        """Gradient rows computed (then updated) per step of a fused weight_grad_update."""
        return self.wg_rows.get(n.outputs[0], 1)

    # ---- what an OpDef's scratch / c_check may ask (the ctx of ops/registry.py) ----------------
    @property
    def values(self) -> dict:
        return self.g.values

    def mode(self, i, default=None):
        return self.modes.get(i, default)

    def is_slice(self, w) -> bool:
        """A layer weight whose trained part is a channel slice (stored apart, or rebuilt
        from a float master by round_master)."""
        return (w in self.storage and self.storage[w].sel is not None or
                self.storage.rm_channels.get(w) is not None)

    def layout_note(self, r) -> str:
        if r.startswith("scratch."):
            return "scratch"
        v = self.g.values[r]
        prod = self.g.producer().get(r)
        if prod is not None and self.g.nodes[prod].op.endswith("grad_weight") or len(v.shape) < 2:
            return f"{v.dtype} {list(v.shape)}"  # parameter layout
        h, w, c = hwc(v.shape)
        return f"{v.dtype} [{h},{w},{c}] HWC" if len(v.shape) == 4 else f"{v.dtype} [{c}]"

    # ---- aliases and in-place groups ------------------------------------------------------
    def _alias(self, out, src, delta=0):
        r, d = self.find(src)
        self.parent[out] = (r, d + delta)
        self.members.setdefault(r, [r]).append(out)

    def analyze(self) -> None:
        """Aliases and emission modes, node by node: an update writes its parameter (and
        momentum) in place; a node marked in place (passes/inplace.py) writes over its
        input; clamp, its gradients and a float gradient sum reuse an input that dies."""
        last: dict = {}
        for i, n in enumerate(self.nodes):
            for v in n.inputs:
                last[v] = i

        def dies(v, i):
            r = self.root(v)
            if not self.in_arena(v) or r == self.t["input"]:
                return False
            return all(last.get(m, -1) <= i for m in self.members.get(r, [r]))

        for i, n in enumerate(self.nodes):
            if n.op in ALIAS_OPS:
                self._alias(n.outputs[0], n.inputs[0])
            elif n.op == "sgd_update":  # (param, grad, lr, step[, mom])
                for out, src in zip(n.outputs, [n.inputs[0]] + list(n.inputs[4:5])):
                    self.parent[out] = (src, 0)
            elif n.op == "weight_grad_update":  # (x, gy, param, lr, step[, mom])
                for out, src in zip(n.outputs, [n.inputs[2]] + list(n.inputs[5:6])):
                    self.parent[out] = (src, 0)
            elif n.attrs.get("inplace") and self.in_arena(n.inputs[0]):
                delta = -_inplace_gap(self.g, n) if n.attrs["inplace"] == "rows" else 0
                self._alias(n.outputs[0], n.inputs[0], delta)
                self.modes[i] = "inplace"
            elif n.op in ("clamp_grad", "clamp", "clamp_grad_mask") and dies(n.inputs[0], i):
                self._alias(n.outputs[0], n.inputs[0])
                self.modes[i] = "inplace"
            elif n.op == "add" and self.g.values[n.inputs[0]].dtype == "f32":
                a, b = n.inputs
                self.modes[i] = "acc_a" if dies(a, i) else "acc_b" if dies(b, i) else "copy"
                if self.modes[i] != "copy":
                    self._alias(n.outputs[0], a if self.modes[i] == "acc_a" else b)

    # ---- buffers and offsets ----------------------------------------------------------------
    def place(self) -> None:
        """One planned buffer per alias root (its parts: the members' own extents and
        lifetimes) and one per kernel scratch, then their offsets (memory.plan_memory)."""
        born, died, ext = {}, {}, {}
        inp = self.t["input"]
        for i, n in enumerate(self.nodes):
            for v in list(n.inputs) + list(n.outputs):
                if not self.in_arena(v):
                    continue
                born.setdefault(v, 0 if v == inp else i)  # the input is there from the start
                died[v] = max(died.get(v, i), i)
                if v not in ext:
                    r, d = self.find(v)
                    ext[v] = (r, d, d + self.nbytes(v))
        groups: dict = {}
        for v, (r, lo, hi) in ext.items():
            groups.setdefault(r, []).append((lo, hi, born[v], died[v]))
        self.scratch = scratch_bytes(self)
        for i, nbytes in self.scratch.items():
            groups[f"scratch.{i}"] = [(0, nbytes, i, i)]
        self.base_shift, bufs = {}, []
        for r, parts in groups.items():
            shift = -min(p[0] for p in parts)
            self.base_shift[r] = shift
            parts = tuple(sorted((lo + shift, hi + shift, f, l) for lo, hi, f, l in parts))
            bufs.append(Buffer(r, max(p[1] for p in parts), min(p[2] for p in parts),
                               max(p[3] for p in parts), self.layout_note(r),
                               parts if len(parts) > 1 else ()))
        bufs.sort(key=lambda b: (b.first, b.name))
        self.plan = plan_memory(bufs)
        self.bufs = {b.name: b for b in bufs}


def _inplace_gap(g: Graph, n) -> int:
    """Bytes the output of an in-place "rows" node starts before its input."""
    from ..passes.inplace import conv_rows_gap, expand_rows_gap

    xv, yv = g.values[n.inputs[0]], g.values[n.outputs[0]]
    if n.op == "expand_depthwise":
        oh, ow, e = hwc(yv.shape)
        a = n.attrs["dw"]
        return expand_rows_gap(hwc(xv.shape), e, (oh, ow), g.values[n.inputs[3]].shape[2],
                               a.get("stride", (1, 1))[0], a.get("padding", (0, 0))[0])
    s, p = n.attrs.get("stride", (1, 1)), n.attrs.get("padding", (0, 0))
    return conv_rows_gap(hwc(xv.shape), hwc(yv.shape), s[0], p[0])


def scratch_bytes(fp: FunctionPlan) -> dict:
    """step -> bytes of caller-owned scratch its kernel needs (each OpDef's `scratch`)."""
    out = {}
    for i, n in enumerate(fp.nodes):
        fn = get_op(n.op).scratch
        nbytes = fn(fp, i, n) if fn else 0
        if nbytes:
            out[i] = nbytes
    return out


def wg_cap(fp: FunctionPlan, n) -> int:
    """The most gradient rows per step of a fused weight_grad_update: a block of rows
    through mct_conv2d_grad_weight_rows_f32 for groups-1 int8 layers (its scratch at most
    WG_BLOCK_BYTES), else one."""
    ga = n.attrs["grad"]
    if ga.get("w_scale") is None or ga.get("groups", 1) != 1:
        return 1
    rows = wg_slice_shape(fp, n)[0]
    return max(1, min(rows, WG_BLOCK_ROWS, WG_BLOCK_BYTES // wg_row_bytes(fp, n)))


def choose_blocks(fp: FunctionPlan, blocks: bool = True) -> None:
    """Places fp with each fused weight update's block of gradient rows as large as it can
    be (up to wg_cap) while the arena stays exactly the size it has with one row per block:
    first one row everywhere (the arena to keep), then all at their caps; while that is
    larger, the blocks that end above the kept size are halved (if none does: those of the
    updates whose step has a buffer above it; else all); then each halved block is doubled
    again, one at a time, as long as the size stays. If that does not end at exactly the kept
    size, one row everywhere. So blocks never change the RAM figures, and a plan without
    them (blocks=False, the scheme planner's path) gives the same."""
    caps = {n.outputs[0]: wg_cap(fp, n) for n in fp.nodes if n.op == "weight_grad_update"}
    fp.wg_rows = {k: 1 for k in caps}
    fp.place()
    rows = {k: c for k, c in caps.items() if c > 1}
    if not blocks or not rows:
        return
    keep = fp.plan.arena_bytes
    step = {n.outputs[0]: i for i, n in enumerate(fp.nodes) if n.outputs[0] in rows}
    for _ in range(16):
        fp.wg_rows.update(rows)
        fp.place()
        if fp.plan.arena_bytes <= keep:
            break
        hit = _blocks_to_halve(fp, rows, step, keep)
        if not hit:
            break
        for k in hit:
            rows[k] //= 2
    if fp.plan.arena_bytes == keep:  # then each halved block doubled again while it fits
        _regrow_blocks(fp, rows, caps, keep)
    if fp.plan.arena_bytes != keep:
        fp.wg_rows = {k: 1 for k in caps}
        fp.place()


def _blocks_to_halve(fp: FunctionPlan, rows: dict, step: dict, keep: int) -> list:
    big = [k for k, r in rows.items() if r > 1]
    end = {b.name: fp.plan.offsets[b.name] + b.size for b in fp.plan.buffers}
    hit = [k for k in big if end.get(f"scratch.{step[k]}", 0) > keep]  # its own block
    if not hit:  # the blocks pushed other buffers up: those at steps above the size
        over = {t for b in fp.plan.buffers for lo, hi, first, last in b.spans()
                if fp.plan.offsets[b.name] + hi > keep for t in range(first, last + 1)}
        hit = [k for k in big if step[k] in over] or big
    return hit


def _regrow_blocks(fp: FunctionPlan, rows: dict, caps: dict, keep: int) -> None:
    for k in [k for k in rows if rows[k] < caps[k]]:
        while rows[k] < caps[k]:
            fp.wg_rows[k] = min(caps[k], 2 * rows[k])
            fp.place()
            if fp.plan.arena_bytes != keep:
                fp.wg_rows[k] = rows[k]
                break
            rows[k] = fp.wg_rows[k]
    fp.place()


def c_unsupported(fp: FunctionPlan, n) -> str | None:
    """Why the generated C cannot run node n (None: it can): its OpDef has no `emit`, or its
    `c_check` says why."""
    op = get_op(n.op)
    if op.emit is None:
        return f"op {n.op} has no C kernel yet"
    return op.c_check(fp, n) if op.c_check else None


def check_compilable(fp: FunctionPlan) -> None:
    for n in fp.nodes:
        why = c_unsupported(fp, n)
        if why:
            raise PlanError(why)


def plan_function(g: Graph, storage: Storage, node_ids, tag: str,
                  blocks: bool = True) -> FunctionPlan:
    fp = FunctionPlan(g, storage, list(node_ids), tag)
    check_compilable(fp)
    fp.analyze()
    choose_blocks(fp, blocks)
    return fp


@dataclass
class MemoryPlan:
    """The memory plan of a training graph: storage, the training step's and the forward's
    function plans, and the RAM they add up to (`ram_bytes` of compile's report)."""

    g: Graph
    storage: Storage
    train: FunctionPlan
    forward: FunctionPlan

    @property
    def arena_bytes(self) -> int:
        return max(self.train.plan.arena_bytes, self.forward.plan.arena_bytes)

    @property
    def lower_bound(self) -> int:
        return max(self.train.plan.lower_bound, self.forward.plan.lower_bound)

    def ram(self) -> dict:
        """RAM figures: the arena, trained parameters, optimizer state and the step's own
        statics (a float copy of the logits, lr, step, status)."""
        t = self.g.meta["train"]
        trained = {e["param"] for e in t["entries"]}
        st = self.storage.arrays
        params = sum(p.data.nbytes for k, p in st.items() if p.ram and p.name in trained
                     and not k.endswith("#frozen") and self.g.values[p.name].role == "param")
        state = sum(p.data.nbytes for p in st.values() if p.ram and
                    self.g.values[p.name].role == "state")
        static = 4 * self.g.values[t["logits"]].size + 16
        return dict(ram_bytes=self.arena_bytes + params + state + static,
                    arena_bytes=self.arena_bytes, arena_lower_bound=self.lower_bound,
                    params_ram_bytes=params, optimizer_state_bytes=state,
                    static_ram_bytes=static)


def plan_training(tg: Graph, blocks: bool = True) -> MemoryPlan:
    """The MemoryPlan of a training graph whose node order is the schedule. blocks=False:
    one weight-gradient row per fused update step (same RAM; what pricing a scheme needs)."""
    if "train" not in tg.meta:
        raise PlanError("a memory plan needs a training graph (autodiff.make_training_graph)")
    storage = classify(tg)
    train = plan_function(tg, storage, range(len(tg.nodes)), "T", blocks)
    fwd = plan_function(tg, storage, needed_nodes(tg, [tg.meta["train"]["logits"]]), "F")
    return MemoryPlan(tg, storage, train, fwd)
