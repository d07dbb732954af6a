"""Racing over the seeds (contribution.race, successive halving): the leading share of the
settings gets each next seed; the rest stop, and no decision uses them."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mcutrain.sparse.contribution import Contributions, analyze, race
from mcutrain.sparse.plan import _rank, make_engine
from mcutrain.sparse.search import Problem

from .conftest import PROTO, RATIOS


def _scripted(values):
    """run_seed / score over a table values[item][seed]; records each call's items."""
    calls = []

    def run_seed(s, items):
        calls.append((s, list(items)))
        return [dict(item=j, seed=s, v=values[j][s]) for j in items]

    return calls, run_seed, (lambda r: r["v"])


def test_race_promotes_the_leading_share_by_the_mean_so_far():
    # seed 0 ranks 4 > 7 > 1 > the rest; after seed 1 the mean ranks 1 (0.75) > 4 (0.6) > 7
    values = {j: [0.1, 0.1, 0.1] for j in range(9)}
    values[4], values[7], values[1] = [0.9, 0.3, 0.0], [0.8, 0.1, 0.0], [0.7, 0.8, 0.0]
    calls, run_seed, score = _scripted(values)
    out = race(9, 3, 1 / 3, run_seed, score)
    assert calls == [(0, list(range(9))), (1, [1, 4, 7]), (2, [1])]
    assert [len(r) for r in out] == [1, 3, 1, 1, 2, 1, 1, 2, 1]
    assert [r["seed"] for r in out[1]] == [0, 1, 2] and all(r["item"] == 1 for r in out[1])


def test_race_also_promotes_every_item_still_in_contention():
    values = {j: [0.1 * j, 0.0] for j in range(6)}
    calls, run_seed, score = _scripted(values)
    out = race(6, 2, 1 / 3, run_seed, score, contends=lambda j, rs: rs[0]["v"] > 0.25)
    assert calls[1] == (1, [3, 4, 5])  # the leading 2 (5, 4), and 3 still in contention
    assert [len(r) for r in out] == [1, 1, 1, 2, 2, 2]


def test_race_ties_go_to_the_lower_index_and_promote_1_runs_everything():
    values = {j: [0.5, 0.5] for j in range(4)}
    calls, run_seed, score = _scripted(values)
    race(4, 2, 0.5, run_seed, score)
    assert calls[1] == (1, [0, 1])
    calls, run_seed, score = _scripted(values)
    out = race(4, 2, 1.0, run_seed, score)
    assert calls == [(0, [0, 1, 2, 3]), (1, [0, 1, 2, 3])] and all(len(r) == 2 for r in out)
    calls, run_seed, score = _scripted(values)
    assert [len(r) for r in race(4, 1, 0.25, run_seed, score)] == [1, 1, 1, 1]
    for bad in (0, -0.5, 1.5):
        with pytest.raises(ValueError, match="promote must be in"):
            race(4, 2, bad, run_seed, score)


def test_a_raced_out_option_is_paired_with_k_stars_runs_of_its_seeds_and_not_searched():
    bias = {0: dict(acc=0.5, accs=[0.5, 0.5], loss=1.0, losses=[1.0, 1.0], ram=100),
            2: dict(acc=0.7, accs=[0.6, 0.8], loss=0.8, losses=[0.9, 0.7], ram=120)}
    weights = {(1, 1.0): dict(acc=0.75, accs=[0.7, 0.8], loss=0.7, losses=[0.8, 0.6], ram=150, cost=30),
               (3, 0.5): dict(acc=0.65, accs=[0.65], loss=0.85, losses=[0.85], ram=140, cost=20,
                              raced_out=True)}
    c = Contributions(4, True, bias[0], bias, 2, weights, metric="loss")
    assert c.weight_gain(1, 1.0) == pytest.approx(0.1)  # 0.8 - 0.7, the means
    # seed 0 only: 0.9 - 0.85 (not the means' 0.8 - 0.85 = -0.05)
    assert c.weight_gain(3, 0.5) == pytest.approx(0.05)
    assert c.weight_gain(3, 0.5, "acc") == pytest.approx(0.05)  # 0.65 - 0.6
    assert c.usable(1, 1.0) and not c.usable(3, 0.5)
    assert Problem.from_contributions(c).weights == {1: [(1.0, pytest.approx(0.1), 30)]}
    assert Contributions.from_json(c.to_json()) == c


