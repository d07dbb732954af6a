"""Sparse update under a budget: accuracy against extra RAM, four families (the paper's figure).

Datasets: the built-in default (the int8 digits CNN adapted to rotated digits, its own
classifier) and every real dataset in ../shared/data that is present (flowers5.npz: mcunet-5fps
at 128x128 with a fresh 5-class head). Everything is trained by our compiled C (host build)
with one protocol per dataset (batch-1 SGD, cosine rate, the same seed, sample order and
splits; the rate chosen by plan.choose_lr on the validation split), scored on the validation
split carved from x_train and on x_test:

    bias-only    biases of the last k layers, k over a grid
    last-k       weights and biases of the last k layers
    paper        the paper's published schemes for the model (mcunet-5fps: 49 to 148 KB,
                 from mit-han-lab/tiny-training compilation/mcu_ir_gen.py, in our format)
    searched     plan_scheme's search (contribution analysis + exact/evolutionary search) at
                 the same budgets as the paper's schemes (ram_bytes of each, compiled), and at
                 a few smaller ones

Extra RAM = ram_bytes(scheme) - ram_bytes(no update: the head alone), full model, compiled.
Every setting of every family is trained with --family-seeds seeds (default 3: the protocol's
seed, which the analysis and the search use, and the next ones; a seed sets the sample order and
the stochastic rounding, the fresh head's init is the task's); each row has the mean, the
standard error of the mean and the per-seed values on both splits. The searched scheme is
selected by the library with --analysis-seeds seeds (default 2, the library's default): every
contribution (bias-only k, weight options, the base) and every candidate of the selection is
the mean validation accuracy over seeds 0..N-1, so with the defaults the selection used seeds
0 and 1 of the family evaluation's three (the searched rows' validation values of those seeds
are the ones the selection maximized; seed 2 and all test values played no part). The goals are computed on the means, with the differences
of means and their standard errors (paired by seed: the same seeds give the same sample order).
With the defaults the searched rows' validation means are therefore partly the numbers the
selection maximized (selection bias: they flatter the searched scheme); --check-seeds (default 6) also
trains the paper's and the searched schemes at the paper's budgets with seeds 3 to 8, which
no decision saw (goals.searched_vs_paper_fresh_seeds).
The paper's schemes are also scored as the selection scores its candidates (accuracy over the
folds of x_train, the analysis seeds; paper_cv): a diagnostic of whether a shortfall is the
search's (it never proposed as good a scheme) or the selection's (it chose against the folds).
On the folds pooled (every x_train image once per analysis seed, 8x the test split's images with
5 folds), the searched and the paper's schemes are also compared paired by image (cv_vs_paper),
and wherever the searched one is behind, the paper's scheme is ablated (paper_ablation: without
each weight option, and with each full option halved, over the folds, beside what the analysis
measured for that option alone), which says which of its parts the search failed to see
(--no-ablation skips it).
QAS: the searched and the paper's ~100 KB schemes, int8 with QAS, int8 without QAS (same
rate), and a float32 twin (the dequantized model in PyTorch eager: bench/common.py's
TorchBaseline, frozen float prefix computed once, plain SGD at batch 1, same rate, schedule,
order and head init), over several seeds.

Prints tables; writes bench/results/sparse.json and bench/results/sparse_<dataset>.png.
    python bench/sparse.py [--datasets default flowers5] [--family-seeds 3] [--seeds 3]
                           [--analysis-seeds 3]
                           [--runner local | --workers N] [--cache DIR]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SHARED, write_json  # noqa: E402

from mcutrain.sparse.contribution import Protocol, analyze  # noqa: E402
from mcutrain.sparse.jobs import int8_cut  # noqa: E402
from mcutrain.sparse.plan import (DEFAULT_FOLDS, DEFAULT_METRIC, DEFAULT_SEEDS,  # noqa: E402
                                  choose_lr, make_engine, select_scheme)

# The paper's schemes for mcunet-5fps (its labels): compilation/mcu_ir_gen.py of
# mit-han-lab/tiny-training, n_bias_update + 1 (its count leaves out the new head) and
# manual_weight_idx / weight_update_ratio (ratio 0 entries dropped); the head always trains.
PAPER_SCHEMES = {"mcunet-5fps": {
    "49kb": {"bias_last": 21, "weights": {"24": 0.25, "27": 0.5, "30": 0.5}},
    "74kb": {"bias_last": 22, "weights": {"21": 1, "24": 1, "27": 0.5, "30": 1}},
    "99kb": {"bias_last": 23, "weights": {"21": 1, "24": 1, "27": 1, "30": 1, "36": 0.125, "39": 0.25}},
    "124kb": {"bias_last": 25, "weights": {"21": 0.25, "24": 1, "27": 1, "30": 1, "33": 0.5, "39": 0.5}},
    "148kb": {"bias_last": 24, "weights": {"21": 1, "24": 1, "27": 1, "30": 1, "36": 1, "39": 0.5}},
}}
# the paper's Figure: average of 10 datasets; mcunet-5fps on Flowers-102: 88.84 % sparse
# (100 KB scheme) vs 87.74 % for the best last-k (12 layers, 448 KB)
PAPER_QAS = dict(int8_qas=86.9, fp32=86.0, int8_no_qas=75.4)


FIELDS = ("families.<family>[]: val_acc / test_acc are the means over the seeds in family_seeds "
          "(the first is the protocol seed: the analysis's runs); val / test the per-seed values, "
          "val_se / test_se the standard errors of the means, val_seed0 / test_seed0 the protocol "
          "seed's run. goals: on the means; diff_* = dict(diff, se paired by seed, se_unpaired), "
          "in accuracy units; the best last-k and the searched scheme reaching it are chosen on "
          "validation means (memory_saving_reference_best_last_k_by_test picks by test: not a verdict). "
          "cv_vs_paper[]: searched and paper at each paper budget on the folds of x_train pooled "
          "(searched / paper: per analysis seed, the accuracy over every x_train image; diff: "
          "searched - paper, se paired by seed and se_images paired by image). paper_ablation[]: "
          "where the searched scheme is behind there, the paper's scheme's variants over the folds "
          "(diff: variant - paper; single_gain: the option alone on top of k* in the analysis, in "
          "single_metric, gain = loss decrease or accuracy increase).")


def datasets(selected):
    out = []
    if "default" in selected:
        out.append(dict(name="default", model="default", data="default", epochs=6,
                        bias_grid=None, last_grid=range(1, 8), budget_fracs=(0.1, 0.2, 0.35, 0.5, 0.75)))
    flowers = SHARED / "data" / "flowers5.npz"
    model = SHARED / "models" / "mcunet-5fps.pkl"
    if "flowers5" in selected:
        if not flowers.exists() or not model.exists():
            print(f"skip flowers5: {flowers} or {model} is absent")
        else:
            out.append(dict(name="flowers5", model=str(model), data=str(flowers), epochs=3,
                            bias_grid=[0, 2, 4, 6, 9, 12, 15, 18, 21, 24, 27, 30, 34, 38, 43],
                            last_grid=[2, 3, 4, 6, 8, 10, 12, 15, 18, 21],
                            paper=PAPER_SCHEMES["mcunet-5fps"], extra_kb=(16, 32)))
    return out


def mean_se(values) -> tuple[float, float | None]:
    """Mean and standard error of the mean (sample standard deviation / sqrt(n); None for n < 2)."""
    v = np.asarray(values, float)
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else None)


def seed_protocols(eng, seeds) -> list:
    return [replace(eng.protocol, seed=sd) for sd in seeds]


def seed_stats(runs: list, seeds) -> dict:
    """Per-seed runs of one setting -> the row's accuracy fields: val_acc / test_acc are the
    means over the seeds (the row's number), val / test the per-seed values (seed order),
    val_se / test_se the standard errors, val_seed0 / test_seed0 the protocol seed's run,
    val_right / test_right per seed which images were right ("1"/"0" per image)."""
    out = dict(seeds=list(seeds))
    for split in ("val", "test"):
        vals = [r.get(f"{split}_acc") for r in runs]
        m, se = mean_se(vals)
        out.update({f"{split}_acc": m, f"{split}_se": se, split: vals, f"{split}_seed0": vals[0],
                    f"{split}_right": [r.get(f"{split}_right") for r in runs]})
    out["diverged"] = [bool(r.get("diverged")) for r in runs]
    return out


def multi_seed_runs(eng, schemes: list, seeds, desc: str) -> list:
    """Every scheme with every seed, in one batch of jobs -> per scheme, its runs in seed order.
    The first seed is the engine's protocol seed: those runs are the cached analysis runs."""
    protos = seed_protocols(eng, seeds)
    flat = eng.finetune([s for s in schemes for _ in protos], protocol=[p for _ in schemes for p in protos],
                        desc=desc)
    n = len(protos)
    return [flat[i * n:(i + 1) * n] for i in range(len(schemes))]


def family_runs(eng, schemes: dict, base_ram: int, seeds) -> list:
    """{label: scheme} -> rows with ram, extra RAM, val / test accuracy over the seeds."""
    labels = list(schemes)
    mems = eng.memory([schemes[k] for k in labels], desc="memory: families")
    runs = multi_seed_runs(eng, [schemes[k] for k in labels], seeds, desc="runs: families")
    return [dict(label=k, scheme=eng.canon(schemes[k]), ram_bytes=m.get("ram_bytes"),
                 extra_kb=None if m.get("ram_bytes") is None else (m["ram_bytes"] - base_ram) / 1024,
                 **seed_stats(r, seeds))
            for k, m, r in zip(labels, mems, runs)]


def searched_runs(eng, contrib, budgets: dict, seeds) -> list:
    """plan.select_scheme at each budget (the search, its candidates checked by real runs with
    the engine's analysis seeds and compared over its folds of x_train), then the chosen scheme
    trained with every seed."""
    rows = []
    for label, budget in budgets.items():
        res, cands = select_scheme(eng, contrib, budget)
        runs = multi_seed_runs(eng, [res.scheme], seeds, desc=f"runs: searched {label}")[0]
        first = cands[0]
        chosen = next(c for c in cands if c.get("chosen"))
        rows.append(dict(label=label, budget=budget, scheme=eng.canon(res.scheme),
                         ram_bytes=res.ram_bytes, extra_kb=(res.ram_bytes - contrib.base["ram"]) / 1024,
                         method=first["method"], exact=first["exact"], chosen_by=chosen["label"],
                         chosen_cv_acc=chosen["cv_acc"], chosen_cv_se=chosen["cv_se"],
                         predicted_val_acc=contrib.predicted_acc(res.scheme),
                         **seed_stats(runs, seeds), candidates=cands))
    return rows


# ---- float32 twin (PyTorch eager on the dequantized model) ------------------------------------

def torch_twin_run(eng, scheme: dict, proto: Protocol) -> dict:
    """Train the float twin of the task graph with `scheme`: the frozen float prefix once,
    then plain SGD at batch 1 on the suffix, as the C runs do (order, rate, schedule)."""
    import torch
    from common import TorchBaseline

    from mcutrain.ir.graph import prune_values

    torch.manual_seed(proto.seed)
    torch.set_num_threads(1)
    t, g = eng.task, eng.task.graph
    scheme = eng.canon(scheme)
    first = min([int(i) for i in scheme["weights"]] + ([t.n_layers - scheme["bias_last"]]
                                                       if scheme["bias_last"] else []) + [t.n_layers - 1])
    k, v, suffix, off = int8_cut(g, first)
    prefix = prune_values(g.replace(nodes=g.nodes[:k], outputs=(v,)))
    images = np.load(t.dir / "images.npy", mmap_mode="r")
    split = dict(np.load(t.dir / "split.npz"))
    pre = TorchBaseline(prefix, "none") if k > 0 else None
    feats = []
    with torch.no_grad():
        for lo in range(0, len(images), 64):
            x = (np.asarray(images[lo:lo + 64]).astype(np.int16) - 128).astype(np.int8)
            xf = (pre or TorchBaseline(g, "none")).input_from_hwc(x)
            feats.append(pre(xf) if pre is not None else xf)
    feats = torch.cat(feats)
    sub = {"bias_last": scheme["bias_last"],
           "weights": {str(int(i) - off): r for i, r in scheme["weights"].items()}}
    model = TorchBaseline(suffix, sub)
    opt = torch.optim.SGD(model.trained(), lr=proto.lr)
    y = torch.from_numpy(split["y"])
    rng = np.random.default_rng(proto.seed)
    total, step = proto.epochs * len(split["train"]), 0
    for _ in range(proto.epochs):
        for i in rng.permutation(split["train"]):
            opt.param_groups[0]["lr"] = proto.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(feats[i:i + 1]).reshape(1, -1), y[i:i + 1])
            loss.backward()
            opt.step()
            step += 1
    out = {}
    with torch.no_grad():
        for s in ("val", "test"):
            idx = torch.from_numpy(split[s])
            z = model(feats[idx]).reshape(len(idx), -1)
            right = (z.argmax(1) == y[idx]).numpy()
            out[f"{s}_acc"] = float(right.mean())
            out[f"{s}_right"] = "".join("1" if r else "0" for r in right)
    return out


