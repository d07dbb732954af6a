"""Measured combinations (plan.refine): weight options added to the chosen scheme one at a time,
kept only when real runs beat it on validation by more than the margin, never over budget; and
options of the scheme dropped one at a time, kept when real runs are not worse."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from mcutrain.sparse.contribution import Contributions, race
from mcutrain.sparse.jobs import canonical
from mcutrain.sparse.plan import _measured, refine

N_VAL = 100
N_LAYERS = 6


class FakeEngine:
    """Accuracy of a scheme = base + sum of its options' values + a bonus for some pairs (what
    summed single gains miss); seeds add +-noise around it. On folds 1 .. folds - 1 of the
    cross-validation an option may be worth `fold_shift` more (or less) than on the validation
    split (fold 0). Counts the runs it is asked for."""

    def __init__(self, value, pair_bonus=None, noise=0.0, seeds=2, folds=1, fold_shift=None,
                 promote=None):
        self.value, self.pair_bonus, self.noise, self.seeds = value, pair_bonus or {}, noise, seeds
        self.folds, self.fold_shift, self.promote = folds, fold_shift or {}, promote
        self.task = SimpleNamespace(n_val=N_VAL, n_layers=N_LAYERS, fresh_head=True)
        self.trained = []

    def canon(self, s):
        return canonical(s, N_LAYERS, True)

    def acc(self, s):
        opts = {(int(i), float(r)) for i, r in s["weights"].items()}
        a = 0.5 + sum(self.value.get(o, 0.0) for o in opts)
        a += sum(b for pair, b in self.pair_bonus.items() if set(pair) <= opts)
        return a

    def finetune_seeds(self, schemes, seeds=None, desc=""):
        out = []
        for s in schemes:
            self.trained.append(json.dumps(self.canon(s), sort_keys=True))
            accs = [self.acc(s) + self.noise * (-1) ** j for j in range(self.seeds)]
            out.append(dict(val_acc=float(np.mean(accs)), val_se=0.0, val_accs=accs,
                            test_acc=None, test_se=None, test_accs=None,
                            seeds=list(range(self.seeds))))
        return out


    def scored_runs(self, schemes, desc="", contends=None):
        if self.promote is not None:  # raced over the seeds as Engine.scored_runs races
            return self.raced_runs(schemes, contends)
        rows = self.finetune_seeds(schemes)
        for s, row in zip(schemes, rows):
            opts = {(int(i), float(r)) for i, r in s["weights"].items()}
            other = row["val_acc"] + sum(self.fold_shift.get(o, 0.0) for o in opts)
            accs = [row["val_acc"]] + [other] * (self.folds - 1)
            row.update(cv_acc=float(np.mean(accs)), cv_se=None, cv_accs=accs, folds=self.folds)
        return rows

    def raced_runs(self, schemes, contends):
        def run_seed(seed, items):
            out = []
            for j in items:
                self.trained.append((json.dumps(self.canon(schemes[j]), sort_keys=True), seed))
                out.append(self.acc(schemes[j]) + self.noise * (-1) ** seed)
            return out

        raced = race(len(schemes), self.seeds, self.promote, run_seed, lambda a: a, contends)
        rows = []
        for accs in raced:
            m = float(np.mean(accs))
            rows.append(dict(val_acc=m, val_se=0.0, val_accs=accs, test_acc=None, test_se=None,
                             test_accs=None, seeds=list(range(len(accs))), cv_acc=m, cv_se=None,
                             cv_accs=[m], cv_seed_accs=list(accs), folds=1,
                             raced_out=len(accs) < self.seeds))
        return rows


def ram_of(s):
    """Layer i trained at ratio r costs 100 r bytes over a base of 1000."""
    return 1000 + sum(int(100 * float(r)) for r in s["weights"].values())


def contrib(eng, opts):
    weights = {o: dict(acc=0.5 + eng.value[o], ram=ram_of({"weights": {str(o[0]): o[1]}}))
               for o in opts}
    bias = {0: dict(acc=0.5, ram=1000)}
    return Contributions(N_LAYERS, True, bias[0], bias, 0, weights)


def start_rows(eng, scheme):
    run = eng.scored_runs([scheme])[0]
    return [dict(label="sum of gains", scheme=eng.canon(scheme), ram_bytes=ram_of(scheme),
                 predicted_val_acc=run["val_acc"], predicted_gain=run["val_acc"] - 0.5,
                 **_measured(run))]


def ram_fn(schemes):
    return [ram_of(s) for s in schemes]


OPTS = [(1, 0.5), (2, 1.0), (3, 1.0), (4, 0.5)]


def test_a_combination_the_sum_missed_is_found_and_stays_in_budget():
    # alone, layer 3 looks weaker than layer 2 (1 image vs 4); on top of layer 1 it gives 10
    # images more: the summed gains would add layer 2, the measured combination adds layer 3
    eng = FakeEngine({(1, 0.5): 0.05, (2, 1.0): 0.04, (3, 1.0): 0.01, (4, 0.5): 0.005},
                     pair_bonus={((1, 0.5), (3, 1.0)): 0.10})
    c = contrib(eng, OPTS)
    rows = start_rows(eng, {"bias_last": 0, "weights": {"1": 0.5}})
    budget = 1000 + 50 + 100  # room for one more full layer
    best = refine(eng, c, rows, 0, ram_fn, budget, rounds=3, width=4, margin_images=1)
    assert rows[best]["scheme"]["weights"] == {"1": 0.5, "3": 1.0}
    by_layer = {next(k for k in r["scheme"]["weights"] if k != "1"): r for r in rows[1:4]}
    assert by_layer["2"]["predicted_val_acc"] > by_layer["3"]["predicted_val_acc"]
    assert all(r["ram_bytes"] <= budget for r in rows)
    assert all(r["round"] >= 1 for r in rows[1:])
    assert all(len(r["scheme"]["weights"]) >= 2 for r in rows[1:] if r["move"] == "add")
    # the drops were tried (layer 1 alone was the start; without layer 1: new) and lost
    drops = [r for r in rows[1:] if r["move"] == "drop"]
    assert [r["scheme"]["weights"] for r in drops] == [{}, {"3": 1.0}]
    # the move beat the scheme it left by more than the margin
    assert rows[best]["measured_val_acc"] > rows[0]["measured_val_acc"] + 1 / N_VAL


def test_gains_within_the_margin_do_not_move_the_choice():
    eng = FakeEngine({(1, 0.5): 0.05, (2, 1.0): 0.005})  # half an image
    c = contrib(eng, OPTS[:2])
    rows = start_rows(eng, {"bias_last": 0, "weights": {"1": 0.5}})
    best = refine(eng, c, rows, 0, ram_fn, 10_000, rounds=2, width=4, margin_images=1)
    assert best == 0 and len(rows) == 3  # one round: one addition and one drop tried, not taken
    assert [r["move"] for r in rows[1:]] == ["add", "drop"]
    assert rows[1]["measured_val_acc"] > rows[0]["measured_val_acc"]


def test_nothing_to_add_under_the_budget_runs_nothing():
    eng = FakeEngine({(1, 0.5): 0.05, (2, 1.0): 0.04})
    c = contrib(eng, OPTS[:2])
    rows = start_rows(eng, {"bias_last": 0, "weights": {"1": 0.5}})
    n = len(eng.trained)
    assert refine(eng, c, rows, 0, ram_fn, 1000 + 50 + 99, rounds=2, drops=0) == 0
    assert len(eng.trained) == n and len(rows) == 1
    # with drops, only the drop is trained (and not taken: without layer 1 is worse)
    assert refine(eng, c, rows, 0, ram_fn, 1000 + 50 + 99, rounds=2) == 0
    assert len(eng.trained) == n + 1 and [r["move"] for r in rows[1:]] == ["drop"]


def test_width_limits_the_runs_and_schemes_are_never_trained_twice():
    value = {(i, 1.0): 0.02 * (10 - i) for i in range(1, 5)}  # layer 5 is the fresh head
    eng = FakeEngine(value)
    c = contrib(eng, list(value))
    rows = start_rows(eng, {"bias_last": 0, "weights": {}})
    best = refine(eng, c, rows, 0, ram_fn, 10_000, rounds=3, width=2, margin_images=1, drops=0)
    per_round = {}
    for r in rows[1:]:
        per_round[r["round"]] = per_round.get(r["round"], 0) + 1
    assert per_round == {1: 2, 2: 2, 3: 2}
    assert len(eng.trained) == len(set(eng.trained))
    # greedy by measured accuracy: layer 1, then 1+2, then 1+2+3
    assert rows[best]["scheme"]["weights"] == {"1": 1.0, "2": 1.0, "3": 1.0}


@pytest.mark.parametrize("noise", [0.0, 0.02])
def test_a_higher_ratio_of_a_layer_already_trained_is_an_option(noise):
    eng = FakeEngine({(1, 0.5): 0.03, (1, 1.0): 0.08}, noise=noise)
    c = contrib(eng, [(1, 0.5), (1, 1.0)])
    rows = start_rows(eng, {"bias_last": 0, "weights": {"1": 0.5}})
    best = refine(eng, c, rows, 0, ram_fn, 10_000, rounds=1)
    assert rows[best]["scheme"]["weights"] == {"1": 1.0}


@pytest.mark.parametrize("folds", [1, 5])
def test_a_move_that_wins_on_validation_only_is_not_made_with_folds(folds):
    # + layer 2 gains 4 validation images on fold 0, but loses 2 on each other fold: decided
    # on the validation split alone it moves, cross-validated over 5 folds it does not
    eng = FakeEngine({(1, 0.5): 0.05, (2, 1.0): 0.04}, folds=folds, fold_shift={(2, 1.0): -0.06})
    c = contrib(eng, OPTS[:2])
    rows = start_rows(eng, {"bias_last": 0, "weights": {"1": 0.5}})
    best = refine(eng, c, rows, 0, ram_fn, 10_000, rounds=1)
    assert [r["move"] for r in rows[1:]] == ["add", "drop"]
    assert rows[1]["measured_val_acc"] > rows[0]["measured_val_acc"] + 1 / N_VAL
    assert best == (1 if folds == 1 else 0)
    assert rows[1]["score"] == rows[1]["cv_acc"] and len(rows[1]["cv_accs"]) == folds


def measured_contrib(eng, measured):
    """The analysis as it measured the options (`measured`: option -> gain), which need not be
    what they are worth (eng.value)."""
    weights = {o: dict(acc=0.5 + g, ram=ram_of({"weights": {str(o[0]): o[1]}}))
               for o, g in measured.items()}
    bias = {0: dict(acc=0.5, ram=1000)}
    return Contributions(N_LAYERS, True, bias[0], bias, 0, weights)


def test_a_noise_option_is_dropped_and_the_memory_it_frees_takes_a_better_one():
    # layer 2 measured +0.02 alone (noise: it is worth -0.01), layer 3 measured +0.015 (it is
    # worth +0.06); the budget holds layer 1 and one full layer. The summed gains chose 1 + 2;
    # adding 3 does not fit, dropping 2 is not worse, then adding 3 fits and wins
    eng = FakeEngine({(1, 0.5): 0.05, (2, 1.0): -0.01, (3, 1.0): 0.06})
    c = measured_contrib(eng, {(1, 0.5): 0.05, (2, 1.0): 0.02, (3, 1.0): 0.015})
    rows = start_rows(eng, {"bias_last": 0, "weights": {"1": 0.5, "2": 1.0}})
    budget = 1000 + 50 + 100
    best = refine(eng, c, rows, 0, ram_fn, budget, rounds=3)
    assert rows[best]["scheme"]["weights"] == {"1": 0.5, "3": 1.0}
    assert all(r["ram_bytes"] <= budget for r in rows)
    assert rows[best]["move"] == "add" and rows[best]["round"] == 2
    assert "+ layer 3" in rows[best]["why"]
    dropped = next(r for r in rows[1:] if r["move"] == "drop" and r["scheme"]["weights"] == {"1": 0.5})
    assert dropped["round"] == 1 and dropped["score"] >= rows[0]["score"]
    assert f"on '{dropped['label']}'" in rows[best]["why"]  # the addition was made on the drop


def test_drops_try_the_smallest_measured_gains_first_and_a_worse_drop_is_not_taken():
    value = {(1, 1.0): 0.05, (2, 1.0): 0.04, (3, 1.0): 0.03}
    eng = FakeEngine(value)
    c = measured_contrib(eng, {(1, 1.0): 0.05, (2, 1.0): 0.04, (3, 1.0): 0.03})
    rows = start_rows(eng, {"bias_last": 0, "weights": {"1": 1.0, "2": 1.0, "3": 1.0}})
    best = refine(eng, c, rows, 0, ram_fn, 1300, rounds=2, drops=2)
    assert best == 0  # every option is worth its place
    assert [r["scheme"]["weights"] for r in rows[1:]] == [{"1": 1.0, "2": 1.0}, {"1": 1.0, "3": 1.0}]
    assert [round(r["predicted_gain"], 9) for r in rows[1:]] == [round(0.12 - 0.03, 9),
                                                                 round(0.12 - 0.04, 9)]


def test_a_move_that_could_still_be_taken_gets_every_seed_in_the_race():
    # four drops, the leading third (2) of them by the first seed go on: dropping layer 3 or 2
    # (worth -0.02, -0.01) leads; dropping layer 4 (worth 0) ties the scheme, so it could
    # still be taken and gets the second seed too; dropping layer 1 (worth +0.05) loses and
    # stops after one seed
    eng = FakeEngine({(1, 1.0): 0.05, (2, 1.0): -0.01, (3, 1.0): -0.02, (4, 1.0): 0.0},
                     promote=1 / 3)
    c = measured_contrib(eng, {(1, 1.0): 0.05, (2, 1.0): 0.01, (3, 1.0): 0.02, (4, 1.0): 0.005})
    rows = start_rows(eng, {"bias_last": 0, "weights": {"1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0}})
    best = refine(eng, c, rows, 0, ram_fn, 1400, rounds=1)
    by_drop = {next(k for k in "1234" if k not in r["scheme"]["weights"]): r for r in rows[1:]}
    assert sorted(by_drop) == ["1", "2", "3", "4"]
    assert not by_drop["4"]["raced_out"] and len(by_drop["4"]["cv_seed_accs"]) == 2
    assert by_drop["1"]["raced_out"] and len(by_drop["1"]["cv_seed_accs"]) == 1
    assert not by_drop["3"]["raced_out"] and not by_drop["2"]["raced_out"]
    assert rows[best] is by_drop["3"]
    # without the contention rule only the leading two would have gone on
    rows2 = start_rows(eng, {"bias_last": 0, "weights": {"1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0}})
    rows2[0]["cv_seed_accs"] = None
    refine(eng, c, rows2, 0, ram_fn, 1400, rounds=1)
    assert sum(not r["raced_out"] for r in rows2[1:]) == 2
