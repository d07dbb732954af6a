"""Static memory plan: every intermediate tensor gets a fixed offset in one arena.

Lifetimes are [first, last] step indices (inclusive) in the schedule. A Buffer may be a
group of parts at fixed offsets from its base (the values an in-place chain writes over
each other: each part has its own extent and lifetime, so the group is only as large, at any
step, as what is alive in it then).

Offsets come from a greedy planner in the manner of TensorFlow Lite Micro's
GreedyMemoryPlanner: buffers in decreasing size (ties: earlier start, then name), each
placed at the lowest offset where none of its parts meets a part of an already placed buffer
alive at the same time; a few other orders are tried too, and a plan still above the lower
bound is improved by a local search over the order of the largest buffers (improve()). Every
plan is checked for overlaps and compared with a lower bound: the largest total of
simultaneously live bytes (no plan can use less).
"""
from __future__ import annotations

from dataclasses import dataclass

ALIGN = 16
PLANNER_VERSION = 2  # part of the plan cache's memory keys: a change here re-measures them


@dataclass(frozen=True)
class Buffer:
    name: str
    size: int  # bytes (of the whole group)
    first: int  # step that writes it first
    last: int  # step that reads it last (inclusive)
    note: str = ""  # shape / role, for the printed plan
    parts: tuple = ()  # ((lo, hi, first, last), ...) relative to the base; () = one part

    def spans(self) -> tuple:
        return self.parts or ((0, self.size, self.first, self.last),)

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


def live_bytes(buffers) -> dict:
    """step -> bytes alive then (a group counts the extent of its parts alive at that step)."""
    steps: dict = {}
    for b in buffers:
        for t in range(b.first, b.last + 1):
            spans = [(lo, hi) for lo, hi, f, l in b.spans() if f <= t <= l]
            if spans:
                steps[t] = steps.get(t, 0) + max(h for _, h in spans) - min(lo for lo, _ in spans)
    return steps


def lower_bound(buffers) -> int:
    """max over steps of the bytes alive at that step."""
    return max(live_bytes(buffers).values(), default=0)


def _conflicts(parts_a, off_a, parts_b, off_b, align) -> bool:
    for lo, hi, f, l in parts_a:
        for lo2, hi2, f2, l2 in parts_b:
            if f <= l2 and f2 <= l and off_a + lo < off_b + _align(hi2, align) and \
                    off_b + lo2 < off_a + _align(hi, align):
                return True
    return False


ORDERS = {
    "size": lambda b: (-b.size, b.first, b.name),  # TensorFlow Lite Micro's order
    "area": lambda b: (-b.size * (b.last - b.first + 1), b.first, b.name),
    "start": lambda b: (b.first, -b.size, b.name),
    "length": lambda b: (-(b.last - b.first), -b.size, b.name),
    "end": lambda b: (-b.last, -b.size, b.name),
}
RANDOM_ORDERS = 12  # seeded shuffles of the size order tried as well (deterministic)
MOVE_BUFFERS = 6  # improve(): the largest buffers whose placement order it permutes
MOVE_EVALS = 40  # improve(): at most this many greedy plans


def plan_memory(buffers, align: int = ALIGN) -> Plan:
    """The smallest of the greedy plans over a few placement orders (largest first, as
    TensorFlow Lite Micro does, plus size x lifetime, start, and lifetime orders, and seeded
    perturbations of the first), then, while it is above the lower bound, improved by moving
    one of the largest buffers earlier in its order (improve())."""
    bufs = [b for b in buffers if b.size > 0]
    names = [b.name for b in bufs]
    if len(set(names)) != len(names):
        raise ValueError("buffer names must be unique")
    for b in bufs:
        if b.first > b.last:
            raise ValueError(f"buffer {b.name}: lifetime [{b.first}, {b.last}] is empty")
    orders = [sorted(bufs, key=key) for key in ORDERS.values()]
    plans = [_greedy(bufs, o, align) for o in orders]
    j = min(range(len(plans)), key=lambda i: plans[i].arena_bytes)
    best, best_order = plans[j], orders[j]
    if best.arena_bytes > best.lower_bound:
        import random

        rng = random.Random(0)
        base = orders[0]
        for _ in range(RANDOM_ORDERS):
            # perturb the size order: swap neighbours at random
            order = list(base)
            for i in range(len(order) - 1):
                if rng.random() < 0.3:
                    order[i], order[i + 1] = order[i + 1], order[i]
            p = _greedy(bufs, order, align)
            if p.arena_bytes < best.arena_bytes:
                best, best_order = p, order
            if best.arena_bytes <= best.lower_bound:
                break
    if best.arena_bytes > best.lower_bound:
        best = improve(bufs, best_order, best, align, MOVE_BUFFERS, MOVE_EVALS)
    return best


def improve(bufs, order, plan: Plan, align: int = ALIGN, k: int = MOVE_BUFFERS,
            evals: int = MOVE_EVALS) -> Plan:
    """Local search over the placement order: move one of the k largest buffers to just
    before another of them placed earlier, keep the first move that shrinks the arena, and start
    again from there, until no move helps, the lower bound is reached, or `evals` plans have
    been tried. What it mends: an in-place group (several values written over each other) is
    as large as its largest part, but that part may live only for a few steps at the end of
    the group's lifetime, so largest-first can put it at the bottom where a smaller buffer
    whose small part overlaps it in time had to go above it; placing the smaller one first
    lets the large one sit just above its small part (measured on mcunet-5fps: 108.8 KB ->
    94.7 KB for a 93.0 KB lower bound)."""
    def moves(order):  # each of the k largest moved to just before one placed earlier
        big = sorted(sorted(range(len(order)), key=lambda i: (-order[i].size, i))[:k])
        for a, i in enumerate(big):
            for j in big[a + 1:]:
                yield order[:i] + [order[j]] + order[i:j] + order[j + 1:]

    order, tried = list(order), 0
    while plan.arena_bytes > plan.lower_bound and tried < evals:
        for o in moves(order):
            if tried >= evals:
                return plan
            p = _greedy(bufs, o, align)
            tried += 1
            if p.arena_bytes < plan.arena_bytes:
                plan, order = p, o
                break
        else:
            break  # no move helps
    return plan


def _greedy(bufs, order, align) -> Plan:
    placed: list = []  # (offset, buffer)
    offsets = {}
    for b in order:
        mine = b.spans()
        near = [(o, p) for o, p in placed if p.overlaps_in_time(b)]
        cands = {0}
        for o, p in near:
            for lo2, hi2, _, _ in p.spans():
                for lo, _, _, _ in mine:
                    c = o + _align(hi2, align) - lo
                    if c >= 0:
                        cands.add(_align(c, align))
        for c in sorted(cands):
            if not any(_conflicts(mine, c, p.spans(), o, align) for o, p in near):
                offsets[b.name] = c
                placed.append((c, b))
                break
    arena = max((o + _align(b.size, align) for o, b in placed), default=0)
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
            if _conflicts(a.spans(), oa, b.spans(), ob, 1):
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
