"""Static memory plan: every intermediate tensor gets a fixed offset in one arena.

Lifetimes are [first, last] step indices (inclusive) in the schedule. Offsets come from a
greedy best-fit planner in the manner of TensorFlow Lite Micro's GreedyMemoryPlanner: buffers
in decreasing size (ties: earlier start, then name), each placed in the smallest gap, among the
buffers already placed that are alive at the same time, that holds it; else above them all.
Every plan is checked for overlaps, and compared against a lower bound: the largest total
of simultaneously live bytes (no plan can use less).
"""
from __future__ import annotations

from dataclasses import dataclass

ALIGN = 16


@dataclass(frozen=True)
class Buffer:
    name: str
    size: int  # bytes
    first: int  # step that writes it first
    last: int  # step that reads it last (inclusive)
    note: str = ""  # shape / role, for the printed plan

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Plan:
    buffers: tuple
    offsets: dict  # name -> byte offset
    arena_bytes: int
    lower_bound: int

    def end(self, b: Buffer) -> int:
        return self.offsets[b.name] + b.size


class OverlapError(AssertionError):
    pass


def _align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def lower_bound(buffers) -> int:
    """max over steps of the total size of the buffers alive at that step."""
    events: dict = {}
    for b in buffers:
        events[b.first] = events.get(b.first, 0) + b.size
        events[b.last + 1] = events.get(b.last + 1, 0) - b.size
    live = peak = 0
    for t in sorted(events):
        live += events[t]
        peak = max(peak, live)
    return peak


def plan_memory(buffers, align: int = ALIGN) -> Plan:
    bufs = [b for b in buffers if b.size > 0]
    names = [b.name for b in bufs]
    if len(set(names)) != len(names):
        raise ValueError("buffer names must be unique")
    for b in bufs:
        if b.first > b.last:
            raise ValueError(f"buffer {b.name}: lifetime [{b.first}, {b.last}] is empty")
    order = sorted(bufs, key=lambda b: (-b.size, b.first, b.name))
    placed: list = []  # (offset, end, buffer)
    offsets = {}
    for b in order:
        size = _align(b.size, align)
        busy = sorted((o, e) for o, e, p in placed if p.overlaps_in_time(b))
        best, best_gap, cursor = None, None, 0
        for o, e in busy:
            gap = o - cursor
            if gap >= size and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, e)
        if best is None:
            best = cursor
        offsets[b.name] = best
        placed.append((best, best + size, b))
    arena = max((e for _, e, _ in placed), default=0)
    plan = Plan(tuple(bufs), offsets, arena, lower_bound(bufs))
    check_no_overlap(plan)
    return plan


def check_no_overlap(plan: Plan) -> None:
    """Raise OverlapError if two buffers alive at the same step share bytes."""
    bufs = sorted(plan.buffers, key=lambda b: b.first)
    for i, a in enumerate(bufs):
        oa = plan.offsets[a.name]
        if oa < 0 or oa + a.size > plan.arena_bytes:
            raise OverlapError(f"{a.name} lies outside the arena")
        for b in bufs[i + 1:]:
            if b.first > a.last:
                break
            ob = plan.offsets[b.name]
            if oa < ob + b.size and ob < oa + a.size:
                raise OverlapError(f"{a.name} [{oa}, {oa + a.size}) and {b.name} "
                                   f"[{ob}, {ob + b.size}) overlap while both are alive")


def format_plan(plan: Plan, width: int = 48) -> str:
    """A table of buffers (offset, size, lifetime) with a bar showing where each sits."""
    lines = [f"arena {plan.arena_bytes} B, lower bound {plan.lower_bound} B "
             f"({100.0 * plan.arena_bytes / max(plan.lower_bound, 1):.1f} % of it)",
             f"{'offset':>8} {'bytes':>8} {'steps':>11}  buffer"]
    scale = width / max(plan.arena_bytes, 1)
    for b in sorted(plan.buffers, key=lambda b: (plan.offsets[b.name], b.first)):
        o = plan.offsets[b.name]
        bar = " " * int(o * scale) + "#" * max(1, int(b.size * scale))
        lines.append(f"{o:>8} {b.size:>8} {b.first:>5}-{b.last:<5}  {b.name} {b.note}".rstrip()
                     + f"\n{'':>30}|{bar:<{width}}|")
    return "\n".join(lines)
