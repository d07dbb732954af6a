"""Multi-seed analysis and selection: every accuracy a decision uses is a mean over seeds."""
from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest

from mcutrain.sparse.plan import make_engine, plan_scheme
from mcutrain.sparse.search import Problem

from .conftest import PROTO
from .test_plan import FAST, RAM, SAME, Interrupting


def _plan(g, data, cache, seeds, runner="serial", **kw):
    return plan_scheme(g, data, ram=RAM, classes=5, runner=runner, cache_dir=cache,
                       protocol=PROTO, ratios=FAST, progress=False, echo=lambda *a: None,
                       seeds=seeds, **kw)


@pytest.fixture(scope="module")
def plans(tiny_graph, tiny_task_data, tmp_path_factory):
    """A one-seed plan, then a two-seed plan on the same cache."""
    cache = tmp_path_factory.mktemp("seeds")
    one = _plan(tiny_graph, tiny_task_data, cache, 1)
    runs_before = {p.name: p.read_text() for p in cache.glob("*/run/*.json")}
    two = _plan(tiny_graph, tiny_task_data, cache, 2)
    return cache, one, two, runs_before


def _engine(g, data, cache):
    eng = make_engine(g, data, 5, "serial", cache, PROTO, progress=False)
    eng.protocol = replace(eng.protocol, lr=PROTO.lr)
    return eng


def test_every_contribution_is_the_mean_over_the_seeds(plans, tiny_graph, tiny_task_data):
    cache, _, two, _ = plans
    c = two["contributions"]
    assert two["seeds"] == c["seeds"] == 2 and two["seed_values"] == [0, 1]
    eng = _engine(tiny_graph, tiny_task_data, cache)
    settings = [({"bias_last": b["k"], "weights": {}}, b) for b in c["bias"]]
    settings += [({"bias_last": c["best_k"], "weights": {str(w["layer"]): w["ratio"]}}, w)
                 for w in c["weights"]]
    # every bias setting has both seeds; a weight option has the seeds the race gave it
    # (test_race.py), seed 0 at least
    assert all(len(b["accs"]) == 2 for b in c["bias"])
    assert all(len(w["accs"]) == (1 if w.get("raced_out") else 2) for w in c["weights"])
    hits = eng.stats["runs_hits"]
    for seed in (0, 1):
        got = [(s, e) for s, e in settings if len(e["accs"]) > seed]
        runs = eng.finetune([s for s, _ in got], protocol=replace(eng.protocol, seed=seed))
        for (_, e), r in zip(got, runs):
            assert e["accs"][seed] == r["val_acc"] and e["losses"][seed] == r["val_loss"]
    n_runs = sum(len(e["accs"]) for _, e in settings)
    assert eng.stats["runs"] == 0 and eng.stats["runs_hits"] - hits == n_runs
    for _, e in settings:
        n = len(e["accs"])
        assert e["acc"] == pytest.approx(np.mean(e["accs"]))
        assert e["loss"] == pytest.approx(np.mean(e["losses"]))
        if n == 1:
            assert e["se"] is None and e["loss_se"] is None
        else:
            assert e["se"] == pytest.approx(np.std(e["accs"], ddof=1) / np.sqrt(n))
            assert e["loss_se"] == pytest.approx(np.std(e["losses"], ddof=1) / np.sqrt(n))
    # k* is the best mean in the plan's metric (the default: the lowest loss); the base is
    # bias-only 0's mean
    assert two["metric"] == c["metric"] == "loss"
    best = max(c["bias"], key=lambda b: (round(-b["loss"], 9), -b["ram"]))
    assert c["best_k"] == best["k"] and c["base"]["acc"] == c["bias"][0]["acc"] == two["base"]["val_acc"]


