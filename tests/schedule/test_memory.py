"""Memory planner: no overlaps ever, peak >= lower bound, hand-made cases hit the bound."""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.schedule.memory import (Buffer, OverlapError, Plan, check_no_overlap,
                                      format_plan, lower_bound, plan_memory)


@pytest.mark.parametrize("seed", range(40))
def test_random_lifetimes_never_overlap_and_respect_lower_bound(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    bufs = []
    for i in range(n):
        a = int(rng.integers(0, 50))
        bufs.append(Buffer(f"b{i}", int(rng.integers(1, 5000)), a, a + int(rng.integers(0, 12))))
    plan = plan_memory(bufs, align=1)
    check_no_overlap(plan)  # also run inside plan_memory
    assert plan.arena_bytes >= plan.lower_bound == lower_bound(bufs)
    aligned = plan_memory(bufs)
    assert all(o % 16 == 0 for o in aligned.offsets.values())


def test_chain_hits_the_lower_bound():
    # a -> b -> c -> d, each alive from its producer to its consumer: ping-pong buffers
    bufs = [Buffer("a", 1000, 0, 1), Buffer("b", 800, 1, 2), Buffer("c", 1000, 2, 3),
            Buffer("d", 200, 3, 4)]
    plan = plan_memory(bufs, align=1)
    assert plan.lower_bound == 1800
    assert plan.arena_bytes == 1800


def test_best_fit_reuses_the_smallest_hole():
    bufs = [Buffer("big", 100, 0, 9), Buffer("hole1", 50, 0, 2), Buffer("hole2", 30, 0, 2),
            Buffer("late", 30, 5, 9)]
    plan = plan_memory(bufs, align=1)
    assert plan.arena_bytes == plan.lower_bound == 180
    print(format_plan(plan))


def test_overlap_checker_catches_a_bad_plan():
    bufs = (Buffer("a", 100, 0, 3), Buffer("b", 100, 2, 5))
    with pytest.raises(OverlapError, match="overlap"):
        check_no_overlap(Plan(bufs, {"a": 0, "b": 50}, 200, 200))
    check_no_overlap(Plan(bufs, {"a": 0, "b": 100}, 200, 200))


def test_groups_count_only_their_live_parts():
    # an in-place chain: a (1000 B, steps 0-1) is overwritten by b (400 B, steps 1-5) at the
    # same base; c (600 B) is alive at steps 2-5 and fits beside b once a is dead
    group = Buffer("chain", 1000, 0, 5, parts=((0, 1000, 0, 1), (0, 400, 1, 5)))
    other = Buffer("c", 600, 2, 5)
    plan = plan_memory([group, other], align=1)
    assert plan.lower_bound == 1000
    assert plan.arena_bytes == 1000  # c sits in the bytes a left
    check_no_overlap(plan)
    with pytest.raises(OverlapError):
        check_no_overlap(Plan(plan.buffers, {"chain": 0, "c": 300}, 1000, 1000))
