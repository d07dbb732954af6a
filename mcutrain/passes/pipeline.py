"""The pass pipeline: one visible ordered list. MCT_DUMP_IR=1 prints the graph after every
pass, MCT_VERIFY=1 verifies it between passes."""
from __future__ import annotations

import os

from ..ir.graph import Graph
from ..ir.verify import verify
from .prune import dce, prune_backward

PIPELINE = [
    prune_backward,  # no backward node that no trained parameter needs
    dce,  # nothing nobody reads
]


def run_pipeline(g: Graph, passes=None) -> Graph:
    dump, check = os.environ.get("MCT_DUMP_IR") == "1", os.environ.get("MCT_VERIFY") == "1"
    for p in passes or PIPELINE:
        g = p(g)
        if dump:
            print(f"==== after {p.__name__} ====\n{g}\n")
        if check:
            verify(g)
    return g
