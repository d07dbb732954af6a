"""Calibration: the float range (min, max) of every activation over sample inputs.

    ranges = calibrate(float_graph, samples)     # samples f32 [N, C, H, W]
    ranges["features_0"] -> (-1.7, 5.2)

The float graph runs in the reference interpreter (ref/interp.run, keep_all=True), `batch`
samples at a time; the ranges are the plain min and max over all samples (no percentile
clipping: small models and small calibration sets do best with the full range).
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph


def calibrate(graph: Graph, samples, batch: int = 64) -> dict:
    """value name -> (min, max) as Python floats, for the graph input and every float act."""
    from ..ref.interp import run

    if len(graph.inputs) != 1:
        raise ValueError(f"calibrate: expected one graph input, got {list(graph.inputs)}")
    name = graph.inputs[0]
    samples = np.asarray(samples, dtype=np.float32)
    if samples.shape[1:] != graph[name].shape[1:] or len(samples) == 0:
        raise ValueError(f"calibrate: samples {list(samples.shape)} do not match input "
                         f"%{name} {graph[name].type_str()}")
    watched = [v.name for v in graph.values.values()
               if v.role in ("act", "input") and v.dtype == "f32"]
    lo = {n: np.inf for n in watched}
    hi = {n: -np.inf for n in watched}
    for start in range(0, len(samples), batch):
        env = run(graph, {name: samples[start:start + batch]}, keep_all=True)
        for n in watched:
            if n in env:
                lo[n] = min(lo[n], float(np.min(env[n])))
                hi[n] = max(hi[n], float(np.max(env[n])))
    return {n: (lo[n], hi[n]) for n in watched if np.isfinite(lo[n])}
