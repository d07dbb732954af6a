"""The pass pipeline: one visible ordered list of pure Graph -> Graph passes.

MCT_DUMP_IR=1 prints the graph after every pass, MCT_VERIFY=1 verifies it between passes.
make_training_graph runs the first two (what the reference trainer needs); `compile` runs
them all before code generation. Every pass keeps the graph's results bit for bit.
"""
from __future__ import annotations

import os

from ..ir.graph import Graph
from ..ir.verify import verify
from ..schedule.order import reorder_updates
from .bitmask import use_bitmasks
from .expand_dw import fuse_expand_depthwise
from .fuse import fuse_weight_grad_update
from .inplace import mark_inplace
from .prune import dce, prune_backward

PIPELINE = [
    prune_backward,  # no backward node that no trained parameter needs
    dce,  # nothing nobody reads
    use_bitmasks,  # 1-bit clamp masks instead of int8 outputs kept only for a mask
    reorder_updates,  # each update right after its gradient: one gradient alive at a time
    fuse_weight_grad_update,  # weight gradient + update one output channel at a time
    fuse_expand_depthwise,  # frozen expansion computed channel by channel into its depthwise
    mark_inplace,  # layers whose input dies write over it (HWC in-place kernels)
]
TRAINING_PASSES = PIPELINE[:2]


def run_pipeline(g: Graph, passes=None) -> Graph:
    dump, check = os.environ.get("MCT_DUMP_IR") == "1", os.environ.get("MCT_VERIFY") == "1"
    for p in (PIPELINE if passes is None else passes):
        g = p(g)
        if dump:
            print(f"==== after {p.__name__} ====\n{g}\n")
        if check:
            verify(g)
    return g
