"""`mcutrain plan`: contribution analysis + search + verification, as one function.

    res = plan_scheme("mcunet-5fps.pkl", "flowers5.npz", ram="256KB")
    res["scheme"]     # {"bias_last": K, "weights": {"i": r}}: what `compile --update` takes

Steps: (1) the task (model with a fresh head when the data needs one, a stratified validation
split carved from x_train) is written into the plan cache; (2) contribution analysis
(contribution.py): memory of every setting from the real planner, then short fine-tuning
runs of the compiled C for the settings within budget; (3) search (search.py); (4) the chosen
scheme is compiled with the budget (BudgetError if it did not fit: it always does) and
trained with the same protocol; its measured validation and test accuracy go beside the
prediction (base accuracy + summed contributions).

Cache (resumable): <cache>/<task key>/ holds the task files, the prefix features, compiled
suffix libraries, and one JSON file per result (memory/<key>.json, run/<key>.json), written
atomically as each job finishes; a restarted plan reads them back and runs only what is
missing. The task key covers the model (its whole graph), the data and the split; a run's
key covers the scheme and the training protocol.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError
from ..outdir import check_output_dir, output_dir
from .contribution import (RATIOS, Contributions, Engine, Protocol, analyze, check_promote,
                           prepare_task, stratified_split)
from .jobs import cpu_seconds
from .search import Problem, search

DEFAULT_SEEDS = 2  # analysis seeds: every setting's accuracy is a mean over this many runs
DEFAULT_FOLDS = 5  # the selection scores its candidates over this many folds of x_train
DEFAULT_METRIC = "loss"  # what the analysis measures gains in (contribution.METRICS)
DEFAULT_ROUNDS = 3  # rounds of measured moves (options added or dropped) from the best candidate
DEFAULT_PROMOTE = 1 / 3  # racing: the share of the settings still in the race that gets the
# next seed (contribution.race; weight options and the selection's candidates)
DEFAULT_CACHE = Path(os.environ.get("MCUTRAIN_CACHE", Path.home() / ".cache" / "mcutrain")) / "plan"


class ResultStore:
    """One JSON file per (kind, key) under `root`, written atomically; the key is stored in
    the file and checked on read (a hash collision reads as a miss)."""

    def __init__(self, root):
        self.root = Path(root)

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")

    def get(self, kind: str, key: str):
        p = self._path(kind, key)
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            return None
        return d["value"] if d.get("key") == key else None

    def put(self, kind: str, key: str, value) -> None:
        p = self._path(kind, key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps({"key": key, "value": value}, default=_json_default))
        os.replace(tmp, p)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o)}")


# ---- model and data ----------------------------------------------------------------------------

def load_default():
    """The built-in default: the digits CNN (int8) and its rotated-digits adaptation task."""
    from ..data.default_model import (DEFAULT_INPUT_Q, digits_task, load_default_float_graph,
                                      to_float_input)
    from ..quant.quantize import quantize_model

    task = digits_task()
    g = quantize_model(load_default_float_graph(), to_float_input(task["pretrain_x"]),
                       DEFAULT_INPUT_Q)
    g = g.replace(meta=dict(g.meta, name="default-digits"))
    data = dict(x_train=task["adapt_x"], y_train=task["adapt_y"], x_test=task["test_x"],
                y_test=task["test_y"])
    return g, data


def load_inputs(model, data):
    """(int8 graph, data dict at the model's input size, name). model: a Graph, a zoo .pkl, a
    saved graph .npz, file.py:factory, or "default"; data: a dict, .npz, image folder or
    "default" (the built-in rotated digits)."""
    from ..compile import load_model
    from ..data.datasets import load_dataset

    dg = dd = None
    if (isinstance(model, str) and model == "default") or (isinstance(data, str) and data == "default"):
        dg, dd = load_default()
    if isinstance(model, str) and model == "default":
        g, name = dg, "default-digits"
    else:
        x_cal = None
        if isinstance(model, str) and ".py:" in model:
            x_cal = (dd if dd is not None else data if isinstance(data, dict) else load_dataset(data))["x_train"]
        g = load_model(model, data_x=x_cal)
        name = g.meta.get("name") or ("model" if hasattr(model, "nodes") else Path(str(model)).stem)
    xv = g.values[g.inputs[0]]
    shp = xv.shape
    hwc = (shp[2], shp[3], shp[1]) if len(shp) == 4 else (1, 1, shp[1])
    xq = (xv.q.s, xv.q.zero_point) if xv.q is not None and not xv.q.per_channel else None
    if isinstance(data, str) and data == "default":
        ds = dd
    elif isinstance(data, dict):
        ds = data
    else:
        ds = load_dataset(data, hwc, xq)
    if ds["x_train"].shape[1:] != hwc:
        from ..data.datasets import fit_channels, resize_bilinear

        ds = dict(ds)
        for s in ("train", "test"):
            if f"x_{s}" in ds:
                x = ds[f"x_{s}"]
                ds[f"x_{s}"] = fit_channels(resize_bilinear(x[..., None] if x.ndim == 3 else x,
                                                            hwc[0], hwc[1]), hwc[2])
    return g, ds, name


def decide_classes(g, data, classes):
    """A fresh head when asked, or when the data's label count differs from the model's."""
    if classes:
        return int(classes)
    n_labels = int(max(np.max(data["y_train"]), np.max(data.get("y_test", [0])))) + 1
    outs = int(np.prod(g.values[g.outputs[0]].shape[1:]))
    return None if outs == n_labels else n_labels


def check_plan_data(ds: dict, val_fraction: float, folds: int, data) -> None:
    """The plan scores its runs on held-out images: the data must give every split images."""
    y = np.asarray(ds["y_train"])
    shown = f"dataset {data}" if isinstance(data, (str, Path)) else "the data"
    if len(np.unique(y)) < 2:
        raise InputError(f"{shown}: x_train holds {len(np.unique(y))} class; a plan needs "
                         "at least 2")
    tr, va = stratified_split(y, val_fraction, 0)
    if not len(tr) or not len(va):
        raise InputError(f"{shown}: {len(y)} training images leave {len(tr)} to train and "
                         f"{len(va)} to validate with --val-fraction {val_fraction:g}; give "
                         "more images (a few per class at least)")
    most = int(np.bincount(y[tr]).max())  # fold f >= 1 takes the f-th chunk of every class
    if folds > 1 and most < folds - 1:
        raise InputError(f"{shown}: {len(tr)} training images ({most} of the largest class) "
                         f"cannot make {folds} folds; give more images or fewer --folds")


# ---- the plan ------------------------------------------------------------------------------------

def make_engine(model, data, classes=None, runner="local", cache_dir=None,
                protocol: Protocol = Protocol(), val_fraction: float = 0.2,
                progress: bool = True, flash: bool = False, seeds: int = 1, folds: int = 1,
                promote: float = DEFAULT_PROMOTE):
    from .runner import make_runner

    g, ds, name = load_inputs(model, data)
    classes = decide_classes(g, ds, classes)
    check_plan_data(ds, val_fraction, folds, data)
    root = Path(cache_dir) if cache_dir else DEFAULT_CACHE
    if root.exists() and not root.is_dir():
        raise UsageError(f"--cache {root}: exists and is not a folder")
    task = prepare_task(g, ds, root, classes, val_fraction, 0, protocol.seed, name)
    task.info = dict(model=str(model) if not hasattr(model, "nodes") else name, classes=classes,
                     data=str(data) if not isinstance(data, dict) else "arrays")
    return Engine(task, ResultStore(task.dir), make_runner(runner), protocol, progress, flash,
                  seeds=seeds, folds=folds, promote=promote)


def plan_scheme(model, data, ram, flash=None, classes=None, out_dir=None, runner="local",
                cache_dir=None, protocol: Protocol = Protocol(), val_fraction: float = 0.2,
                ratios=RATIOS, method: str = "auto", verify: bool = True,
                progress: bool = True, echo=print, engine: Engine | None = None,
                seeds: int = DEFAULT_SEEDS, top: int = 3, rounds: int = DEFAULT_ROUNDS,
                folds: int = DEFAULT_FOLDS, metric: str = DEFAULT_METRIC,
                promote: float = DEFAULT_PROMOTE, drops: int | None = None) -> dict:
    """Find the scheme that fits `ram` (and `flash`) and learns the most; see module doc.

    seeds: every accuracy the decisions use (contribution analysis, candidates) is the mean
    validation accuracy over this many runs, protocol seeds protocol.seed, +1, ...; the first
    seed's runs are the single-seed plan's (same cache keys). top: runners-up of each search
    that are trained as candidates (select_scheme). rounds: rounds of measured moves from
    the best candidate (refine: weight options added or dropped one at a time; 0: none);
    drops: how many of the scheme's options each round tries dropping (default: 4, as many
    as it tries adding; 0: additions only). folds: the candidates and combinations are
    compared by their accuracy cross-validated over this many folds of x_train (fold 0 is the
    validation split of the analysis; 1: on that split alone). metric: what the contribution
    analysis measures gains (and picks k*) in: "loss" (the mean validation cross-entropy) or
    "acc" (validation accuracy); the selection always compares accuracy. promote: racing
    over the seeds (contribution.race): after each seed, this share of the weight options (and
    of the selection's candidates) still in the race gets the next; 1: every one gets every
    seed."""
    from ..units import parse_bytes

    if out_dir:  # refused before any work: a folder that is not new nor an earlier plan
        check_output_dir(out_dir, inputs=[i for i in (model, data) if isinstance(i, (str, Path))],
                         kinds=("plan",))
    t0, c0, p0 = time.time(), cpu_seconds(), time.process_time()
    ram_b, flash_b = parse_bytes(ram), parse_bytes(flash)
    eng = engine or make_engine(model, data, classes, runner, cache_dir, protocol,
                                val_fraction, progress, flash=flash_b is not None, seeds=seeds,
                                folds=folds, promote=promote)
    eng.seeds, eng.folds, eng.promote = int(seeds), int(folds), check_promote(promote)
    if eng.seeds < 1:
        raise ValueError(f"seeds must be at least 1, not {seeds}")
    if eng.folds < 1:
        raise ValueError(f"folds must be at least 1, not {folds}")
    t = eng.task
    echo(f"plan: {t.name}, {t.n_layers} layers, {'fresh head of ' if t.fresh_head else ''}"
         f"{t.classes} classes; train {t.n_train} / val {t.n_val} / test {t.n_test}; "
         f"{eng.seeds} seed{'s' if eng.seeds > 1 else ''} per setting"
         + (f" (raced: the leading {100 * eng.promote:.0f} % and every gaining option get each next seed)"
            if eng.seeds > 1 and eng.promote < 1 else "") + "; gains in validation "
         f"{'loss' if metric == 'loss' else 'accuracy'}; "
         + (f"candidates compared over {eng.folds} folds of x_train; " if eng.folds > 1 else "")
         + f"runner {eng.runner.name}; cache {t.dir}")
    lr_sweep = None
    if eng.protocol.lr is None:
        lr, lr_sweep = choose_lr(eng)
        eng.protocol = replace(eng.protocol, lr=lr)
        echo(f"learning rate {lr:g} (sweep on the validation split, seed {eng.protocol.seed}: "
             + ", ".join(f"{r['lr']:g}: {r['mean_val_acc']:.3f}" for r in lr_sweep) + ")")
    contrib = analyze(eng, ram_b, flash_b, ratios, metric=metric)
    t_an = time.time()
    res, cands = select_scheme(eng, contrib, ram_b, flash_b, method, top=top, rounds=rounds,
                               drops=drops)
    out = dict(model=t.info.get("model"), name=t.name, classes=t.info.get("classes"),
               ram_budget=ram_b, flash_budget=flash_b, protocol=eng.protocol.to_json(),
               seeds=eng.seeds, seed_values=[p.seed for p in eng.seed_protocols()],
               promote=eng.promote,
               folds=eng.folds,
               split=dict(train=t.n_train, val=t.n_val, test=t.n_test),
               scheme=res.scheme, method=res.method, exact=res.exact, space=res.space,
               real_checks=res.real_checks, search_notes=res.notes,
               base=dict(val_acc=contrib.base["acc"], val_se=contrib.base.get("se"),
                         ram_bytes=contrib.base["ram"]),
               ram_bytes=res.ram_bytes, extra_ram_bytes=res.ram_bytes - contrib.base["ram"],
               metric=contrib.metric, predicted_gain=res.score,
               predicted_val_acc=contrib.predicted_acc(res.scheme),
               candidates=cands,
               contributions=contrib.to_json(), runner=eng.runner.name, lr_sweep=lr_sweep)
    if verify:
        out.update(verify_scheme(eng, res.scheme, ram_b, flash_b))
    in_process = getattr(eng.runner, "workers", 1) == 1  # jobs ran in this process
    cpu = cpu_seconds() - c0 if in_process else time.process_time() - p0 + eng.stats["cpu_s"]
    out["seconds"] = dict(analysis=round(t_an - t0, 1), total=round(time.time() - t0, 1),
                          cpu=round(cpu, 1))
    out["cache_stats"] = dict(eng.stats)
    _echo_summary(out, echo)
    if out_dir:
        write_plan(out, out_dir, echo)
    return out


def plan_and_compile(model, out_dir, data, ram, flash=None, classes=None, storage="int8",
                     qas=True, seed=0, plan_options=None, data_x=None, input_shape=None,
                     **compile_kw) -> dict:
    """`mcutrain compile --update auto`: plan the scheme on `data` under the budget
    (plan_scheme, trained as the compile will: storage, QAS, seed), then compile it; the
    plan's summary goes into report.json (auto_update)."""
    from ..compile import compile_model, load_model

    check_output_dir(out_dir, inputs=[i for i in (model, data) if isinstance(i, (str, Path))],
                     kinds=("compile",))
    g = load_model(model, data_x=data_x, input_shape=input_shape)
    from ..autodiff.training import TrainConfig, loss_of

    if loss_of(g, TrainConfig(classes=classes, loss=compile_kw.get("loss"))) != "ce":
        raise UsageError("--update auto plans classifiers (it compares accuracies): give an "
                         "autoencoder (--loss mse) a scheme, e.g. --update last:2")
    opts = dict(plan_options or {})
    opts.setdefault("protocol", Protocol(storage=storage, qas=qas, seed=seed))
    plan = plan_scheme(g, data, ram=ram, flash=flash, classes=classes, **opts)
    auto = {k: plan.get(k) for k in ("scheme", "method", "exact", "predicted_val_acc",
                                     "measured_val_acc", "measured_test_acc", "extra_ram_bytes",
                                     "protocol")}
    return compile_model(g, out_dir, update=plan["scheme"], classes=plan["classes"],
                         storage=storage, ram=ram, flash=flash, qas=qas, seed=seed,
                         name=compile_kw.pop("name", None) or str(model),
                         report_extra=dict(auto_update=auto), **compile_kw)


LEANER = (0.5, 0.75)  # the search's optimum under these shares of the extra budget: candidates too


def select_scheme(eng: Engine, contrib, ram_b: int, flash_b=None, method: str = "auto",
                  noise_images: int = 2, top: int = 3, rounds: int = DEFAULT_ROUNDS,
                  width: int = 4, margin_images: float = 1.0, leaner=LEANER,
                  drops: int | None = None):
    """The search's optimum, checked against what was measured, by real runs.

    Summed gains are noisy (a validation split of a few hundred images moves in steps of
    1/n, and a run moves with its seed) and overlap, so the candidates are: (1) the optimum
    of the summed gains and its `top` - 1 runners-up (the next distinct schemes that fit, by
    score); (2) the optimum (and one runner-up) when only weight options whose gain exceeds
    the noise count (noise_threshold: `noise_images` validation images in accuracy, 2 se in
    loss); (3) the optimum under each share f of the extra budget in `leaner` (base ram +
    f x (budget - base ram)): summed noisy gains reward packing the budget with every option
    that measured a little above zero, so the optima of smaller budgets, leaner schemes, are
    the path along which the cross-validation picks how much to pack (as a regularization
    strength is picked by cross-validation); (4) the best setting the analysis measured
    within the budget. Each is trained with the engine's analysis seeds (cache hits where
    already run, raced) and over its folds of x_train (Engine.scored_runs), and the one with
    the best score, the accuracy over the folds and seeds, is chosen (ties: less RAM). Then
    `rounds` rounds of measured moves (refine) may add weight options to it or drop some. Returns
    (search Result of the chosen, [candidate rows]); x_test plays no part."""
    import copy

    from .search import Result

    prob = Problem.from_contributions(contrib)
    ram_fn = _ram_fn(eng, flash_b)
    first = search(prob, ram_b, ram_fn, method=method, seed=eng.protocol.seed, top=top)
    found = [("sum of gains", first)]
    for j, (sch, score, ram) in enumerate(first.alternatives[1:top], start=2):
        found.append((f"sum of gains #{j}", Result(sch, score, ram, first.method, False, first.space,
                                                  0, [f"runner-up #{j} of the search"])))
    thr, label = noise_threshold(contrib, noise_images, eng.task.n_val)
    if thr is not None:
        quiet = copy.deepcopy(prob)
        quiet.weights = {i: [o for o in opts if o[1] >= thr] for i, opts in prob.weights.items()}
        q = search(quiet, ram_b, ram_fn, method=method, seed=eng.protocol.seed, top=min(top, 2))
        found.append((label, q))
        for j, (sch, score, ram) in enumerate(q.alternatives[1:min(top, 2)], start=2):
            found.append((f"{label} #{j}", Result(sch, score, ram, q.method, False, q.space, 0,
                                                  [f"runner-up #{j} of the search"])))
    for f in leaner:
        b = int(contrib.base["ram"] + f * (ram_b - contrib.base["ram"]))
        r = search(prob, b, ram_fn, method=method, seed=eng.protocol.seed)
        r.notes = r.notes + [f"the optimum under {f:g} of the extra budget ({b} B)"]
        found.append((f"sum of gains, {f:g} of the extra budget", r))
    measured = [({"bias_last": k, "weights": {}}, v) for k, v in contrib.bias.items()]
    measured += [({"bias_last": contrib.best_k, "weights": {str(i): r}}, v)
                 for (i, r), v in contrib.weights.items() if contrib.usable(i, r)]
    fits = [(s, v) for s, v in measured if v["ram"] <= ram_b]
    s, v = max(fits, key=lambda sv: (round(contrib.value(sv[1]), 9), -sv[1]["ram"]))
    gain = contrib.value(v) - contrib.value(contrib.base)
    found.append(("best measured setting", Result(eng.canon(s), gain, v["ram"], "measured",
                                                  False, len(fits), 0, ["best single setting measured"])))
    uniq = []
    for label, r in found:
        if all(eng.canon(r.scheme) != eng.canon(u[1].scheme) for u in uniq):
            uniq.append((label, r))
    runs = eng.scored_runs([r.scheme for _, r in uniq], desc=f"candidate runs ({_runs_desc(eng)})")
    rows = [dict(label=label, scheme=eng.canon(r.scheme), method=r.method, exact=r.exact,
                 ram_bytes=r.ram_bytes, predicted_gain=r.score,
                 predicted_val_acc=contrib.predicted_acc(r.scheme), **_measured(run))
            for (label, r), run in zip(uniq, runs)]
    best = max(range(len(uniq)), key=lambda j: _rank(rows[j]))
    chosen = uniq[best][1]
    if best > 0:  # keep the search's own account of how it got there
        why = ("a single measured setting" if chosen.method == "measured" else
               f"the candidate '{uniq[best][0]}'")
        chosen.notes = uniq[0][1].notes + [f"{uniq[best][0]}: {why} beat the search's optimum "
                                           f"on the {_score_name(eng)}"]
        chosen.space, chosen.real_checks = uniq[0][1].space, uniq[0][1].real_checks
    if rounds > 0:
        best = refine(eng, contrib, rows, best, ram_fn, ram_b, rounds, width, margin_images, drops)
        if rows[best].get("round"):
            r = rows[best]
            chosen = Result(r["scheme"], r["predicted_gain"], r["ram_bytes"], chosen.method, False, chosen.space,
                            chosen.real_checks, chosen.notes + [r["why"]])
    rows[best]["chosen"] = True
    return chosen, rows


def refine(eng: Engine, contrib, rows: list, cur: int, ram_fn, ram_b: int, rounds: int = DEFAULT_ROUNDS,
           width: int = 4, margin_images: float = 1.0, drops: int | None = None) -> int:
    """Measured moves from the chosen candidate (rows[cur]): summed single-option gains do not
    predict what options give together (they overlap, and the chosen scheme often leaves
    budget unused or packs it with options whose gains were noise), so each round tries, one
    move at a time: adding each of the `width` weight options of the analysis with the largest
    measured gains that are not in the scheme yet and still fit the budget (real planner), and
    dropping each of the `drops` (default: `width`) weight options of the scheme with the
    smallest measured gains. Each move is trained with the analysis seeds (and folds, raced);
    an addition is taken only when its score beats the current scheme's by more than
    `margin_images` validation images (a guard against picking noise that costs memory), a
    drop when its score is not below the current scheme's (less memory and fewer trained
    options for the same accuracy; what it frees may take an addition in the next round).
    Racing over the seeds (Engine.scored_runs): besides the leading share, every move whose
    score so far meets its rule against the current scheme's over the same seeds gets the next
    seed, since it could still be taken.
    The best move taken becomes the current scheme; up to `rounds` rounds. New rows (label
    "combination r.j: +/- layer i ...", key "round") are appended to `rows`; returns the index
    of the row now chosen. x_test plays no part."""
    margin = margin_images / max(1, eng.task.n_val)
    drops = width if drops is None else int(drops)
    opts = sorted(((contrib.weight_gain(i, r), i, r) for (i, r) in contrib.weights
                   if contrib.usable(i, r) and contrib.weight_gain(i, r) > 0),
                  key=lambda t: (-round(t[0], 9), t[1], t[2]))
    seen = {json.dumps(eng.canon(r["scheme"]), sort_keys=True) for r in rows}

    def meets(add: bool, score: float, against: float) -> bool:
        # an addition must beat the current scheme by the margin, a drop must not be below
        return score > against + margin + 1e-12 if add else score >= against - 1e-12

    def gain_of(i: int, r: float) -> float:
        return contrib.weight_gain(i, r) if (i, r) in contrib.weights else 0.0

    def new_scheme(w: dict):
        s = eng.canon({"bias_last": rows[cur]["scheme"]["bias_last"], "weights": w})
        key = json.dumps(s, sort_keys=True)
        if key in seen:
            return None
        seen.add(key)
        return s

    for rnd in range(1, rounds + 1):
        now = rows[cur]
        cut = []  # (-gain, i, r, scheme): drop the options of the scheme with the smallest gains
        held = sorted((gain_of(int(i), float(r)), int(i), float(r))
                      for i, r in now["scheme"]["weights"].items())
        for gain, i, r in held:
            if len(cut) >= drops:
                break
            s = new_scheme({k: v for k, v in now["scheme"]["weights"].items() if int(k) != i})
            if s is not None:
                cut.append((-gain, i, r, s))
        adds = []
        for gain, i, r in opts:
            w = dict(now["scheme"]["weights"])
            if float(w.get(str(i), 0.0)) >= r:
                continue
            w[str(i)] = r
            s = new_scheme(w)
            if s is not None:
                adds.append((gain, i, r, s))
        fit = []
        for j in range(0, len(adds), 2 * width):  # memory checks in batches, best gains first
            chunk = adds[j:j + 2 * width]
            fit += [(a, ram) for a, ram in zip(chunk, ram_fn([a[3] for a in chunk])) if ram <= ram_b]
            if len(fit) >= width:
                break
        fit = fit[:width]
        if cut:
            fit += list(zip(cut, ram_fn([c[3] for c in cut])))
        if not fit:
            break
        n_add = len(fit) - len(cut)
        ref = now.get("cv_seed_accs")

        def contends(j: int, scores: list) -> bool:
            # a move that could still be taken stays in the race (the seeds so far, against
            # the current scheme's scores over the same seeds)
            return bool(ref) and len(ref) >= len(scores) and meets(
                j < n_add, float(np.mean(scores)), float(np.mean(ref[:len(scores)])))

        runs = eng.scored_runs([a[3] for a, _ in fit], contends=contends,
                               desc=f"combination runs, round {rnd} ({_runs_desc(eng)})")
        new = []
        for j, (((gain, i, r, s), ram), run) in enumerate(zip(fit, runs), start=1):
            add = j <= n_add
            move = (f"+ layer {i} weights x{r:g}" if add else f"- layer {i} weights x{r:g}")
            rule = (f"beat it by more than {margin_images:g} validation image(s)" if add else
                    "was not below it")
            new.append(dict(label=f"combination {rnd}.{j}: {move}",
                            scheme=s, method="measured combination", exact=False,
                            ram_bytes=int(ram), round=rnd, move="add" if add else "drop",
                            predicted_gain=now["predicted_gain"] + gain,
                            predicted_val_acc=contrib.predicted_acc(s),
                            **_measured(run),
                            why=f"combination round {rnd}: {move} on '{now['label']}' {rule} "
                                f"on the {_score_name(eng)}"))
        rows.extend(new)
        taken = [n for n in new
                 if not n["raced_out"] and meets(n["move"] == "add", n["score"], now["score"])]
        if not taken:
            break
        cur = rows.index(max(taken, key=_rank))
    return cur


def noise_threshold(contrib, noise_images: int, n_val: int):
    """(threshold, label) of the 'quiet' search, which counts only weight options gaining more
    than the noise: in accuracy, `noise_images` validation images; in loss, twice the median
    standard error (over the seeds) of the options' mean losses. (None, None) where the loss
    has no standard error (one seed)."""
    if contrib.metric == "acc":
        return noise_images / max(1, n_val), f"gains >= {noise_images} val images"
    ses = [v.get("loss_se") for (i, r), v in contrib.weights.items() if contrib.usable(i, r)]
    if not ses or any(se is None for se in ses):
        return None, None
    return 2 * float(np.median(ses)), "gains >= 2 se"


def _measured(run: dict) -> dict:
    """A candidate row's measured fields: validation and test on the task's split (mean, se,
    per seed), the cross-validated accuracy over the folds, and `score`, what the selection
    decides on (cv_acc: with one fold, the validation mean)."""
    return dict(measured_val_acc=run["val_acc"], measured_val_se=run["val_se"],
                measured_val_accs=run["val_accs"], measured_test_acc=run.get("test_acc"),
                measured_test_se=run.get("test_se"), measured_test_accs=run.get("test_accs"),
                seeds=run["seeds"], cv_acc=run["cv_acc"], cv_se=run["cv_se"],
                cv_accs=run["cv_accs"], cv_seed_accs=run.get("cv_seed_accs"),
                folds=run["folds"], score=run["cv_acc"],
                raced_out=bool(run.get("raced_out")))


def _rank(row: dict):
    """The best candidate: one that got every seed (not stopped by the race), then the highest
    score, then the least RAM."""
    return not row.get("raced_out"), round(row["score"], 9), -row["ram_bytes"]


def _score_name(eng) -> str:
    n = f"{eng.seeds} seed{'s' if eng.seeds > 1 else ''}"
    if eng.folds > 1:
        return f"mean accuracy over {eng.folds} folds of x_train and {n}"
    return f"mean validation accuracy over {n}"


def _runs_desc(eng) -> str:
    return f"{eng.seeds} seeds" + (f" x {eng.folds} folds" if eng.folds > 1 else "")


LR_GRID = (0.002, 0.005, 0.01, 0.02)


def lr_reference_schemes(n_layers: int) -> list:
    """What the learning-rate sweep trains: biases of the last half of the layers, and the
    weights and biases of the last 2 and of the last quarter of the layers (a shallow and
    two deeper kinds of update: the rate must suit all of them)."""
    return [{"bias_last": n_layers // 2, "weights": {}}, f"last:{min(2, n_layers)}",
            f"last:{min(max(3, n_layers // 4), n_layers)}"]


def choose_lr(eng: Engine, grid=LR_GRID) -> tuple[float, list]:
    """The learning rate with the best mean validation accuracy on the reference schemes
    (ties: the smaller rate). Returns (lr, [{lr, mean_val_acc, runs}])."""
    refs = lr_reference_schemes(eng.task.n_layers)
    protos = [replace(eng.protocol, lr=lr) for lr in grid for _ in refs]
    runs = eng.finetune(refs * len(grid), protocol=protos, desc="lr sweep")
    table = []
    for j, lr in enumerate(grid):
        acc = [r["val_acc"] for r in runs[j * len(refs):(j + 1) * len(refs)]]
        table.append(dict(lr=lr, mean_val_acc=float(np.mean(acc)), runs=acc))
    best = max(table, key=lambda r: (round(r["mean_val_acc"], 9), -r["lr"]))
    return best["lr"], table


def _ram_fn(eng: Engine, flash_b):
    def ram_fn(schemes):
        mems = eng.memory(schemes, desc="memory: candidates")
        return [float("inf") if "error" in m else m["ram_bytes"] if flash_b is None
                or m["flash_bytes"] is None or m["flash_bytes"] <= flash_b else float("inf")
                for m in mems]
    return ram_fn


def verify_scheme(eng: Engine, scheme: dict, ram_b, flash_b) -> dict:
    """Compile the full model with the scheme under the budget, and fine-tune it."""
    import tempfile

    from ..compile import compile_model

    with tempfile.TemporaryDirectory() as d:
        rep = compile_model(eng.task.graph, Path(d) / "out", update=scheme, ram=ram_b,
                            flash=flash_b, storage=eng.protocol.storage, qas=eng.protocol.qas,
                            seed=eng.protocol.seed, lr=eng.protocol.lr)
    run = eng.finetune_seeds([scheme], desc="verification runs")[0]
    return dict(compiled_ram_bytes=rep["ram_bytes"], compiled_flash_bytes=rep["flash_bytes"],
                measured_val_acc=run["val_acc"], measured_val_se=run["val_se"],
                measured_val_accs=run["val_accs"], measured_test_acc=run.get("test_acc"),
                measured_test_se=run.get("test_se"), measured_test_accs=run.get("test_accs"),
                verification_run=run["run0"])


def alternatives_table(out: dict) -> list[dict]:
    """Every measured setting: kind, setting, ram_bytes, extra RAM, val accuracy, gain."""
    c = out["contributions"]
    con = Contributions.from_json(c)
    base = c["base"]
    rows = [dict(kind="bias-only", setting=f"bias_last={b['k']}", ram_bytes=b["ram"],
                 extra_kb=(b["ram"] - base["ram"]) / 1024, val_acc=b["acc"], val_se=b.get("se"),
                 val_accs=b.get("accs"), val_loss=b.get("loss"), gain=con.bias_gain(b["k"]))
             for b in c["bias"]]
    rows += [dict(kind="weights" + (" (raced out)" if w.get("raced_out") else ""),
                  setting=f"bias_last={c['best_k']} + layer {w['layer']} "
                  f"r={w['ratio']:g}", ram_bytes=w["ram"], extra_kb=(w["ram"] - base["ram"]) / 1024,
                  val_acc=w["acc"], val_se=w.get("se"), val_accs=w.get("accs"),
                  val_loss=w.get("loss"), gain=con.weight_gain(w["layer"], w["ratio"]))
             for w in c["weights"]]
    rows += [dict(kind="skipped", setting=s, ram_bytes=None, extra_kb=None, val_acc=None,
                  val_se=None, val_accs=None, val_loss=None, gain=None, note=why)
             for s, why in c["skipped"]]
    return rows


def _pm(m, se) -> str:
    return f"{m:.3f}" + ("" if se is None else f" ± {se:.3f}")


def _pred(acc: float) -> str:
    """A predicted accuracy; marked where the summed gains reached the cap of 1 (they overlap,
    so the sum overestimates, and past 1 it no longer ranks the schemes)."""
    return f"{acc:.3f}" + (" (capped)" if acc >= 1.0 else "")


def _echo_summary(out: dict, echo):
    kb = lambda b: f"{b / 1024:.1f} KB"  # noqa: E731
    first = out["candidates"][0]
    n = out.get("seeds", 1)
    echo(f"search: {first['method']} ({'exact optimum' if first['exact'] else 'not exact'}; "
         f"space {out['space']:.3g} schemes, {out['real_checks']} checked with the planner)")
    echo(f"candidates (validation accuracy: predicted, and measured as the mean"
         f"{' ± se' if n > 1 else ''} of {n} seed{'s' if n > 1 else ''} {out.get('seed_values', [])}):")
    folds = out.get("folds", 1)
    if folds > 1:
        echo(f"  chosen by 'cv': the accuracy over {folds} folds of x_train (each image validated "
             f"once per seed; fold 0 is the validation split), mean ± se over the folds")
    for c in out["candidates"]:
        per = ("  (" + " ".join(f"{a:.3f}" for a in c["measured_val_accs"]) + ")") if n > 1 else ""
        cv = f"  cv {_pm(c['cv_acc'], c.get('cv_se'))}" if folds > 1 else ""
        echo(f"  {'*' if c.get('chosen') else ' '} {c['label']:<40} ram {c['ram_bytes'] / 1024:6.1f} KB  "
             f"val predicted {_pred(c['predicted_val_acc'])} measured "
             f"{_pm(c['measured_val_acc'], c.get('measured_val_se'))}{per}{cv}  {json.dumps(c['scheme'])}")
    echo(f"scheme: {json.dumps(out['scheme'])}")
    echo(f"ram {kb(out['ram_bytes'])} of budget {kb(out['ram_budget'])} "
         f"(extra over head-only training: {kb(out['extra_ram_bytes'])})")
    line = (f"validation accuracy{f' (means of {n} seeds)' if n > 1 else ''}: base "
            f"{_pm(out['base']['val_acc'], out['base'].get('val_se'))}, predicted {_pred(out['predicted_val_acc'])}")
    if "measured_val_acc" in out:
        line += f", measured {_pm(out['measured_val_acc'], out.get('measured_val_se'))}"
        if out.get("measured_test_acc") is not None:
            line += f" (test {_pm(out['measured_test_acc'], out.get('measured_test_se'))})"
    echo(line)
    sec = out["seconds"]
    echo(f"time: {sec['total']:.0f} s wall, {sec['cpu']:.0f} CPU seconds "
         f"({out['cache_stats']['runs']} runs and {out['cache_stats']['memory']} memory plans "
         f"computed, {out['cache_stats']['runs_hits'] + out['cache_stats']['memory_hits']} "
         "from the cache)")


def write_plan(out: dict, out_dir, echo=print) -> Path:
    """scheme.json (what compile takes), plan.json (everything), alternatives.md, plot.png."""
    final = Path(out_dir)
    with output_dir(final, "plan") as d:
        _write_plan_files(out, d, echo)
    echo(f"wrote {final}/scheme.json, plan.json, alternatives.md, plot.png")
    return final


def _write_plan_files(out: dict, d: Path, echo) -> None:
    (d / "scheme.json").write_text(json.dumps(out["scheme"], indent=1) + "\n")
    (d / "plan.json").write_text(json.dumps(out, indent=1, default=_json_default) + "\n")
    rows = alternatives_table(out)
    n = out.get("seeds", 1)
    seeds = out.get("seed_values", [])
    metric = out.get("metric", "acc")
    lines = [f"Validation accuracy and loss (cross-entropy): the mean over {n} seed"
             f"{'s' if n > 1 else ''} {seeds} (accuracy ± its standard error, and each seed's "
             f"value); gains are differences of the means, in {'loss (decrease)' if metric == 'loss' else 'accuracy'}"
             " (the metric of the analysis). Weight options are raced over the seeds: the "
             f"leading {out.get('promote', 1):.3g} of them get each next seed; a \"raced out\" "
             "option stopped earlier (its values and gain, paired with k*'s runs of the same "
             "seeds, are over the seeds it got) and the search does not use it.", "",
             "| kind | setting | ram_bytes | extra RAM (KB) | val acc (mean ± se) | per seed | val loss | gain |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "skipped":
            lines.append(f"| skipped | {r['setting']} | - | - | - | - | - | {r['note']} |")
        else:
            per = " ".join(f"{a:.3f}" for a in (r["val_accs"] or [r["val_acc"]]))
            loss = "-" if r["val_loss"] is None else f"{r['val_loss']:.4f}"
            lines.append(f"| {r['kind']} | {r['setting']} | {r['ram_bytes']} | {r['extra_kb']:.1f} "
                         f"| {_pm(r['val_acc'], r['val_se'])} | {per} | {loss} | {r['gain']:+.4f} |")
    folds = out.get("folds", 1)
    lines += ["", f"Candidates of the selection ({n} seeds each; the chosen one is marked *; "
              + (f"chosen by cv, the accuracy over {folds} folds of x_train, mean ± se over the "
                 "folds, fold 0 being the validation split" if folds > 1 else
                 "chosen by the validation mean") + "):", "",
              "| | candidate | ram_bytes | predicted val | val (mean ± se) | val per seed | cv (mean ± se) | cv per fold | scheme |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in out["candidates"]:
        lines.append(f"| {'*' if c.get('chosen') else ''} | {c['label']} | {c['ram_bytes']} | "
                     f"{_pred(c['predicted_val_acc'])} | {_pm(c['measured_val_acc'], c.get('measured_val_se'))} | "
                     + " ".join(f"{a:.3f}" for a in c.get("measured_val_accs", [c["measured_val_acc"]]))
                     + f" | {_pm(c['cv_acc'], c.get('cv_se'))} | "
                     + " ".join(f"{a:.3f}" for a in c["cv_accs"])
                     + f" | `{json.dumps(c['scheme'])}` |")
    (d / "alternatives.md").write_text("\n".join(lines) + "\n")
    plot_plan(out, d / "plot.png", echo)


def plot_plan(out: dict, path, echo=print) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        echo("no plot: matplotlib is not installed")
        return False
    c = out["contributions"]
    base = c["base"]["ram"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    b = sorted(c["bias"], key=lambda e: e["ram"])
    ax.plot([(e["ram"] - base) / 1024 for e in b], [e["acc"] for e in b], "o-", label="bias-only, last k")
    if c["weights"]:
        ax.scatter([(e["ram"] - base) / 1024 for e in c["weights"]], [e["acc"] for e in c["weights"]],
                   s=12, alpha=0.5, label=f"bias k*={c['best_k']} + one layer's weights")
    x = out["extra_ram_bytes"] / 1024
    ax.scatter([x], [out["predicted_val_acc"]], marker="*", s=160, label="searched (predicted)")
    if "measured_val_acc" in out:
        ax.scatter([x], [out["measured_val_acc"]], marker="X", s=100, label="searched (measured)")
    ax.axvline((out["ram_budget"] - base) / 1024, ls="--", c="gray", label="budget")
    ax.set_xlabel("extra RAM over head-only training (KB)")
    n = out.get("seeds", 1)
    ax.set_ylabel("validation accuracy" + (f" (mean of {n} seeds)" if n > 1 else ""))
    ax.set_title(f"{out['name']}: accuracy vs extra memory")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True