def qas_study(eng, schemes: dict, seeds) -> list:
    """int8+QAS, int8 without QAS, float32 twin; each over the seeds (mean and per seed)."""
    rows = []
    for label, scheme in schemes.items():
        row = dict(label=label, scheme=eng.canon(scheme))
        for mode in ("int8_qas", "int8_no_qas", "fp32"):
            accs = []
            for sd in seeds:
                p = replace(eng.protocol, seed=sd, qas=mode != "int8_no_qas")
                if mode == "fp32":
                    r = torch_twin_run(eng, scheme, p)
                else:
                    r = eng.finetune([scheme], protocol=p, desc=f"runs: {label} {mode} seed {sd}")[0]
                accs.append((r["val_acc"], r["test_acc"], r.get("val_right"), r.get("test_right")))
            vm, vse = mean_se([a[0] for a in accs])
            tm, tse = mean_se([a[1] for a in accs])
            row[mode] = dict(val=[a[0] for a in accs], test=[a[1] for a in accs],
                             val_mean=vm, test_mean=tm, val_se=vse, test_se=tse,
                             val_right=[a[2] for a in accs], test_right=[a[3] for a in accs])
        rows.append(row)
    return rows


# ---- one dataset ---------------------------------------------------------------------------------

def run_dataset(ds: dict, args) -> dict:
    t0 = time.time()
    eng = make_engine(ds["model"], ds["data"], runner=args.runner, cache_dir=args.cache,
                      protocol=Protocol(epochs=ds["epochs"], lr=args.lr), progress=not args.quiet,
                      seeds=args.analysis_seeds, folds=args.folds)
    t = eng.task
    lr_sweep = None
    if eng.protocol.lr is None:
        lr, lr_sweep = choose_lr(eng)
        eng.protocol = replace(eng.protocol, lr=lr)
    print(f"\n== {ds['name']}: {t.name}, {t.n_layers} layers, train {t.n_train} / val {t.n_val} / "
          f"test {t.n_test}; protocol {eng.protocol.to_json()}")
    base_ram = eng.memory(["none"])[0]["ram_bytes"]
    full_ram = eng.memory(["full"])[0]["ram_bytes"]
    paper = ds.get("paper", {})
    paper_ram = {k: m["ram_bytes"] for k, m in zip(paper, eng.memory(list(paper.values())))}
    if paper:
        budgets = {f"paper {k} budget": r for k, r in paper_ram.items()}
        budgets.update({f"+{x} KB": base_ram + x * 1024 for x in ds.get("extra_kb", ())})
    else:
        budgets = {f"{int(f * 100)}% of full": int(base_ram + f * (full_ram - base_ram))
                   for f in ds["budget_fracs"]}
    budgets = dict(sorted(budgets.items(), key=lambda kv: kv[1]))
    c_an = eng.stats["cpu_s"]
    contrib = analyze(eng, ram=max(budgets.values()), metric=args.metric)
    t_an = time.time() - t0
    c_an = eng.stats["cpu_s"] - c_an
    st_an = dict(eng.stats)
    bias_grid = ds["bias_grid"] or range(0, t.n_layers + 1)
    seeds = [eng.protocol.seed + i for i in range(args.family_seeds)]
    fams = dict(
        bias_only=family_runs(eng, {f"bias-only:{k}": {"bias_last": k, "weights": {}} for k in bias_grid},
                              base_ram, seeds),
        last_k=family_runs(eng, {f"last:{k}": f"last:{k}" for k in ds["last_grid"]}, base_ram, seeds),
        paper=family_runs(eng, paper, base_ram, seeds) if paper else [],
        searched=searched_runs(eng, contrib, budgets, seeds))
    paper_cv = cv_pairs = ablation = None
    if paper:  # the selection's own score of the paper's schemes (a diagnostic, no decision)
        rows = eng.scored_runs(list(paper.values()), desc="runs: the paper's schemes over the folds",
                               promote=1.0)
        paper_cv = {k: dict(cv_acc=r["cv_acc"], cv_se=r["cv_se"], cv_accs=r["cv_accs"])
                    for k, r in zip(paper, rows)}
        cv_pairs = cv_comparison(eng, paper, dict(zip(paper, rows)), fams["searched"])
        if args.ablation:
            ablation = ablate_behind(eng, contrib, paper, dict(zip(paper, rows)), cv_pairs)
    fresh = None
    if paper and args.check_seeds:  # the paper's and the searched schemes on seeds no decision saw
        fresh_seeds = [seeds[-1] + 1 + i for i in range(args.check_seeds)]
        pairs = [(k, paper[k], next(r for r in fams["searched"] if r["label"] == f"paper {k} budget"))
                 for k in paper]
        runs = multi_seed_runs(eng, [x for _, pv, sv in pairs for x in (pv, sv["scheme"])], fresh_seeds,
                               desc="runs: fresh seeds")
        fresh = dict(seeds=fresh_seeds, pairs=[
            dict(budget=k, paper=seed_stats(runs[2 * j], fresh_seeds),
                 searched=seed_stats(runs[2 * j + 1], fresh_seeds))
            for j, (k, _, _) in enumerate(pairs)])
    qas_schemes = {"searched " + r["label"]: r["scheme"] for r in fams["searched"]
                   if ("99kb" in r["label"] or (not paper and r["label"].startswith("35%")))}
    if paper:
        qas_schemes["paper 99kb"] = paper["99kb"]
    qas = qas_study(eng, qas_schemes, [eng.protocol.seed + i for i in range(args.seeds)])
    out = dict(dataset=ds["name"], model=t.name, layers=t.n_layers, fresh_head=t.fresh_head,
               classes=t.classes,
               split=dict(train=t.n_train, val=t.n_val, test=t.n_test),
               protocol=eng.protocol.to_json(), lr_sweep=lr_sweep, base_ram_bytes=base_ram,
               full_ram_bytes=full_ram, budgets=budgets, family_seeds=seeds, families=fams, qas=qas,
               fresh_seed_check=fresh, paper_cv=paper_cv, cv_vs_paper=cv_pairs,
               paper_ablation=ablation,
               analysis_seeds=[p.seed for p in eng.seed_protocols()], selection_folds=eng.folds,
               analysis_metric=contrib.metric,
               contributions=contrib.to_json(), analysis_seconds=round(t_an, 1),
               analysis_job_cpu_seconds=round(c_an, 1), analysis_engine_stats=st_an,
               seconds=round(time.time() - t0, 1), engine_stats=eng.stats)
    out["goals"] = goals(out)
    return out


