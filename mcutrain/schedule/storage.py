"""Where each parameter, constant and optimizer state lives: RAM or flash, whole or a slice.

A trained channel slice of a layer (ratio < 1) is stored as its own RAM array; the frozen
weights in flash then hold zeros in those channels (the kernels add the slice back through
mct_wsplit), so only the slice costs RAM. The kinds, and the C symbol prefix codegen gives
them:
    trained  T_  the trained slice of a layer (RAM)            [sel, axis set]
    frozen   F_  flash copy with zeros in the trained channels
    param    P_  a parameter trained whole, in place (RAM)
    master   M_  a float master of an int parameter (RAM; round_master rebuilds the int)
    state    S_  optimizer state, e.g. momentum (RAM)
    const    C_  everything else read-only (flash)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph
from ..ops.optim import take_slice


@dataclass(frozen=True)
class Stored:
    """How one IR parameter is stored."""

    name: str  # IR name
    kind: str  # trained | frozen | param | master | state | const (module docstring)
    dtype: str
    data: np.ndarray  # what the array holds (a slice or a zeroed copy where said)
    ram: bool
    sel: tuple | None = None  # trained channels when this is a slice
    axis: int = 1


def _zero_channels(data: np.ndarray, ch, ax) -> np.ndarray:
    frozen = data.copy()
    idx = [slice(None)] * data.ndim
    idx[ax] = list(ch)
    frozen[tuple(idx)] = 0
    return frozen


@dataclass(frozen=True)
class Storage:
    """Every stored array of a training graph. Keys: the IR name, plus `<name>#frozen` for
    the flash copy of a layer whose slice trains."""

    arrays: dict  # key -> Stored
    rm_channels: dict  # round_master output -> its channels (None: whole)

    def __contains__(self, name) -> bool:
        return name in self.arrays

    def __getitem__(self, name) -> Stored:
        return self.arrays[name]

    def ram_bytes(self) -> int:
        return sum(p.data.nbytes for p in self.arrays.values() if p.ram)

    def flash_bytes(self) -> int:
        return sum(p.data.nbytes for p in self.arrays.values() if not p.ram)

    def trained(self, t: dict) -> list:
        """(IR name, Stored) of the values mct_get/set_params move, in report order: each
        entry's parameter, then its momentum."""
        out = []
        for e in t["entries"]:
            out.append((e["param"], self.arrays[e["param"]]))
            if e.get("mom"):
                out.append((e["mom"], self.arrays[e["mom"]]))
        return out


def classify(tg: Graph) -> Storage:
    """The Storage of a training graph (tg.meta["train"] names what trains)."""
    t = tg.meta["train"]
    entries = {e["param"]: e for e in t["entries"]}
    sources = {e["source"]: e for e in t["entries"] if e["source"] != e["param"]}
    rm = {n.outputs[0]: n.attrs.get("channels") for n in tg.nodes if n.op == "round_master"}
    out: dict = {}
    for name, v in tg.values.items():
        if v.role not in ("param", "const", "state"):
            continue
        data, e = tg.consts[name], entries.get(name)
        if v.role == "state":
            out[name] = Stored(name, "state", v.dtype, data, True)
        elif e is not None and e["source"] == name and e["channels"] is not None:
            ch, ax = tuple(e["channels"]), e["axis"]
            out[name] = Stored(name, "trained", v.dtype, take_slice(data, ch, ax), True, ch, ax)
            out[name + "#frozen"] = Stored(name, "frozen", v.dtype,
                                           _zero_channels(data, ch, ax), False)
        elif e is not None:
            out[name] = Stored(name, "param" if e["source"] == name else "master", v.dtype,
                               data, True)
        elif name in sources:
            se = sources[name]
            if se["selected"] is None:
                continue  # round_master rebuilds it whole: no frozen copy needed
            out[name] = Stored(name, "frozen", v.dtype,
                               _zero_channels(data, tuple(se["selected"]), se["axis"]), False)
        else:
            out[name] = Stored(name, "const", v.dtype, data, False)
    return Storage(out, rm)
