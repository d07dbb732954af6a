"""Folds of x_train (jobs.fold_split) and the cross-validated score the selection decides on
(Engine.scored_runs)."""
from __future__ import annotations

import numpy as np
import pytest

from mcutrain.sparse.jobs import _task_files, fold_split
from mcutrain.sparse.plan import make_engine

from .conftest import PROTO

K = 5


@pytest.fixture(scope="module")
def engine(tiny_graph, tiny_task_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("folds")
    return make_engine(tiny_graph, tiny_task_data, 5, "serial", cache, PROTO, progress=False,
                       seeds=2, folds=K)


def test_folds_partition_x_train_and_fold_0_is_the_split(engine):
    d = str(engine.task.dir)
    _, split = _task_files(d)
    n = engine.task.n_train + engine.task.n_val
    y = split["y"][:n]
    tr0, va0 = fold_split(d, 0, K)
    assert np.array_equal(tr0, split["train"]) and np.array_equal(va0, split["val"])
    vals = [fold_split(d, f, K)[1] for f in range(K)]
    allv = np.concatenate(vals)
    assert len(allv) == len(set(allv.tolist())) == n  # every x_train image validated once
    for f in range(K):
        tr, va = fold_split(d, f, K)
        assert not set(tr.tolist()) & set(va.tolist())
        assert sorted(tr.tolist() + va.tolist()) == list(range(n))
    for c in np.unique(y):  # stratified: folds 1..K-1 hold a class's images within one
        counts = [int((y[v] == c).sum()) for v in vals[1:]]
        assert max(counts) - min(counts) <= 1
    again = fold_split.__wrapped__(d, 3, K)
    assert np.array_equal(again[1], vals[3])
    with pytest.raises(ValueError, match="fold 5 of 5"):
        fold_split(d, K, K)


def test_a_fold_run_trains_and_validates_on_its_fold(engine):
    d = str(engine.task.dir)
    s = {"bias_last": 3, "weights": {"2": 1.0}}
    for f in (1, 4):
        tr, va = fold_split(d, f, K)
        r = engine.finetune([s], evals=("val",), fold=f, folds=K)[0]
        assert r["steps"] == PROTO.epochs * len(tr)
        assert round(r["val_acc"] * len(va), 9) == round(r["val_acc"] * len(va))
    # the folds differ from each other and from the task's split
    accs = [engine.finetune([s], evals=("val",), fold=f, folds=K)[0]["train_loss"]
            for f in range(K)]
    assert len(set(accs)) == K


def test_fold_0_runs_are_the_plain_runs_and_the_score_is_the_fold_mean(engine):
    s = {"bias_last": 4, "weights": {}}
    plain = engine.finetune_seeds([s])[0]
    before = dict(engine.stats)
    row = engine.scored_runs([s])[0]
    # fold 0 for both seeds: cache hits; folds 1..4 for both seeds: new runs
    assert engine.stats["runs_hits"] - before["runs_hits"] == 2
    assert engine.stats["runs"] - before["runs"] == 2 * (K - 1)
    assert row["val_acc"] == plain["val_acc"] and row["cv_accs"][0] == plain["val_acc"]
    per_fold = [np.mean([engine.finetune([s], protocol=p, evals=("val",), fold=f, folds=K)[0]["val_acc"]
                         for p in engine.seed_protocols()]) for f in range(1, K)]
    assert row["cv_accs"][1:] == pytest.approx(per_fold)
    assert row["cv_acc"] == pytest.approx(np.mean([plain["val_acc"]] + per_fold))
    assert row["folds"] == K and row["cv_se"] is not None
    # per seed, the score the race compares: that seed's mean over the folds
    for sc, p in zip(row["cv_seed_accs"], engine.seed_protocols()):
        assert sc == pytest.approx(np.mean(
            [engine.finetune([s], protocol=p, evals=("val",), fold=f, folds=K)[0]["val_acc"]
             for f in range(K)]))
    assert np.mean(row["cv_seed_accs"]) == pytest.approx(row["cv_acc"])
    # per seed, which images it got right: fold 0's validation images, then folds 1..K-1's,
    # every x_train image once; each fold's share right is that fold's accuracy
    d = str(engine.task.dir)
    sizes = [len(fold_split(d, f, K)[1]) for f in range(K)]
    assert len(row["cv_right"]) == 2
    for right, p in zip(row["cv_right"], engine.seed_protocols()):
        assert len(right) == sum(sizes) == engine.task.n_train + engine.task.n_val
        assert set(right) <= {"0", "1"}
        edges = np.cumsum([0] + sizes)
        accs = [engine.finetune([s], protocol=p, evals=("val",), fold=f, folds=K)[0]["val_acc"]
                for f in range(K)]
        for f in range(K):
            seg = right[edges[f]:edges[f + 1]]
            assert seg.count("1") / len(seg) == pytest.approx(accs[f])
    engine.folds = 1
    try:
        one = engine.scored_runs([s])[0]
    finally:
        engine.folds = K
    assert one["cv_acc"] == one["val_acc"] and one["cv_accs"] == [one["val_acc"]] and one["cv_se"] is None


def test_a_scheme_in_contention_gets_every_seed_whatever_its_rank(engine):
    schemes = [{"bias_last": k, "weights": {}} for k in (1, 2, 3, 4)]
    seen = []

    def contends(j, scores):
        seen.append((j, len(scores)))
        return j == 0

    rows = engine.scored_runs(schemes, promote=0.25, contends=contends)
    assert sorted(seen) == [(j, 1) for j in range(4)]  # asked once per scheme, after seed 0
    lead = max(range(4), key=lambda j: (round(rows[j]["cv_seed_accs"][0], 12), -j))
    assert [not r["raced_out"] for r in rows] == [j in (0, lead) for j in range(4)]
    assert [len(r["cv_seed_accs"]) for r in rows] == [2 if j in (0, lead) else 1 for j in range(4)]
