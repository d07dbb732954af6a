"""Search: exact and evolutionary solvers against brute force with the real planner."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from mcutrain.compile import compile_model
from mcutrain.autodiff.head import replace_head
from mcutrain.sparse.jobs import measure_memory
from mcutrain.sparse.search import Problem, evolutionary_search, exact_search, search

LAYERS = (2, 3, 4)
RATIOS = (0.5, 1.0)
KS = (0, 2, 3, 4, 5, 6)


@pytest.fixture(scope="module")
def real_ram(tiny_graph):
    """ram_bytes of a scheme on the tiny model with a fresh 5-class head (memoized)."""
    g = replace_head(tiny_graph, 5, 0)
    memo = {}

    def ram(s):
        key = (s["bias_last"], tuple(sorted((int(i), r) for i, r in s["weights"].items())))
        if key not in memo:
            memo[key] = measure_memory(g, s)["ram_bytes"]
        return memo[key]
    return ram


def _problem(real_ram, seed=0) -> Problem:
    """Gains drawn at random (some negative); memory from the real planner, measured as the
    analysis does (contribution.analyze): bias settings alone, each weight option on top of
    the reference k and alone."""
    rng = np.random.default_rng(seed)
    n = 6
    depth = {k: real_ram({"bias_last": k, "weights": {}}) for k in range(n + 1)}
    bias = {k: (0.0 if k == 0 else float(rng.uniform(-0.02, 0.1)), depth[k]) for k in KS}
    ref = max(bias, key=lambda k: bias[k][0])
    weights = {}
    for i in LAYERS:
        for r in RATIOS:
            if i >= n - ref:
                cost = real_ram({"bias_last": ref, "weights": {str(i): r}}) - depth[ref]
            else:
                cost = real_ram({"bias_last": 0, "weights": {str(i): r}}) - depth[n - i]
            weights.setdefault(i, []).append((r, float(rng.uniform(-0.03, 0.08)), cost))
    return Problem(depth[0], bias, depth, n, weights)


def _brute_force(p: Problem, real_ram, budget):
    best = None
    for k in KS:
        for choice in itertools.product(*[[None] + list(p.weights[i]) for i in LAYERS]):
            w = {str(i): o[0] for i, o in zip(LAYERS, choice) if o is not None}
            score = p.bias[k][0] + sum(o[1] for o in choice if o is not None)
            s = {"bias_last": k, "weights": w}
            if real_ram(s) <= budget and (best is None or score > best[0] + 1e-12):
                best = (score, s)
    return best


def _ram_fn(real_ram, calls):
    def f(schemes):
        calls.append(len(schemes))
        return [real_ram(s) for s in schemes]
    return f


@pytest.mark.parametrize("seed", [0, 2])
def test_exact_and_evolutionary_find_the_brute_force_optimum(real_ram, seed):
    p = _problem(real_ram, seed)
    rams = sorted(real_ram({"bias_last": k, "weights": {}}) for k in KS)
    for budget in (rams[2], (rams[-1] + rams[0]) // 2, rams[-1] + 4000):
        score, _ = _brute_force(p, real_ram, budget)
        ex = exact_search(p, budget, _ram_fn(real_ram, []))
        assert ex.exact and ex.score == pytest.approx(score) and ex.ram_bytes <= budget
        assert real_ram(ex.scheme) == ex.ram_bytes
        ev = evolutionary_search(p, budget, _ram_fn(real_ram, []), pop=24, gens=20, seed=seed)
        assert ev.score == pytest.approx(score) and real_ram(ev.scheme) <= budget


def test_auto_uses_exact_when_small_and_evolutionary_when_large(real_ram):
    p = _problem(real_ram)
    budget = real_ram({"bias_last": 6, "weights": {}}) + 2000
    assert search(p, budget, _ram_fn(real_ram, [])).method == "exact"
    res = search(p, budget, _ram_fn(real_ram, []), exact_limit=10, pop=24, gens=15)
    assert res.method == "evolutionary" and not res.exact
    assert "too large to enumerate" in res.notes[0]


@pytest.mark.parametrize("frac", [0.15, 0.4, 0.8])
def test_searched_scheme_never_exceeds_the_budget_when_compiled(real_ram, tiny_graph, tmp_path, frac):
    p = _problem(real_ram, 3)
    full = real_ram({"bias_last": 6, "weights": {str(i): 1.0 for i in LAYERS}})
    budget = int(p.base_ram + frac * (full - p.base_ram))
    for method in ("exact", "evolutionary"):
        res = search(p, budget, _ram_fn(real_ram, []), method=method, pop=24, gens=15)
        rep = compile_model(tiny_graph, tmp_path / method, update=res.scheme, classes=5, ram=budget)
        assert rep["ram_bytes"] == res.ram_bytes <= budget


def test_budget_below_head_only_training_is_an_error(real_ram):
    p = _problem(real_ram)
    with pytest.raises(ValueError, match="below the no-update"):
        search(p, p.base_ram - 1, _ram_fn(real_ram, []))


def test_evolutionary_on_a_large_synthetic_problem_matches_the_knapsack():
    """40 layers x 4 ratios: where the memory is the surrogate model itself, the knapsack is
    exact and the evolutionary search must reach its optimum."""
    rng = np.random.default_rng(0)
    n = 41
    depth = {k: 1000 + 300 * k + (0 if k < 20 else 2000 * (k - 20)) for k in range(n + 1)}
    bias = {k: (float(k * 0.004 + rng.uniform(0, 0.01)), depth[k]) for k in range(0, 30)}
    weights = {i: [(r, float(rng.uniform(-0.01, 0.03)) * r ** 0.5, int(rng.integers(200, 3000) * r))
                   for r in (0.125, 0.25, 0.5, 1.0)] for i in range(40)}
    p = Problem(1000, bias, depth, n, weights)

    def model(schemes):
        out = []
        for s in schemes:
            w = {int(i): r for i, r in s["weights"].items()}
            costs = [next(x[2] for x in weights[i] if x[0] == r) for i, r in w.items()]
            out.append(p.surrogate(s["bias_last"], min(w) if w else None, costs))
        return out
    from mcutrain.sparse.search import _Space, knapsack

    for budget in (9000, 40000):
        sp = _Space(p, budget)
        opt = knapsack(sp, budget, unit=1)
        assert sp.cost(opt) <= budget
        res = evolutionary_search(p, budget, model)
        assert res.score == pytest.approx(sp.score(opt)) and model([res.scheme])[0] <= budget


@pytest.mark.parametrize("seed", [0, 2])
def test_runners_up_are_the_next_best_schemes_that_fit(real_ram, seed):
    """top=3: the exact search's alternatives are the 3 best distinct scores that fit (brute
    force); the evolutionary search's are distinct, fit, and come best first."""
    p = _problem(real_ram, seed)
    rams = sorted(real_ram({"bias_last": k, "weights": {}}) for k in KS)
    budget = (rams[-1] + rams[0]) // 2
    fitting = []
    for k in KS:
        for choice in itertools.product(*[[None] + [o for o in p.weights[i] if o[1] > 0]
                                          for i in LAYERS]):
            s = {"bias_last": k, "weights": {str(i): o[0] for i, o in zip(LAYERS, choice) if o is not None}}
            if real_ram(s) <= budget:
                fitting.append(p.bias[k][0] + sum(o[1] for o in choice if o is not None))
    want = sorted(fitting, reverse=True)[:3]
    ex = exact_search(p, budget, _ram_fn(real_ram, []), top=3)
    assert [a[1] for a in ex.alternatives] == pytest.approx(want)
    assert ex.alternatives[0][0] == ex.scheme and all(real_ram(a[0]) == a[2] <= budget
                                                      for a in ex.alternatives)
    assert exact_search(p, budget, _ram_fn(real_ram, [])).alternatives == ex.alternatives[:1]
    ev = evolutionary_search(p, budget, _ram_fn(real_ram, []), pop=24, gens=20, seed=seed, top=3)
    assert ev.alternatives[0][0] == ev.scheme and 1 <= len(ev.alternatives) <= 3
    keys = [json.dumps(a[0], sort_keys=True) for a in ev.alternatives]
    assert len(set(keys)) == len(keys) and all(real_ram(a[0]) <= budget for a in ev.alternatives)
    assert [a[1] for a in ev.alternatives] == sorted((a[1] for a in ev.alternatives), reverse=True)
    res = search(p, budget, _ram_fn(real_ram, []), top=3)
    assert res.alternatives == ex.alternatives