def cv_stats(row: dict) -> dict:
    """A scored_runs row as per-seed accuracies over every x_train image (its folds pooled) and
    which images each seed got right: what diff_stats pairs by image."""
    return dict(cv=[r.count("1") / len(r) for r in row["cv_right"]], cv_right=row["cv_right"])


def cv_diff(a: dict, b: dict) -> dict:
    """diff_stats of two scored_runs rows on their folds pooled: every x_train image once per
    seed, paired by seed and by image."""
    x, y = cv_stats(a), cv_stats(b)
    return diff_stats(x["cv"], y["cv"], x["cv_right"], y["cv_right"])


def cv_comparison(eng, paper: dict, paper_rows: dict, searched: list) -> list:
    """Searched minus the paper's scheme at each paper budget on the selection's own score (the
    folds of x_train, the analysis seeds; x_test plays no part): the difference of the pooled
    accuracies, paired by seed and by image. With 5 folds that is 8x the images of the test
    split, so it resolves differences the test split cannot; it is not free of selection (the
    searched scheme won its candidates on it), so it is a diagnostic, not a goal."""
    pairs = []
    for k in paper:
        s = next(r for r in searched if r["label"] == f"paper {k} budget")
        srow = eng.scored_runs([s["scheme"]], desc=f"runs: searched {k} over the folds", promote=1.0)[0]
        if srow.get("cv_right") is None or paper_rows[k].get("cv_right") is None:
            continue
        pairs.append(dict(budget=k, searched=cv_stats(srow)["cv"], paper=cv_stats(paper_rows[k])["cv"],
                          diff=cv_diff(srow, paper_rows[k])))
    return pairs


