"""Operator order of the training step. SCHEDULE_PASSES run after the graph passes."""
from __future__ import annotations

from ..ir.graph import Graph
from ..ir.verify import verify

SCHEDULE_PASSES: list = []


def run_schedule(g: Graph, passes=None) -> Graph:
    for p in (SCHEDULE_PASSES if passes is None else passes):
        g = verify(p(g))
    return g
