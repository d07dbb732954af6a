"""The best sparse-update scheme under a memory budget, from measured contributions.

    maximize   dacc_b[k] + sum_i dacc_w[i, r_i]        (the paper's summed contributions)
    subject to ram_bytes(scheme) <= budget                (the real compiled plan)

over k (biases of the last k layers) and one ratio r_i in {0} + measured ratios per layer.
The objective is exact (a sum of measured gains); the constraint is the real planner's
`ram_bytes`, which is not additive (peaks move, in-place fusions switch on and off), so it is
checked by compiling (memory plan only, memoized) and never estimated at the end.

Two solvers:
  exact         when the space (k choices x product of per-layer choices) is at most
                `exact_limit`: every scheme is scored, and schemes are checked with the real
                planner in descending score order; the first that fits is the optimum.
  evolutionary  as in the paper: a population of schemes, tournament selection, uniform
                crossover, per-gene mutation; candidates are kept within the budget by an
                additive surrogate (each choice's measured cost over its reference setting)
                and a greedy repair; the best are then checked with the real planner, and the
                surrogate budget is tightened by the overshoot until one fits. The initial
                population holds the surrogate's exact knapsack optimum (dynamic programming).
Options with a non-positive gain are never taken (they cannot raise the objective).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Problem:
    base_ram: int  # ram_bytes of the no-update scheme
    bias: dict  # k -> (gain, ram_bytes of bias-only k): the trained bias settings
    depth: dict  # k -> ram_bytes of bias-only k, every k (memory model's depth term)
    n_layers: int
    weights: dict  # layer -> [(ratio, gain, own cost in bytes)]

    @classmethod
    def from_contributions(cls, c) -> "Problem":
        bias = {k: (c.bias_gain(k), v["ram"]) for k, v in c.bias.items()}
        weights: dict = {}
        for (i, r), v in sorted(c.weights.items()):
            if c.usable(i, r):  # not stopped early by the race over the seeds
                weights.setdefault(i, []).append((r, c.weight_gain(i, r), v["cost"]))
        depth = {k: v for k, v in c.depth.items() if v is not None}
        return cls(c.base["ram"], bias, depth, c.n_layers, weights)

    def depth_ram(self, k: int) -> int:
        """ram of backpropagating through the last k layers (bias-only k; the nearest
        measured deeper setting where k itself was not measured)."""
        for kk in range(k, self.n_layers + 1):
            if kk in self.depth:
                return self.depth[kk]
        return max(self.depth.values())

    def surrogate(self, k: int, earliest: int | None, costs) -> int:
        """Memory model: depth down to the earliest trained layer + each option's own cost."""
        d = k if earliest is None else max(k, self.n_layers - earliest)
        return self.depth_ram(d) + sum(costs)


@dataclass
class Result:
    scheme: dict
    score: float  # predicted gain over the base (sum of contributions)
    ram_bytes: int
    method: str
    exact: bool
    space: int
    real_checks: int
    notes: list = field(default_factory=list)
    # the best distinct schemes found that fit the real budget, best score first (this one
    # first): [(scheme, score, ram_bytes)], up to the `top` asked of the search
    alternatives: list = field(default_factory=list)


class _Space:
    """Genes: gene 0 picks k, gene j picks layer j's option (0 = weights frozen)."""

    def __init__(self, p: Problem, budget: int):
        self.p, self.budget = p, budget
        self.ks = sorted(k for k, (g, ram) in p.bias.items() if ram <= budget)
        self.layers, self.opts = [], []
        for i in sorted(p.weights):
            # (options that do not fit even alone were left out by the analysis, measured)
            opts = [(r, g, max(0, c)) for r, g, c in p.weights[i] if g > 0]
            if opts:
                self.layers.append(i)
                self.opts.append([(0.0, 0.0, 0)] + opts)
        self.size = len(self.ks) * int(np.prod([len(o) for o in self.opts], dtype=float))
        self._costs: dict = {}

    def score(self, genes) -> float:
        k = self.ks[genes[0]]
        return self.p.bias[k][0] + sum(self.opts[j][gi][1] for j, gi in enumerate(genes[1:]))

    def cost(self, genes) -> int:
        key = tuple(genes)
        c = self._costs.get(key)
        if c is None:
            chosen = [j for j, gi in enumerate(genes[1:]) if gi]
            c = self._costs[key] = self.p.surrogate(
                self.ks[genes[0]], self.layers[chosen[0]] if chosen else None,
                [self.opts[j][genes[j + 1]][2] for j in chosen])
        return c

    def scheme(self, genes) -> dict:
        w = {str(self.layers[j]): self.opts[j][gi][0] for j, gi in enumerate(genes[1:]) if gi}
        return {"bias_last": self.ks[genes[0]], "weights": w}