def ablate_behind(eng, contrib, paper: dict, paper_rows: dict, cv_pairs: list) -> list:
    """At each budget where the searched scheme is behind the paper's on the folds: which parts
    of the paper's scheme make it better. The paper's scheme without each of its weight
    options in turn, and with each option trained in full halved, each scored over the folds
    as the selection scores its candidates, minus the paper's scheme (paired by image); and
    what the contribution analysis (on top of k*) measured for that option alone. A part whose
    removal costs accuracy here while its single-option gain was noise is what the additive
    search could not see."""
    out = []
    for pr in cv_pairs:
        if pr["diff"]["diff"] >= 0:
            continue
        k = pr["budget"]
        base = eng.canon(paper[k])
        variants, single = {}, {}
        for i, r in base["weights"].items():
            w = {j: x for j, x in base["weights"].items() if j != i}
            variants[f"without layer {i} x{r:g}"] = dict(base, weights=w)
            single[f"without layer {i} x{r:g}"] = (int(i), float(r))
            if float(r) == 1.0:
                variants[f"layer {i} x1/2"] = dict(base, weights=dict(base["weights"], **{i: 0.5}))
        mem = eng.memory(list(variants.values()), desc=f"memory: ablation of the paper's {k}")
        rows = eng.scored_runs(list(variants.values()), desc=f"runs: ablation of the paper's {k}",
                               promote=1.0)
        out.append(dict(budget=k, scheme=base, cv=float(np.mean(cv_stats(paper_rows[k])["cv"])),
                        variants=[dict(label=lab, scheme=sch, ram_bytes=m.get("ram_bytes"),
                                       cv=float(np.mean(cv_stats(row)["cv"])),
                                       diff=cv_diff(row, paper_rows[k]),
                                       **_single(contrib, single.get(lab)))
                                  for (lab, sch), m, row in zip(variants.items(), mem, rows)]))
    return out


