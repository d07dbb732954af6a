"""Save and load a Graph as one .npz file (no pickle anywhere).

The file holds
    __graph__   format_graph(g, full=True): the readable text form (parse_graph reads it)
    __meta__    g.meta as JSON (tuples come back as lists, numpy scalars as Python numbers)
    __consts__  JSON list of the const names, in order; array i is stored as c<i>
Writing goes to a temporary file in the same folder, then os.replace: a reader never sees a
half-written file.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .graph import Graph
from .printer import format_graph, parse_graph

FORMAT = "mcutrain-graph-1"


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"save_graph: meta value of type {type(o).__name__} is not JSON-serializable")


def save_graph(g: Graph, path) -> Path:
    """Write g to `path` (.npz) atomically; returns the path."""
    path = Path(path)
    names = list(g.consts)
    arrays = {f"c{i}": np.ascontiguousarray(g.consts[n]) for i, n in enumerate(names)}
    arrays["__format__"] = np.array(FORMAT)
    arrays["__graph__"] = np.array(format_graph(g, full=True))
    arrays["__meta__"] = np.array(json.dumps(g.meta, default=_json_default, sort_keys=True))
    arrays["__consts__"] = np.array(json.dumps(names))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_graph(path) -> Graph:
    """Read a graph written by save_graph (allow_pickle=False)."""
    with np.load(Path(path), allow_pickle=False) as z:
        if "__graph__" not in z.files or str(z["__format__"]) != FORMAT:
            raise ValueError(f"{path}: not a saved mcutrain graph")
        names = json.loads(str(z["__consts__"]))
        consts = {n: z[f"c{i}"] for i, n in enumerate(names)}
        text = str(z["__graph__"])
        meta = json.loads(str(z["__meta__"]))
    g = parse_graph(text, consts)
    return g.replace(consts={n: consts.get(n, a) for n, a in g.consts.items()}, meta=meta)