def _first_fits(space, order, ram_fn, budget, batch, max_checks, top: int = 1):
    """Check schemes in the given order with the real planner; the first `top` that fit
    ([(genes, ram)], in order; fewer when the checks run out after the first)."""
    checks, found = 0, []
    for lo in range(0, len(order), batch):
        if checks >= max_checks + (batch * 4 if found else 0):
            break
        cand = order[lo:lo + batch]
        rams = ram_fn([space.scheme(g) for g in cand])
        checks += len(cand)
        for g, ram in zip(cand, rams):
            if ram <= budget:
                found.append((g, ram))
                if len(found) >= top:
                    return found, checks
    return found, checks


def exact_search(p: Problem, budget: int, ram_fn, batch: int = 8, max_checks: int = 400,
                 exact_limit: int = 200_000, top: int = 1):
    """Enumerate every scheme, best score first, until one (or `top`) fit the real budget."""
    sp = _Space(p, budget)
    if not sp.ks or sp.size > exact_limit:
        return None
    grids = np.meshgrid(*[np.arange(len(sp.ks))] + [np.arange(len(o)) for o in sp.opts],
                        indexing="ij")
    genes = np.stack([gr.ravel() for gr in grids], axis=1)
    score = np.asarray([p.bias[k][0] for k in sp.ks])[genes[:, 0]]
    for j, o in enumerate(sp.opts):
        score = score + np.asarray([x[1] for x in o])[genes[:, j + 1]]
    cost = np.zeros(len(genes))
    for j in range(len(sp.opts) - 1, -1, -1):  # depth: the earliest chosen layer
        chosen = genes[:, j + 1] > 0
        cost[chosen] = sp.p.n_layers - sp.layers[j]
    kk = np.maximum(np.asarray(sp.ks)[genes[:, 0]], cost).astype(int)
    cost = np.asarray([sp.p.depth_ram(int(d)) for d in range(sp.p.n_layers + 1)])[kk]
    for j, o in enumerate(sp.opts):
        cost = cost + np.asarray([x[2] for x in o])[genes[:, j + 1]]
    order = np.lexsort((cost, -score))  # best score first; cheaper first among ties
    found, checks = _first_fits(sp, [tuple(int(v) for v in genes[i]) for i in order], ram_fn,
                                budget, batch, max_checks, top)
    if not found:
        return None
    g, ram = found[0]
    return Result(sp.scheme(g), sp.score(g), int(ram), "exact", True, sp.size, checks,
                  [f"exact: scored all {sp.size} schemes, checked {checks} with the planner in "
                   "descending score order; the first that fits is optimal"
                   + (f" (and the next {len(found) - 1} that fit are the runners-up)"
                      if len(found) > 1 else "")],
                  [(sp.scheme(x), sp.score(x), int(r)) for x, r in found])