def _single(contrib, opt) -> dict:
    """What the analysis measured for one weight option alone on top of k*: its gain (in the
    analysis metric) and whether the race stopped it."""
    if opt is None or opt not in contrib.weights:
        return {}
    return dict(single_gain=contrib.weight_gain(*opt), single_metric=contrib.metric,
                single_raced_out=not contrib.usable(*opt), single_seeds=len(contrib.weights[opt].get("accs") or [0]))


def diff_stats(a: list, b: list, right_a=None, right_b=None) -> dict:
    """a - b of per-seed accuracies (the same seeds, in order): the difference of the means, its
    standard error paired by seed (the same seed: the same sample order), and unpaired
    (sqrt(se_a^2 + se_b^2)), in accuracy units. With right_a / right_b (per seed, which images
    each got right), also se_images: the standard error paired by image, sd(d_i) / sqrt(n)
    where d_i is image i's share of seeds right under a minus under b: the noise of which
    images the split happens to hold, which the seeds do not average away."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d, se = mean_se(a - b)
    sa, sb = mean_se(a)[1], mean_se(b)[1]
    unp = None if sa is None or sb is None else math.sqrt(sa ** 2 + sb ** 2)
    out = dict(diff=d, se=se, se_unpaired=unp)
    if right_a and right_b and None not in right_a and None not in right_b:
        per = lambda rs: np.mean([[c == "1" for c in r] for r in rs], axis=0)  # noqa: E731
        di = per(right_a) - per(right_b)
        out.update(se_images=float(di.std(ddof=1) / math.sqrt(len(di))), n_images=len(di))
    return out


def _diff(x: dict, y: dict, split: str) -> dict:
    """diff_stats of two rows (seed_stats) on one split."""
    return diff_stats(x[split], y[split], x.get(f"{split}_right"), y.get(f"{split}_right"))


def goals(out: dict) -> dict:
    """The issue's goals on the means over the seeds, each with its difference of means and
    standard error. Nothing is chosen by the test split: the best last-k and the searched
    scheme that reaches it are chosen on the validation means, then scored on test."""
    f = out["families"]
    g = {}
    if f["paper"]:
        pairs = []
        for s in f["searched"]:
            for p in f["paper"]:
                if s["label"] == f"paper {p['label']} budget":
                    pr = dict(budget=p["label"], paper_extra_kb=p["extra_kb"], searched_extra_kb=s["extra_kb"],
                              searched_cv=s["chosen_cv_acc"],
                              paper_cv=(out.get("paper_cv") or {}).get(p["label"], {}).get("cv_acc"))
                    for split in ("val", "test"):
                        pr.update({f"paper_{split}": p[f"{split}_acc"], f"paper_{split}_se": p[f"{split}_se"],
                                   f"searched_{split}": s[f"{split}_acc"],
                                   f"searched_{split}_se": s[f"{split}_se"],
                                   f"diff_{split}": _diff(s, p, split)})
                    pairs.append(pr)
        g["searched_vs_paper"] = dict(
            pairs=pairs, met_test=all(p["searched_test"] >= p["paper_test"] for p in pairs),
            met_val=all(p["searched_val"] >= p["paper_val"] for p in pairs),
            # no budget where the searched mean is below the paper's by more than 2 standard
            # errors (paired) of the difference
            within_2se_test=all(_within(p["diff_test"]) for p in pairs),
            within_2se_val=all(_within(p["diff_val"]) for p in pairs))
    if out.get("fresh_seed_check"):  # seeds that neither the analysis nor the selection used
        fc = out["fresh_seed_check"]
        pairs = [dict(budget=x["budget"], **{f"{who}_{sp}": x[who][f"{sp}_acc"] for who in ("paper", "searched")
                                             for sp in ("val", "test")},
                      **{f"diff_{sp}": _diff(x["searched"], x["paper"], sp) for sp in ("val", "test")})
                 for x in fc["pairs"]]
        g["searched_vs_paper_fresh_seeds"] = dict(
            seeds=fc["seeds"], pairs=pairs,
            met_val=all(p["searched_val"] >= p["paper_val"] for p in pairs),
            met_test=all(p["searched_test"] >= p["paper_test"] for p in pairs))
        if f["paper"]:  # every seed: the family seeds and the fresh ones together
            fam = {(row["label"], who): row for who, rows in (("paper", f["paper"]), ("searched", f["searched"]))
                   for row in rows}
            pairs = []
            for x in fc["pairs"]:
                both = {who: _merge(fam[(x["budget"] if who == "paper" else f"paper {x['budget']} budget", who)],
                                    x[who]) for who in ("paper", "searched")}
                pairs.append(dict(budget=x["budget"],
                                  **{f"{who}_{sp}": float(np.mean(both[who][sp])) for who in both
                                     for sp in ("val", "test")},
                                  **{f"diff_{sp}": _diff(both["searched"], both["paper"], sp)
                                     for sp in ("val", "test")}))
            g["searched_vs_paper_all_seeds"] = dict(
                seeds=list(f["paper"][0]["seeds"]) + list(fc["seeds"]), pairs=pairs,
                met_test=all(p["searched_test"] >= p["paper_test"] for p in pairs),
                met_val=all(p["searched_val"] >= p["paper_val"] for p in pairs),
                # no budget where the searched scheme is behind by more than 2 standard errors
                # of the difference paired by image (the test split's sampling noise)
                within_2se_images_test=all(_within(p["diff_test"], se="se_images") for p in pairs),
                mean_diff_test=float(np.mean([p["diff_test"]["diff"] for p in pairs])))
    lk = [r for r in f["last_k"] if r["extra_kb"] is not None]
    best = max(lk, key=lambda r: (r["val_acc"], -r["extra_kb"]))  # chosen on validation
    m = dict(best_last_k=best["label"], best_last_k_extra_kb=best["extra_kb"],
             best_last_k_val=best["val_acc"], best_last_k_val_se=best["val_se"],
             best_last_k_test=best["test_acc"], best_last_k_test_se=best["test_se"])
    reach = [s for s in f["searched"] if s["val_acc"] >= best["val_acc"]]
    if reach:
        s = min(reach, key=lambda r: (r["extra_kb"], -r["val_acc"]))
        ratio = best["extra_kb"] / max(s["extra_kb"], 1e-9)
        m.update(searched=s["label"], searched_extra_kb=s["extra_kb"], ratio=ratio,
                 searched_val=s["val_acc"], searched_test=s["test_acc"],
                 diff_val=_diff(s, best, "val"), diff_test=_diff(s, best, "test"),
                 met_val=ratio >= 4, met_test=ratio >= 4 and s["test_acc"] >= best["test_acc"])
    else:
        m.update(met_val=False, met_test=False, note="no searched scheme reaches it on validation")
    cheap = [s for s in f["searched"] if s["extra_kb"] * 4 <= best["extra_kb"]]
    if cheap:  # the best (on validation) searched scheme with at least 4x less extra memory
        s = max(cheap, key=lambda r: (r["val_acc"], -r["extra_kb"]))
        m["best_at_4x"] = dict(searched=s["label"], extra_kb=s["extra_kb"],
                               ratio=best["extra_kb"] / max(s["extra_kb"], 1e-9),
                               val=s["val_acc"], test=s["test_acc"],
                               diff_val=_diff(s, best, "val"), diff_test=_diff(s, best, "test"))
    g["memory_saving"] = m
    # for reference only (not a verdict: it picks by the test split): the best last-k by test mean
    bt = max(lk, key=lambda r: (r["test_acc"], -r["extra_kb"]))
    g["memory_saving_reference_best_last_k_by_test"] = dict(
        best_last_k=bt["label"], extra_kb=bt["extra_kb"], test=bt["test_acc"], test_se=bt["test_se"],
        best_searched_test=max(s["test_acc"] for s in f["searched"]))
    for q in out["qas"]:
        for split in ("test", "val"):
            d = diff_stats(q["int8_qas"][split], q["fp32"][split], q["int8_qas"][f"{split}_right"],
                           q["fp32"][f"{split}_right"])
            q[f"gap_points_{split}"] = 100 * d["diff"]
            q[f"gap_points_{split}_se"] = None if d["se"] is None else 100 * d["se"]
            q[f"gap_points_{split}_se_images"] = None if d.get("se_images") is None else 100 * d["se_images"]
    g["qas_within_half_point"] = [dict(label=q["label"], gap_test=q["gap_points_test"],
                                       gap_test_se=q["gap_points_test_se"], gap_val=q["gap_points_val"],
                                       gap_val_se=q["gap_points_val_se"],
                                       gap_test_se_images=q["gap_points_test_se_images"],
                                       met=q["gap_points_test"] >= -0.5,
                                       met_val=q["gap_points_val"] >= -0.5)
                                  for q in out["qas"]]
    return g


def _within(d: dict, k: float = 2.0, se: str = "se") -> bool:
    return d["diff"] + k * (d.get(se) or 0.0) >= -1e-12  # a shortfall of exactly k se counts as within


def _merge(a: dict, b: dict) -> dict:
    """Two seed_stats rows of one scheme on different seeds, as one (per-seed lists joined)."""
    return {k: list(a[k]) + list(b[k]) for k in ("val", "test", "val_right", "test_right")}


# ---- report ---------------------------------------------------------------------------------------

def _pm(m, se, digits=3) -> str:
    return f"{m:.{digits}f}" + ("" if se is None else f" ± {se:.{digits}f}")


def _d(d: dict, scale=100) -> str:
    """A difference of means (points) ± its standard error paired by seed (and by image)."""
    out = f"{scale * d['diff']:+.2f}" + ("" if d["se"] is None else f" ± {scale * d['se']:.2f}")
    if d.get("se_images") is not None:
        out += f" [± {scale * d['se_images']:.2f} by image]"
    return out


def print_tables(out: dict):
    """The tables as Markdown (docs/sparse.md's format) and the goals in words."""
    n = len(out.get("family_seeds", [0]))
    print(f"\n### {out['dataset']}: {out['model']} (train {out['split']['train']} / val {out['split']['val']} / "
          f"test {out['split']['test']}; lr {out['protocol']['lr']}, {out['protocol']['epochs']} epochs, "
          f"{n} seeds {out.get('family_seeds')})")
    print(f"base (head only) {out['base_ram_bytes']} B, full update {out['full_ram_bytes']} B\n")
    print("| family | setting | extra RAM (KB) | val mean ± se | test mean ± se | val per seed | test per seed |")
    print("|---|---|---|---|---|---|---|")
    for fam, rows in out["families"].items():
        for r in rows:
            extra = "-" if r["extra_kb"] is None else f"{r['extra_kb']:.1f}"
            per = [" ".join(f"{v:.3f}" for v in r.get(sp, [r[f"{sp}_acc"]])) for sp in ("val", "test")]
            print(f"| {fam.replace('_', '-')} | {r['label']} | {extra} | {_pm(r['val_acc'], r.get('val_se'))} | "
                  f"{_pm(r['test_acc'], r.get('test_se'))} | {per[0]} | {per[1]} |")
    print()
    for r in out["families"]["searched"]:
        print(f"  searched {r['label']}: search {r['method']}{' (exact)' if r['exact'] else ''}, "
              f"chosen: {r['chosen_by']} (score {_pm(r['chosen_cv_acc'], r['chosen_cv_se'])} over "
              f"{out.get('selection_folds', 1)} fold(s)), predicted val {r['predicted_val_acc']:.3f}, "
              f"scheme {r['scheme']}")
    print("\n| QAS study (mean of the seeds), test / val | int8 + QAS | int8, no QAS | float32 twin "
          "| QAS - fp32 (points, ± paired se) |")
    print("|---|---|---|---|---|")
    for q in out["qas"]:
        cells = [f"{q[m]['test_mean']:.3f} / {q[m]['val_mean']:.3f}" for m in ("int8_qas", "int8_no_qas", "fp32")]
        gap = [f"{q[f'gap_points_{sp}']:+.2f}" + ("" if q.get(f"gap_points_{sp}_se") is None
                                                    else f" ± {q[f'gap_points_{sp}_se']:.2f}")
               + ("" if q.get(f"gap_points_{sp}_se_images") is None
                  else f" [± {q[f'gap_points_{sp}_se_images']:.2f} by image]")
               for sp in ("test", "val")]
        print(f"| {q['label']} | {' | '.join(cells)} | {gap[0]} / {gap[1]} |")
    g = out["goals"]
    print("\ngoals (on the means; differences in points ± paired standard error):")
    for key in ("searched_vs_paper", "searched_vs_paper_fresh_seeds", "searched_vs_paper_all_seeds"):
        if key not in g:
            continue
        sv = g[key]
        if key == "searched_vs_paper":
            print(f"  searched vs paper: met on val {sv['met_val']}, on test {sv['met_test']}; "
                  f"no budget worse by > 2 se: val {sv['within_2se_val']}, test {sv['within_2se_test']}")
            if all(p.get("paper_cv") is not None for p in sv["pairs"]):
                print("    the selection's score (accuracy over the folds of x_train; the paper's: a "
                      "diagnostic), searched vs paper: " + ", ".join(
                          f"{p['budget']} {p['searched_cv']:.3f} vs {p['paper_cv']:.3f}" for p in sv["pairs"]))
        elif key == "searched_vs_paper_fresh_seeds":
            print(f"  searched vs paper on fresh seeds {sv['seeds']} (no decision used them): met on "
                  f"val {sv['met_val']}, on test {sv['met_test']}")
        else:
            print(f"  searched vs paper on every seed {sv['seeds']}: met on val {sv['met_val']}, on "
                  f"test {sv['met_test']}; mean test difference over the budgets "
                  f"{100 * sv['mean_diff_test']:+.2f} points; no budget behind by > 2 se by image "
                  f"(test): {sv['within_2se_images_test']}")
        for p in sv["pairs"]:
            print(f"    {p['budget']:>6}: val {p['searched_val']:.3f} vs {p['paper_val']:.3f} ({_d(p['diff_val'])}), "
                  f"test {p['searched_test']:.3f} vs {p['paper_test']:.3f} ({_d(p['diff_test'])})")
        if key == "searched_vs_paper":
            if out.get("cv_vs_paper"):
                print("    searched - paper on the folds of x_train pooled (every x_train image once per "
                      "analysis seed; a diagnostic): " + ", ".join(
                          f"{p['budget']} {_d(p['diff'])}" for p in out["cv_vs_paper"]))
            for ab in out.get("paper_ablation") or []:
                print(f"    ablation of the paper's {ab['budget']} scheme (cv {ab['cv']:.3f}; variant - "
                      "paper on the folds; single: the option's gain alone on top of k* in the analysis):")
                for v in ab["variants"]:
                    one = "" if "single_gain" not in v else (
                        f"; single {v['single_gain']:+.4f} in {v['single_metric']}"
                        + (" (raced out)" if v["single_raced_out"] else ""))
                    print(f"      {v['label']:<24} {v['ram_bytes'] / 1024:6.1f} KB  cv {v['cv']:.3f}  "
                          f"{_d(v['diff'])}{one}")
    m = g["memory_saving"]
    print(f"  best last-k (on val means): {m['best_last_k']} ({m['best_last_k_extra_kb']:.1f} KB): "
          f"val {_pm(m['best_last_k_val'], m['best_last_k_val_se'])}, "
          f"test {_pm(m['best_last_k_test'], m['best_last_k_test_se'])}")
    if "searched" in m:
        print(f"    cheapest searched reaching it on val: {m['searched']} ({m['searched_extra_kb']:.1f} KB, "
              f"{m['ratio']:.1f}x less): val {_d(m['diff_val'])}, test {_d(m['diff_test'])}; "
              f"met val {m['met_val']}, test {m['met_test']}")
    else:
        print(f"    {m['note']}")
    if "best_at_4x" in m:
        b = m["best_at_4x"]
        print(f"    best searched (on val) with >= 4x less: {b['searched']} ({b['extra_kb']:.1f} KB, "
              f"{b['ratio']:.1f}x): val {b['val']:.3f} ({_d(b['diff_val'])}), test {b['test']:.3f} "
              f"({_d(b['diff_test'])})")
    for q in g["qas_within_half_point"]:
        print(f"  QAS {q['label']}: int8+QAS - fp32 {q['gap_test']:+.2f} test, {q['gap_val']:+.2f} val (points)")


def plot(out: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: matplotlib is not installed")
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = dict(bias_only="o-", last_k="s-", paper="^", searched="*-")
    for ax, split in zip(axes, ("test", "val")):
        chance = 1.5 / out["classes"]  # at chance: diverged or not learning
        ok = [r[f"{split}_acc"] - (r.get(f"{split}_se") or 0) for rows in out["families"].values()
              for r in rows if r["extra_kb"] is not None and r[f"{split}_acc"] > chance]
        lo = max(0.0, min(ok) - 0.05)
        for fam, rows in out["families"].items():
            rows = sorted((r for r in rows if r["extra_kb"] is not None), key=lambda r: r["extra_kb"])
            good = [r for r in rows if r[f"{split}_acc"] > chance]
            bad = [r for r in rows if r[f"{split}_acc"] <= chance]
            if good:
                line = ax.errorbar([r["extra_kb"] for r in good], [r[f"{split}_acc"] for r in good],
                                   yerr=[r.get(f"{split}_se") or 0 for r in good], fmt=styles[fam],
                                   label=fam.replace("_", "-"), capsize=3, elinewidth=1,
                                   ms=9 if fam in ("searched", "paper") else 5)
            if bad:
                ax.plot([r["extra_kb"] for r in bad], [lo + 0.005] * len(bad), "x",
                        color=line[0].get_color() if good else None, ms=8,
                        label=f"{fam.replace('_', '-')}: at chance level")
        ax.set_ylim(bottom=lo)
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(left=-0.5)
        ax.set_xlabel("extra RAM over head-only training (KB, compiled ram_bytes)")
        n = len(out.get("family_seeds", [0]))
        ax.set_ylabel(f"{split} accuracy" + (f" (mean ± se of {n} seeds)" if n > 1 else ""))
        ax.set_title(f"{out['dataset']} ({out['model']}): {split} split")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["default", "flowers5"])
    ap.add_argument("--seeds", type=int, default=6, help="seeds of the QAS / fp32 study")
    ap.add_argument("--family-seeds", type=int, default=3,
                    help="seeds of every family setting (the first is the protocol's, as the analysis)")
    ap.add_argument("--analysis-seeds", type=int, default=DEFAULT_SEEDS,
                    help="seeds of the contribution analysis and of the selection's candidates "
                         "(the library's plan --seeds)")
    ap.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                    help="folds of x_train the selection compares candidates on (the library's "
                         "default; 1: the validation split alone)")
    ap.add_argument("--metric", default=DEFAULT_METRIC, choices=["loss", "acc"],
                    help="what the analysis measures gains in (the library's default)")
    ap.add_argument("--check-seeds", type=int, default=6,
                    help="the paper's and the searched schemes (paper budgets) also on this many "
                         "further seeds, which neither the analysis nor the selection used (0: off)")
    ap.add_argument("--no-ablation", dest="ablation", action="store_false",
                    help="skip the ablation of the paper's schemes at budgets where the searched "
                         "scheme is behind on the folds (a diagnostic)")
    ap.add_argument("--lr", type=float, help="learning rate (default: plan.choose_lr's sweep)")
    ap.add_argument("--runner", default="local")
    ap.add_argument("--workers", type=int, help="local workers (same as --runner local:N)")
    ap.add_argument("--cache", help="plan cache (default ~/.cache/mcutrain/plan)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "sparse.json"))
    a = ap.parse_args(argv)
    if a.workers:
        a.runner = f"local:{a.workers}"
    results = {}
    for ds in datasets(a.datasets):
        out = run_dataset(ds, a)
        print_tables(out)
        png = RESULTS / f"sparse_{ds['name']}.png"
        if plot(out, png):
            out["plot"] = str(png.relative_to(RESULTS.parent.parent))
        results[ds["name"]] = out
        write_json(Path(a.out), dict(paper_qas=PAPER_QAS, fields=FIELDS, results=results))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
