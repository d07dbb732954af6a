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
import uuid
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
    text = format_graph(g, full=True)
    why = ""
    try:  # refuse to write a file that would not load (e.g. numpy scalars in attrs)
        same = format_graph(parse_graph(text, g.consts), full=True) == text
    except (ValueError, SyntaxError) as e:
        same, why = False, f": {e}"
    if not same:
        raise ValueError("save_graph: the graph's text form does not parse back; attribute "
                         f"values must be Python literals (int, float, tuple, ...){why}")
    names = list(g.consts)
    arrays = {f"c{i}": np.ascontiguousarray(g.consts[n]) for i, n in enumerate(names)}
    arrays["__format__"] = np.array(FORMAT)
    arrays["__graph__"] = np.array(text)
    arrays["__meta__"] = np.array(json.dumps(g.meta, default=_json_default, sort_keys=True))
    arrays["__consts__"] = np.array(json.dumps(names))
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique name opened with "xb": unlike mkstemp (mode 0600), it honours the umask
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_graph(path) -> Graph:
    """Read a graph written by save_graph (allow_pickle=False)."""
    with np.load(Path(path), allow_pickle=False) as z:
        if "__format__" not in z.files or str(z["__format__"]) != FORMAT:
            raise ValueError(f"{path}: not a saved mcutrain graph")
        names = json.loads(str(z["__consts__"]))
        consts = {n: z[f"c{i}"] for i, n in enumerate(names)}
        text = str(z["__graph__"])
        meta = json.loads(str(z["__meta__"]))
    return parse_graph(text, consts).replace(meta=meta)