def _dp(opts_list, cap: int, unit: int):
    """Multiple-choice knapsack table: val[c] = best gain with cost <= c units; picks."""
    val = np.zeros(cap + 1)
    picks = []
    for opts in opts_list:
        new, arg = val.copy(), np.zeros(cap + 1, np.int16)
        for oi, (_, g, c) in enumerate(opts[1:], start=1):
            cu = -(-c // unit)
            if cu > cap:
                continue
            cand = np.full(cap + 1, -np.inf)
            cand[cu:] = val[:cap + 1 - cu] + g
            better = cand > new
            new[better], arg[better] = cand[better], oi
        val = new
        picks.append(arg)
    return val, picks


def knapsack(sp: _Space, budget: int, unit: int = 64):
    """Exact optimum of the surrogate memory model: for each earliest trained layer e, a
    multiple-choice knapsack over the layers from e on (costs rounded up to `unit` bytes),
    with the depth term of (k, e) taken off the capacity. Returns genes, or None."""
    p = sp.p
    best = None  # (score, e position, k position)
    for ei in range(len(sp.layers) + 1):
        e = sp.layers[ei] if ei < len(sp.layers) else None
        caps = [(budget - p.surrogate(k, e, [])) // unit for k in sp.ks]
        if max(caps) < 0:
            continue
        val, _ = _dp(sp.opts[ei:], max(caps), unit)
        for kk, cap in enumerate(caps):
            if cap >= 0:
                s = p.bias[sp.ks[kk]][0] + val[cap]
                if best is None or s > best[0] + 1e-12:
                    best = (s, ei, kk, cap)
    if best is None:
        return None
    _, ei, kk, cap = best
    _, picks = _dp(sp.opts[ei:], cap, unit)
    genes, c = [0] * len(sp.opts), cap
    for j in range(len(sp.opts) - 1, ei - 1, -1):
        genes[j] = int(picks[j - ei][c])
        c -= -(-sp.opts[j][genes[j]][2] // unit)
    return (kk, *genes)


def _repair(sp: _Space, genes, limit: int):
    """Drop the choices with the least gain per byte saved until the surrogate cost fits
    (then fall back to cheaper bias settings)."""
    genes = list(genes)
    while sp.cost(genes) > limit:
        now, best, best_ratio = sp.cost(genes), None, None
        for j in range(1, len(genes)):
            if genes[j]:
                off = genes[:j] + [0] + genes[j + 1:]
                ratio = sp.opts[j - 1][genes[j]][1] / max(now - sp.cost(off), 1)
                if best_ratio is None or ratio < best_ratio:
                    best, best_ratio = j, ratio
        if best is not None:
            genes[best] = 0
            continue
        cheaper = [kk for kk in range(len(sp.ks)) if sp.p.bias[sp.ks[kk]][1] <= limit]
        if not cheaper or genes[0] in cheaper:
            break
        genes[0] = max(cheaper, key=lambda kk: sp.p.bias[sp.ks[kk]][0])
    return tuple(genes)


def _evolve(sp: _Space, limit: int, rng, pop: int, gens: int, seeds) -> list:
    """Genetic algorithm on the surrogate: the final population, best first."""
    n = 1 + len(sp.opts)
    sizes = [len(sp.ks)] + [len(o) for o in sp.opts]
    pop = int(min(pop, sp.size))  # a space smaller than the population holds fewer schemes
    popl = {_repair(sp, s, limit) for s in seeds}
    for _ in range(20 * pop):
        if len(popl) >= pop:
            break
        g = [int(rng.integers(s)) if rng.random() < 0.3 else 0 for s in sizes]
        g[0] = int(rng.integers(sizes[0]))
        popl.add(_repair(sp, g, limit))
    popl = list(popl)
    for _ in range(gens):
        fit = [sp.score(g) for g in popl]
        elite = [popl[i] for i in np.argsort(fit)[::-1][:max(2, pop // 8)]]
        children = set(elite)
        for _ in range(20 * pop):  # repairs may map children onto each other: bounded tries
            if len(children) >= pop:
                break
            a, b = (max(rng.choice(len(popl), 3), key=lambda i: fit[i]) for _ in range(2))
            mask = rng.random(n) < 0.5
            child = [popl[a][j] if mask[j] else popl[b][j] for j in range(n)]
            for j in range(n):
                if rng.random() < 1.5 / n:
                    child[j] = int(rng.integers(sizes[j]))
            children.add(_repair(sp, child, limit))
        popl = list(children)
    return sorted(popl, key=lambda g: (-sp.score(g), sp.cost(g)))


def _hill_climb(sp: _Space, genes, ram_fn, budget: int, moves: int = 16, steps: int = 4):
    """Real-checked local improvement: try the single-gene changes that raise the score
    most (at most `moves` per step), keep the best that fits the real budget."""
    genes, checks = tuple(genes), 0
    for _ in range(steps):
        base = sp.score(genes)
        sizes = [len(sp.ks)] + [len(o) for o in sp.opts]
        cand = {tuple(genes[:j]) + (v,) + tuple(genes[j + 1:])
                for j in range(len(genes)) for v in range(sizes[j]) if v != genes[j]}
        cand = sorted((g for g in cand if sp.score(g) > base), key=lambda g: -sp.score(g))[:moves]
        if not cand:
            break
        rams = ram_fn([sp.scheme(g) for g in cand])
        checks += len(cand)
        fit = [(g, r) for g, r in zip(cand, rams) if r <= budget]
        if not fit:
            break
        genes = fit[0][0]
    return genes, checks


def evolutionary_search(p: Problem, budget: int, ram_fn, pop: int = 64, gens: int = 60,
                        rounds: int = 6, verify_top: int = 8, seed: int = 0,
                        optimism: float = 0.1, top: int = 1) -> Result | None:
    sp = _Space(p, budget)
    if not sp.ks:
        return None
    rng = np.random.default_rng(seed)
    notes, checks = [], 0
    fitted = {}  # genes -> real ram of every candidate checked that fits
    limit = int(budget * (1 + optimism))  # the surrogate over-estimates some schemes
    best = None  # (score, genes)
    k0 = max(range(len(sp.ks)), key=lambda kk: p.bias[sp.ks[kk]][0])  # best bias-only
    seeds = [tuple([k0] + [0] * len(sp.opts)), tuple([0] * (1 + len(sp.opts)))]
    for rnd in range(rounds):
        ks = knapsack(sp, min(limit, 4 * budget))
        final = _evolve(sp, limit, rng, pop, gens, seeds + ([ks] if ks else []))
        cand = [g for g in final if best is None or sp.score(g) > best[0]][:verify_top]
        if not cand:
            break
        rams = ram_fn([sp.scheme(g) for g in cand])
        checks += len(cand)
        for g, r in zip(cand, rams):
            if r <= budget:
                fitted[g] = r
            if r <= budget and (best is None or sp.score(g) > best[0]):
                best = (sp.score(g), g)
        n_fit = sum(r <= budget for r in rams)
        notes.append(f"round {rnd + 1}: surrogate limit {limit} B, checked {len(cand)}, {n_fit} fit")
        if rams[0] <= budget:
            break  # the population's best fits for real: nothing better under this limit
        seeds = [g for g, r in zip(cand, rams) if r <= budget] + seeds[:2]
        limit -= max(1, int(rams[0] - budget)) if np.isfinite(rams[0]) else limit // 10
    if best is None:
        return None
    g, more = _hill_climb(sp, best[1], ram_fn, budget)
    checks += more
    if sp.score(g) > best[0]:
        notes.append(f"local search with the planner: {best[0]:.4f} -> {sp.score(g):.4f}")
    ram = ram_fn([sp.scheme(g)])[0]
    fitted[g] = ram
    if top > 1:  # runners-up: the best of the last population that fit (a few more checks)
        more = [x for x in final if x not in fitted][:verify_top]
        if more:
            checks += len(more)
            fitted.update({x: r for x, r in zip(more, ram_fn([sp.scheme(x) for x in more]))
                           if r <= budget})
    alts = sorted(fitted.items(), key=lambda gr: (-sp.score(gr[0]), gr[1]))
    alts = [(g, ram)] + [(x, r) for x, r in alts if x != g][:top - 1]
    return Result(sp.scheme(g), sp.score(g), int(ram), "evolutionary", False, sp.size, checks,
                  [f"evolutionary: space of {sp.size:.3g} schemes is too large to enumerate; "
                   f"population {pop}, {gens} generations per round, surrogate-guided, "
                   "every candidate checked with the planner"] + notes,
                  [(sp.scheme(x), sp.score(x), int(r)) for x, r in alts])


def search(p: Problem, budget: int, ram_fn, method: str = "auto", exact_limit: int = 200_000,
           seed: int = 0, top: int = 1, **kw) -> Result:
    """The best scheme under `budget` (ram_fn: list of schemes -> list of real ram_bytes).
    top > 1: Result.alternatives also holds the runners-up (distinct schemes that fit, by
    descending score: exact, the next in score order; evolutionary, the best fitting ones
    it checked)."""
    if p.base_ram > budget:
        raise ValueError(f"budget {budget} B is below the no-update training step "
                         f"({p.base_ram} B)")
    res = None
    if method in ("auto", "exact"):
        res = exact_search(p, budget, ram_fn, exact_limit=exact_limit, top=top)
        if res is None and method == "exact":
            raise ValueError(f"exact search: space of {_Space(p, budget).size:.3g} schemes is "
                             f"above the limit {exact_limit} (or nothing fits in the checks)")
    if res is None:
        res = evolutionary_search(p, budget, ram_fn, seed=seed, top=top, **kw)
    fits = [(g, k) for k, (g, ram) in p.bias.items() if ram <= budget]
    g0, k0 = max(fits)
    if res is None or res.score < g0:  # never worse than the best measured bias-only setting
        res = Result({"bias_last": k0, "weights": {}}, g0, p.bias[k0][1], "bias-only", False,
                     0, 0, ["fallback: the best measured bias-only setting"],
                     [({"bias_last": k0, "weights": {}}, g0, p.bias[k0][1])])
    if not res.alternatives:
        res.alternatives = [(res.scheme, res.score, res.ram_bytes)]
    return res