def test_selection_ranks_a_candidate_with_every_seed_first():
    rows = [dict(score=0.9, ram_bytes=10, raced_out=True), dict(score=0.8, ram_bytes=20),
            dict(score=0.8, ram_bytes=15)]
    assert max(range(3), key=lambda j: _rank(rows[j])) == 2


@pytest.fixture(scope="module")
def raced(tiny_graph, tiny_task_data, tmp_path_factory):
    """The analysis with 2 seeds, raced (promote 1/3), then not raced, on one cache."""
    cache = tmp_path_factory.mktemp("race")
    eng = make_engine(tiny_graph, tiny_task_data, 5, "serial", cache, PROTO, progress=False,
                      seeds=2, promote=1 / 3)
    c = analyze(eng, ratios=RATIOS, metric="loss")
    runs = dict(eng.stats)
    eng.promote = 1.0
    full = analyze(eng, ratios=RATIOS, metric="loss")
    return eng, c, runs, full


def test_the_analysis_races_the_weight_options(raced):
    eng, c, runs, full = raced
    n = len(c.weights)
    promoted = [ir for ir, w in c.weights.items() if not w.get("raced_out")]
    assert 0 < len(promoted) < n
    # promoted: the leading third by seed 0's loss (ties: the earlier option), and every
    # option with a lower seed-0 loss than k*'s seed-0 run (a positive gain: in contention)
    order = sorted(c.weights, key=lambda ir: (round(c.weights[ir]["losses"][0], 12),
                                              list(c.weights).index(ir)))
    k0 = c.bias[c.best_k]["losses"][0]
    gaining = {ir for ir, w in c.weights.items() if w["losses"][0] < k0}
    assert set(promoted) == set(order[:math.ceil(n / 3)]) | gaining
    assert all(c.weight_gain(*ir) <= 0 for ir in c.weights if ir not in promoted)
    for ir, w in c.weights.items():
        assert len(w["losses"]) == (2 if ir in promoted else 1)
        assert w["loss"] == pytest.approx(np.mean(w["losses"]))
    # runs: every bias setting twice, every option once, the promoted ones once more
    assert runs["runs"] == 2 * len(c.bias) + n + len(promoted)
    # the same runs without racing: every option gets both seeds, seed 0 from the cache
    assert all(not w.get("raced_out") and len(w["losses"]) == 2 for w in full.weights.values())
    for ir, w in c.weights.items():
        assert full.weights[ir]["losses"][:len(w["losses"])] == w["losses"]
    assert eng.stats["runs"] - runs["runs"] == n - len(promoted)


def test_raced_selection_runs_only_the_leaders_on_the_next_seed(raced):
    eng, c, _, _ = raced
    eng.promote, eng.folds = 0.5, 3
    try:
        schemes = [{"bias_last": k, "weights": {}} for k in sorted(c.bias)[:4]]
        before = dict(eng.stats)
        rows = eng.scored_runs(schemes)
    finally:
        eng.promote, eng.folds = 1.0, 1
    done = eng.stats["runs"] + eng.stats["runs_hits"] - before["runs"] - before["runs_hits"]
    assert done == 4 * 3 + 2 * 3  # seed 0: every scheme on 3 folds; seed 1: the leading 2
    out = [r for r in rows if r["raced_out"]]
    kept = [r for r in rows if not r["raced_out"]]
    assert len(out) == len(kept) == 2 and all(len(r["val_accs"]) == 2 for r in kept)
    seed0 = [np.mean([r["val_accs"][0]] + [eng.finetune(
        [s], protocol=replace(eng.protocol, seed=0), evals=("val",), fold=f, folds=3)[0]["val_acc"]
        for f in (1, 2)]) for s, r in zip(schemes, rows)]
    assert min(seed0[j] for j, r in enumerate(rows) if not r["raced_out"]) >= \
        max(seed0[j] for j, r in enumerate(rows) if r["raced_out"]) - 1e-12
    for r in out:
        assert len(r["val_accs"]) == 1 and r["cv_acc"] == pytest.approx(np.mean(r["cv_accs"]))
