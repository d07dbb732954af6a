"""The pass pipeline: one visible ordered list of pure Graph -> Graph passes.

MCT_DUMP_IR=1 prints the graph after every pass, MCT_VERIFY=1 verifies it between passes.
make_training_graph runs the first two itself (autodiff/prune.py: what the reference trainer
needs); `compile` runs them all before code generation. Every pass keeps the graph's results
bit for bit.
"""
from __future__ import annotations

from ..autodiff.prune import dce, prune_backward, run_passes
from ..ir.graph import Graph
from .bitmask import use_bitmasks
from .expand_dw import fuse_expand_depthwise
from .fuse import fuse_weight_grad_update
from .inplace import mark_inplace
from .order import reorder_updates

PIPELINE = [
    prune_backward,  # no backward node that no trained parameter needs (autodiff/prune.py)
    dce,  # nothing nobody reads (autodiff/prune.py)
    use_bitmasks,  # 1-bit clamp masks instead of int8 outputs kept only for a mask
    reorder_updates,  # each update right after its gradient: one gradient alive at a time
    fuse_weight_grad_update,  # weight gradient + update one output channel at a time
    fuse_expand_depthwise,  # frozen expansion computed channel by channel into its depthwise
    mark_inplace,  # layers whose input dies write over it (HWC in-place kernels)
]


def run_pipeline(g: Graph, passes=None) -> Graph:
    return run_passes(g, PIPELINE if passes is None else passes)