def test_seed_zero_runs_are_the_one_seed_runs_cached(plans):
    _, one, two, runs_before = plans
    c1, c2 = one["contributions"], two["contributions"]
    assert c1["seeds"] == 1 and all(b["se"] is None and b["accs"] == [b["acc"]] for b in c1["bias"])
    for b1, b2 in zip(c1["bias"], c2["bias"]):
        assert b1["k"] == b2["k"] and b2["accs"][0] == b1["acc"]
    # every bias-only seed-0 run (and the lr-free protocol's candidates) came from the cache
    assert two["cache_stats"]["runs_hits"] >= len(c1["bias"])
    if c1["best_k"] == c2["best_k"]:
        w1 = {(w["layer"], w["ratio"]): w["acc"] for w in c1["weights"]}
        assert all(w["accs"][0] == w1[(w["layer"], w["ratio"])] for w in c2["weights"])
    # the one-seed plan's run files are untouched
    cache = plans[0]
    assert {p.name: p.read_text() for p in cache.glob("*/run/*.json") if p.name in runs_before} == runs_before


def test_search_sees_the_means_and_finds_the_brute_force_optimum(plans, tiny_graph, tiny_task_data):
    from mcutrain.sparse.contribution import Contributions

    cache, _, two, _ = plans
    contrib = Contributions.from_json(two["contributions"])
    prob = Problem.from_contributions(contrib)
    assert contrib.metric == "loss"  # a gain is a decrease of the mean validation loss
    for k, (gain, _) in prob.bias.items():
        assert gain == pytest.approx(np.mean(contrib.bias[0]["losses"]) - np.mean(contrib.bias[k]["losses"]))
    for i, opts in prob.weights.items():
        for r, gain, _ in opts:
            assert gain == pytest.approx(np.mean(contrib.bias[contrib.best_k]["losses"])
                                         - np.mean(contrib.weights[(i, r)]["losses"]))
    # brute force over every scheme of the space (every k measured, every option measured)
    eng = _engine(tiny_graph, tiny_task_data, cache)
    layers = sorted(prob.weights)
    schemes, scores = [], []
    for k in prob.bias:
        for choice in itertools.product(*[[None] + list(prob.weights[i]) for i in layers]):
            schemes.append({"bias_last": k, "weights": {str(i): o[0] for i, o in zip(layers, choice)
                                                        if o is not None}})
            scores.append(prob.bias[k][0] + sum(o[1] for o in choice if o is not None))
    rams = [m["ram_bytes"] for m in eng.memory(schemes)]
    best = max(s for s, r in zip(scores, rams) if r <= two["ram_budget"])
    first = two["candidates"][0]
    assert first["label"] == "sum of gains" and first["exact"]
    assert first["predicted_gain"] == pytest.approx(best)
    # the accuracy prediction: the base + the scheme's measured accuracy gains
    k, w = first["scheme"]["bias_last"], first["scheme"]["weights"]
    acc = contrib.base["acc"] + (contrib.bias[k]["acc"] - contrib.base["acc"] if k in contrib.bias else 0)
    acc += sum(contrib.weights[(int(i), r)]["acc"] - contrib.bias[contrib.best_k]["acc"] for i, r in w.items())
    assert first["predicted_val_acc"] == pytest.approx(min(1.0, acc))
    # runners-up: distinct, within the budget, not better than the optimum, in score order
    runner_ups = [c for c in two["candidates"] if c["label"].startswith("sum of gains #")]
    preds = [first["predicted_gain"]] + [c["predicted_gain"] for c in runner_ups]
    assert preds == sorted(preds, reverse=True)
    keys = [json.dumps(c["scheme"], sort_keys=True) for c in two["candidates"]]
    assert len(set(keys)) == len(keys)
    assert all(c["ram_bytes"] <= two["ram_budget"] for c in two["candidates"])


def test_candidates_are_chosen_by_the_mean_over_the_seeds_and_folds(plans):
    _, _, two, _ = plans
    # the candidates are raced over the seeds: the leading third gets seed 1 (test_race.py)
    for c in two["candidates"]:
        assert c["seeds"] == ([0] if c["raced_out"] else [0, 1])
        assert len(c["measured_val_accs"]) == len(c["seeds"])
        assert c["measured_val_acc"] == pytest.approx(np.mean(c["measured_val_accs"]))
        assert c["measured_test_acc"] == pytest.approx(np.mean(c["measured_test_accs"]))
    chosen = [c for c in two["candidates"] if c.get("chosen")]
    assert len(chosen) == 1 and chosen[0]["scheme"] == two["scheme"] and not chosen[0]["raced_out"]
    # the score: over the folds of x_train, each fold's accuracy the mean over the seeds
    # (fold 0: the validation split's mean)
    for c in two["candidates"]:
        assert c["cv_accs"][0] == c["measured_val_acc"] and c["score"] == c["cv_acc"]
    full = [c for c in two["candidates"] if not c["raced_out"]]
    top = max(round(c["score"], 9) for c in full)
    ties = [c for c in full if round(c["score"], 9) == top]
    assert chosen[0]["ram_bytes"] == min(c["ram_bytes"] for c in ties)
    assert two["measured_val_acc"] == chosen[0]["measured_val_acc"]
    assert two["measured_val_accs"] == chosen[0]["measured_val_accs"]


def test_plan_output_says_how_many_seeds(tiny_graph, tiny_task_data, plans, tmp_path):
    cache = plans[0]
    lines = []
    out = plan_scheme(tiny_graph, tiny_task_data, ram=RAM, classes=5, runner="serial",
                      cache_dir=cache, protocol=PROTO, ratios=FAST, progress=False,
                      echo=lines.append, seeds=2, out_dir=tmp_path / "p")
    text = "\n".join(lines)
    assert "2 seeds per setting" in text and "mean ± se of 2 seeds [0, 1]" in text
    for c in out["candidates"]:  # a prediction at the cap of 1 says so
        line = next(x for x in lines if f" {c['label']} " in x and "val predicted" in x)
        assert ("(capped)" in line) == (c["predicted_val_acc"] >= 1.0)
    assert out["cache_stats"]["runs"] == 0  # all from the cache
    plan = json.loads((tmp_path / "p" / "plan.json").read_text())
    assert plan["seeds"] == 2 and plan["contributions"]["seeds"] == 2
    alt = (tmp_path / "p" / "alternatives.md").read_text()
    assert "mean over 2 seeds [0, 1]" in alt and " ± " in alt and "Candidates of the selection" in alt


def test_interrupted_multi_seed_plan_resumes_with_the_same_result(plans, tiny_graph, tiny_task_data,
                                                                  tmp_path):
    _, _, two, _ = plans
    with pytest.raises(KeyboardInterrupt):
        _plan(tiny_graph, tiny_task_data, tmp_path, 2, runner=Interrupting(7))
    again = _plan(tiny_graph, tiny_task_data, tmp_path, 2)
    assert again["cache_stats"]["runs_hits"] >= 7
    assert {k: again[k] for k in SAME + ("candidates", "seeds")} == \
        {k: two[k] for k in SAME + ("candidates", "seeds")}


def test_seeds_must_be_positive(tiny_graph, tiny_task_data, tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        _plan(tiny_graph, tiny_task_data, tmp_path, 0)


def test_cli_plan_seeds(tiny_graph, tiny_task_data, tmp_path, capsys):
    from mcutrain.cli import main
    from mcutrain.ir.serialize import save_graph

    model = save_graph(tiny_graph, tmp_path / "tiny.npz")
    np.savez(tmp_path / "data.npz", **tiny_task_data)
    common = ["--data", str(tmp_path / "data.npz"), "--ram", "3KB", "--classes", "5"]
    assert main(["plan", str(model), *common, "--cache", str(tmp_path / "c"), "--epochs", "1",
                 "--lr", "0.05", "--runner", "serial",
                 "--quiet", "--seeds", "2", "-o", str(tmp_path / "plan")]) == 0
    assert "2 seeds per setting" in capsys.readouterr().out
    plan = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert plan["seeds"] == 2
    # compile --update auto passes --seeds through (its plan trains as compile does: default
    # epochs and lr sweep, default cache, as test_cli_plan_then_compile_the_scheme's)
    assert main(["compile", str(model), "-o", str(tmp_path / "c2"), "--update", "auto",
                 *common, "--seeds", "1"]) == 0
    auto = json.loads((tmp_path / "c2.plan" / "plan.json").read_text())
    assert auto["seeds"] == 1 and auto["contributions"]["seeds"] == 1
